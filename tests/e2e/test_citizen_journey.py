"""The citizen's whole journey in the browser simulator, end to end, and the cases around it."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from typing import Any

from playwright.async_api import expect

from models import Notification, Rating, SubscriptionGrant, User
from tests.e2e.conftest import ROOT, Phone
from tests.test_applications import World, uploads

LISI = ("李四", "440306199003071232")
VISA = "440000-CRJ-002-01"
VISA_NAME = "往来港澳通行证再次签注（个人旅游）"
SUBSCRIBE = "cgi-bin/message/subscribe/send"
PUSH_WITHIN_S = 2.0


async def log_in_and_verify(phone: Phone) -> None:
    await phone.tab("我的")
    await phone.current(".mine-login").click()
    await phone.current(".login-wx").click()
    await phone.current(".login-name").fill(LISI[0])
    await phone.current(".login-id").fill(LISI[1])
    await phone.shot("real-name")
    await phone.current(".login-verify").click()
    await expect(phone.current(".login-who")).to_contain_text("李*")
    await expect(phone.current(".login-who")).to_contain_text("4403**********1232")


async def ask(phone: Phone, text: str) -> Any:
    """Ask the assistant on the chat tab; answers the locator of its reply's row."""
    await phone.tab("小助手")
    rows = phone.current(".chat-msg")
    await expect(rows.first).to_be_visible()  # the greeting
    before = await rows.count()
    await phone.current(".chat-input").fill(text)
    await phone.current(".chat-send").click()
    # The question and the answer: two new rows.
    await expect(rows).to_have_count(before + 2)
    return rows.nth(before + 1)


async def application_of(world: World, user: User) -> dict[str, Any]:
    clerk = await world.staff(f"lookup-{time.monotonic_ns()}", role="clerk")
    queue = (await world.http.get("/api/v1/admin/applications", headers=clerk)).json()["items"]
    mine = [a for a in queue if a["service_code"] == VISA]
    assert len(mine) == 1, queue
    return mine[0]


async def eventually(check, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.05)


