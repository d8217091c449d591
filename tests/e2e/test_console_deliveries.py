"""The console's deliveries tab in headless Chromium: a notification recorded uncertain (maybe sent) is listed
with Chinese labels, and a staff member replays it after confirming; it is sent once more.
Screenshots go to ``artifacts/e2e/console-deliveries/``."""

from __future__ import annotations

import asyncio

from playwright.async_api import expect

from models import Delivery, OutboxMessage
from tests.e2e.test_console_browser import PASSWORD, Desk, desk  # noqa: F401 - desk: the fixture
from tests.test_notifications_worker import make_applications

ARTIFACT_FOLDER = "console-deliveries"
SUBSCRIBE = "cgi-bin/message/subscribe/send"


async def until_status(key: str, status: str) -> None:
    for _ in range(300):
        if (await Delivery.get_or_none(idempotency_key=key, status=status)) is not None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{key} never became {status}")


async def test_an_uncertain_delivery_is_listed_and_replayed_in_the_console(desk: Desk) -> None:  # noqa: F811
    (application_id,) = await make_applications(1)
    key = (await OutboxMessage.get(application_id=application_id, channel="subscribe")).idempotency_key
    await until_status(key, "sent")
    # As the worker leaves it when it dies during the WeChat call (tests/test_notifications_burst.py does it for real).
    await Delivery.filter(idempotency_key=key).update(status="uncertain", detail="the worker stopped while sending")

    page = desk.page
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.goto(desk.url + "/admin")
    await page.fill("#login-username", "ops-lead")
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await desk.status("ops-lead")
    await page.click("#tabs button[data-tab=deliveries]")
    row = page.locator(f"#delivery-rows tr[data-key='{key}']")
    await expect(row).to_contain_text("可能已发送")
    await expect(row).to_contain_text("订阅消息")
    await desk.shot("uncertain")
    await row.locator("button.replay-delivery").click()
    await desk.status("已安排重发")
    await until_status(key, "sent")
    sent = (await desk.http.get("/__fakewx/_sent", params={"endpoint": SUBSCRIBE})).json()["sent"]
    assert len(sent) == 2, "sent once by the worker, once more by the replay"
    await page.select_option("#delivery-status", "sent")
    await page.click("#delivery-form button[type=submit]")
    await expect(page.locator(f"#delivery-rows tr[data-key='{key}']")).to_contain_text("已发送")
    await desk.shot("replayed")
