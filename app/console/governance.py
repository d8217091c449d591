"""Intents, governed: one shared draft, immutable releases, a live pointer, test, replay, publish, rollback.

- Edits change the draft (a copy of the live release until the first edit). Each edit is a
  conditional UPDATE on the draft's version, retried on a race, so two editors never lose
  each other's changes.
- ``test`` runs the draft engine on one text; ``replay`` runs the live and the draft engines
  on the last logged real questions and on the development set; a publish needs a replay of
  the very draft and live release it publishes over.
- A publish stores a new immutable release and moves the live pointer; a rollback moves the
  pointer to an earlier release. Both then ask every worker to rebuild (Redis pub/sub).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from app.assistant import intent_data
from app.assistant.releases import STATE_ID, announce, build_engine, prepare
from app.catalog import export_items
from app.core.errors import Conflict, NotFound
from intents.dialog import Assistant
from intents.evaluate import DEV_SET, evaluate, read_rows
from intents.text import normalise
from models import IntentRelease, IntentState

RECENT_KEY = "shengshi:assistant:recent_questions"
REPLAY_PREFIX = "shengshi:intents:replay:"
_EDIT_RETRIES = 8
log = logging.getLogger("shengshi.intents")


async def catalog_by_code() -> dict[str, dict[str, Any]]:
    return {str(item["code"]): item for item in await export_items()}


# -- state, draft and releases ------------------------------------------------------


async def ensure_initialised(username: str = "system") -> IntentState:
    """The state row; on first use, release 1 is seeded from the intent data files."""
    state = await IntentState.get_or_none(id=STATE_ID)
    if state is not None and state.live_number is not None:
        return state
    data = intent_data.seed()
    # Another worker may seed it at the same moment: the unique number keeps one.
    with contextlib.suppress(IntegrityError):
        await IntentRelease.create(
            number=1,
            data=data,
            checksum=intent_data.checksum(data),
            note="seeded from intents/data/*.yaml",
            created_by=username,
        )
    try:
        await IntentState.create(id=STATE_ID, live_number=1, draft=None, draft_version=0, draft_base=1)
    except IntegrityError:
        await IntentState.filter(id=STATE_ID, live_number=None).update(live_number=1)
    return await IntentState.get(id=STATE_ID)


async def get_release(number: int) -> IntentRelease:
    release = await IntentRelease.get_or_none(number=number)
    if release is None:
        raise NotFound("No such release", code="release_not_found")
    return release


async def draft() -> tuple[IntentState, dict[str, Any]]:
    """The state and the draft document (the live release's data while nothing is edited)."""
    state = await ensure_initialised()
    if state.draft is not None:
        return state, state.draft
    return state, (await get_release(int(state.live_number or 1))).data


async def edit_draft(change: Callable[[dict[str, Any]], dict[str, Any]], username: str) -> tuple[dict, dict, int]:
    """Apply ``change`` to the draft atomically; answers (before, after, new draft version)."""
    for _ in range(_EDIT_RETRIES):
        state, before = await draft()
        after = change(before)
        updated = await IntentState.filter(id=STATE_ID, draft_version=state.draft_version).update(
            draft=after,
            draft_version=state.draft_version + 1,
            draft_base=state.draft_base if state.draft is not None else state.live_number,
            updated_by=username,
        )
        if updated:
            return before, after, state.draft_version + 1
    raise Conflict("The draft is being edited by others right now; try again", code="draft_busy")


async def discard_draft(username: str) -> int:
    state = await ensure_initialised()
    await IntentState.filter(id=STATE_ID).update(
        draft=None, draft_version=F("draft_version") + 1, draft_base=state.live_number, updated_by=username
    )
    return state.draft_version + 1


async def publish(redis: Redis, username: str, note: str) -> IntentRelease:
    """A new immutable release from the draft, made live; needs a replay of this draft over this live release."""
    state, data = await draft()
    if state.draft is None:
        raise Conflict("Nothing to publish: the draft equals the live release", code="nothing_to_publish")
    replay = await stored_replay(redis, state.draft_version)
    if replay is None or replay.get("live_number") != state.live_number:
        raise Conflict("Replay the draft before publishing it", code="replay_required")
    last = await IntentRelease.all().order_by("-number").first()
    number = (last.number if last else 0) + 1
    try:
        release = await IntentRelease.create(
            number=number,
            data=data,
            checksum=intent_data.checksum(data),
            note=note[:500],
            replay=replay.get("summary", {}),
            created_by=username,
        )
    except IntegrityError:
        raise Conflict("Someone else published at the same moment; reload and try again") from None
    await prepare(redis, number)
    moved = await IntentState.filter(id=STATE_ID, draft_version=state.draft_version).update(
        live_number=number, draft=None, draft_version=state.draft_version + 1, draft_base=number, updated_by=username
    )
    if not moved:
        await release.delete()
        raise Conflict("The draft changed while publishing; replay it again", code="draft_changed")
    await announce(redis)
    return release


async def rollback(redis: Redis, number: int, username: str) -> tuple[int | None, int]:
    """Make an earlier (or any) release live again; answers (previous live number, new live number)."""
    await get_release(number)
    state = await ensure_initialised()
    await prepare(redis, number)
    await IntentState.filter(id=STATE_ID).update(live_number=number, updated_by=username)
    await announce(redis)
    return state.live_number, number


# -- engines -------------------------------------------------------------------------


class DraftEngines:
    """This worker's engine of the current draft, rebuilt when the draft or the live release changes."""

    def __init__(self) -> None:
        self._key: tuple[int, int | None] | None = None
        self._engine: Assistant | None = None
        self._built_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> tuple[Assistant, int]:
        async with self._lock:
            state, data = await draft()
            key = (state.draft_version, state.live_number)
            # Rebuilt at least every minute too, so catalog changes show up.
            if self._engine is None or self._key != key or time.monotonic() - self._built_at > 60:
                self._engine = await build_engine(data)
                self._key = key
                self._built_at = time.monotonic()
            return self._engine, state.draft_version


def explain(engine: Assistant, text: str, limit: int = 8) -> dict[str, Any]:
    """The reply and the ranked candidates with scores, and why: the matched tokens."""
    reply, _ = engine.respond(text)
    result = engine.index.search(text, limit=limit)
    return {
        "action": reply.action,
        "reply": reply.reply,
        "items": reply.items,
        "quick_replies": reply.quick_replies,
        "tokens": engine.index.analyzer.words(normalise(text)),
        "candidates": [
            {
                "code": c.intent.id,
                "name": c.intent.name,
                "score": round(c.score, 3),
                "coverage": round(c.coverage, 3),
                "core_coverage": round(c.core_coverage, 3),
                "matched": list(c.matched),
            }
            for c in result.candidates
        ],
    }


# -- replay --------------------------------------------------------------------------


async def log_question(redis: Redis, text: str, keep: int) -> None:
    """Keep the last ``keep`` questions (normalised, no identity) for replays."""
    normalised = normalise(text)[:200]
    if normalised:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.lpush(RECENT_KEY, normalised)
            pipe.ltrim(RECENT_KEY, 0, max(keep - 1, 0))
            await pipe.execute()


async def recent_questions(redis: Redis, limit: int) -> list[str]:
    raw = await redis.lrange(RECENT_KEY, 0, max(limit - 1, 0))
    return [r.decode() if isinstance(r, bytes) else str(r) for r in raw]


def _outcome(engine: Assistant, text: str) -> dict[str, Any]:
    reply, _ = engine.respond(text)
    return {"action": reply.action, "code": reply.items[0]["code"] if reply.items else None,
            "name": reply.items[0]["name"] if reply.items else None}  # fmt: skip


def replay_report(live: Assistant, candidate: Assistant, questions: list[str], dev_rows: list[dict]) -> dict:
    """Which answers change between the two engines, and accuracy on the development set before and after."""
    changed = []
    for text in dict.fromkeys(questions):
        before, after = _outcome(live, text), _outcome(candidate, text)
        if before != after:
            changed.append({"text": text, "before": before, "after": after})
    dev: dict[str, Any] | None = None
    if dev_rows:
        before_report, after_report = evaluate(live, dev_rows), evaluate(candidate, dev_rows)
        dev = {
            "rows": len(dev_rows),
            "before": {k: round(v, 4) for k, v in before_report.figures.items()},
            "after": {k: round(v, 4) for k, v in after_report.figures.items()},
        }
    return {"questions": len(set(questions)), "changed_count": len(changed), "changed": changed[:300], "dev": dev}


def dev_rows() -> list[dict[str, Any]]:
    return read_rows(DEV_SET) if DEV_SET.exists() else []


async def replay(redis: Redis, live: Assistant, draft_engines: DraftEngines, limit: int) -> dict[str, Any]:
    """Replay the draft; the result is kept for this draft version (publishing needs it)."""
    engine, version = await draft_engines.get()
    state = await ensure_initialised()
    questions = await recent_questions(redis, limit)
    rows = dev_rows()
    report = await asyncio.to_thread(replay_report, live, engine, questions, rows)
    report.update({"draft_version": version, "live_number": state.live_number})
    summary = {"questions": report["questions"], "changed_count": report["changed_count"], "dev": report["dev"]}
    stored = {"live_number": state.live_number, "summary": summary}
    await redis.set(REPLAY_PREFIX + str(version), json.dumps(stored), ex=24 * 3600)
    return report


async def stored_replay(redis: Redis, version: int) -> dict[str, Any] | None:
    raw = await redis.get(REPLAY_PREFIX + str(version))
    return json.loads(raw) if raw else None


def release_view(release: IntentRelease, live_number: int | None) -> dict[str, Any]:
    return {
        "number": release.number,
        "checksum": release.checksum,
        "note": release.note,
        "replay": release.replay,
        "created_by": release.created_by,
        "created_at": release.created_at.isoformat(),
        "live": release.number == live_number,
    }
