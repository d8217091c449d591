"""Liveness, readiness and metrics, outside the versioned API."""

from __future__ import annotations

import asyncio
import hmac
import logging

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4
from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json, raw
from sanic_ext import openapi

from app.core.db import check_database
from app.core.errors import NotFound, ServiceUnavailable, Unauthorized
from app.core.redis_client import check_redis

bp = Blueprint("probes")
log = logging.getLogger("shengshi.probes")


@bp.get("/healthz")
@openapi.exclude()
async def healthz(request: Request) -> HTTPResponse:
    """The process is alive."""
    return json({"status": "ok"})


async def _probe(name: str, check) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
    try:
        await check()
        return name, None
    except TimeoutError:
        return name, "timed out"
    except Exception as exc:
        return name, type(exc).__name__


@bp.get("/readyz")
@openapi.exclude()
async def readyz(request: Request) -> HTTPResponse:
    """The database and Redis answer (503 naming each that does not); which years the holiday calendar knows."""
    results = await asyncio.gather(
        _probe("database", check_database),
        _probe("redis", lambda: check_redis(request.app.ctx.redis)),
    )
    failed = {name: reason for name, reason in results if reason}
    if failed:
        raise ServiceUnavailable(
            "Not ready: " + ", ".join(f"{name} ({reason})" for name, reason in failed.items()),
            code="not_ready",
            details={"failed": sorted(failed), "checks": {n: (r or "ok") for n, r in results}},
        )
    calendar = request.app.ctx.services.applications.calendar.coverage()
    return json({"status": "ready", "checks": {name: "ok" for name, _ in results}, "holiday_calendar": calendar})


@bp.listener("before_server_start")
async def _say_where_metrics_are(app) -> None:  # type: ignore[no-untyped-def]
    if app.ctx.settings.is_production and not app.ctx.settings.metrics_token:
        log.warning("METRICS_TOKEN is not set: GET /metrics answers 404 (set it to let Prometheus scrape)")


def _check_metrics_access(request: Request) -> None:
    """With METRICS_TOKEN set, a matching bearer token (compared in constant time); without it,
    open in development and hidden (404, as for an unknown route) in production."""
    settings = request.app.ctx.settings
    if not settings.metrics_token:
        if settings.is_production:
            raise NotFound("No such route")
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), settings.metrics_token.encode()):
        raise Unauthorized("Metrics need Authorization: Bearer <METRICS_TOKEN>", headers={"WWW-Authenticate": "Bearer"})


@bp.get("/metrics")
@openapi.exclude()
async def metrics(request: Request) -> HTTPResponse:
    """Prometheus metrics of every worker on this host, and the service-wide gauges (see _check_metrics_access)."""
    _check_metrics_access(request)
    from app.notifications.push import total_connections
    from models import OutboxMessage

    redis = request.app.ctx.redis
    try:
        gauges = {
            "shengshi_websocket_connections": (
                "Open WebSockets across the service's workers",
                await total_connections(redis),
            ),
            "shengshi_outbox_backlog": (
                "Notifications written but not yet delivered (or given up on)",
                await OutboxMessage.filter(delivered_at=None).count(),
            ),
        }
        body = request.app.ctx.metrics.render(gauges)
    except Exception as exc:
        raise ServiceUnavailable("Metrics are unavailable while Redis or the database is unreachable") from exc
    return raw(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)
