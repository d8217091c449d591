"""The notification worker as a real process: killed with SIGKILL mid-batch, a new one finishes the job,
nothing is lost and nothing reaches WeChat twice; Redis restarted mid-delivery, delivery resumes."""

from __future__ import annotations

import asyncio
import collections
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.applications import ApplicationService
from app.catalog import load_items
from app.core.workdays import WorkCalendar
from miniprogram_stub.fake_wechat import create_fake_app
from models import Delivery, Follower, Level, Notification, OutboxMessage, SubscriptionGrant, User
from tests.conftest import RunningServer, database_url
from tests.helpers import ROOT, free_port, scratch_redis, service_env
from tests.test_applications import SERVICE, seed, uploads

SUBSCRIBE = "cgi-bin/message/subscribe/send"
FINISHED = {"sent", "skipped", "refused", "uncertain", "dead"}


async def make_applications(count: int, follow: bool = False) -> list[int]:
    """Submitted applications of users who granted the progress template (and follow the official account)."""
    await load_items([dict(i) for i in seed() if i["code"] == SERVICE], "seed")
    service = ApplicationService(WorkCalendar())
    ids = []
    for n in range(count):
        user = await User.create(openid=f"o-worker-{n}", level=Level.L2, id_number_mask="4403**********1232")
        await SubscriptionGrant.create(user_id=user.id, template_id="shengshi-progress-dev", long_term=True)
        if follow:
            await Follower.create(openid=f"o-mp-worker-{n}", user_id=user.id, subscribed=True)
        item_materials = await uploads(SERVICE)
        app = await service.create(user, SERVICE, {"n": n}, item_materials)
        ids.append(app.id)
    return ids


def start_worker(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], object]:
    handle = open(log, "ab")  # noqa: SIM115 - closed by the caller through the returned handle
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "worker"], cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    return proc, handle


async def finished_count() -> int:
    return await Delivery.filter(status__in=list(FINISHED)).count()


async def wait_for(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.2)
    return False


@pytest.fixture
async def fake():  # type: ignore[no-untyped-def]
    running = RunningServer(create_fake_app("fake_worker_test"), free_port())
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


def worker_env(tmp_path: Path, redis_port: int, fake: RunningServer) -> dict[str, str]:
    return service_env(
        SHENGSHI_VAR_DIR=str(tmp_path),
        DATABASE_URL=database_url(),
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        WECHAT_API_BASE=fake.url + "/__fakewx/",
        NOTIFY_CLAIM_IDLE_MS="1500",
        NOTIFY_RETRY_BASE_S="0.05",
        NOTIFY_REDISPATCH_S="3",
    )


@pytest.mark.slow
async def test_sigkill_mid_batch_loses_nothing_and_sends_nothing_twice(db: None, tmp_path: Path, fake) -> None:  # type: ignore[no-untyped-def]
    count = 40
    ids = await make_applications(count)
    async with httpx.AsyncClient(base_url=fake.url + "/__fakewx", timeout=10) as http:
        await http.post("/_faults", json={"endpoint": SUBSCRIBE, "delay_s": 0.1, "times": 10_000})
        redis_port = free_port()
        with scratch_redis(redis_port):
            env = worker_env(tmp_path, redis_port, fake)
            first, first_log = start_worker(env, tmp_path / "worker1.log")

            async def some_sent() -> bool:
                return len((await http.get("/_sent")).json()["sent"]) >= 8

            assert await wait_for(some_sent, 60), (tmp_path / "worker1.log").read_text()
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            first_log.close()  # type: ignore[attr-defined]
            done_at_kill = await finished_count()
            assert done_at_kill < 3 * count, "the kill came too late to interrupt the batch"

            second, second_log = start_worker(env, tmp_path / "worker2.log")
            try:

                async def all_finished() -> bool:
                    return await finished_count() == 3 * count

                assert await wait_for(all_finished, 120), (tmp_path / "worker2.log").read_text()[-3000:]
            finally:
                second.send_signal(signal.SIGTERM)
                code = second.wait(30)
                second_log.close()  # type: ignore[attr-defined]
            assert code == 0
        sent = (await http.get("/_sent", params={"endpoint": SUBSCRIBE})).json()["sent"]
    pages = collections.Counter((m["touser"], m["body"].get("page")) for m in sent)
    assert all(n == 1 for n in pages.values()), [k for k, n in pages.items() if n > 1]
    assert await Notification.all().count() == count
    keys = await OutboxMessage.filter(application_id__in=ids, channel="subscribe").values_list(
        "idempotency_key", flat=True
    )
    statuses = collections.Counter(
        await Delivery.filter(idempotency_key__in=list(keys)).values_list("status", flat=True)
    )
    # Every message was sent, except at most the one in flight when the worker died ("maybe sent").
    assert statuses["sent"] + statuses["uncertain"] == count and statuses["uncertain"] <= 2, statuses
    assert len(sent) >= statuses["sent"]


