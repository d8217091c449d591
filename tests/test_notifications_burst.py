"""The burst of issue 15 on real PostgreSQL and Redis: two web workers, two notification workers, 200 transitions
of citizens who granted subscribe messages and follow the official account. Every channel gets each message
once; then the same while one worker is killed with SIGKILL during a WeChat call and started again: nothing
lost, nothing sent twice, the one maybe-sent message recorded uncertain, listed in the console and replayed."""

from __future__ import annotations

import asyncio
import collections
import signal
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.console.staff import hash_password
from app.notifications.notifier import FINISHED, STREAM
from models import Delivery, Notification, OutboxMessage, Staff
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL, RunningServer
from tests.helpers import free_port, service_env, start_service, wait_for_http
from tests.test_notifications_exactly_once import SUBSCRIBE, TEMPLATE, once_each
from tests.test_notifications_worker import fake, make_applications, start_worker  # noqa: F401 - fake: the fixture

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (TEST_DATABASE_URL and TEST_REDIS_URL), reason="needs TEST_DATABASE_URL and TEST_REDIS_URL (real services)"
    ),
]

COUNT = 200
PASSWORD = "correct-horse-battery"


class Burst:
    """The processes of one deployment (two web workers, notification workers) and their clients."""

    def __init__(self, tmp_path: Path, platform: RunningServer):
        self.tmp_path = tmp_path
        self.platform = platform
        self.env = service_env(
            SHENGSHI_VAR_DIR=str(tmp_path),
            DATABASE_URL=TEST_DATABASE_URL,
            REDIS_URL=str(TEST_REDIS_URL),
            WECHAT_API_BASE=platform.url + "/__fakewx/",
            RUN_WORKER_IN_PROCESS="false",
            # Staff move 200 applications in a second: the limiter is not what is measured here.
            RATE_LIMIT_ENABLED="false",
            # Longer than the slowest WeChat call of the test (1 s), so only a dead consumer's work is claimed.
            NOTIFY_CLAIM_IDLE_MS="3000",
            NOTIFY_RETRY_BASE_S="0.05",
        )
        self.workers: list[tuple[Any, Any]] = []
        # Two web processes of one worker each, as behind a load balancer (Sanic's own manager gives
        # its workers 30 s to start, which a busy 2-CPU test machine does not always meet).
        self.web = [start_service(free_port(), self.env, tmp_path / f"web{n}.log") for n in (1, 2)]
        self.http = [httpx.AsyncClient(base_url=web.url, timeout=30) for web in self.web]
        self.started = 0

    def start_worker(self, redispatch_s: int) -> Any:
        self.started += 1
        env = {**self.env, "NOTIFY_REDISPATCH_S": str(redispatch_s)}
        proc, log = start_worker(env, self.tmp_path / f"worker{self.started}.log")
        self.workers.append((proc, log))
        return proc

    def kill(self, proc: Any) -> None:
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
        for entry in [w for w in self.workers if w[0] is proc]:
            entry[1].close()
            self.workers.remove(entry)

    def stop_workers(self) -> list[int]:
        codes = []
        for proc, log in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            codes.append(proc.wait(60))
            log.close()
        self.workers = []
        return codes

    async def wait_started(self, timeout: float = 60) -> None:
        """Until every notification worker started says so in its log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            logs = sorted(self.tmp_path.glob("worker*.log"))
            if all("notification worker started" in p.read_text(errors="replace") for p in logs):
                return
            # Not time.sleep: the fake platform answers from this event loop.
            await asyncio.sleep(0.1)
        raise AssertionError(self.logs())

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in sorted(self.tmp_path.glob("worker*.log")))

    async def move_all(self, staff: dict, ids: list[int], to: str, version: int) -> None:
        """One transition per application, 16 at a time, taking turns between the web workers."""
        gate = asyncio.Semaphore(16)

        async def move(application_id: int) -> None:
            async with gate:
                answer = await self.http[application_id % 2].post(
                    f"/api/v1/admin/applications/{application_id}/transitions",
                    json={"to": to, "version": version},
                    headers=staff,
                )
                assert answer.status_code == 200, answer.text

        await asyncio.gather(*(move(i) for i in ids))


async def settled(keys: list[str], timeout: float = 120) -> bool:
    """Every delivery of these keys is finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await Delivery.filter(idempotency_key__in=keys, status__in=list(FINISHED)).count() == len(keys):
            return True
        await asyncio.sleep(0.2)
    return False


