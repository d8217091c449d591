"""The assistant as a service: built from the catalog at start-up, swapped whole on reload,
with each session's dialog state in Redis for 30 minutes.

Every transport (HTTP, WebSocket, official account, CLI) calls :meth:`ChatService.chat`.
A reload (a publish, or the catalog changing) rebuilds the snapshot and swaps it in one
assignment; every worker hears the Redis pub/sub message and does the same.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis

from app.assistant import sessions
from app.assistant.releases import RELOAD_CHANNEL, ReleaseSwitcher, build_from_database
from app.assistant.sessions import SESSION_TTL_S
from app.citizen import is_elder
from app.core.background import keep_running, listen
from app.core.security.pii import mask_personal_numbers
from intents.dialog import Assistant
from intents.text import normalise
from models import UnmatchedQuestion

log = logging.getLogger("shengshi.assistant")

MAX_TEXT_LENGTH = 500
__all__ = ["MAX_TEXT_LENGTH", "SESSION_TTL_S", "ChatHooks", "ChatService", "ChatTurn"]


@dataclass
class ChatTurn:
    session_id: str
    body: dict[str, Any]
    action: str


class ChatHooks(Protocol):
    """What may stand between a citizen and the engine (the console's hand-off desk, app/console/handoff.py)."""

    async def intercept(
        self, text: str, session_id: str, *, channel: str, user_id: int | None
    ) -> dict[str, Any] | None: ...

    async def after_turn(
        self,
        text: str,
        body: dict[str, Any],
        state: dict[str, Any],
        session_id: str,
        *,
        channel: str,
        user_id: int | None,
        reply_to: str | None = None,
    ) -> dict[str, Any]: ...


class ChatService:
    """Holds the current snapshot and the session store.

    ``assistant`` is the engine to answer with; without one it is built from the database on
    first use (or by :meth:`start`), so a process that never chats never builds it.
    """

    def __init__(
        self,
        redis: Redis,
        assistant: Assistant | None = None,
        *,
        hooks: ChatHooks | None = None,
        releases: ReleaseSwitcher | None = None,
    ):
        self.redis = redis
        self.assistant = assistant
        self.version = 1
        self.hooks = hooks
        self.releases = releases
        self._building = asyncio.Lock()

    async def start(self) -> None:
        """Build the engine now (a web worker does before its first request); an empty one if the
        catalog cannot be read, so the server still starts."""
        if self.assistant is None:
            await self.engine(strict=False)

    async def engine(self, *, strict: bool = False) -> Assistant:
        """The engine answering right now (built once, on first use)."""
        assistant = self.assistant
        if assistant is not None:
            return assistant
        async with self._building:
            if self.assistant is None:
                self.assistant = await build_from_database(strict=strict)
            return self.assistant

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
        elder: bool | None = None,
        applications: list[dict[str, Any]] | None = None,
        reply_to: str | None = None,
    ) -> ChatTurn:
        """One turn; ``reply_to`` is where an agent's replies go on channels without a socket (an openid)."""
        state, session_id = await self._load(session_id, user_id)
        # The engine reads the message as typed; what is kept (transcripts, the questions logged for
        # replays and learning) has its ID, mobile and bank card numbers masked.
        kept = mask_personal_numbers(text)
        if self.hooks is not None:
            # A chat handed to a person: the message goes to the agent, not the engine.
            held = await self.hooks.intercept(kept, session_id, channel=channel, user_id=user_id)
            if held is not None:
                return ChatTurn(session_id, {"session_id": session_id, **held}, "handoff")
        assistant = await self.engine()
        reply, new_state = assistant.respond(text, state)
        body = reply.to_dict()
        if reply.action == "progress":
            if applications is None and user_id is not None:
                applications = await recent_applications(user_id)
            body["reply"], body["cards"] = progress_reply(user_id, applications or [])
        if elder is None:
            # The user's own 长辈模式 setting, unless the caller decided.
            elder = await is_elder(user_id)
        if elder:
            body = for_elders(body)
        new_state["user_id"] = user_id
        if self.hooks is not None:
            body = await self.hooks.after_turn(
                kept, body, new_state, session_id, channel=channel, user_id=user_id, reply_to=reply_to
            )
        await sessions.save_state(self.redis, session_id, new_state)
        if reply.action == "fallback":
            await self._record_unmatched(kept, reply.action, channel)
        action = "handoff" if "handoff" in body else str(body.get("action", reply.action))
        return ChatTurn(session_id, {"session_id": session_id, **body}, action)

    async def _load(self, session_id: str | None, user_id: int | None) -> tuple[dict[str, Any], str]:
        """The session's state; an unknown, malformed or someone else's session starts a new one."""
        if session_id:
            state = await sessions.load_state(self.redis, session_id)
            if state is not None and state.get("user_id") == user_id:
                return state, session_id
        return {}, sessions.new_session_id()

    async def _record_unmatched(self, text: str, action: str, channel: str) -> None:
        normalised = normalise(text)[:500]
        if not normalised:
            return
        try:
            await UnmatchedQuestion.create(text=normalised, action=action, channel=channel)
        except Exception:
            # Learning material must never break the conversation.
            log.warning("could not record an unmatched question", exc_info=True)

    async def reload(self, message: str = "reload") -> None:
        # A console publish builds the release's engine first ("prepare:N") and then switches
        # every worker at once to the engine each already holds (app/assistant/releases.py).
        if self.releases is not None and await self.releases.handle(self, message):
            return
        self.swap(await build_from_database())
        log.info("assistant reloaded", extra={"fields": {"version": self.version}})


