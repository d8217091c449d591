"""In-app notifications and WeChat subscribe-message grants."""

from __future__ import annotations

import datetime as dt

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from app.errors import NotFound, ValidationFailed
from app.guards import require_user
from app.notify import notification_view
from app.request_input import BIGINT_MAX, int_arg
from handlers.common import json_object
from models import Notification, SubscriptionGrant

bp = Blueprint("notifications")


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
    note = await Notification.get_or_none(id=notification_id, user_id=request.ctx.user.id)
    if note is None:
        raise NotFound("No such notification")
    if note.read_at is None:
        note.read_at = dt.datetime.now(dt.UTC)
        await note.save(update_fields=["read_at"])
    return json(notification_view(note))


@bp.post("/notifications/read-all")
@require_user()
async def mark_all_read(request: Request) -> HTTPResponse:
    """Mark every notification read."""
    count = await Notification.filter(user_id=request.ctx.user.id, read_at=None).update(read_at=dt.datetime.now(dt.UTC))
    return json({"marked": count})


@bp.get("/subscriptions/templates")
async def templates(request: Request) -> HTTPResponse:
    """The subscribe-message templates to request with wx.requestSubscribeMessage, and what each is for."""
    return json(
        {
            "templates": [
                {"template_id": t.template_id, "title": t.title, "for": t.purpose, "long_term": t.long_term}
                for t in request.app.ctx.notifier.templates
            ]
        }
    )


@bp.post("/subscriptions")
@openapi.body({"application/json": {"granted": [str]}})
@require_user()
async def record_grants(request: Request) -> HTTPResponse:
    """Record what wx.requestSubscribeMessage granted (one message per one-time grant)."""
    body = json_object(request)
    granted = body.get("granted")
    if not isinstance(granted, list) or len(granted) > 20 or not all(isinstance(t, str) for t in granted):
        raise ValidationFailed("granted must be a list of template ids", details={"field": "granted"})
    known = {t.template_id: t for t in request.app.ctx.notifier.templates}
    unknown = [t for t in granted if t not in known]
    if unknown:
        raise ValidationFailed("Unknown template ids", details={"field": "granted", "unknown": unknown[:20]})
    for template_id in granted:
        template = known[template_id]
        exists = await SubscriptionGrant.filter(user_id=request.ctx.user.id, template_id=template_id).exists()
        if not (template.long_term and exists):
            await SubscriptionGrant.create(
                user_id=request.ctx.user.id, template_id=template_id, long_term=template.long_term
            )
    unused = await SubscriptionGrant.filter(user_id=request.ctx.user.id, used_at=None).count()
    return json({"recorded": len(granted), "unused_grants": unused})
