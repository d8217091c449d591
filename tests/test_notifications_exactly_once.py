"""Exactly once with several notifiers: each outbox row streamed once, each channel sent once, a dead
consumer's claim recorded uncertain (never sent blindly again), and an uncertain delivery replayed once."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
from typing import Any, NamedTuple

import httpx
import pytest

from app.core.settings import DEV_MP_APPID, DEV_MP_SECRET, DEV_WXA_APPID
from app.core.wechat import WeChatGateway
from app.notifications.notifier import BUSY, GROUP, STREAM, Notifier, default_templates
from models import AuditEntry, Delivery, Notification, OutboxMessage
from tests.test_applications import World, open_world
from tests.test_notifications import eventually
from tests.test_notifications_notifier import fake  # noqa: F401 - the fake platform fixture
from tests.test_notifications_worker import make_applications

SUBSCRIBE = "cgi-bin/message/subscribe/send"
TEMPLATE = "cgi-bin/message/template/send"
MP_TEMPLATE = "shengshi-mp-progress-dev"


def notifier(redis: Any, base: str, name: str, **options: Any) -> Notifier:
    """A notifier with both WeChat channels, as each worker process builds it."""
    return Notifier(
        redis,
        WeChatGateway(redis, DEV_WXA_APPID, "shengshi-dev-wxa-secret", base_url=base, timeout=5),
        default_templates("shengshi-progress-dev"),
        name=name,
        official_account=WeChatGateway(redis, DEV_MP_APPID, DEV_MP_SECRET, base_url=base, timeout=5),
        mp_template_id=MP_TEMPLATE,
        **options,
    )


async def sent(platform: Any, endpoint: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=platform.url + "/__fakewx") as http:
        return (await http.get("/_sent", params={"endpoint": endpoint})).json()["sent"]


async def streamed(redis: Any) -> collections.Counter[int]:
    """How many stream entries each outbox row has."""
    return collections.Counter(int(fields["outbox_id"]) for _, fields in await redis.xrange(STREAM))


def once_each(messages: list[dict[str, Any]]) -> collections.Counter[tuple[str, str]]:
    """Messages per (recipient, progress step): every value must be 1."""
    return collections.Counter(
        (m["touser"], str(m["data"].get("phrase2") or m["data"].get("keyword2"))) for m in messages
    )


class Pair(NamedTuple):
    """Two notifiers, as two worker processes build them, and the fake platform they send to."""

    a: Notifier
    b: Notifier
    fake: Any


@pytest.fixture
def pair(db: None, redis: Any, fake: Any) -> Pair:  # noqa: F811 - the fixture
    base = fake.url + "/__fakewx/"
    return Pair(notifier(redis, base, "worker-a"), notifier(redis, base, "worker-b"), fake)


async def test_two_dispatchers_stream_each_outbox_row_once(
    db: None, redis: Any, pair: tuple[Notifier, Notifier]
) -> None:
    await make_applications(10, follow=True)
    rows = await OutboxMessage.all().count()
    assert rows == 30
    a, b, _ = pair
    dispatched = await asyncio.gather(a.dispatch_once(), b.dispatch_once())
    assert sum(dispatched) == rows
    per_row = await streamed(redis)
    assert len(per_row) == rows and set(per_row.values()) == {1}, per_row
    assert await OutboxMessage.filter(dispatched_by=None).count() == 0
    # The sweep of rows dispatched long ago and never finished is claimed the same way.
    await OutboxMessage.all().update(dispatched_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    assert sum(await asyncio.gather(a.redispatch_stale(), b.redispatch_stale())) == rows
    assert set((await streamed(redis)).values()) == {2}


async def test_two_consumers_holding_copies_of_an_entry_send_once(redis: Any, pair: Pair) -> None:
    await make_applications(1, follow=True)
    a, b, platform = pair
    async with httpx.AsyncClient(base_url=platform.url + "/__fakewx") as http:
        # Slow answers, so that both copies are in flight at the same time.
        for endpoint in (SUBSCRIBE, TEMPLATE):
            await http.post("/_faults", json={"endpoint": endpoint, "delay_s": 0.3, "times": 2})
    for row in await OutboxMessage.all().order_by("id"):
        outcomes = await asyncio.gather(a.deliver(row, 0), b.deliver(row, 0))
        assert sorted(outcomes) == [BUSY, "sent"], (row.channel, outcomes)
    assert len(await sent(platform, SUBSCRIBE)) == 1 and len(await sent(platform, TEMPLATE)) == 1
    assert await Notification.all().count() == 1
    assert set(await Delivery.all().values_list("status", flat=True)) == {"sent"}


async def test_two_notifiers_woken_by_the_same_kick_deliver_each_message_once(redis: Any, pair: Pair) -> None:
    a, b, platform = pair
    tasks = [
        asyncio.create_task(getattr(n, f"run_{loop}")())
        for n in (a, b)
        for loop in ("dispatcher", "kick_listener", "consumer", "retry_pump")
    ]
    try:
        count = 20
        await make_applications(count, follow=True)
        await a.kick()
        await b.kick()

        async def finished() -> bool:
            return await OutboxMessage.filter(delivered_at=None).count() == 0

        deadline = asyncio.get_running_loop().time() + 60
        while not await finished() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        assert await finished()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    per_row = await streamed(redis)
    assert len(per_row) == 3 * count and set(per_row.values()) == {1}, per_row
    for endpoint in (SUBSCRIBE, TEMPLATE):
        messages = await sent(platform, endpoint)
        assert len(messages) == count and set(once_each(messages).values()) == {1}
    assert await Notification.all().count() == count
    assert collections.Counter(await Delivery.all().values_list("status", flat=True)) == {"sent": 3 * count}


async def claim_of(
    row: OutboxMessage, status: str, owner: str = "dead-worker:0123456789ab", age_s: float = 300
) -> None:
    """A delivery's claim as a consumer left it (by default one killed five minutes ago)."""
    await Delivery.create(
        idempotency_key=row.idempotency_key, outbox_id=row.id, channel=row.channel, status=status,
        owner=owner, claimed_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=age_s),
    )  # fmt: skip


