"""The assistant over HTTP: one message in, one reply out; rating an answer; reading an agent's replies."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from app.assistant.service import MAX_TEXT_LENGTH
from app.auth.guards import bearer_token
from app.console import learning
from app.core.errors import NotFound, ValidationFailed
from app.core.ratelimit import CHAT, enforce, user_or_ip
from app.core.request_input import BIGINT_MAX, int_arg
from app.services import services
from handlers.common import json_object
from models import Handoff

bp = Blueprint("chat")


async def optional_user_id(request: Request) -> int | None:
    """The caller's user id when a valid access token is sent; anonymous otherwise (a bad token is 401)."""
    header = request.headers.get("authorization")
    if not header:
        return None
    principal = await services(request).auth.authenticate(bearer_token(request))
    request.ctx.user_id = principal.user_id
    return principal.user_id


def chat_text(body: dict[str, Any]) -> str:
    text = body.get("text")
    if not isinstance(text, str):
        raise ValidationFailed("text is required", details={"field": "text"})
    if not text.strip():
        raise ValidationFailed("text is empty", code="empty_text", details={"field": "text"})
    if len(text) > MAX_TEXT_LENGTH:
        raise ValidationFailed(
            f"text is longer than {MAX_TEXT_LENGTH} characters", code="text_too_long", details={"field": "text"}
        )
    return text


@bp.post("/chat")
@openapi.body({"application/json": {"text": str, "session_id": str, "region": str}})
async def chat(request: Request) -> HTTPResponse:
    """Ask the assistant; answers the action, the reply, ranked items, quick replies and cards."""
    # Who asks first: a logged-in user has a window of their own, an anonymous caller shares the client's.
    user_id = await optional_user_id(request)
    await enforce(request.app, CHAT, user_or_ip(request))
    body = json_object(request)
    text = chat_text(body)
    session_id = body.get("session_id")
    region = body.get("region")
    if region is not None and not isinstance(region, str):
        raise ValidationFailed("region must be a region code such as 440000", details={"field": "region"})
    turn = await services(request).chat.chat(
        text, session_id if isinstance(session_id, str) else None, user_id=user_id, channel="http", region=region
    )
    return json(turn.body)


@bp.post("/chat/feedback")
@openapi.body({"application/json": {"session_id": str, "helpful": bool}})
async def chat_feedback(request: Request) -> HTTPResponse:
    """Rate the last answer of a chat; an unhelpful one goes to the console's learning list."""
    body = json_object(request)
    helpful = body.get("helpful")
    if not isinstance(helpful, bool):
        raise ValidationFailed("helpful must be true or false", details={"field": "helpful"})
    recorded = False
    if not helpful:
        recorded = await learning.record_unhelpful(request.app.ctx.redis, body.get("session_id"))
    return json({"recorded": recorded})


@bp.get("/chat/handoff/<session_id:str>")
@openapi.parameter("after", int)
async def chat_handoff(request: Request, session_id: str) -> HTTPResponse:
    """A handed-off chat's agent and system messages (the session id, a random secret, is the key)."""
    # Input first: a bad ``after`` is a 400 whether or not the hand-off exists.
    after = int_arg(request, "after", 0, 0, BIGINT_MAX)
    if len(session_id) != 32:
        raise NotFound("No hand-off for this chat")
    handoff = await Handoff.filter(session_id=session_id).order_by("-id").first()
    if handoff is None:
        raise NotFound("No hand-off for this chat")
    messages = [
        m for m in await services(request).handoffs.messages(handoff, after) if m["from"] in ("agent", "system")
    ]
    return json({"id": handoff.id, "status": handoff.status, "messages": messages})
