"""Notifications: every step reaches the citizen in the app, on WeChat when authorised, once each."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

from models import Delivery, Follower, OutboxMessage
from tests.test_applications import World, open_world

TEMPLATE = "shengshi-progress-dev"
SUBSCRIBE = "cgi-bin/message/subscribe/send"


@pytest.fixture
async def world(start_server):  # type: ignore[no-untyped-def]
    async with open_world(start_server, timeout=30, reset_fake_wechat=True, notify_retry_base_s=0.01) as world:
        yield world


async def eventually(check, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.05)


async def deliveries(application_id: int, channel: str) -> list[Delivery]:
    keys = await OutboxMessage.filter(application_id=application_id, channel=channel).values_list(
        "idempotency_key", flat=True
    )
    return await Delivery.filter(idempotency_key__in=list(keys)).order_by("id")


async def sent(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    return (await http.get("/__fakewx/_sent", params={"endpoint": SUBSCRIBE})).json()["sent"]


async def test_every_step_reaches_the_app_and_wechat_once(world: World) -> None:
    citizen = await world.citizen("notified")
    templates = (await world.http.get("/api/v1/subscriptions/templates")).json()["templates"]
    assert templates[0]["template_id"] == TEMPLATE and templates[0]["long_term"] is True
    granted = await world.http.post("/api/v1/subscriptions", json={"granted": [TEMPLATE]}, headers=citizen)
    assert granted.status_code == 200
    bad = await world.http.post("/api/v1/subscriptions", json={"granted": ["made-up"]}, headers=citizen)
    assert bad.status_code == 400
    clerk = await world.staff("notifier")
    me = (await world.http.get("/api/v1/me", headers=citizen)).json()["user"]
    # A follower of the official account (the official-account webhook links them by unionid).
    await Follower.create(openid="o-mp-notified", user_id=me["id"], subscribed=True)
    app = (await world.apply(citizen)).json()
    app = (await world.move(clerk, app, "accepted")).json()
    app = (await world.move(clerk, app, "reviewing")).json()
    app = (await world.move(clerk, app, "returned", missing_materials=["照片"])).json()
    app = (
        await world.http.post(
            f"/api/v1/applications/{app['id']}/resubmit", json={"version": app["version"]}, headers=citizen
        )
    ).json()
    for step in ("reviewing", "approved", "completed"):
        app = (await world.move(clerk, app, step)).json()
    steps = 8

    async def all_delivered() -> bool:
        done = [d for ch in ("inapp", "subscribe", "template") for d in await deliveries(app["id"], ch)]
        return len(done) == 3 * steps and all(d.status in ("sent", "skipped") for d in done)

    assert await eventually(all_delivered), [
        (d.channel, d.status, d.detail) for ch in ("inapp", "subscribe") for d in await deliveries(app["id"], ch)
    ]
    listed = (await world.http.get("/api/v1/notifications", headers=citizen)).json()
    assert len(listed["items"]) == steps and listed["unread"] == steps
    assert listed["items"][0]["title"].endswith("已办结")
    returned = next(n for n in listed["items"] if n["data"]["status"] == "returned")
    assert "照片" in returned["body"]
    messages = await sent(world.http)
    assert len(messages) == steps
    assert {m["template_id"] for m in messages} == {TEMPLATE}
    phrases = [m["data"]["phrase2"]["value"] for m in messages]
    assert phrases == ["已提交", "已受理", "审核中", "需补正材料", "已重新提交", "审核中", "审批通过", "已办结"]
    template = await deliveries(app["id"], "template")
    assert {d.status for d in template} == {"sent"}
    mp = (await world.http.get("/__fakewx/_sent", params={"endpoint": "cgi-bin/message/template/send"})).json()["sent"]
    assert len(mp) == steps and {m["touser"] for m in mp} == {"o-mp-notified"}
    assert [m["data"]["keyword2"]["value"] for m in mp][-1] == "已办结"
    read = await world.http.post(f"/api/v1/notifications/{returned['id']}/read", headers=citizen)
    assert read.json()["read"] is True
    assert (await world.http.get("/api/v1/notifications", headers=citizen)).json()["unread"] == steps - 1
    await world.http.post("/api/v1/notifications/read-all", headers=citizen)
    assert (await world.http.get("/api/v1/notifications", headers=citizen)).json()["unread"] == 0


async def test_without_a_grant_only_the_app_is_notified(world: World) -> None:
    citizen = await world.citizen("nogrant")
    me = (await world.http.get("/api/v1/me", headers=citizen)).json()["user"]
    # Unfollowed: no template message either.
    await Follower.create(openid="o-mp-gone", user_id=me["id"], subscribed=False)
    app = (await world.apply(citizen)).json()
    assert await eventually(lambda: _statuses(app["id"], "subscribe", {"skipped"}))
    assert await eventually(lambda: _statuses(app["id"], "template", {"skipped"}))
    assert await sent(world.http) == []
    assert len((await world.http.get("/api/v1/notifications", headers=citizen)).json()["items"]) == 1


async def _statuses(application_id: int, channel: str, wanted: set[str]) -> bool:
    found = await deliveries(application_id, channel)
    return bool(found) and {d.status for d in found} <= wanted


async def _granted_application(world: World, name: str) -> tuple[dict, dict]:
    citizen = await world.citizen(name)
    await world.http.post("/api/v1/subscriptions", json={"granted": [TEMPLATE]}, headers=citizen)
    return citizen, (await world.apply(citizen)).json()


async def fault(world: World, **spec: Any) -> None:
    response = await world.http.post("/__fakewx/_faults", json={"endpoint": SUBSCRIBE, **spec})
    assert response.status_code == 200, response.text


async def subscribe_calls(world: World) -> int:
    return (await world.http.get("/__fakewx/_stats")).json()["calls"].get(SUBSCRIBE, 0)


async def test_refused_by_the_user_is_final(world: World) -> None:
    await fault(world, errcode=43101)
    _, app = await _granted_application(world, "refuser")
    assert await eventually(lambda: _statuses(app["id"], "subscribe", {"refused"}))
    await asyncio.sleep(0.3)
    assert await subscribe_calls(world) == 1 and await sent(world.http) == []


@pytest.mark.parametrize(
    "spec", [{"errcode": 45009, "times": 2}, {"http_status": 500, "times": 2}, {"errcode": -1, "times": 1}]
)
async def test_passing_failures_are_retried_then_sent_once(world: World, spec: dict) -> None:
    await fault(world, **spec)
    _, app = await _granted_application(world, f"retry{abs(spec.get('errcode', spec.get('http_status', 0)))}")
    assert await eventually(lambda: _statuses(app["id"], "subscribe", {"sent"}))
    assert await subscribe_calls(world) == spec["times"] + 1
    assert len(await sent(world.http)) == 1


async def test_lasting_failures_go_to_dead_letters_that_staff_replay(world: World) -> None:
    await fault(world, errcode=-1, times=5)
    _, app = await _granted_application(world, "deadletter")
    assert await eventually(lambda: _statuses(app["id"], "subscribe", {"dead"}))
    clerk = await world.staff("replayer")
    dead = (await world.http.get("/api/v1/admin/deliveries", params={"status": "dead"}, headers=clerk)).json()["items"]
    assert len(dead) == 1 and dead[0]["attempts"] == 5
    replay = await world.http.post(
        "/api/v1/admin/deliveries/replay", json={"idempotency_key": dead[0]["idempotency_key"]}, headers=clerk
    )
    assert replay.status_code == 200
    assert await eventually(lambda: _statuses(app["id"], "subscribe", {"sent"}))
    assert len(await sent(world.http)) == 1


async def test_a_slow_platform_is_recorded_uncertain_not_sent_twice(world: World) -> None:
    await fault(world, delay_s=6)
    _, app = await _granted_application(world, "slowpoke")
    assert await eventually(lambda: _statuses(app["id"], "subscribe", {"uncertain"}), timeout=20)
    await asyncio.sleep(1.5)
    # It did arrive, late; no retry sent it again.
    assert len(await sent(world.http)) == 1 and await subscribe_calls(world) == 1


async def test_websocket_receives_the_push(world: World) -> None:
    citizen = await world.citizen("pushed")
    clerk = await world.staff("pusher")
    app = (await world.apply(citizen)).json()
    url = world.url.replace("http://", "ws://") + "/api/v1/ws"  # type: ignore[attr-defined]
    token = citizen["Authorization"].split()[1]
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(await ws.recv()) == {"type": "auth", "ok": True}

        async def gauge_counts_it() -> bool:
            return "shengshi_websocket_connections 1" in (await world.http.get("/metrics")).text

        assert await eventually(gauge_counts_it)
        await world.move(clerk, app, "accepted")
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 15))
            if message["type"] == "notification" and message["notification"]["data"]["status"] == "accepted":
                break
        assert message["notification"]["application_id"] == app["id"]