async def _claim_left_by_a_dead_consumer(status: str, channel: str) -> OutboxMessage:
    row = await OutboxMessage.get(channel=channel)
    await claim_of(row, status)
    return row


async def test_a_dead_consumers_claim_is_uncertain_if_it_was_sending_and_taken_over_if_not(
    redis: Any, pair: Pair
) -> None:
    await make_applications(1, follow=True)
    a, _, platform = pair
    # Killed during the WeChat call: maybe sent, so never sent again without a person deciding.
    during_call = await _claim_left_by_a_dead_consumer("sending", "subscribe")
    assert await a.deliver(during_call, 0) == "uncertain"
    assert await sent(platform, SUBSCRIBE) == []
    assert (await OutboxMessage.get(id=during_call.id)).delivered_at is not None
    # Killed before calling WeChat: nothing went out, so the claim is taken over and the message sent.
    before_call = await _claim_left_by_a_dead_consumer("claimed", "template")
    assert await a.deliver(before_call, 0) == "sent"
    assert len(await sent(platform, TEMPLATE)) == 1
    # A live claim of another consumer: this copy sends nothing and leaves its entry pending.
    inapp = await OutboxMessage.get(channel="inapp")
    await claim_of(inapp, "claimed", owner="worker-b:0123456789ab", age_s=0)
    await a.ensure_group()
    await redis.xadd(STREAM, {"outbox_id": str(inapp.id), "attempt": "0"})
    entries = await redis.xreadgroup(GROUP, a.name, {STREAM: ">"}, count=10)
    entry_id, fields = entries[0][1][0]
    await a.handle(entry_id, fields)
    assert (await redis.xpending(STREAM, GROUP))["pending"] == 1
    assert await Notification.all().count() == 0


async def test_an_uncertain_delivery_is_replayed_once_even_when_two_replays_race(redis: Any, pair: Pair) -> None:
    await make_applications(1, follow=True)
    a, b, platform = pair
    row = await _claim_left_by_a_dead_consumer("sending", "subscribe")
    assert await a.deliver(row, 0) == "uncertain"
    assert sorted(await asyncio.gather(a.replay(row.idempotency_key), b.replay(row.idempotency_key))) == [False, True]
    assert await redis.xlen(STREAM) == 1
    assert (await OutboxMessage.get(id=row.id)).delivered_at is None
    replayed = await OutboxMessage.get(id=row.id)
    assert sorted(await asyncio.gather(a.deliver(replayed, 0), b.deliver(replayed, 0))) == [BUSY, "sent"]
    assert len(await sent(platform, SUBSCRIBE)) == 1
    assert not await a.replay(row.idempotency_key), "a sent delivery is not replayed"


@pytest.fixture
async def world(start_server):  # type: ignore[no-untyped-def]
    # The notifier's loops are started by the test, after it set the scene.
    async with open_world(start_server, reset_fake_wechat=True, run_worker_in_process=False) as world:
        yield world


async def test_the_console_lists_uncertain_deliveries_and_a_clerk_replays_them(world: World) -> None:
    citizen = await world.citizen("uncertain")
    await world.http.post("/api/v1/subscriptions", json={"granted": ["shengshi-progress-dev"]}, headers=citizen)
    app = (await world.apply(citizen)).json()
    row = await OutboxMessage.get(application_id=app["id"], channel="subscribe")
    # As a worker killed during the WeChat call leaves it: the claim says "sending", and it is old.
    await claim_of(row, "sending")
    notifier = world.app.ctx.services.notifier
    tasks = [asyncio.create_task(getattr(notifier, f"run_{loop}")()) for loop in ("dispatcher", "consumer")]
    try:
        viewer, clerk = await world.staff("deliveries-viewer", role="viewer"), await world.staff("deliveries-clerk")

        async def listed() -> list[dict[str, Any]]:
            answer = await world.http.get("/api/v1/admin/deliveries", params={"status": "uncertain"}, headers=clerk)
            assert answer.status_code == 200, answer.text
            return answer.json()["items"]

        assert await eventually(listed)
        items = await listed()
        assert [i["idempotency_key"] for i in items] == [row.idempotency_key] and items[0]["channel"] == "subscribe"
        assert await sent_here(world) == 0
        key = {"idempotency_key": row.idempotency_key}
        forbidden = await world.http.post("/api/v1/admin/deliveries/replay", json=key, headers=viewer)
        assert forbidden.status_code == 403
        replay = await world.http.post("/api/v1/admin/deliveries/replay", json=key, headers=clerk)
        assert replay.status_code == 200, replay.text
        again = await world.http.post("/api/v1/admin/deliveries/replay", json=key, headers=clerk)
        assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"

        async def delivered() -> bool:
            return (await Delivery.get(idempotency_key=row.idempotency_key)).status == "sent"

        assert await eventually(delivered)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert await sent_here(world) == 1
    assert await listed() == []
    assert await AuditEntry.filter(action="delivery.replay", target=row.idempotency_key).count() == 1


async def sent_here(world: World) -> int:
    return len((await world.http.get("/__fakewx/_sent", params={"endpoint": SUBSCRIBE})).json()["sent"])
