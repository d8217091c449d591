"""Chat sessions in Redis: the one module that knows their key and lifetime.

A session's dialog state lives under one key for 30 minutes after its last turn. The assistant
reads and writes it; the hand-off desk keeps it alive while a person has the chat; the learning
list reads the last question of a session rated unhelpful.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from typing import Any

from redis.asyncio import Redis

SESSION_TTL_S = 30 * 60
_PREFIX = "shengshi:chat:"
_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")


def new_session_id() -> str:
    """A fresh session id: 32 random hex digits (it is the capability to the chat, so never guessable)."""
    return uuid.uuid4().hex


def is_session_id(value: Any) -> bool:
    """True for a well-formed session id."""
    return isinstance(value, str) and bool(_SESSION_ID.match(value))


def session_key(session_id: str) -> str:
    """The Redis key of a session's state."""
    return _PREFIX + session_id


async def load_state(redis: Redis, session_id: str) -> dict[str, Any] | None:
    """The session's state, or None when it is unknown, expired or unreadable."""
    if not is_session_id(session_id):
        return None
    raw = await redis.get(session_key(session_id))
    if not raw:
        return None
    with contextlib.suppress(ValueError):
        state = json.loads(raw)
        if isinstance(state, dict):
            return state
    return None


async def save_state(redis: Redis, session_id: str, state: dict[str, Any]) -> None:
    """Store the state; the session lives SESSION_TTL_S from now."""
    await redis.set(session_key(session_id), json.dumps(state, ensure_ascii=False), ex=SESSION_TTL_S)


async def keep_alive(redis: Redis, session_id: str) -> None:
    """Push the session's end SESSION_TTL_S from now (a chat with a person can outlast the assistant's turns)."""
    await redis.expire(session_key(session_id), SESSION_TTL_S)
