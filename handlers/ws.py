"""The WebSocket channel: the chat exchange of POST /api/v1/chat, and pushed notifications.

Client → server: ``{"type": "auth", "token"}``, ``{"type": "chat", "text", "session_id"?}``, ``{"type": "ping"}``.
Server → client: ``{"type": "chat", ...the chat body}``, ``{"type": "auth", "ok": true}``, ``{"type": "pong"}``,
``{"type": "notification", "notification": {...}}`` (once logged in, from whichever worker caused it),
``{"type": "agent", "text", ...}`` and ``{"type": "handoff", "status", "text", ...}`` (a chat handed to a person),
or ``{"type": "error", "error": {"code", "message"}}`` (the connection stays open).
A token may also come in the ``Authorization`` header of the upgrade request.
"""

from __future__ import annotations

import json
from typing import Any

from sanic import Blueprint, Request
from sanic.server.websockets.impl import WebsocketImplProtocol

from app.errors import ShengshiError
from app.guards import bearer_token
from app.request_input import check_json
from handlers.chat import chat_text

bp = Blueprint("ws")


def _error(code: str, message: str) -> str:
    return json.dumps({"type": "error", "error": {"code": code, "message": message}}, ensure_ascii=False)


class Connection:
    """One socket's state: who it belongs to, its chat session, and its push registrations."""

    def __init__(self, request: Request, ws: WebsocketImplProtocol):
        self.request = request
        self.ws = ws
        self.user_id: int | None = None
        self.session_id: str | None = None
        self.registered: set[int] = set()

    def log_in(self, user_id: int) -> None:
        self.user_id = user_id
        if self.session_id:
            self.request.app.ctx.sessions.unregister(self.session_id, self.ws)
        self.session_id = None
        self.request.app.ctx.push.register(user_id, self.ws)
        self.registered.add(user_id)

    def follow(self, session_id: str) -> None:
        """Receive an agent's replies for this chat session (a handed-off chat) on this socket."""
        if session_id == self.session_id:
            return
        sessions = self.request.app.ctx.sessions
        if self.session_id:
            sessions.unregister(self.session_id, self.ws)
        self.session_id = session_id
        sessions.register(session_id, self.ws)

    def close(self) -> None:
        for user_id in self.registered:
            self.request.app.ctx.push.unregister(user_id, self.ws)
        if self.session_id:
            self.request.app.ctx.sessions.unregister(self.session_id, self.ws)


@bp.websocket("/ws")
async def websocket(request: Request, ws: WebsocketImplProtocol) -> None:
    """Chat with the assistant and receive notifications over one connection."""
    connection = Connection(request, ws)
    try:
        if request.headers.get("authorization"):
            try:
                connection.log_in((await request.app.ctx.auth.authenticate(bearer_token(request))).user_id)
            except ShengshiError as exc:
                await ws.send(_error(exc.code, str(exc)))
                await ws.close(code=4401, reason="unauthorized")
                return
        async for raw in ws:
            await _handle(connection, raw)
    finally:
        # Whatever ends the connection, this worker stops pushing to it.
        connection.close()


async def _handle(connection: Connection, raw: Any) -> None:
    ws, app = connection.ws, connection.request.app
    try:
        message: Any = json.loads(raw)
    except (TypeError, ValueError):
        message = None
    if not isinstance(message, dict):
        await ws.send(_error("invalid_json", "Each message must be a JSON object"))
        return
    kind = message.get("type")
    try:
        check_json(message)  # the same rule as an HTTP body: an error frame, and the socket stays
        if kind == "ping":
            await ws.send(json.dumps({"type": "pong"}))
        elif kind == "auth":
            token = message.get("token")
            if not isinstance(token, str):
                await ws.send(_error("invalid_input", "token is required"))
                return
            connection.log_in((await app.ctx.auth.authenticate(token)).user_id)
            await ws.send(json.dumps({"type": "auth", "ok": True}))
        elif kind == "chat":
            text = chat_text(message)
            wanted = message.get("session_id")
            turn = await app.ctx.chat.chat(
                text,
                wanted if isinstance(wanted, str) else connection.session_id,
                user_id=connection.user_id,
                channel="ws",
            )
            connection.follow(turn.session_id)
            await ws.send(json.dumps({"type": "chat", **turn.body}, ensure_ascii=False))
        else:
            await ws.send(_error("unknown_type", "type must be one of: auth, chat, ping"))
    except ShengshiError as exc:
        await ws.send(_error(exc.code, str(exc)))
