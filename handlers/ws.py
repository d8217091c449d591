"""The WebSocket channel: the chat exchange of POST /api/v1/chat, and pushed notifications.

Client → server: ``{"type": "auth", "token"}``, ``{"type": "chat", "text", "session_id"?}``, ``{"type": "ping"}``.
Server → client: ``{"type": "chat", ...the chat body}``, ``{"type": "auth", "ok": true}``, ``{"type": "pong"}``,
``{"type": "notification", "notification": {...}}`` (once logged in, from whichever worker caused it),
``{"type": "agent", "text", ...}`` and ``{"type": "handoff", "status", "text", ...}`` (a chat handed to a person),
or ``{"type": "error", "error": {"code", "message", ...details}}`` (the connection stays open).
A token may also come in the ``Authorization`` header of the upgrade request.

The rules of HTTP hold here too: chat frames count in the rate limit of ``POST /api/v1/chat``
(per user once logged in, per client before; over it, ``{"type": "error", "error": {"code":
"rate_limited", "message", "retry_after"}}``), and a logged-in socket closes with 4401 when its
access token expires (an ``auth`` frame with a fresh token before then keeps it open), when that
login is logged out or its refresh family revoked (on any worker), or when a push or a chat frame
finds the login no longer valid.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from sanic import Blueprint, Request
from sanic.server.websockets.impl import WebsocketImplProtocol

from app.auth.guards import bearer_token
from app.core.errors import ShengshiError
from app.core.ratelimit import CHAT, caller, client_ip, enforce
from app.core.request_input import check_json
from app.notifications.push import UNAUTHORIZED_CLOSE
from app.services import services
from handlers.assistant import chat_text

bp = Blueprint("ws")


def _error(code: str, message: str, details: dict[str, Any] | None = None) -> str:
    error = {"code": code, "message": message, **(details or {})}
    return json.dumps({"type": "error", "error": error}, ensure_ascii=False)


class Connection:
    """One socket's state: who it belongs to (until that login ends), its chat session, its registrations."""

    def __init__(self, request: Request, ws: WebsocketImplProtocol):
        self.request = request
        self.ws = ws
        self.user_id: int | None = None
        self.token: str | None = None
        self.family: str | None = None
        self.session_id: str | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._closing: asyncio.Future[None] | None = None

    async def log_in(self, token: str) -> None:
        """Authenticate ``token`` (an error leaves the socket as it was) and receive that user's pushes."""
        principal = await services(self.request).auth.authenticate(token)
        self._log_out()
        if self.session_id:
            services(self.request).sessions.unregister(self.session_id, self.ws)
        self.session_id = None
        self.user_id, self.token, self.family = principal.user_id, token, principal.family
        push = services(self.request).push
        push.register(principal.user_id, self)
        push.logins.register(principal.family, self)
        left = max(principal.expires_at - time.time(), 0.0)
        self._expiry = asyncio.get_running_loop().call_later(left, self.end, "token expired")

    def _log_out(self) -> None:
        push = services(self.request).push
        if self.user_id is not None:
            push.unregister(self.user_id, self)
        if self.family is not None:
            push.logins.unregister(self.family, self)
        if self._expiry is not None:
            self._expiry.cancel()
        self.user_id = self.token = self.family = self._expiry = None

    def end(self, reason: str) -> None:
        """The login behind this socket is over (expired, logged out, revoked): close with 4401."""
        self._log_out()
        if self._closing is None:
            self._closing = asyncio.ensure_future(self.ws.close(code=UNAUTHORIZED_CLOSE, reason=reason))

    async def still_logged_in(self) -> bool:
        """Check the login as an HTTP request would (expiry, logout, revocation); close the socket if it ended."""
        if self.token is None:
            return False
        try:
            await services(self.request).auth.authenticate(self.token)
        except ShengshiError:
            self.end("session ended")
            return False
        return True

    async def send(self, message: str) -> None:
        """A push for this socket's user: sent only while the login is still valid."""
        if await self.still_logged_in():
            await self.ws.send(message)

    def follow(self, session_id: str) -> None:
        """Receive an agent's replies for this chat session (a handed-off chat) on this socket."""
        if session_id == self.session_id:
            return
        sessions = services(self.request).sessions
        if self.session_id:
            sessions.unregister(self.session_id, self.ws)
        self.session_id = session_id
        sessions.register(session_id, self.ws)

    def detach(self) -> None:
        self._log_out()
        if self.session_id:
            services(self.request).sessions.unregister(self.session_id, self.ws)


@bp.websocket("/ws")
async def websocket(request: Request, ws: WebsocketImplProtocol) -> None:
    """Chat with the assistant and receive notifications over one connection."""
    connection = Connection(request, ws)
    try:
        if request.headers.get("authorization"):
            try:
                await connection.log_in(bearer_token(request))
            except ShengshiError as exc:
                await ws.send(_error(exc.code, str(exc)))
                await ws.close(code=UNAUTHORIZED_CLOSE, reason="unauthorized")
                return
        async for raw in ws:
            await _handle(connection, raw)
    finally:
        # Whatever ends the connection, this worker stops pushing to it.
        connection.detach()


async def _handle(connection: Connection, raw: Any) -> None:
    ws, wired = connection.ws, services(connection.request)
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
            await connection.log_in(token)
            await ws.send(json.dumps({"type": "auth", "ok": True}))
        elif kind == "chat":
            if connection.token is not None and not await connection.still_logged_in():
                return
            await enforce(connection.request.app, CHAT, caller(connection.user_id, client_ip(connection.request)))
            text = chat_text(message)
            wanted, region = message.get("session_id"), message.get("region")
            turn = await wired.chat.chat(
                text,
                wanted if isinstance(wanted, str) else connection.session_id,
                user_id=connection.user_id,
                channel="ws",
                region=region if isinstance(region, str) else None,
            )
            connection.follow(turn.session_id)
            await ws.send(json.dumps({"type": "chat", **turn.body}, ensure_ascii=False))
        else:
            await ws.send(_error("unknown_type", "type must be one of: auth, chat, ping"))
    except ShengshiError as exc:
        await ws.send(_error(exc.code, str(exc), exc.details))
