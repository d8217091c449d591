"""Request ids, structured logs and Prometheus metrics.

Each worker counts requests and latencies in memory and flushes the deltas to
Redis every second, so ``GET /metrics`` on any worker shows the whole service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse

from app.security.pii import mask_personal_numbers

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
METRICS_KEY = "shengshi:metrics"
METRICS_HELP = {
    "shengshi_http_requests_total": ("counter", "HTTP requests answered, by route, method and status"),
    "shengshi_http_request_duration_seconds": ("histogram", "HTTP request latency by route"),
}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line; fields passed with ``extra={"fields": {...}}`` are merged in."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": mask_personal_numbers(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or request_id_var.get() or "-",
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            # A value (or an error's text) may quote what someone typed: numbers that name a person are masked.
            entry.update({k: mask_personal_numbers(v) if isinstance(v, str) else v for k, v in fields.items()})
        if record.exc_info:
            entry["exc"] = mask_personal_numbers(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Route every logger (ours and Sanic's) through one JSON handler to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_shengshi", False):
            root.removeHandler(old)
    handler._shengshi = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("sanic.root", "sanic.error", "sanic.server", "sanic.websockets"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
    # An empty "models" package (before its first model) is not worth a warning on every start.
    logging.captureWarnings(True)
    # Our own access line replaces Sanic's (it carries the request id and the route, never the query).
    logging.getLogger("sanic.access").disabled = True


class Metrics:
    """Per-process counters; :meth:`flush` adds them to the shared Redis hash."""

    def __init__(self) -> None:
        self._pending: dict[str, float] = defaultdict(float)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        pending = self._pending
        pending[_field("shengshi_http_requests_total", route=route, method=method, status=str(status))] += 1
        for bound in LATENCY_BUCKETS:
            if seconds <= bound:
                pending[_field("shengshi_http_request_duration_seconds_bucket", route=route, le=str(bound))] += 1
        pending[_field("shengshi_http_request_duration_seconds_bucket", route=route, le="+Inf")] += 1
        pending[_field("shengshi_http_request_duration_seconds_sum", route=route)] += seconds
        pending[_field("shengshi_http_request_duration_seconds_count", route=route)] += 1

    async def flush(self, redis: Any) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, defaultdict(float)
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for key, value in pending.items():
                    pipe.hincrbyfloat(METRICS_KEY, key, value)
                await pipe.execute()
        except Exception:
            # Redis is away: keep the counts for the next flush rather than lose them.
            for key, value in pending.items():
                self._pending[key] += value
            raise

    async def render(self, redis: Any, gauges: dict[str, float] | None = None) -> str:
        with contextlib.suppress(Exception):
            await self.flush(redis)
        raw = await redis.hgetall(METRICS_KEY)
        lines: list[str] = []
        for name, (kind, help_text) in METRICS_HELP.items():
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            for key in sorted(_text(k) for k in raw):
                if key.split("{", 1)[0].startswith(name):
                    lines.append(f"{key} {_number(raw.get(key, raw.get(key.encode(), 0)))}")
        for name, value in (gauges or {}).items():
            lines.append(f"# TYPE {name} gauge")
            lines.append(f"{name} {_number(value)}")
        return "\n".join(lines) + "\n"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _number(value: Any) -> str:
    number = float(_text(value))
    return str(int(number)) if number.is_integer() else repr(number)


def _field(name: str, **labels: str) -> str:
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
    return f"{name}{{{body}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


access_log = logging.getLogger("shengshi.access")


def setup_observability(app: Sanic, redis_getter: Callable[[], Any]) -> None:
    """Request ids, the access log line and the metrics flusher."""
    metrics = Metrics()
    app.ctx.metrics = metrics

    @app.on_request(priority=1000)  # type: ignore[call-arg]
    async def assign_request_id(request: Request) -> None:
        incoming = request.headers.get("x-request-id", "")
        request.ctx.request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.ctx.started = time.perf_counter()
        request_id_var.set(request.ctx.request_id)

    @app.on_response(priority=1000)  # type: ignore[call-arg]
    async def finish_request(request: Request, response: HTTPResponse) -> None:
        request_id = getattr(request.ctx, "request_id", None)
        if request_id is None:
            # Sanic answered before our request middleware ran (e.g. unknown route, body too large).
            request_id = uuid.uuid4().hex
            request.ctx.request_id = request_id
        response.headers["X-Request-ID"] = request_id
        started = getattr(request.ctx, "started", None)
        elapsed = time.perf_counter() - started if started else 0.0
        route = request.route.path if request.route else "<unmatched>"
        route = "/" + route.lstrip("/")
        metrics.observe_request(route, request.method, response.status, elapsed)
        access_log.info(
            "%s %s %s",
            request.method,
            route,
            response.status,
            extra={
                "fields": {
                    "request_id": request_id,
                    "method": request.method,
                    "route": route,
                    "status": response.status,
                    "ms": round(elapsed * 1000, 2),
                }
            },
        )

    async def flush_forever() -> None:
        while True:
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                await metrics.flush(redis_getter())

    app.ctx.background.register("metrics-flush", flush_forever)