async def test_the_whole_journey_from_question_to_rating(stage: tuple[World, Phone]) -> None:
    world, phone = stage
    await phone.open("lisi")
    await phone.shot("home")
    await expect(phone.current(".home-cell").first).to_be_visible()

    # Log in with WeChat and verify the real name.
    await log_in_and_verify(phone)
    await phone.shot("verified")
    user = await User.get(real_name_mask="李*")
    assert user.level == "L2"

    # Ask, get the card, apply.
    answer = await ask(phone, "下个月去香港，通行证要续签")
    card = answer.locator(".chat-card")
    await expect(card.first).to_contain_text(VISA_NAME)
    await expect(phone.page.locator("#toast.show")).to_have_count(0)
    chat_shot = await phone.shot("chat")
    if os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        shutil.copy(chat_shot, ROOT / "docs" / "img" / "simulator-chat.png")
    await card.first.locator(".chat-apply").click()

    materials = phone.current(".apply-material")
    await expect(materials).to_have_count(2)
    await expect(materials.nth(1)).to_contain_text("电子证照已关联")
    await materials.nth(0).locator(".apply-choose").click()
    await expect(materials.nth(0)).to_contain_text("已选择")
    await phone.shot("apply")
    await phone.current(".apply-submit").click()

    # WeChat's subscribe dialog, answered on the submit tap; the grant is reported to the backend.
    dialog = phone.page.locator(".dialog.subscribe")
    await expect(dialog).to_contain_text("办件进度提醒")
    await phone.shot("subscribe")
    await dialog.get_by_role("button", name="允许").click()
    status = phone.current(".detail-status")
    await expect(status).to_have_text("已提交")
    await phone.shot("submitted")
    assert await SubscriptionGrant.filter(user_id=user.id, template_id="shengshi-progress-dev").exists()

    # Staff move it through the API; every step shows in the open page within two seconds, no reload.
    clerk = await world.staff("window-clerk")
    app = await application_of(world, user)
    assert app["status"] == "submitted"
    for to, text in (("accepted", "已受理"), ("reviewing", "审核中"), ("approved", "审批通过")):
        started = time.monotonic()
        moved = await world.move(clerk, app, to)
        assert moved.status_code == 200, moved.text
        app = moved.json()
        await expect(status).to_have_text(text, timeout=PUSH_WITHIN_S * 1000)
        assert time.monotonic() - started < PUSH_WITHIN_S
        await expect(phone.current(".detail-event-status").first).to_have_text(text)
        await phone.shot(to)
    assert await phone.page.evaluate("location.pathname + location.search") == "/stub/?user=lisi"

    # The fake WeChat platform received the subscribe messages, addressed to 李四's openid.
    async def subscribe_messages() -> list[dict[str, Any]]:
        sent = (await world.http.get("/__fakewx/_sent", params={"endpoint": SUBSCRIBE})).json()["sent"]
        return [m for m in sent if m["touser"] == user.openid]

    async def approved_sent() -> bool:
        return any("审批通过" in str(m["data"]) for m in await subscribe_messages())

    assert await eventually(approved_sent)
    assert all(m["template_id"] == "shengshi-progress-dev" for m in await subscribe_messages())

    # Completed: rate the service.
    moved = await world.move(clerk, app, "completed")
    assert moved.status_code == 200
    await expect(status).to_have_text("已办结", timeout=PUSH_WITHIN_S * 1000)
    rating = phone.current(".rating")
    await expect(rating.locator(".chip")).to_have_count(7)
    await rating.locator(".rating-star").nth(4).click()
    await rating.locator(".chip", has_text="办事效率高").click()
    await rating.locator(".rating-comment").fill("在手机上就办好了")
    await phone.shot("rating")
    await rating.locator(".rating-submit").click()
    await expect(phone.current(".rating-done")).to_contain_text("5星")
    await phone.shot("rated")
    stored = await Rating.get(user_id=user.id)
    assert (stored.score, stored.reasons, stored.comment) == (5, ["efficient"], "在手机上就办好了")

    # The messages tab lists every step.
    await phone.page.locator("#nav-back").click()
    await phone.tab("消息")
    await expect(phone.current(".msg-row")).to_have_count(5)
    await phone.shot("messages")
    assert await phone.errors() == []


async def test_a_question_in_traditional_characters(stage: tuple[World, Phone]) -> None:
    _, phone = stage
    await phone.open("wong")
    answer = await ask(phone, "下個月去香港，通行證要續簽")
    await expect(answer.locator(".chat-card").first).to_contain_text(VISA_NAME)
    await phone.shot("traditional")
    # The guide behind the card: conditions, materials, steps, time limit.
    await answer.locator(".chat-card .chat-card-name").first.click()
    await expect(phone.page.locator("#nav-title")).to_have_text(VISA_NAME)
    for section in ("申请条件", "申请材料", "办理流程"):
        await expect(phone.current(".section-title", has_text=section)).to_be_visible()
    await expect(phone.current(".tag").first).to_contain_text("即办")
    await phone.shot("guide")
    assert await phone.errors() == []


async def test_an_out_of_scope_question_gets_an_honest_answer(stage: tuple[World, Phone]) -> None:
    _, phone = stage
    await phone.open("curious")
    answer = await ask(phone, "今天天气怎么样，适合去爬山吗")
    await expect(answer.locator(".chat-bubble")).to_contain_text("12345")
    await expect(answer.locator(".chat-card")).to_have_count(0)
    await phone.shot("out-of-scope")
    await answer.locator(".chip", has_text="拨打12345").click()
    await expect(phone.page.locator("#toast")).to_contain_text("12345")
    assert await phone.errors() == []


