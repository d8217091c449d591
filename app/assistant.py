"""The assistant as a service: built from the catalog at start-up, swapped whole on reload,
with each session's dialog state in Redis for 30 minutes.

Every transport (HTTP, WebSocket, official account, CLI) calls :meth:`ChatService.chat`.
A reload (a publish, or the catalog changing) rebuilds the snapshot and swaps it in one
assignment; every worker hears the Redis pub/sub message and does the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

from app.background import keep_running, listen
from app.catalog import CATEGORIES, export_items
from intents.build import build_assistant
from intents.dialog import Assistant
from intents.text import normalise

log = logging.getLogger("shengshi.assistant")

SESSION_TTL_S = 30 * 60
MAX_TEXT_LENGTH = 500
RELOAD_CHANNEL = "shengshi:assistant:reload"
_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")


async def catalog_items() -> list[dict[str, Any]]:
    return await export_items()


async def build_from_database(strict: bool = True) -> Assistant:
    """The assistant over the catalog in the database; with ``strict`` off, an empty one if it cannot be read."""
    try:
        items = await catalog_items()
    except Exception:
        if strict:
            raise
        # The server still starts (and /readyz still answers); a reload after migrating fills it.
        log.error("cannot read the catalog: run `python -m app migrate` and `python -m app catalog load`")
        items = []
    # Building tokenises every phrase (about half a second): keep the event loop free meanwhile.
    return await asyncio.to_thread(build_assistant, items, categories=list(CATEGORIES))


@dataclass
class ChatTurn:
    session_id: str
    body: dict[str, Any]
    action: str


class ChatService:
    """Holds the current snapshot and the session store."""

    def __init__(self, redis: Any, assistant: Assistant):
        self.redis = redis
        self.assistant = assistant
        self.version = 1

    def swap(self, assistant: Assistant) -> None:
        # One assignment: a request in flight keeps the snapshot it started with.
        self.assistant = assistant
        self.version += 1

    async def chat(
        self,
        text: str,
        session_id: str | None = None,
        *,
        user_id: int | None = None,
        channel: str = "http",
        elder: bool = False,
        applications: list[dict[str, Any]] | None = None,
    ) -> ChatTurn:
        state, session_id = await self._load(session_id, user_id)
        assistant = self.assistant
        reply, new_state = assistant.respond(text, state, elder=elder)
        body = reply.to_dict()
        if reply.action == "progress":
            body["reply"], body["cards"] = progress_reply(user_id, applications or [])
        new_state["user_id"] = user_id
        await self.redis.set(self._key(session_id), json.dumps(new_state, ensure_ascii=False), ex=SESSION_TTL_S)
        if reply.action == "fallback":
            await self._record_unmatched(text, reply.action, channel)
        return ChatTurn(session_id, {"session_id": session_id, **body}, reply.action)

    @staticmethod
    def _key(session_id: str) -> str:
        return f"shengshi:chat:{session_id}"

    async def _load(self, session_id: str | None, user_id: int | None) -> tuple[dict[str, Any], str]:
        """The session's state; an unknown, malformed or someone else's session starts a new one."""
        if session_id and _SESSION_ID.match(session_id):
            raw = await self.redis.get(self._key(session_id))
            if raw:
                with contextlib.suppress(ValueError):
                    state = json.loads(raw)
                    if isinstance(state, dict) and state.get("user_id") == user_id:
                        return state, session_id
        return {}, uuid.uuid4().hex

    async def _record_unmatched(self, text: str, action: str, channel: str) -> None:
        from models import UnmatchedQuestion

        normalised = normalise(text)[:500]
        if not normalised:
            return
        try:
            await UnmatchedQuestion.create(text=normalised, action=action, channel=channel)
        except Exception:
            # Learning material must never break the conversation.
            log.warning("could not record an unmatched question", exc_info=True)

    async def reload(self) -> None:
        self.swap(await build_from_database())
        log.info("assistant reloaded", extra={"fields": {"version": self.version}})


def progress_reply(user_id: int | None, applications: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    if user_id is None:
        return "查询办件进度需要先登录并完成实名认证。登录后再问我“我的申请到哪一步了”。", []
    if not applications:
        return "您目前还没有办件。告诉我您想办什么事，我帮您找到对应的事项。", []
    cards = [{"type": "application", **a} for a in applications[:5]]
    return f"您共有{len(applications)}件办件，最近的进度如下。", cards


async def publish_reload(redis: Any) -> int:
    """Ask every worker to rebuild its assistant now."""
    return int(await redis.publish(RELOAD_CHANNEL, "reload"))


async def listen_for_reloads(service: ChatService, redis: Any) -> None:
    """Rebuild on every reload message; reconnect by itself when Redis goes away."""

    async def reload(_: dict[str, Any]) -> None:
        await service.reload()

    await keep_running("reload listener", lambda: listen(redis, lambda p: p.subscribe(RELOAD_CHANNEL), reload))
