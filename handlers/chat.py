"""The assistant over HTTP: one message in, one reply out."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from app.assistant import MAX_TEXT_LENGTH
from app.errors import ValidationFailed
from app.guards import bearer_token
from app.ratelimit import CHAT, enforce, user_or_ip
from handlers.common import json_object

bp = Blueprint("chat")


async def optional_user_id(request: Request) -> int | None:
    """The caller's user id when a valid access token is sent; anonymous otherwise (a bad token is 401)."""
    header = request.headers.get("authorization")
    if not header:
        return None
    principal = await request.app.ctx.auth.authenticate(bearer_token(request))
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
@openapi.body({"application/json": {"text": str, "session_id": str}})
async def chat(request: Request) -> HTTPResponse:
    """Ask the assistant; answers the action, the reply, ranked items, quick replies and cards."""
    # Who asks first: a logged-in user has a window of their own, an anonymous caller shares the client's.
    user_id = await optional_user_id(request)
    await enforce(request.app, CHAT, user_or_ip(request))
    body = json_object(request)
    text = chat_text(body)
    session_id = body.get("session_id")
    turn = await request.app.ctx.chat.chat(
        text, session_id if isinstance(session_id, str) else None, user_id=user_id, channel="http"
    )
    return json(turn.body)
