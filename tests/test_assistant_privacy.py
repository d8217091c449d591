"""Numbers that name a person, typed into the chat, are masked before anything keeps them: the learning
material in the database, the Redis list of recent questions, the session transcript, hand-off
transcripts and the logs. The engine still reads the message as typed."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
import websockets
from tortoise import Tortoise

from app.catalog import load_items
from app.console.governance import RECENT_KEY
from app.core.observability import JSONFormatter
from app.core.security.pii import mask_personal_numbers
from models import Handoff, UnmatchedQuestion
from tests.test_applications import seed

ID_NUMBER, MOBILE, CARD = "440306199003071232", "13812345678", "6222021234567890128"
CLEAR = (ID_NUMBER, MOBILE, CARD, "11010519491231002X", "15912345678")
MASKED = {ID_NUMBER: "4403**********1232", MOBILE: "138****5678", CARD: "6222***********0128"}


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("身份证440306199003071232", "身份证4403**********1232"),
        ("11010519491231002x丢了", "1101**********002X丢了"),
        ("４４０３０６１９９００３０７１２３２", "4403**********1232"),  # full-width digits
        ("440306 19900307 1232", "4403**********1232"),
        ("电话13812345678，或者+86 159-1234-5678", "电话138****5678，或者159****5678"),
        ("卡号6222 0212 3456 7890 128", "卡号6222***********0128"),
        ("4111111111111111", "4111********1111"),
        # Not a person's number: a card number failing the Luhn check, an application number, times.
        ("4111111111111112", "4111111111111112"),
        ("申请号20261206000123", "申请号20261206000123"),
        ("2026年12月6日 10:00 护照", "2026年12月6日 10:00 护照"),
    ],
)
def test_the_mask(typed: str, kept: str) -> None:
    assert mask_personal_numbers(typed) == kept


async def everything_in_redis(redis: Any) -> str:
    parts = []
    async for key in redis.scan_iter(match="*", count=500):
        kind = await redis.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "string":
            parts.append(await redis.get(key))
        elif kind == "list":
            parts.extend(await redis.lrange(key, 0, -1))
        elif kind == "hash":
            parts.append(json.dumps(await redis.hgetall(key), default=str))
        elif kind == "stream":
            parts.append(json.dumps(await redis.xrange(key), default=str))
    return " ".join(p.decode() if isinstance(p, bytes) else str(p) for p in parts)


async def everything_in_the_database() -> str:
    rows = []
    for model in Tortoise.apps["models"].values():
        rows.extend(await model.all().values())
    return json.dumps(rows, ensure_ascii=False, default=str)


async def test_numbers_typed_into_the_chat_are_kept_masked(start_server) -> None:  # type: ignore[no-untyped-def]
    await load_items([dict(i) for i in seed()], "seed")
    running = await start_server(mount_fake_wechat=True)
    redis = running.app.ctx.redis
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(JSONFormatter().format(record))

    capture = Capture(logging.DEBUG)
    logging.getLogger().addHandler(capture)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
            first = (await http.post("/api/v1/chat", json={"text": f"红烧肉怎么做 {ID_NUMBER}"})).json()
            assert first["action"] == "fallback"
            session = first["session_id"]
            # A second failure hands the chat to a person, with the transcript so far.
            second = await http.post(
                "/api/v1/chat",
                json={"text": f"红烧肉放什么酱 手机{MOBILE} 卡 6222 0212 3456 7890 128", "session_id": session},
            )
            assert second.json()["handoff"]["status"] == "queued", second.text
            # While handed off, messages go to the agent's transcript.
            held = await http.post("/api/v1/chat", json={"text": f"我的身份证是{ID_NUMBER}", "session_id": session})
            assert "handoff" in held.json()
        async with websockets.connect(running.url.replace("http://", "ws://") + "/api/v1/ws") as ws:
            await ws.send(json.dumps({"type": "chat", "text": f"红烧肉好吃吗 {CARD}"}))
            assert json.loads(await ws.recv())["action"] == "fallback"
            await ws.send(json.dumps({"type": "chat", "text": f"护照 {MOBILE}"}))
            assert json.loads(await ws.recv())["action"] == "ask_slot"  # the engine read the question
        logging.getLogger("shengshi.test").warning("typed %s", ID_NUMBER, extra={"fields": {"text": MOBILE}})
    finally:
        logging.getLogger().removeHandler(capture)

    stored = await everything_in_the_database() + await everything_in_redis(redis) + "\n".join(lines)
    for number in CLEAR:
        assert number not in stored
    # What is kept is the masked form: learning material, recent questions, the transcripts.
    unmatched = await UnmatchedQuestion.all().values_list("text", flat=True)
    assert "红烧肉怎么做 4403 1232" in unmatched and any("6222 0128" in t for t in unmatched)
    recent = [r.decode() if isinstance(r, bytes) else r for r in await redis.lrange(RECENT_KEY, 0, -1)]
    assert "护照 138 5678" in recent
    state = json.loads(await redis.get(f"shengshi:chat:{session}"))
    said = [t["text"] for t in state["transcript"] if t["from"] == "citizen"]
    assert said == [f"红烧肉怎么做 {MASKED[ID_NUMBER]}", f"红烧肉放什么酱 手机{MASKED[MOBILE]} 卡 {MASKED[CARD]}"]
    handoff = await Handoff.get(session_id=session)
    messages = [m["text"] for m in await running.app.ctx.services.handoffs.messages(handoff) if m["from"] == "citizen"]
    assert messages == [*said, f"我的身份证是{MASKED[ID_NUMBER]}"]
    logged = next(line for line in lines if "typed" in line)
    assert MASKED[ID_NUMBER] in logged and MASKED[MOBILE] in logged
