"""Security decisions survive Redis losing its data: a logout, a revoked login family, the real-name
lock of the day and a staff lockout hold after FLUSHDB and after a Redis restart without persistence.

On the embedded defaults the flush empties the fakeredis instance the app uses; the restart test
runs its own redis-server on both backends.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from app.console import totp
from app.console.accounts import create_account
from app.core.redis_client import connect_redis
from tests.conftest import RunningServer, free_port, make_settings
from tests.helpers import scratch_redis

WRONG = {"name": "李五", "id_number": "440306199003071232"}
RIGHT = {"name": "李四", "id_number": "440306199003071232"}
PASSWORD = "correct-horse-battery"
_names = itertools.count()


async def _login(http: httpx.AsyncClient, code: str) -> dict[str, Any]:
    response = await http.post("/api/v1/auth/wx-login", json={"code": code})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def running(start_server):  # type: ignore[no-untyped-def]
    return await start_server(mount_fake_wechat=True)


@pytest.fixture
async def http(running: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running.url, timeout=20) as client:
        await client.post("/__fakewx/_reset")
        yield client


async def _log_out(http: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """One login logged out and another login of the same person still live."""
    ended, kept = await _login(http, "flush.1"), await _login(http, "flush.2")
    assert (await http.get("/api/v1/me", headers=_bearer(ended["access_token"]))).status_code == 200
    assert (await http.post("/api/v1/auth/logout", headers=_bearer(ended["access_token"]))).status_code == 200
    assert (await http.get("/api/v1/me", headers=_bearer(ended["access_token"]))).status_code == 401
    return ended, kept


async def _check_logged_out(http: httpx.AsyncClient, ended: dict[str, Any], kept: dict[str, Any]) -> None:
    me = await http.get("/api/v1/me", headers=_bearer(ended["access_token"]))
    assert me.status_code == 401 and me.json()["error"]["code"] == "session_revoked", me.text
    refreshed = await http.post("/api/v1/auth/refresh", json={"refresh_token": ended["refresh_token"]})
    assert refreshed.status_code == 401
    # The other login was never revoked: the cache refilled from the database says so.
    assert (await http.get("/api/v1/me", headers=_bearer(kept["access_token"]))).status_code == 200


async def _lock_real_name(http: httpx.AsyncClient) -> dict[str, str]:
    person = _bearer((await _login(http, "locked.1"))["access_token"])
    codes = [(await http.post("/api/v1/auth/real-name", json=WRONG, headers=person)).status_code for _ in range(5)]
    assert codes == [400, 400, 400, 400, 429]
    return person


async def _check_real_name_locked(http: httpx.AsyncClient, person: dict[str, str]) -> None:
    right = await http.post("/api/v1/auth/real-name", json=RIGHT, headers=person)
    assert right.status_code == 429 and right.json()["error"]["code"] == "real_name_locked", right.text
    assert (await http.get("/api/v1/me", headers=person)).json()["user"]["level"] == "L1"


async def _lock_staff(http: httpx.AsyncClient, app: Any) -> str:
    username = f"locked{next(_names)}"
    await create_account(username, "admin", PASSWORD, app.ctx.services.pii)
    wrong = {"username": username, "password": "not-the-password"}
    codes = [(await http.post("/api/v1/admin/login", json=wrong)).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    return username


async def _check_staff_locked(http: httpx.AsyncClient, username: str) -> None:
    right = await http.post("/api/v1/admin/login", json={"username": username, "password": PASSWORD})
    assert right.status_code == 429, right.text
    assert 0 < int(right.headers["retry-after"]) <= 15 * 60


async def test_logout_holds_after_redis_is_flushed(running: RunningServer, http: httpx.AsyncClient) -> None:
    ended, kept = await _log_out(http)
    await running.app.ctx.redis.flushdb()
    await _check_logged_out(http, ended, kept)


async def test_a_revoked_family_stays_revoked_after_a_flush(running: RunningServer, http: httpx.AsyncClient) -> None:
    first = await _login(http, "reuse.1")
    rotated = (await http.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    reused = await http.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401 and reused.json()["error"]["code"] == "token_reused"
    await running.app.ctx.redis.flushdb()
    for access in (first["access_token"], rotated["access_token"]):
        assert (await http.get("/api/v1/me", headers=_bearer(access))).status_code == 401


async def test_real_name_lock_holds_after_redis_is_flushed(running: RunningServer, http: httpx.AsyncClient) -> None:
    person = await _lock_real_name(http)
    await running.app.ctx.redis.flushdb()
    await _check_real_name_locked(http, person)


async def test_parallel_real_name_attempts_cannot_pass_the_daily_limit(http: httpx.AsyncClient) -> None:
    """The attempt is claimed before the authority is asked: 10 at once (the route's hourly limit per user)
    get 5 answers from it, 5 refusals."""
    person = _bearer((await _login(http, "burst.1"))["access_token"])
    answers = await asyncio.gather(
        *(http.post("/api/v1/auth/real-name", json=WRONG, headers=person) for _ in range(10))
    )
    codes = sorted(a.json()["error"]["code"] for a in answers)
    assert codes.count("identity_mismatch") + codes.count("real_name_locked") == 10
    stats = (await http.get("/__fakewx/_stats")).json()["calls"]
    assert stats.get("idverify/v1/check") == 5, stats


async def test_staff_lockout_holds_after_redis_is_flushed(running: RunningServer, http: httpx.AsyncClient) -> None:
    username = await _lock_staff(http, running.app)
    await running.app.ctx.redis.flushdb()
    await _check_staff_locked(http, username)


async def test_a_totp_code_is_refused_twice_even_after_a_flush(start_server) -> None:  # type: ignore[no-untyped-def]
    running = await start_server(staff_totp_required=True)
    made = await create_account("twice", "viewer", PASSWORD, running.app.ctx.services.pii)
    login = {
        "username": "twice",
        "password": PASSWORD,
        "totp_code": totp.code_at(made.totp_secret, totp.current_step()),
    }
    async with httpx.AsyncClient(base_url=running.url, timeout=20) as http:
        assert (await http.post("/api/v1/admin/login", json=login)).status_code == 200
        await running.app.ctx.redis.flushdb()
        again = await http.post("/api/v1/admin/login", json=login)
        assert again.status_code == 401 and again.json()["error"]["code"] == "bad_totp"


async def test_everything_holds_after_redis_restarts_without_its_data(db: None) -> None:
    """A private redis-server is shut down with SHUTDOWN NOSAVE and started again, empty."""
    from app.factory import create_app

    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    app = create_app(make_settings(redis_url=url, mount_fake_wechat=True), name=f"shengshi_restart_{port}")
    server = RunningServer(app, free_port())
    with scratch_redis(port):
        await server.start()
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
            await http.post("/__fakewx/_reset")
            ended, kept = await _log_out(http)
            person = await _lock_real_name(http)
            username = await _lock_staff(http, app)
        admin = connect_redis(url)
        try:
            assert await admin.keys("shengshi:session:*"), "the logout was cached in Redis"
            with contextlib.suppress(RedisConnectionError):  # it goes away while answering
                await admin.shutdown(nosave=True)
        finally:
            await admin.aclose()
    with scratch_redis(port):
        try:
            check = connect_redis(url)
            assert not await check.keys("shengshi:session:*"), "the restarted Redis came back without its data"
            await check.aclose()
            async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
                await _wait_ready(http)
                await _check_logged_out(http, ended, kept)
                await _check_real_name_locked(http, person)
                await _check_staff_locked(http, username)
        finally:
            await server.stop()


async def _wait_ready(http: httpx.AsyncClient) -> None:
    for _ in range(100):
        if (await http.get("/readyz")).status_code == 200:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the server did not reconnect to the restarted Redis")
