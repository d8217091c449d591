"""Intents, governed: draft edits, test with reasons, replay, publish, rollback, diff, and the reload
reaching a second worker process (a real subprocess on real Redis; a second in-process worker on the
embedded Redis, which a subprocess cannot share)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.assistant import intent_data
from app.catalog import load_items
from models import AuditEntry, IntentRelease
from tests.conftest import TEST_REDIS_URL, database_url, free_port, is_postgres, make_settings
from tests.helpers import Service, service_env, wait_for_http
from tests.test_applications import seed
from tests.test_console_access import staff_token

LOST_PASSPORT = "440000-CRJ-004-03"
PHRASE = "蓝色小本本被狗叼走了"


class Console:
    def __init__(self, running: Any, http: httpx.AsyncClient):
        self.running = running
        self.http = http
        self.tokens: dict[str, dict[str, str]] = {}

    async def as_(self, role: str) -> dict[str, str]:
        if role not in self.tokens:
            self.tokens[role] = await staff_token(self.http, self.running.app, f"{role}-1", role)
        return self.tokens[role]

    async def call(self, role: str, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = await self.http.request(method, "/api/v1/admin" + path, headers=await self.as_(role), json=body)
        assert response.status_code == status, (path, response.text)
        return response.json()

    async def ask(self, text: str) -> dict[str, Any]:
        response = await self.http.post("/api/v1/chat", json={"text": text})
        assert response.status_code == 200, response.text
        return dict(response.json())


@contextlib.asynccontextmanager
async def open_console(start_server) -> AsyncIterator[Console]:  # type: ignore[no-untyped-def]
    """The seed catalog, a server, and a console client of it."""
    await load_items([dict(i) for i in seed()], "seed")
    running = await start_server(mount_fake_wechat=True, rate_limit_enabled=False)
    async with httpx.AsyncClient(base_url=running.url, timeout=180) as http:  # replays run the dev set
        yield Console(running, http)


@pytest.fixture
async def console(start_server) -> AsyncIterator[Console]:  # type: ignore[no-untyped-def]
    async with open_console(start_server) as opened:
        yield opened


async def top_code(console: Console, text: str, want: str | None, negate: bool = False) -> str | None:
    """Ask until the answer's top item is (or is no longer) ``want``: the reload takes a moment."""
    code = None
    for _ in range(60):
        body = await console.ask(text)
        code = body["items"][0]["code"] if body["items"] else None
        if (code == want) != negate:
            return code
        await asyncio.sleep(0.1)
    return code


async def test_edit_test_replay_publish_answer_differently_then_roll_back(console: Console) -> None:
    before = await console.ask(PHRASE)
    assert not before["items"] or before["items"][0]["code"] != LOST_PASSPORT
    # The question is logged for replays (text only, no identity).
    await console.ask("护照丢了怎么补办")

    added = await console.call("editor", "POST", f"/intents/{LOST_PASSPORT}/phrases", {"text": PHRASE})
    assert added["change"]["intents"][0]["add_phrases"]["added"] == [PHRASE]
    detail = await console.call("viewer", "GET", f"/intents/{LOST_PASSPORT}")
    assert PHRASE in detail["phrases"] and PHRASE not in detail["catalog_phrases"]
    assert [f["id"] for f in detail["families"]] == ["passport"]

    tested = await console.call("editor", "POST", "/intents/test", {"text": PHRASE})
    assert tested["draft"]["candidates"][0]["code"] == LOST_PASSPORT
    best = tested["draft"]["candidates"][0]
    assert best["score"] > 0 and best["matched"] and set(best["matched"]) <= set(tested["draft"]["tokens"])
    assert tested["draft"]["action"] == "answer" and tested["draft"]["items"][0]["code"] == LOST_PASSPORT
    assert not tested["live"]["items"] or tested["live"]["items"][0]["code"] != LOST_PASSPORT
    # Still live: the draft changes nothing until published.
    assert await top_code(console, PHRASE, LOST_PASSPORT, negate=True) != LOST_PASSPORT

    refused = await console.call("publisher", "POST", "/intents/publish", {"note": "lost passport"}, status=409)
    assert refused["error"]["code"] == "replay_required"
    await console.ask(PHRASE)  # logged: the replay shows its answer changing
    replay = await console.call("publisher", "POST", "/intents/replay", {})
    assert replay["questions"] >= 2
    changed = {c["text"]: c for c in replay["changed"]}
    assert PHRASE in changed and changed[PHRASE]["after"]["code"] == LOST_PASSPORT
    assert replay["dev"]["rows"] > 400
    assert (
        0.8 < replay["dev"]["before"]["top1"] <= 1
        and abs(replay["dev"]["after"]["top1"] - replay["dev"]["before"]["top1"]) < 0.02
    )
    assert (await console.call("viewer", "GET", "/draft"))["replayed"] is True

    published = await console.call("publisher", "POST", "/intents/publish", {"note": "lost passport"}, status=201)
    assert published["number"] == 2 and published["live"] and published["replay"]["dev"]["rows"] > 400
    assert await top_code(console, PHRASE, LOST_PASSPORT) == LOST_PASSPORT
    again = await console.call("publisher", "POST", "/intents/publish", {"note": "again"}, status=409)
    assert again["error"]["code"] == "nothing_to_publish"

    releases = await console.call("viewer", "GET", "/releases")
    assert [r["number"] for r in releases["items"]] == [2, 1] and releases["live"] == 2
    diff = await console.call("viewer", "GET", "/releases/diff?from=1&to=2")
    assert diff["changed"] and diff["intents"][0]["id"] == LOST_PASSPORT
    assert diff["intents"][0]["add_phrases"]["added"] == [PHRASE]
    assert (await console.call("viewer", "GET", "/releases/diff?from=2&to=draft"))["changed"] is False

    rolled = await console.call("publisher", "POST", "/releases/1/rollback")
    assert rolled == {"live": 1, "previous": 2}
    assert await top_code(console, PHRASE, LOST_PASSPORT, negate=True) != LOST_PASSPORT
    # Releases are immutable: rolling forward again is a rollback to release 2.
    await console.call("publisher", "POST", "/releases/2/rollback")
    assert await top_code(console, PHRASE, LOST_PASSPORT) == LOST_PASSPORT
    assert await IntentRelease.all().count() == 2

    audit = {e.action: e for e in await AuditEntry.all().order_by("id")}
    assert audit["release.publish"].before == {"live": 1} and audit["release.publish"].after["live"] == 2
    assert audit["release.rollback"].after == {"live": 2}
    assert audit["intent.add_phrase"].staff_username == "editor-1"


