"""The mini-program in a real browser: Debian's headless Chromium driven by Playwright, against
the real app started in this test's event loop (development settings, so the fake WeChat
platform answers at /__fakewx and the simulator is served at /stub/).

Screenshots of every step are kept under ``artifacts/e2e/<test>/``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.catalog import load_items
from tests.test_applications import World, seed

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_or_skip() -> str:
    """Debian's Chromium. CI installs it (.ci/run) and must never skip these tests."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    message = f"{CHROMIUM} is missing: apt-get install chromium (or set CHROMIUM_PATH)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class Phone:
    """The simulator page, with a screenshot for each step of the story."""

    def __init__(self, page: Any, url: str, folder: Path):
        self.page = page
        self.url = url
        self.folder = folder
        self.steps = 0

    async def open(self, user: str) -> None:
        await self.page.goto(f"{self.url}/stub/?user={user}")
        await self.page.wait_for_selector("body[data-ready=true]", timeout=20_000)

    async def shot(self, name: str) -> Path:
        self.steps += 1
        path = self.folder / f"{self.steps:02d}-{name}.png"
        await self.page.locator("#phone").screenshot(path=str(path))
        return path

    async def tab(self, text: str) -> None:
        """Go back to the tab pages (as a person taps ‹) and open the tab ``text``."""
        for _ in range(5):
            if await self.page.locator("#tabbar").is_visible():
                break
            await self.page.locator("#nav-back").click()
        await self.page.locator("#tabbar .tab", has_text=text).click()

    def current(self, selector: str, **options: Any) -> Any:
        """``selector`` inside the page on top of the stack (hidden pages keep their DOM)."""
        return self.page.locator(f".page-frame:not([hidden]) {selector}", **options)

    async def errors(self) -> list[str]:
        return list(await self.page.evaluate("window.__sim.errors"))

    async def session(self) -> dict[str, Any]:
        return dict(await self.page.evaluate("JSON.parse(localStorage.getItem('mp:session'))"))


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    executable = chromium_or_skip()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def stage(start_server, browser, request):  # type: ignore[no-untyped-def]
    """The running app with the seed catalog, an HTTP client for staff, and a fresh phone."""
    await load_items([dict(i) for i in seed()], "seed")
    running = await start_server(mount_fake_wechat=True, notify_retry_base_s=0.05)
    folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    context = await browser.new_context(viewport={"width": 1000, "height": 820}, locale="zh-CN")
    page = await context.new_page()
    async with httpx.AsyncClient(base_url=running.url, timeout=20) as http:
        await http.post("/__fakewx/_reset")
        world = World(http)
        phone = Phone(page, running.url, folder)
        try:
            yield world, phone
        finally:
            call = getattr(request.node, "rep_call", None)
            if call is not None and call.failed:
                await phone.shot("failure")
            await context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    # Keep each phase's report on the test item, so the fixture can take a screenshot on failure.
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report