async def outbox_keys(ids: list[int], status: str) -> list[str]:
    """The outbox rows of one step of these applications (three channels each)."""
    rows = await OutboxMessage.filter(application_id__in=ids).values("idempotency_key", "payload")
    return [r["idempotency_key"] for r in rows if r["payload"]["status"] == status]


async def platform_sent(http: httpx.AsyncClient, endpoint: str) -> list[dict[str, Any]]:
    return (await http.get("/__fakewx/_sent", params={"endpoint": endpoint})).json()["sent"]


def step_of(message: dict[str, Any]) -> str:
    data = message["data"]
    return str((data.get("phrase2") or data.get("keyword2"))["value"])


async def test_two_web_and_two_notification_workers_send_each_message_once_even_through_a_sigkill(
    db: None,
    redis: Any,
    tmp_path: Path,
    fake: RunningServer,  # noqa: F811 - the fixture
) -> None:
    ids = await make_applications(COUNT, follow=True)
    await Staff.create(username="burst", password_hash=hash_password(PASSWORD), role="clerk")
    burst = Burst(tmp_path, fake)
    platform = httpx.AsyncClient(base_url=fake.url, timeout=20)
    try:
        for web in burst.web:
            wait_for_http(web.url + "/healthz", timeout=120)
        http = burst.http[0]
        login = await http.post("/api/v1/admin/login", json={"username": "burst", "password": PASSWORD})
        assert login.status_code == 200, login.text
        staff = {"Authorization": f"Bearer {login.json()['access_token']}"}

        # -- 1. no fault: both dispatchers start on 600 waiting rows (the submissions) while 200
        # transitions arrive through both web workers.
        pids = [burst.start_worker(redispatch_s=120).pid, burst.start_worker(redispatch_s=120).pid]
        await burst.wait_started()
        started = time.monotonic()
        await burst.move_all(staff, ids, "accepted", version=1)
        first = await outbox_keys(ids, "submitted") + await outbox_keys(ids, "accepted")
        assert len(first) == 2 * 3 * COUNT
        assert await settled(first), burst.logs()
        first_s = time.monotonic() - started
        for endpoint in (SUBSCRIBE, TEMPLATE):
            messages = await platform_sent(platform, endpoint)
            steps = collections.Counter(step_of(m) for m in messages)
            assert steps == {"已提交": COUNT, "已受理": COUNT}, (endpoint, steps)
            assert set(once_each(messages).values()) == {1}, "a message reached WeChat twice"
        per_row = collections.Counter(int(f["outbox_id"]) for _, f in await redis.xrange(STREAM))
        assert len(per_row) == len(first) and set(per_row.values()) == {1}, "one stream entry per outbox row"
        calls = (await platform.get("/__fakewx/_stats")).json()["calls"]
        assert calls[SUBSCRIBE] == calls[TEMPLATE] == 2 * COUNT
        assert await Notification.all().count() == 2 * COUNT
        statuses = collections.Counter(await Delivery.all().values_list("status", flat=True))
        assert statuses == {"sent": 2 * 3 * COUNT}, statuses
        # Both workers did part of the work (the last owner of each delivery is the one that finished it).
        by_worker = collections.Counter(
            int(owner.split(":")[0].rsplit("-", 1)[1]) for owner in await Delivery.all().values_list("owner", flat=True)
        )
        assert set(by_worker) == set(pids), by_worker
        assert burst.stop_workers() == [0, 0]

        # -- 2. the same with one worker killed during a WeChat call, and started again. A row the
        # killed dispatcher claimed but never streamed is found by the sweep after 15 s.
        await platform.delete("/__fakewx/_sent")
        killed = burst.start_worker(redispatch_s=15)
        burst.start_worker(redispatch_s=15)
        await burst.wait_started()
        started = time.monotonic()
        moving = asyncio.create_task(burst.move_all(staff, ids, "reviewing", version=2))
        await wait_until_sending(platform, f"{socket.gethostname()}-{killed.pid}"[:48] + ":")
        burst.kill(killed)
        in_call = await Delivery.filter(status="sending", owner__startswith=f"{socket.gethostname()}-{killed.pid}")
        burst.start_worker(redispatch_s=15)
        await moving
        second = await outbox_keys(ids, "reviewing")
        assert len(second) == 3 * COUNT
        assert await settled(second), burst.logs()
        second_s = time.monotonic() - started
        records = {d.idempotency_key: d for d in await Delivery.filter(idempotency_key__in=second)}
        statuses = collections.Counter(d.status for d in records.values())
        uncertain = sorted(k for k, d in records.items() if d.status == "uncertain")
        # The one message in the killed worker's WeChat call is "maybe sent"; everything else was sent.
        assert [d.idempotency_key for d in in_call] == uncertain, (statuses, in_call)
        assert statuses == {"sent": 3 * COUNT - 1, "uncertain": 1}, statuses
        for endpoint in (SUBSCRIBE, TEMPLATE):
            messages = await platform_sent(platform, endpoint)
            assert set(once_each(messages).values()) == {1}, "a message reached WeChat twice"
            # The uncertain one did arrive (the fake platform finishes a call whose caller died).
            assert len(messages) == COUNT, (endpoint, len(messages))
        assert await Notification.all().count() == 3 * COUNT

        # -- 3. staff see the uncertain delivery in the console and replay it: sent once more.
        listed = await http.get("/api/v1/admin/deliveries", params={"status": "uncertain"}, headers=staff)
        assert [d["idempotency_key"] for d in listed.json()["items"]] == uncertain
        before = len(await platform_sent(platform, SUBSCRIBE))
        for key in uncertain:
            replay = await http.post("/api/v1/admin/deliveries/replay", json={"idempotency_key": key}, headers=staff)
            assert replay.status_code == 200, replay.text

        async def replayed() -> bool:
            return await Delivery.filter(idempotency_key__in=uncertain, status="sent").count() == len(uncertain)

        deadline = time.monotonic() + 30
        while not await replayed() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert await replayed(), burst.logs()
        assert len(await platform_sent(platform, SUBSCRIBE)) == before + 1
        print(
            f"\nburst: {COUNT} transitions (+{COUNT} submissions) per channel, no fault: {first_s:.1f} s, "
            f"0 duplicates, 0 lost; with a SIGKILL: {second_s:.1f} s, 0 duplicates, 0 lost, "
            f"{len(uncertain)} uncertain (replayed); deliveries per worker in the first burst: {sorted(by_worker.values())}"
        )
    finally:
        await platform.aclose()
        codes = burst.stop_workers()
        for client in burst.http:
            await client.aclose()
        for web in burst.web:
            assert web.stop() == 0, web.output[-3000:]
    assert codes == [0, 0]


async def wait_until_sending(platform: httpx.AsyncClient, owner_prefix: str, timeout: float = 60) -> None:
    """Slow two subscribe-message calls down until the given worker is inside one of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await platform.post("/__fakewx/_faults", json={"endpoint": SUBSCRIBE, "delay_s": 1.0, "times": 2})
        for _ in range(20):
            held = await Delivery.filter(status="sending", owner__startswith=owner_prefix, channel="subscribe")
            if held and all(d.claimed_at is not None and time.time() - d.claimed_at.timestamp() > 0.2 for d in held):
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the worker never called WeChat")
