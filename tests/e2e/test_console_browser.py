"""The operations console at /admin in Debian's headless Chromium: log in, add a training phrase, test it,
replay and publish, see the assistant answer differently through /api/v1/chat, roll back; then take a
hand-off and reply to a citizen on a WebSocket. Screenshots go to ``artifacts/e2e/console/``."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from playwright.async_api import expect

from app.catalog import load_items
from app.console.accounts import create_account
from tests.e2e.conftest import ARTIFACTS
from tests.test_applications import seed

LOST_PASSPORT = "440000-CRJ-004-03"
PHRASE = "蓝色小本本被狗叼走了"
PASSWORD = "console-browser-password"


class Desk:
    def __init__(self, page: Any, url: str, folder: Path, http: httpx.AsyncClient):
        self.page = page
        self.url = url
        self.folder = folder
        self.http = http
        self.steps = 0

    async def shot(self, name: str) -> None:
        self.steps += 1
        await self.page.screenshot(path=str(self.folder / f"{self.steps:02d}-{name}.png"), full_page=True)

    async def status(self, text: str) -> None:
        await expect(self.page.locator("#status")).to_contain_text(text, timeout=30_000)

    async def top_answer(self, want: str, negate: bool = False) -> str | None:
        """Ask /api/v1/chat until its top item is (or is no longer) ``want``."""
        code = None
        for _ in range(100):
            body = (await self.http.post("/api/v1/chat", json={"text": PHRASE})).json()
            code = body["items"][0]["code"] if body["items"] else None
            if (code == want) != negate:
                break
            await asyncio.sleep(0.1)
        return code


@pytest.fixture
async def desk(start_server, browser, request) -> AsyncIterator[Desk]:  # type: ignore[no-untyped-def]
    await load_items([dict(i) for i in seed()], "seed")
    running = await start_server(mount_fake_wechat=True, rate_limit_enabled=False)
    await create_account("ops-lead", "admin", PASSWORD, running.app.ctx.services.pii)
    # A module using this fixture names its own folder (ARTIFACT_FOLDER), so that it keeps these screenshots.
    folder = ARTIFACTS / getattr(request.module, "ARTIFACT_FOLDER", "console")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    async with httpx.AsyncClient(base_url=running.url, timeout=180) as http:
        desk = Desk(page, running.url, folder, http)
        try:
            yield desk
            assert errors == [], errors
        finally:
            call = getattr(request.node, "rep_call", None)
            if call is not None and call.failed:
                await desk.shot("failure")
            await context.close()


async def test_console_in_a_real_browser(desk: Desk) -> None:
    page = desk.page
    before = await desk.top_answer(LOST_PASSPORT, negate=True)
    assert before != LOST_PASSPORT

    # Log in.
    response = await page.goto(desk.url + "/admin")
    assert response is not None and response.status == 200
    assert "frame-ancestors 'none'" in (response.headers.get("content-security-policy") or "")
    await page.fill("#login-username", "ops-lead")
    await page.fill("#login-password", PASSWORD)
    await desk.shot("login")
    await page.click("#login-submit")
    await desk.status("ops-lead")

    # Find the intent and add a training phrase.
    await page.fill("#intent-search", "护照补发")
    await page.click("#intent-search-form button[type=submit]")
    await expect(page.locator("#intent-list")).to_have_attribute("data-query", "护照补发")
    await page.click(f"#intent-list li[data-id='{LOST_PASSPORT}']")
    await expect(page.locator("#intent-meta")).to_contain_text(LOST_PASSPORT)
    await page.fill("#phrase-input", PHRASE)
    await page.click("#phrase-add")
    await desk.status("已加入草稿")
    await expect(page.locator("#intent-phrases li.console")).to_contain_text(PHRASE)
    await desk.shot("phrase-added")

    # Test it against the draft (the live engine still answers otherwise).
    await page.click("#tabs button[data-tab=publish]")
    await page.fill("#test-input", PHRASE)
    await page.click("#test-run")
    # The first test builds this worker's draft engine (a second or more on a busy machine).
    await expect(page.locator("#test-draft .candidate[data-rank='1']")).to_have_attribute(
        "data-code", LOST_PASSPORT, timeout=30_000
    )
    await expect(page.locator("#test-draft .candidate[data-rank='1']")).to_contain_text("matched")
    assert await page.locator("#test-live .candidate[data-rank='1']").get_attribute("data-code") != LOST_PASSPORT
    await desk.shot("tested")

    # Replay, then publish.
    await page.click("#replay-run")
    await desk.status("回放完成")
    await expect(page.locator("#replay-summary")).to_contain_text("开发集")
    await desk.shot("replayed")
    await page.fill("#publish-note", "lost passport, colloquial")
    await page.click("#publish-run")
    await desk.status("已发布版本 Published release #2")
    await desk.shot("published")
    assert await desk.top_answer(LOST_PASSPORT) == LOST_PASSPORT

    # Roll back to the first release.
    await page.click("#tabs button[data-tab=releases]")
    await expect(page.locator("#release-rows tr[data-number='2']")).to_contain_text("live")
    await desk.shot("releases")
    await page.click("#release-rows tr[data-number='1'] button.rollback")
    await desk.status("Release #1 is live")
    await expect(page.locator("#release-rows tr[data-number='1']")).to_contain_text("live")
    await desk.shot("rolled-back")
    assert await desk.top_answer(LOST_PASSPORT, negate=True) != LOST_PASSPORT

    # A citizen asks for a person on the mini-program's WebSocket; the agent takes it and replies.
    url = desk.url.replace("http://", "ws://") + "/api/v1/ws"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "chat", "text": "护照丢了怎么补办"}))
        await asyncio.wait_for(ws.recv(), 10)
        await ws.send(json.dumps({"type": "chat", "text": "我要转人工"}))
        queued = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert queued["action"] == "smalltalk" and queued["handoff"]["status"] == "queued"
        await page.click("#tabs button[data-tab=handoff]")
        case = page.locator(f"#handoff-list li[data-id='{queued['handoff']['id']}']")
        await expect(case).to_be_visible(timeout=10_000)
        await case.click()
        await expect(page.locator("#handoff-context")).to_contain_text("普通护照")
        await expect(page.locator("#handoff-messages")).to_contain_text("护照丢了怎么补办")
        await page.click("#handoff-claim")
        await expect(page.locator("#handoff-title")).to_contain_text("active")
        await page.fill("#handoff-reply", "您好，我是窗口工作人员，请问护照是在哪里丢失的？")
        await page.click("#handoff-send")
        pushed: dict[str, Any] = {}
        while pushed.get("type") != "agent":
            pushed = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert pushed["text"] == "您好，我是窗口工作人员，请问护照是在哪里丢失的？"
        await ws.send(json.dumps({"type": "chat", "text": "在机场丢的"}))
        await expect(page.locator("#handoff-messages")).to_contain_text("在机场丢的", timeout=10_000)
        await desk.shot("handoff")
        await page.click("#handoff-return")
        while pushed.get("type") != "handoff" or pushed.get("status") != "returned":
            pushed = json.loads(await asyncio.wait_for(ws.recv(), 10))

    # Every write is in the audit log, readable by the admin.
    await page.click("#tabs button[data-tab=audit]")
    await expect(page.locator("#audit-rows")).to_contain_text("release.rollback")
    await expect(page.locator("#audit-rows")).to_contain_text("intent.add_phrase")
    await expect(page.locator("#audit-rows")).to_contain_text("handoff.reply")
    await desk.shot("audit")
    assert sorted(p.name for p in desk.folder.iterdir())[0] == "01-login.png"
