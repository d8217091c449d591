"""Staff: login, the application queue, and transitions."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from app.applications import OPEN, Actor, application_view, today
from app.console import audit
from app.errors import NotFound, RateLimited, Unauthorized, ValidationFailed
from app.ratelimit import client_ip, rate_limit
from app.staff import require_staff, staff_login
from handlers.common import json_object
from models import Application, ApplicationEvent, Delivery, Status

bp = Blueprint("admin", url_prefix="/admin")


@bp.post("/login")
@openapi.body({"application/json": {"username": str, "password": str, "totp_code": str}})
@rate_limit("staff-login", limit=20, per=60, key=client_ip)
async def login(request: Request) -> HTTPResponse:
    """Staff login (password and, outside development, a TOTP code); answers a staff token."""
    body = json_object(request)
    ctx = request.app.ctx
    username = body.get("username")
    try:
        result = await staff_login(
            ctx.redis,
            ctx.tokens,
            username,
            body.get("password"),
            totp_code=body.get("totp_code"),
            totp_required=ctx.settings.staff_totp_required,
            pii=ctx.pii,
            idle_timeout_s=ctx.settings.staff_idle_timeout_s,
        )
    except (Unauthorized, RateLimited) as exc:
        await audit.record(request, "staff.login_failed", str(username)[:64], after={"code": exc.code},
                           username=str(username)[:64] if isinstance(username, str) else "")  # fmt: skip
        raise
    await audit.record(request, "staff.login", result["username"], username=result["username"])
    return json(result)


@bp.get("/applications")
@openapi.parameter("status", str)
@openapi.parameter("department", str)
@openapi.parameter("overdue", bool)
@require_staff("applications.read")
async def queue(request: Request) -> HTTPResponse:
    """The queue, oldest first, filtered by status, department and overdue."""
    query = Application.all()
    status = request.args.get("status")
    if status:
        try:
            query = query.filter(status=Status(status))
        except ValueError:
            raise ValidationFailed("status is not a known status", details={"field": "status"}) from None
    department = (request.args.get("department") or "").strip()
    if department:
        query = query.filter(department__contains=department[:100])
    overdue = request.args.get("overdue")
    if overdue not in (None, "", "true", "false"):
        raise ValidationFailed("overdue must be true or false", details={"field": "overdue"})
    if overdue == "true":
        query = query.filter(deadline__lt=today(), status__in=[str(s) for s in OPEN])
    rows = await query.order_by("id").limit(200)
    return json({"items": [application_view(a) for a in rows]})


@bp.get("/applications/<application_id:int>")
@require_staff("applications.read")
async def application_detail(request: Request, application_id: int) -> HTTPResponse:
    """One application with its timeline."""
    app = await Application.get_or_none(id=application_id)
    if app is None:
        raise NotFound("No such application")
    events = await ApplicationEvent.filter(application_id=app.id).order_by("id")
    return json(application_view(app, events))


@bp.post("/applications/<application_id:int>/transitions")
@openapi.body({"application/json": {"to": str, "version": int, "note": str, "missing_materials": list}})
@require_staff("applications.transition")
async def transition(request: Request, application_id: int) -> HTTPResponse:
    """Move an application (受理, 补正, 审核, 办结); 409 if it moved since the version you saw."""
    body = json_object(request)
    before = await Application.get_or_none(id=application_id)
    app = await request.app.ctx.applications.transition(
        application_id,
        body.get("to"),
        body.get("version"),
        Actor("staff", request.ctx.staff.id),
        note=body.get("note", ""),
        missing_materials=body.get("missing_materials"),
    )
    await request.app.ctx.notifier.kick()
    await audit.record(
        request,
        "application.transition",
        f"application:{app.id}",
        before={"status": str(before.status), "version": before.version} if before else None,
        after={"status": str(app.status), "version": app.version, "note": body.get("note", "")},
    )
    return json(application_view(app))


@bp.get("/deliveries")
@openapi.parameter("status", str)
@require_staff("deliveries.read")
async def deliveries(request: Request) -> HTTPResponse:
    """Dead-lettered and uncertain deliveries (and others by status), newest first."""
    status = request.args.get("status") or "dead"
    if status not in ("dead", "uncertain", "refused", "sent", "skipped", "retrying"):
        raise ValidationFailed("unknown delivery status", details={"field": "status"})
    rows = await Delivery.filter(status=status).order_by("-id").limit(200)
    return json(
        {
            "items": [
                {"idempotency_key": d.idempotency_key, "channel": d.channel, "status": d.status,
                 "attempts": d.attempts, "detail": d.detail, "updated_at": d.updated_at.isoformat()}
                for d in rows
            ]
        }
    )  # fmt: skip


@bp.post("/deliveries/replay")
@openapi.body({"application/json": {"idempotency_key": str}})
@require_staff("deliveries.replay")
async def replay(request: Request) -> HTTPResponse:
    """Send a dead or uncertain delivery again."""
    key = json_object(request).get("idempotency_key")
    if not isinstance(key, str) or not await request.app.ctx.notifier.replay(key):
        raise NotFound("No dead or uncertain delivery with this key")
    await audit.record(request, "delivery.replay", key[:128], after={"replaying": key})
    return json({"replaying": key})
