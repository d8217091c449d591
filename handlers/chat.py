"""The assistant over HTTP: one message in, one reply out."""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from app.assistant import MAX_TEXT_LENGTH
from app.errors import ValidationFailed
from app.guards import bearer_token
from app.ratelimit import rate_limit
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
@openapi.body({"application/json": {"text": str, "session_id": str, "region": str}})
@rate_limit("chat", limit=60, per=60)
async def chat(request: Request) -> HTTPResponse:
    """Ask the assistant; answers the action, the reply, ranked items, quick replies and cards."""
    body = json_object(request)
    text = chat_text(body)
    session_id = body.get("session_id")
    user_id = await optional_user_id(request)
    region = body.get("region")
    if region is not None and not isinstance(region, str):
        raise ValidationFailed("region must be a region code such as 440000", details={"field": "region"})
    turn = await request.app.ctx.chat.chat(
        text, session_id if isinstance(session_id, str) else None, user_id=user_id, channel="http", region=region
    )
    return json(turn.body)
