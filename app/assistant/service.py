"""The assistant as a service: built from the catalog at start-up, swapped whole on reload,
with each session's dialog state in Redis for 30 minutes.

Every transport (HTTP, WebSocket, official account, CLI) calls :meth:`ChatService.chat`.
A reload (a publish, or the catalog changing) rebuilds the snapshot and swaps it in one
assignment; every worker hears the Redis pub/sub message and does the same.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis

from app.assistant import sessions
from app.assistant.releases import RELOAD_CHANNEL, ReleaseSwitcher, build_from_database
from app.assistant.sessions import SESSION_TTL_S
from app.catalog import CODE_PATTERN, RegionInfo, catalog_version, known_regions, region_chain
from app.catalog import seed_regions as file_regions
from app.citizen import user_chat_settings
from app.core.background import keep_running, listen
from app.core.security.pii import mask_personal_numbers
from intents.dialog import Assistant
from intents.engine import IntentIndex, MatchResult
from intents.text import normalise
from models import UnmatchedQuestion

log = logging.getLogger("shengshi.assistant")

MAX_TEXT_LENGTH = 500
# How often (at most) a worker reads the catalog version, to notice a reload message it missed.
VERSION_CHECK_S = 1.0
CHANGE_REGION = "切换地区"
__all__ = ["MAX_TEXT_LENGTH", "SESSION_TTL_S", "ChatHooks", "ChatService", "ChatTurn"]


class RegionalIndex:
    """An index seen from one region: searches only its items (and every non-catalog intent)."""

    def __init__(self, index: IntentIndex, allowed: frozenset[str]):
        self._index = index
        self._allowed = allowed

    def search(
        self, text: str, limit: int = 5, restrict: frozenset[str] | None = None, *, normalised: str | None = None
    ) -> MatchResult:
        allowed = self._allowed if restrict is None else restrict & self._allowed
        return self._index.search(text, limit, allowed, normalised=normalised)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._index, name)


def regional_ids(index: IntentIndex, region: str, regions: Mapping[str, RegionInfo]) -> frozenset[str]:
    """The intents a citizen of ``region`` may be offered: items of the region and those above it (the
    nearest region's item where names repeat), and every intent that is not a catalog item."""
    rank = {code: n for n, code in enumerate(region_chain(region, regions))}
    nearest: dict[str, tuple[int, str]] = {}
    allowed: set[str] = set()
    for intent in index.intents:
        if not CODE_PATTERN.match(intent.id):
            allowed.add(intent.id)
            continue
        level = rank.get(intent.id[:6])
        if level is not None and (intent.name not in nearest or level < nearest[intent.name][0]):
            nearest[intent.name] = (level, intent.id)
    return frozenset(allowed | {code for _, code in nearest.values()})


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
        default_region: str = "440000",
        regions: Mapping[str, RegionInfo] | None = None,
    ):
        self.redis = redis
        self.assistant = assistant
        self.version = 1
        self.hooks = hooks
        self.releases = releases
        self._building = asyncio.Lock()
        self.regions: Mapping[str, RegionInfo] = regions if regions is not None else file_regions()
        self.default_region = default_region
        # The catalog version the snapshot was built from (None: not known, taken at the first check).
        self.catalog_version: int | None = None
        self._views: dict[str, Assistant] = {}
        self._shared_names: tuple[Assistant, frozenset[str]] | None = None
        self._next_check = 0.0
        self._rebuilding: asyncio.Task[None] | None = None

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
                await self._read_regions()
                self.assistant = await build_from_database(strict=strict)
            return self.assistant

    async def _read_regions(self) -> None:
        """The regions and the catalog version in the database (the seed's regions while it cannot be read)."""
        try:
            self.catalog_version = await catalog_version()
            self.regions = await known_regions()
        except Exception as exc:
            # Not migrated yet: build_from_database says what to run; the seed's regions answer meanwhile.
            log.warning("cannot read the regions yet (%s); the seed's regions answer", type(exc).__name__)

    def swap(self, assistant: Assistant) -> None:
        # One assignment: a request in flight keeps the snapshot it started with.
        self.assistant = assistant
        self._views = {}
        self.version += 1

    def for_region(self, region: str) -> Assistant:
        """The snapshot seen from ``region``: the same dialog rules over the region's items (built once)."""
        assistant, views = self.assistant, self._views
        assert assistant is not None, "engine() builds the snapshot first"
        view = views.get(region)
        if view is None:
            view = copy.copy(assistant)
            view.index = RegionalIndex(assistant.index, regional_ids(assistant.index, region, self.regions))  # type: ignore[assignment]
            if self.assistant is assistant:
                views[region] = view
        return view

    async def check_catalog(self) -> None:
        """Rebuild when the catalog version in the database moved (a reload message was missed)."""
        now = time.monotonic()
        if now < self._next_check and self._rebuilding is None:
            return
        self._next_check = now + VERSION_CHECK_S
        if self._rebuilding is None:
            try:
                version = await catalog_version()
            except Exception:
                log.warning("cannot read the catalog version", exc_info=True)
                return
            if self.catalog_version is None:
                self.catalog_version = version
            if version == self.catalog_version:
                return
            self._rebuilding = asyncio.ensure_future(self.reload())
        task = self._rebuilding
        try:
            await asyncio.shield(task)
        except Exception:
            # The old snapshot keeps answering; the next check tries again.
            log.warning("cannot rebuild the assistant after a catalog change", exc_info=True)
        finally:
            if self._rebuilding is task and task.done():
                self._rebuilding = None

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
        region: str | None = None,
    ) -> ChatTurn:
        """One turn; ``reply_to`` is where an agent's replies go on channels without a socket (an openid).

        ``region`` is the asker's choice when the caller knows it; else the user's stored region, else the
        deployment's default region."""
        await self.engine()
        await self.check_catalog()
        state, session_id = await self._load(session_id, user_id)
        # The engine reads the message as typed; what is kept (transcripts, the questions logged for
        # replays and learning) has its ID, mobile and bank card numbers masked.
        kept = mask_personal_numbers(text)
        if self.hooks is not None:
            # A chat handed to a person: the message goes to the agent, not the engine.
            held = await self.hooks.intercept(kept, session_id, channel=channel, user_id=user_id)
            if held is not None:
                return ChatTurn(session_id, {"session_id": session_id, **held}, "handoff")
        stored_elder, stored_region = await user_chat_settings(user_id)
        chosen = region if region in self.regions else stored_region if stored_region in self.regions else None
        region = chosen or self.default_region
        assistant = self.for_region(region)
        reply, new_state = assistant.respond(text, state)
        body = self.say_region(reply.to_dict(), region, chosen is None)
        if reply.action == "progress":
            if applications is None and user_id is not None:
                applications = await recent_applications(user_id)
            body["reply"], body["cards"] = progress_reply(user_id, applications or [])
        if elder is None:
            # The user's own 长辈模式 setting, unless the caller decided.
            elder = stored_elder
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

    def say_region(self, body: dict[str, Any], region: str, is_default: bool) -> dict[str, Any]:
        """Say which region's item answers; with no region chosen, offer to change it."""
        answered = str(body["items"][0]["code"])[:6] if body.get("action") == "answer" and body.get("items") else None
        body["region"] = {"code": region, "name": self.region_name(region), "default": is_default}
        if answered is None:
            return body
        name = self.region_name(answered)
        for card in body.get("cards") or ():
            if card.get("type") == "service":
                card["region"], card["region_name"] = answered, name
        if is_default:
            body["reply"] += f"以上为{name}的办理规定；您不在{name}的话，可以切换所在地区。"
            body["quick_replies"] = [*body.get("quick_replies", []), CHANGE_REGION]
        else:
            body["reply"] += f"以上为{name}的办理规定。"
        return body

    def region_matters(self, body: Mapping[str, Any]) -> bool:
        """Whether the answered item's name is an item of more than one region (the answer depends on where)."""
        if body.get("action") != "answer" or not body.get("items"):
            return False
        assistant = self.assistant
        if assistant is None:
            return False
        shared = self._shared_names
        if shared is None or shared[0] is not assistant:
            regions_of: dict[str, set[str]] = {}
            for intent in assistant.index.intents:
                if CODE_PATTERN.match(intent.id):
                    regions_of.setdefault(intent.name, set()).add(intent.id[:6])
            shared = self._shared_names = (assistant, frozenset(n for n, r in regions_of.items() if len(r) > 1))
        return str(body["items"][0].get("name")) in shared[1]

    def region_named(self, text: str) -> str | None:
        """The region a message names by itself ("广安区", "511602"), if any."""
        text = normalise(text).replace(" ", "")
        if text in self.regions:
            return text
        return next((code for code, region in self.regions.items() if region.name == text), None)

    def region_name(self, code: str) -> str:
        region = self.regions.get(code)
        return region.name if region else code

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
        version, regions = await catalog_version(), await known_regions()
        assistant = await build_from_database()
        self.regions = regions
        self.catalog_version = version
        self.swap(assistant)
        log.info("assistant reloaded", extra={"fields": {"version": self.version, "catalog_version": version}})


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
