"""The console's hand-off desk under /api/v1/admin: agents take handed-off chats, reply, and hand them back."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from app.console import audit
from app.console.handoff import OPEN_STATUSES, handoff_view
from app.console.staff import require_staff
from app.core.errors import ValidationFailed
from app.core.request_input import BIGINT_MAX, int_arg
from app.services import services
from handlers.common import audit_context, json_object
from models import Handoff

bp = Blueprint("console_handoff", url_prefix="/admin")


# -- the hand-off desk ----------------------------------------------------------------------


@bp.get("/handoffs")
@openapi.parameter("status", str)
@require_staff("handoffs")
async def handoffs(request: Request) -> HTTPResponse:
    """Handed-off chats: queued and active by default, oldest first."""
    status = request.args.get("status") or "open"
    allowed = ("open", "queued", "active", "returned", "closed")
    if status not in allowed:
        raise ValidationFailed(f"status must be one of {', '.join(allowed)}", details={"field": "status"})
    statuses = list(OPEN_STATUSES) if status == "open" else [status]
    order = "id" if status == "open" or status == "queued" else "-id"
    rows = await Handoff.filter(status__in=statuses).order_by(order).limit(200)
    return json({"items": [handoff_view(h) for h in rows]})


@bp.get("/handoffs/<handoff_id:int>")
@openapi.parameter("after", int)
@require_staff("handoffs")
async def handoff_detail(request: Request, handoff_id: int) -> HTTPResponse:
    """One hand-off with its case context and transcript (messages after ``after``)."""
    desk = services(request).handoffs
    # Input first: a bad ``after`` is a 400 whether or not the hand-off exists.
    after = int_arg(request, "after", 0, 0, BIGINT_MAX)
    handoff = await desk.get(handoff_id)
    return json({**handoff_view(handoff), "messages": await desk.messages(handoff, after)})


@bp.post("/handoffs/<handoff_id:int>/claim")
@require_staff("handoffs")
async def handoff_claim(request: Request, handoff_id: int) -> HTTPResponse:
    """Take a queued chat (409 if another agent took it)."""
    handoff = await services(request).handoffs.claim(handoff_id, request.ctx.staff)
    await audit.record(audit_context(request), "handoff.claim", f"handoff:{handoff_id}", before={"status": "queued"},
                       after={"status": handoff.status, "agent": handoff.agent_username})  # fmt: skip
    return json(handoff_view(handoff))


@bp.post("/handoffs/<handoff_id:int>/messages")
@openapi.body({"application/json": {"text": str}})
@require_staff("handoffs")
async def handoff_reply(request: Request, handoff_id: int) -> HTTPResponse:
    """Reply to the citizen in their chat."""
    message = await services(request).handoffs.reply(handoff_id, request.ctx.staff, json_object(request).get("text"))
    # The audit keeps that a reply was sent, not its text (the transcript has it, encrypted).
    await audit.record(
        audit_context(request), "handoff.reply", f"handoff:{handoff_id}", after={"message_id": message.id}
    )
    return json({"id": message.id}, status=201)


@bp.post("/handoffs/<handoff_id:int>/release")
@openapi.body({"application/json": {"close": bool}})
@require_staff("handoffs")
async def handoff_release(request: Request, handoff_id: int) -> HTTPResponse:
    """Hand the chat back to the assistant, or close it (``close: true``)."""
    body = json_object(request) if request.body else {}
    close = body.get("close", False)
    if not isinstance(close, bool):
        raise ValidationFailed("close must be true or false", details={"field": "close"})
    desk = services(request).handoffs
    before = (await desk.get(handoff_id)).status
    handoff = await desk.end(handoff_id, request.ctx.staff, close)
    await audit.record(audit_context(request), "handoff.close" if close else "handoff.return", f"handoff:{handoff_id}",
                       before={"status": before}, after={"status": handoff.status})  # fmt: skip
    return json(handoff_view(handoff))