async def test_a_dropped_websocket_reconnects_and_catches_up(stage: tuple[World, Phone]) -> None:
    world, phone = stage
    await phone.open("lisi")
    await log_in_and_verify(phone)
    user = await User.get(real_name_mask="李*")
    token = (await phone.session())["access"]
    created = await world.http.post(
        "/api/v1/applications",
        json={"service_code": VISA, "form": {}, "materials": await uploads(VISA)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201, created.text
    app = created.json()

    await phone.page.locator("#nav-back").click()
    await phone.tab("办件")
    await phone.current(".apps-row").first.click()
    status = phone.current(".detail-status")
    await expect(status).to_have_text("已提交")
    await expect(phone.current(".detail-offline")).to_have_count(0)
    await phone.page.wait_for_function("window.__sim.sockets.size === 1")

    # The network goes away: the socket drops, and the page says it is reconnecting.
    await phone.page.evaluate("window.__sim.goOffline()")
    await expect(phone.current(".detail-offline")).to_be_visible()
    await phone.shot("offline")

    clerk = await world.staff("night-clerk")
    moved = await world.move(clerk, app, "accepted")
    assert moved.status_code == 200

    async def stored() -> bool:
        notes = await Notification.filter(user_id=user.id, application_id=app["id"])
        return any(n.data.get("status") == "accepted" for n in notes)

    assert await eventually(stored)
    await asyncio.sleep(0.5)
    await expect(status).to_have_text("已提交")  # nothing reached the phone meanwhile

    # Back online: it reconnects by itself and catches up on what it missed.
    await phone.page.evaluate("window.__sim.goOnline()")
    await expect(status).to_have_text("已受理", timeout=5000)
    await expect(phone.current(".detail-offline")).to_have_count(0)
    assert await phone.page.evaluate("window.__sim.sockets.size") == 1
    await phone.shot("caught-up")

    # A drop without going offline: reconnects at once, and the next step is pushed live again.
    await phone.page.evaluate("window.__sim.dropSockets()")
    await phone.page.wait_for_function("window.__sim.sockets.size === 1")
    await expect(phone.current(".detail-offline")).to_have_count(0, timeout=5000)
    moved = await world.move(clerk, moved.json(), "reviewing")
    assert moved.status_code == 200
    await expect(status).to_have_text("审核中", timeout=PUSH_WITHIN_S * 1000)
    await phone.shot("live-again")
    # Every step is in the messages, the one caught up on included, all unread.
    await phone.page.locator("#nav-back").click()
    await expect(phone.page.locator("#tabbar .tab", has_text="消息").locator(".badge")).to_have_text("3")
    await phone.tab("消息")
    await expect(phone.current(".msg-row.unread")).to_have_count(3)
    await expect(phone.current(".msg-row").nth(1)).to_contain_text("已受理")
    assert await phone.errors() == []


async def test_elder_mode_enlarges_the_text_and_shortens_the_answers(stage: tuple[World, Phone]) -> None:
    _, phone = stage
    await phone.open("nainai")
    await phone.tab("我的")
    await phone.current(".mine-login").click()
    await phone.current(".login-wx").click()
    await expect(phone.current(".login-verify")).to_be_visible()

    normal = await ask(phone, "结婚登记要带什么")
    normal_size = await normal.locator(".chat-bubble").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    normal_chips = await normal.locator(".chip").count()

    await phone.tab("我的")
    await phone.current(".mine-switch").click()
    await expect(phone.current(".mine-switch")).to_have_text("已开启")
    user = await User.get(openid__isnull=False)
    assert user.elder_mode is True

    elder = await ask(phone, "结婚登记要带什么")
    elder_size = await elder.locator(".chat-bubble").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert elder_size >= normal_size * 1.25
    assert await elder.locator(".chip").count() <= min(normal_chips, 3)
    longest = "s => Math.max(...s.split('。').map(x => x.length))"
    assert await elder.locator(".chat-bubble").evaluate(f"e => ({longest})(e.textContent)") < await normal.locator(
        ".chat-bubble"
    ).evaluate(f"e => ({longest})(e.textContent)")
    await phone.shot("elder")
    assert await phone.errors() == []
