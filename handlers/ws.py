"""The WebSocket channel: the same chat exchange as POST /api/v1/chat, one JSON message each way.

Client → server: ``{"type": "auth", "token"}``, ``{"type": "chat", "text", "session_id"?}``, ``{"type": "ping"}``.
Server → client: ``{"type": "chat", ...the chat body}``, ``{"type": "auth", "ok": true}``, ``{"type": "pong"}``,
or ``{"type": "error", "error": {"code", "message"}}`` (the connection stays open).
A token may also come in the ``Authorization`` header of the upgrade request.
"""

from __future__ import annotations

import json
from typing import Any

from sanic import Blueprint, Request
from sanic.server.websockets.impl import WebsocketImplProtocol

from app.errors import ShengshiError
from handlers.chat import chat_text

bp = Blueprint("ws")


def _error(code: str, message: str) -> str:
    return json.dumps({"type": "error", "error": {"code": code, "message": message}}, ensure_ascii=False)


@bp.websocket("/ws")
async def websocket(request: Request, ws: WebsocketImplProtocol) -> None:
    """Chat with the assistant (and, later, receive notifications) over one connection."""
    auth = request.app.ctx.auth
    user_id: int | None = None
    if request.headers.get("authorization"):
        try:
            from app.guards import bearer_token

            user_id = (await auth.authenticate(bearer_token(request))).user_id
        except ShengshiError as exc:
            await ws.send(_error(exc.code, str(exc)))
            await ws.close(code=4401, reason="unauthorized")
            return
    session_id: str | None = None
    async for raw in ws:
        try:
            message: Any = json.loads(raw)
        except (TypeError, ValueError):
            await ws.send(_error("invalid_json", "Each message must be a JSON object"))
            continue
        if not isinstance(message, dict):
            await ws.send(_error("invalid_json", "Each message must be a JSON object"))
            continue
        kind = message.get("type")
        try:
            if kind == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif kind == "auth":
                token = message.get("token")
                if not isinstance(token, str):
                    await ws.send(_error("invalid_input", "token is required"))
                    continue
                user_id = (await auth.authenticate(token)).user_id
                session_id = None
                await ws.send(json.dumps({"type": "auth", "ok": True}))
            elif kind == "chat":
                text = chat_text(message)
                wanted = message.get("session_id")
                turn = await request.app.ctx.chat.chat(
                    text, wanted if isinstance(wanted, str) else session_id, user_id=user_id, channel="ws"
                )
                session_id = turn.session_id
                await ws.send(json.dumps({"type": "chat", **turn.body}, ensure_ascii=False))
            else:
                await ws.send(_error("unknown_type", "type must be one of: auth, chat, ping"))
        except ShengshiError as exc:
            await ws.send(_error(exc.code, str(exc)))
