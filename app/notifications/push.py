"""Real-time push to WebSockets on whichever worker holds them, through Redis pub/sub.

Each worker keeps its own open sockets by user and listens on ``shengshi:push:*``; a
message published for a user reaches every socket of that user on every worker.
A login that ends (logout, a revoked refresh family) is published on
:data:`LOGIN_ENDED_CHANNEL`, and every worker closes that login's sockets with 4401.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any, Generic, TypeVar

from redis.asyncio import Redis

from app.core.background import keep_running, listen, stop_requested
from app.notifications.notifier import PUSH_PREFIX

log = logging.getLogger("shengshi.push")
CONNECTIONS_PREFIX = "shengshi:ws_connections:"
# Heard by the same pattern subscription as the users' channels (theirs end in digits only).
LOGIN_ENDED_CHANNEL = PUSH_PREFIX + "login-ended"
# The WebSocket close code for "log in again": a bad or expired token, a login that ended.
UNAUTHORIZED_CLOSE = 4401
Key = TypeVar("Key", int, str)


async def end_login(redis: Redis, family: str) -> None:
    """Close the sockets of a login (a refresh-token family) that ended, on every worker."""
    try:
        await redis.publish(LOGIN_ENDED_CHANNEL, family)
    except Exception:
        # The revocation itself is recorded; each socket also checks its login before every push.
        log.warning("could not announce an ended login to the WebSocket workers", exc_info=True)


async def total_connections(redis: Redis) -> int:
    """Open WebSockets across every worker."""
    total = 0
    async for key in redis.scan_iter(match=CONNECTIONS_PREFIX + "*", count=100):
        total += int(await redis.get(key) or 0)
    return total


class SocketRegistry(Generic[Key]):
    """This worker's open WebSockets by key (a user, a chat session); a message goes to each of them."""

    def __init__(self) -> None:
        self._sockets: dict[Key, set[Any]] = defaultdict(set)

    @property
    def connections(self) -> int:
        return sum(len(s) for s in self._sockets.values())

    def register(self, key: Key, ws: Any) -> None:
        self._sockets[key].add(ws)

    def members(self, key: Key) -> list[Any]:
        return list(self._sockets.get(key, ()))

    def unregister(self, key: Key, ws: Any) -> None:
        sockets = self._sockets.get(key)
        if sockets is not None:
            sockets.discard(ws)
            if not sockets:
                del self._sockets[key]

    async def deliver(self, key: Key, message: str) -> None:
        for ws in self.members(key):
            # A socket closing meanwhile is the listener's to clean up, not a reason to stop the others.
            with contextlib.suppress(Exception):
                await ws.send(message)


class PushHub(SocketRegistry[int]):
    """Sockets by user: notifications published for a user reach each of them, on every worker.

    A socket here has ``send(message)`` and ``end(reason)`` (handlers/ws.py: ``Connection``).
    """

    def __init__(self) -> None:
        super().__init__()
        # The same sockets by login (refresh-token family), to close them when it ends.
        self.logins: SocketRegistry[str] = SocketRegistry()

    def end_login(self, family: str) -> None:
        for socket in self.logins.members(family):
            socket.end("logged out")

    async def report_forever(self, redis: Redis, name: str) -> None:
        """Publish this worker's open-socket count (expiring, so a dead worker's count goes away)."""
        while True:
            if stop_requested():
                raise asyncio.CancelledError
            with contextlib.suppress(Exception):
                await redis.set(f"{CONNECTIONS_PREFIX}{name}", self.connections, ex=5)
            await asyncio.sleep(1.0)

    async def listen(self, redis: Redis) -> None:
        """Forward published messages to local sockets; reconnect by itself after Redis restarts."""

        async def forward(message: dict[str, Any]) -> None:
            channel, data = message["channel"], message["data"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            data = data.decode() if isinstance(data, bytes) else data
            user = channel[len(PUSH_PREFIX) :]
            if user.isdigit():
                await self.deliver(int(user), data)
            elif channel == LOGIN_ENDED_CHANNEL:
                self.end_login(data)

        await keep_running("push listener", lambda: listen(redis, lambda p: p.psubscribe(PUSH_PREFIX + "*"), forward))