async def test_crud_over_intents_synonyms_families_dictionary_and_templates(console: Console) -> None:
    made = await console.call(
        "editor", "POST", "/intents",
        {"name": "护照遗失报告", "items": [LOST_PASSPORT], "phrases": ["出国玩护照被偷了"], "keywords": ["被偷"]},
        status=201,
    )  # fmt: skip
    custom = made["id"]
    assert custom == "custom-1"
    view = await console.call("viewer", "GET", f"/intents/{custom}")
    assert view["kind"] == "custom" and view["items"] == [LOST_PASSPORT]
    await console.call("editor", "PUT", f"/intents/{custom}", {"phrases": ["出国玩护照被偷了", "护照在国外被抢"]})
    listed = await console.call("viewer", "GET", "/intents?q=遗失报告")
    assert [i["id"] for i in listed["items"]] == [custom]
    await console.call(
        "editor", "PUT", f"/intents/{LOST_PASSPORT}",
        {"answer_template": "护照丢了别着急：{name}由{department}办理，需要{materials}。"},
    )  # fmt: skip
    await console.call("editor", "PUT", "/synonyms/小本本", {"values": ["护照"]})
    await console.call("editor", "PUT", "/dictionary", {"words": ["小本本"]})
    family = {
        "name": "签注", "question": "您要办哪种签注？",
        "options": [{"label": "旅游", "code": "440000-CRJ-002-01", "words": ["旅游"]},
                    {"label": "探亲", "code": "440000-CRJ-002-02", "words": ["探亲"]}],
    }  # fmt: skip
    clash = await console.call("editor", "PUT", "/families/endorsement", family, status=400)
    assert "another family" in clash["error"]["message"]
    await console.call("editor", "DELETE", "/families/hk-macau-permit")
    await console.call("editor", "PUT", "/families/endorsement", family)
    assert "endorsement" in [f["id"] for f in (await console.call("viewer", "GET", "/families"))["families"]]

    tested = await console.call("editor", "POST", "/intents/test", {"text": "护照在国外被抢了"})
    assert tested["draft"]["items"][0]["code"] == LOST_PASSPORT
    assert tested["draft"]["reply"].startswith("护照丢了别着急：普通护照") and "{" not in tested["draft"]["reply"]
    assert (
        "小本本" in (await console.call("editor", "POST", "/intents/test", {"text": "小本本丢了"}))["draft"]["tokens"]
    )

    for path, body in [
        (f"/intents/{LOST_PASSPORT}", {"name": "改名"}),
        (f"/intents/{LOST_PASSPORT}", {"phrases": "not a list"}),
        (f"/intents/{LOST_PASSPORT}", {"phrases": ["x" * 101]}),
        (f"/intents/{LOST_PASSPORT}", {"answer_template": "{secret}"}),
        (f"/intents/{custom}", {"items": ["999-NOPE"]}),
        ("/synonyms/词", {"values": []}),
    ]:
        await console.call("editor", "PUT", path, body, status=400)
    await console.call("editor", "POST", "/intents", {"name": "x", "items": []}, status=400)
    await console.call("editor", "DELETE", f"/intents/{LOST_PASSPORT}", status=404)
    await console.call("viewer", "GET", "/intents/no-such-thing", status=404)
    await console.call("editor", "DELETE", f"/intents/{custom}")
    await console.call("editor", "DELETE", "/synonyms/小本本")

    draft = await console.call("viewer", "GET", "/draft")
    assert draft["edited"] and {i["id"] for i in draft["diff"]["intents"]} == {LOST_PASSPORT}
    assert draft["diff"]["dictionary"]["added"] == ["小本本"]
    assert await AuditEntry.filter(action__startswith="family.").count() == 2
    await console.call("editor", "DELETE", "/draft")
    assert (await console.call("viewer", "GET", "/draft"))["edited"] is False