@pytest.mark.slow
async def test_delivery_resumes_by_itself_after_redis_restarts(db: None, tmp_path: Path, fake) -> None:  # type: ignore[no-untyped-def]
    count = 20
    await make_applications(count)
    async with httpx.AsyncClient(base_url=fake.url + "/__fakewx", timeout=10) as http:
        await http.post("/_faults", json={"endpoint": SUBSCRIBE, "delay_s": 0.1, "times": 10_000})
        redis_port = free_port()
        env = worker_env(tmp_path, redis_port, fake)
        with scratch_redis(redis_port):
            worker, log = start_worker(env, tmp_path / "worker.log")

            async def some_sent() -> bool:
                return len((await http.get("/_sent")).json()["sent"]) >= 3

            assert await wait_for(some_sent, 60)
        # Redis is gone (it kept nothing on disk); the worker keeps retrying on its own.
        await asyncio.sleep(2)
        try:
            with scratch_redis(redis_port):
                # The outbox is the truth: rows not yet dispatched are dispatched again into the new Redis,
                # and rows lost from the old stream are found undelivered and re-dispatched by a sweep.
                async def all_finished() -> bool:
                    return await finished_count() == 3 * count

                assert await wait_for(all_finished, 120), (tmp_path / "worker.log").read_text()[-3000:]
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
            log.close()  # type: ignore[attr-defined]
        sent = (await http.get("/_sent", params={"endpoint": SUBSCRIBE})).json()["sent"]
    pages = collections.Counter((m["touser"], m["body"].get("page")) for m in sent)
    assert all(n == 1 for n in pages.values())
    assert await Notification.all().count() == count


@pytest.mark.slow
async def test_websocket_on_one_process_hears_a_transition_made_through_another(db: None, tmp_path: Path) -> None:
    import json

    import websockets

    from app.console.staff import hash_password
    from models import Staff
    from tests.helpers import start_service, wait_for_http

    await load_items([dict(i) for i in seed() if i["code"] == SERVICE], "seed")
    await Staff.create(username="xproc", password_hash=hash_password("correct-horse-battery"), role="clerk")
    redis_port = free_port()
    with scratch_redis(redis_port):
        env = service_env(
            SHENGSHI_VAR_DIR=str(tmp_path), DATABASE_URL=database_url(), REDIS_URL=f"redis://127.0.0.1:{redis_port}/0"
        )
        a = start_service(free_port(), env, tmp_path / "a.log")
        b = start_service(free_port(), {**env, "RUN_WORKER_IN_PROCESS": "false"}, tmp_path / "b.log")
        try:
            wait_for_http(a.url + "/healthz")
            wait_for_http(b.url + "/healthz")
            async with httpx.AsyncClient(base_url=a.url, timeout=20) as http:
                login = (await http.post("/api/v1/auth/wx-login", json={"code": "xproc.1"})).json()
                citizen = {"Authorization": f"Bearer {login['access_token']}"}
                verified = await http.post(
                    "/api/v1/auth/real-name",
                    json={"name": "王小明", "id_number": "440106198501011237"},
                    headers=citizen,
                )
                assert verified.status_code == 200, verified.text
                app = (await http.post(
                    "/api/v1/applications",
                    json={"service_code": SERVICE, "form": {}, "materials": await uploads(SERVICE)},
                    headers=citizen,
                )).json()  # fmt: skip
                staff = (
                    await http.post(
                        "/api/v1/admin/login", json={"username": "xproc", "password": "correct-horse-battery"}
                    )
                ).json()
                ws_url = b.url.replace("http://", "ws://") + "/api/v1/ws"
                async with websockets.connect(ws_url, additional_headers=citizen) as ws:
                    await ws.send(json.dumps({"type": "ping"}))
                    assert json.loads(await ws.recv()) == {"type": "pong"}
                    moved = await http.post(
                        f"/api/v1/admin/applications/{app['id']}/transitions",
                        json={"to": "accepted", "version": app["version"]},
                        headers={"Authorization": f"Bearer {staff['access_token']}"},
                    )
                    assert moved.status_code == 200, moved.text
                    while True:
                        message = json.loads(await asyncio.wait_for(ws.recv(), 20))
                        if (
                            message["type"] == "notification"
                            and message["notification"]["data"]["status"] == "accepted"
                        ):
                            break
            assert message["notification"]["application_id"] == app["id"]
        finally:
            assert a.stop() == 0, a.output[-3000:]
            assert b.stop() == 0, b.output[-3000:]
