"""In-app notifications and WeChat subscribe-message grants; staff see and replay failed deliveries under /admin."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from app.auth.guards import require_user
from app.console import audit
from app.console.staff import require_staff
from app.core.errors import NotFound, ValidationFailed
from app.core.request_input import BIGINT_MAX, int_arg
from app.notifications import inbox
from app.notifications.notifier import notification_view
from app.services import services
from handlers.common import audit_context, json_object
from models import Delivery, Notification

bp = Blueprint("notifications")
admin_bp = Blueprint("notifications_admin", url_prefix="/admin")


@bp.get("/notifications")
@openapi.parameter("before_id", int)
@require_user()
async def notifications(request: Request) -> HTTPResponse:
    """The caller's notifications, newest first, with the unread count."""
    query = Notification.filter(user_id=request.ctx.user.id)
    before = int_arg(request, "before_id", 0, 1, BIGINT_MAX)
    if before:
        query = query.filter(id__lt=before)
    rows = await query.order_by("-id").limit(50)
    unread = await Notification.filter(user_id=request.ctx.user.id, read_at=None).count()
    return json({"items": [notification_view(n) for n in rows], "unread": unread})


@bp.post("/notifications/<notification_id:int>/read")
@require_user()
async def mark_read(request: Request, notification_id: int) -> HTTPResponse:
    """Mark one notification read."""
    return json(notification_view(await inbox.mark_read(request.ctx.user.id, notification_id)))


@bp.post("/notifications/read-all")
@require_user()
async def mark_all_read(request: Request) -> HTTPResponse:
    """Mark every notification read."""
    return json({"marked": await inbox.mark_all_read(request.ctx.user.id)})


@bp.get("/subscriptions/templates")
async def templates(request: Request) -> HTTPResponse:
    """The subscribe-message templates to request with wx.requestSubscribeMessage, and what each is for."""
    return json(
        {
            "templates": [
                {"template_id": t.template_id, "title": t.title, "for": t.purpose, "long_term": t.long_term}
                for t in services(request).notifier.templates
            ]
        }
    )


@bp.post("/subscriptions")
@openapi.body({"application/json": {"granted": [str]}})
@require_user()
async def record_grants(request: Request) -> HTTPResponse:
    """Record what wx.requestSubscribeMessage granted (one message per one-time grant)."""
    granted = json_object(request).get("granted")
    recorded, unused = await inbox.record_grants(request.ctx.user.id, granted, services(request).notifier.templates)
    return json({"recorded": recorded, "unused_grants": unused})


# -- staff: deliveries that failed ----------------------------------------------------------------


@admin_bp.get("/deliveries")
@openapi.parameter("status", str)
@require_staff("deliveries.read")
async def deliveries(request: Request) -> HTTPResponse:
    """Dead-lettered and uncertain deliveries (and others by status), newest first."""
    status = request.args.get("status") or "dead"
    if status not in ("dead", "uncertain", "replaying", "refused", "sent", "skipped", "retrying", "claimed", "sending"):
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


@admin_bp.post("/deliveries/replay")
@openapi.body({"application/json": {"idempotency_key": str}})
@require_staff("deliveries.replay")
async def replay(request: Request) -> HTTPResponse:
    """Send a dead or uncertain delivery again, once (of two replays at the same time, one wins)."""
    key = json_object(request).get("idempotency_key")
    if not isinstance(key, str) or not await services(request).notifier.replay(key):
        raise NotFound("No dead or uncertain delivery with this key")
    await audit.record(audit_context(request), "delivery.replay", key[:128], after={"replaying": key})
    return json({"replaying": key})
