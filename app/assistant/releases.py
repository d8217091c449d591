"""The assistant's engine life cycle: which release is live, building its engine, and the reload protocol.

The live release of the console's intent data (or, before the console was ever used, the intent
files) over the catalog makes the engine. A publish or rollback asks every worker to build the new
release's engine first (``prepare:N:token`` on the reload channel, each acknowledging) and then to
switch (``reload``), so all of them answer from the new release within moments of each other.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from redis.asyncio import Redis

from app.assistant import intent_data
from app.catalog import CATEGORIES, export_items
from intents.build import build_assistant
from intents.dialog import Assistant
from models import IntentRelease, IntentState

log = logging.getLogger("shengshi.assistant")

RELOAD_CHANNEL = "shengshi:assistant:reload"
STATE_ID = 1
PREPARE = "prepare:"
PREPARED_PREFIX = "shengshi:intents:prepared:"
PREPARE_TIMEOUT_S = 15.0


class EngineHolder(Protocol):
    """What holds the engine a worker answers with (the chat service)."""

    def swap(self, assistant: Assistant) -> None: ...


async def catalog_items() -> list[dict[str, Any]]:
    return await export_items()


async def build_from_database(strict: bool = True) -> Assistant:
    """The assistant over the catalog in the database; with ``strict`` off, an empty one if it cannot be read."""
    try:
        items = await catalog_items()
        # The live release of the console's intent data (none yet: the intent files).
        release = await live_release()
    except Exception:
        if strict:
            raise
        # The server still starts (and /readyz still answers); a reload after migrating fills it.
        log.error("cannot read the catalog: run `python -m app migrate` and `python -m app catalog load`")
        items, release = [], None
    # Building tokenises every phrase (about half a second): it runs off the event loop.
    return await build_engine(release.data if release is not None else None, items)


async def live_release() -> IntentRelease | None:
    """The live release, or None before the console was ever used (the files are live then)."""
    state = await IntentState.get_or_none(id=STATE_ID)
    if state is None or state.live_number is None:
        return None
    return await IntentRelease.get_or_none(number=state.live_number)


async def build_engine(data: Mapping[str, Any] | None, items: list[dict[str, Any]] | None = None) -> Assistant:
    """An engine over the catalog with ``data`` applied (the intent files when ``data`` is None)."""
    items = items if items is not None else await export_items()
    if data is None:
        return await asyncio.to_thread(build_assistant, items, categories=list(CATEGORIES))
    compiled = intent_data.compile_data(data, items)
    return await asyncio.to_thread(lambda: build_assistant(categories=list(CATEGORIES), **compiled))


async def build_live() -> Assistant:
    release = await live_release()
    return await build_engine(release.data if release is not None else None)


async def publish_reload(redis: Redis) -> int:
    """Ask every worker to rebuild its assistant now."""
    return int(await redis.publish(RELOAD_CHANNEL, "reload"))


async def announce(redis: Redis) -> None:
    """Ask every worker to switch to the live release (or rebuild) now."""
    await publish_reload(redis)


async def prepare(redis: Redis, number: int, timeout_s: float = PREPARE_TIMEOUT_S) -> int:
    """Have every worker build release ``number``'s engine now; answers how many did within ``timeout_s``.

    Building takes about a second; the switch that follows is then one assignment on every worker,
    so all of them answer from the new release within moments of each other.
    """
    token = uuid.uuid4().hex
    ack_key = f"{PREPARED_PREFIX}{token}"
    receivers = int(await redis.publish(RELOAD_CHANNEL, f"{PREPARE}{number}:{token}"))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    ready = 0
    while loop.time() < deadline:
        ready = int(await redis.get(ack_key) or 0)
        if ready >= receivers:
            break
        await asyncio.sleep(0.05)
    await redis.delete(ack_key)
    return ready


class ReleaseSwitcher:
    """A worker's side of a switch: build on ``prepare:N:token``, swap on the reload that follows."""

    def __init__(self, redis: Redis):
        self.redis = redis
        self._prepared: tuple[int, Assistant, float] | None = None

    async def handle(self, service: EngineHolder, message: str) -> bool:
        """True when ``message`` was handled here (the caller then does not rebuild)."""
        if message.startswith(PREPARE):
            number_text, _, token = message[len(PREPARE) :].partition(":")
            release = await IntentRelease.get_or_none(number=int(number_text))
            if release is not None:
                self._prepared = (release.number, await build_engine(release.data), time.monotonic())
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.incr(f"{PREPARED_PREFIX}{token}")
                    pipe.expire(f"{PREPARED_PREFIX}{token}", 60)
                    await pipe.execute()
            return True
        prepared = self._prepared
        if prepared is None or time.monotonic() - prepared[2] > 120:
            return False
        release = await live_release()
        if release is None or release.number != prepared[0]:
            return False
        self._prepared = None
        service.swap(prepared[1])
        log.info("assistant switched to release", extra={"fields": {"release": prepared[0]}})
        return True