ELDER_MAX_SENTENCES = 5
ELDER_MAX_OPTIONS = 2
# Choosing among a family's services needs its options even in 长辈模式, a few of them.
ELDER_MAX_CHOICES = 3
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])")
_HOTLINE = re.compile(r"\d{5,}")


def elder_sentences(text: str) -> list[str]:
    """The reply cut into short sentences: each clause its own sentence, very short ones joined to the next."""
    out: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        pending = ""
        for clause in sentence.rstrip("。！？；!?;").split("，"):
            clause = clause.strip()
            if not clause:
                continue
            if pending:
                clause, pending = pending + "，" + clause, ""
            if len(clause) < 4:
                pending = clause
                continue
            out.append(clause + "。")
        if pending:
            out.append(pending + "。")
    return out


def for_elders(body: dict[str, Any]) -> dict[str, Any]:
    """长辈模式: the same answer in short sentences, with fewer options (the hotline is never cut)."""
    sentences = elder_sentences(body.get("reply") or "")
    kept = sentences[:ELDER_MAX_SENTENCES]
    kept += [s for s in sentences[ELDER_MAX_SENTENCES:] if _HOTLINE.search(s)]
    options = ELDER_MAX_CHOICES if body.get("action") in ("clarify", "ask_slot") else ELDER_MAX_OPTIONS
    return {
        **body,
        "reply": "".join(kept) or body.get("reply", ""),
        "items": list(body.get("items") or [])[:ELDER_MAX_OPTIONS],
        "quick_replies": list(body.get("quick_replies") or [])[:options],
        "cards": list(body.get("cards") or [])[:ELDER_MAX_OPTIONS],
        "elder": True,
    }


async def recent_applications(user_id: int) -> list[dict[str, Any]]:
    """The user's latest applications, for answering 我的申请到哪一步了 on any channel."""
    from app.applications import application_view
    from models import Application

    return [application_view(a) for a in await Application.filter(user_id=user_id).order_by("-id").limit(5)]


def progress_reply(user_id: int | None, applications: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    if user_id is None:
        return "查询办件进度需要先登录并完成实名认证。登录后再问我“我的申请到哪一步了”。", []
    if not applications:
        return "您目前还没有办件。告诉我您想办什么事，我帮您找到对应的事项。", []
    cards = [{"type": "application", **a} for a in applications[:5]]
    return f"您共有{len(applications)}件办件，最近的进度如下。", cards


async def listen_for_reloads(service: ChatService, redis: Redis) -> None:
    """Rebuild on every reload message; reconnect by itself when Redis goes away."""

    async def reload(message: dict[str, Any]) -> None:
        data = message.get("data")
        await service.reload(data.decode() if isinstance(data, bytes) else str(data or "reload"))

    await keep_running("reload listener", lambda: listen(redis, lambda p: p.subscribe(RELOAD_CHANNEL), reload))
