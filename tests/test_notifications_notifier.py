"""The notifier against the fake platform, one delivery at a time: grants, refusals, token expiry, no connection."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.core.wechat import WeChatGateway
from app.notifications.notifier import RETRY_KEY, Notifier, Template
from miniprogram_stub.fake_wechat import create_fake_app
from models import Delivery, Level, OutboxMessage, SubscriptionGrant, User
from tests.conftest import RunningServer
from tests.helpers import free_port

SUBSCRIBE = "cgi-bin/message/subscribe/send"
ONE_TIME = Template("one-time-tpl", "办理结果通知", "办结时通知一次", long_term=False)


@pytest.fixture
async def fake():  # type: ignore[no-untyped-def]
    running = RunningServer(create_fake_app("fake_notifier_test"), free_port())
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


def notifier(redis: Any, base: str) -> Notifier:
    gateway = WeChatGateway(redis, "wxdevmini00000000", "shengshi-dev-wxa-secret", base_url=base, timeout=2)
    return Notifier(redis, gateway, [ONE_TIME], retry_base_s=0.01)


async def outbox_for(user: User, n: int) -> OutboxMessage:
    payload = {
        "application_id": n, "service_code": "440000-CRJ-004-01", "service_name": "普通护照首次申领",
        "status": "completed", "status_text": "已办结", "note": "", "missing_materials": [], "deadline": None,
        "at": "2026-11-22T10:00:00+08:00",
    }  # fmt: skip
    return await OutboxMessage.create(
        idempotency_key=f"{n}:{n}:subscribe", channel="subscribe", user_id=user.id, application_id=n, event_id=n,
        payload=payload,
    )  # fmt: skip


@pytest.fixture
async def user(db: None) -> User:
    return await User.create(openid="o-notifier-test", level=Level.L2)


async def test_a_one_time_grant_carries_exactly_one_message(redis, fake, user: User) -> None:  # type: ignore[no-untyped-def]
    sender = notifier(redis, fake.url + "/__fakewx/")
    await SubscriptionGrant.create(user_id=user.id, template_id=ONE_TIME.template_id, long_term=False)
    assert await sender.deliver(await outbox_for(user, 1), 0) == "sent"
    assert await sender.deliver(await outbox_for(user, 2), 0) == "skipped"
    async with httpx.AsyncClient(base_url=fake.url) as http:
        sent = (await http.get("/__fakewx/_sent", params={"endpoint": SUBSCRIBE})).json()["sent"]
    assert len(sent) == 1 and sent[0]["touser"] == "o-notifier-test"
    assert (await SubscriptionGrant.get(user_id=user.id)).used_at is not None


@pytest.mark.parametrize("errcode", [43101, 47003, 43004])
async def test_final_refusals_are_not_retried(redis, fake, user: User, errcode: int) -> None:  # type: ignore[no-untyped-def]
    sender = notifier(redis, fake.url + "/__fakewx/")
    await SubscriptionGrant.create(user_id=user.id, template_id=ONE_TIME.template_id, long_term=False)
    async with httpx.AsyncClient(base_url=fake.url) as http:
        await http.post("/__fakewx/_faults", json={"endpoint": SUBSCRIBE, "errcode": errcode})
        assert await sender.deliver(await outbox_for(user, 3), 0) == "refused"
    assert await redis.zcard(RETRY_KEY) == 0
    record = await Delivery.get(idempotency_key="3:3:subscribe")
    assert record.status == "refused" and str(errcode) in record.detail


async def test_an_expired_token_is_refreshed_and_the_message_sent(redis, fake, user: User) -> None:  # type: ignore[no-untyped-def]
    sender = notifier(redis, fake.url + "/__fakewx/")
    await SubscriptionGrant.create(user_id=user.id, template_id=ONE_TIME.template_id, long_term=False)
    await sender.wechat.access_token()
    async with httpx.AsyncClient(base_url=fake.url) as http:
        await http.post("/__fakewx/_tokens/expire")
        before = (await http.get("/__fakewx/_stats")).json()["calls"]["cgi-bin/token"]
        assert await sender.deliver(await outbox_for(user, 4), 0) == "sent"
        after = (await http.get("/__fakewx/_stats")).json()["calls"]["cgi-bin/token"]
    assert after == before + 1


async def test_a_refused_connection_is_retried_later_and_the_grant_kept(redis, user: User) -> None:  # type: ignore[no-untyped-def]
    closed = f"http://127.0.0.1:{free_port()}/__fakewx/"
    sender = notifier(redis, closed)
    await redis.set(sender.wechat.token_key, '{"token": "t", "expires_at": 9999999999}')
    await SubscriptionGrant.create(user_id=user.id, template_id=ONE_TIME.template_id, long_term=False)
    message = await outbox_for(user, 5)
    assert await sender.deliver(message, 0) == "retrying"
    assert await redis.zcard(RETRY_KEY) == 1
    assert (await SubscriptionGrant.get(user_id=user.id)).used_at is None
    # The last attempt gives up into the dead letters.
    assert await sender.deliver(message, sender.max_attempts - 1) == "dead"
    assert (await Delivery.get(idempotency_key=message.idempotency_key)).status == "dead"