def test_compiled_data_applies_additions_removals_and_custom_intents() -> None:
    items = {i["code"]: dict(i) for i in seed()}
    data = intent_data.seed()
    first = items[LOST_PASSPORT]["training_phrases"][0]
    kept = [p for p in items[LOST_PASSPORT]["training_phrases"] if p != first] + ["新说法"]
    data = intent_data.update_intent(data, LOST_PASSPORT, {"phrases": kept}, items)
    assert data["intents"][LOST_PASSPORT] == {"add_phrases": ["新说法"], "remove_phrases": [first]}
    data, _ = intent_data.create_intent(data, {"name": "丢证", "items": [LOST_PASSPORT, "440000-HJ-004-03"],
                                                    "phrases": ["证件全丢了"]}, items)  # fmt: skip
    compiled = intent_data.compile_data(data, list(items.values()))
    by_code = {i["code"]: i for i in compiled["items"]}
    assert (
        first not in by_code[LOST_PASSPORT]["training_phrases"]
        and "新说法" in by_code[LOST_PASSPORT]["training_phrases"]
    )
    assert compiled["extra_phrases"] == {LOST_PASSPORT: ["证件全丢了"], "440000-HJ-004-03": ["证件全丢了"]}
    # Putting the catalog phrases back leaves no change at all.
    back = intent_data.update_intent(data, LOST_PASSPORT, {"phrases": items[LOST_PASSPORT]["training_phrases"]}, items)
    assert LOST_PASSPORT not in back["intents"]
    assert intent_data.diff(data, back)["intents"][0]["status"] == "removed"
    assert intent_data.checksum(data) != intent_data.checksum(back)


# -- the reload reaches another worker ------------------------------------------------------------


@pytest.fixture
async def second_worker(console: Console, start_server, tmp_path: Path) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """Another worker on the same database and Redis: a real process when Redis is real."""
    if TEST_REDIS_URL and is_postgres():
        port = free_port()
        env = service_env(
            DATABASE_URL=database_url(), REDIS_URL=TEST_REDIS_URL, SHENGSHI_VAR_DIR=str(tmp_path),
            JWT_SECRET=make_settings().jwt_secret, PII_KEY=make_settings().pii_key, RATE_LIMIT_ENABLED="false",
            RUN_WORKER_IN_PROCESS="false", LOG_LEVEL="WARNING", PATH=os.environ.get("PATH", ""),
        )  # fmt: skip
        service = Service(port, env, tmp_path / "worker2.log")
        try:
            wait_for_http(service.url + "/readyz", timeout=90)
            yield service.url
        finally:
            service.stop()
    else:
        other = await start_server(mount_fake_wechat=True, rate_limit_enabled=False)
        yield other.url


async def test_publish_and_rollback_reach_a_second_worker_within_a_second(console: Console, second_worker: str) -> None:
    loop = asyncio.get_running_loop()
    # Publishing has every worker build the release's engine first, then switches them all at once.
    bound = 1.0
    async with httpx.AsyncClient(base_url=second_worker, timeout=30) as other:

        async def other_top() -> str | None:
            body = (await other.post("/api/v1/chat", json={"text": PHRASE})).json()
            return body["items"][0]["code"] if body["items"] else None

        assert await other_top() != LOST_PASSPORT
        await console.call("editor", "POST", f"/intents/{LOST_PASSPORT}/phrases", {"text": PHRASE})
        await console.call("publisher", "POST", "/intents/replay", {"limit": 50})
        await console.call("publisher", "POST", "/intents/publish", {"note": "n"}, status=201)
        started = loop.time()
        while await other_top() != LOST_PASSPORT and loop.time() - started < 10:
            await asyncio.sleep(0.05)
        took = loop.time() - started
        assert await other_top() == LOST_PASSPORT
        assert took < bound, (took, bound)
        await console.call("publisher", "POST", "/releases/1/rollback")
        started = loop.time()
        while await other_top() == LOST_PASSPORT and loop.time() - started < 10:
            await asyncio.sleep(0.05)
        assert await other_top() != LOST_PASSPORT
        assert loop.time() - started < bound, (loop.time() - started, bound)
