"""Liveness, readiness (with a Redis that goes away and comes back), metrics and docs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_DATABASE_URL
from tests.helpers import (
    ROOT,
    free_port,
    metric_value,
    scratch_redis,
    service_env,
    start_service,
    wait_for_http,
)


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}
    calendar = ready.json()["holiday_calendar"]
    assert calendar["first_year"] == 2004 and calendar["last_year"] >= 2026
    assert calendar["library"].startswith("chinese-calendar ")


def test_the_cli_tells_which_years_the_holiday_calendar_covers() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "app", "calendar", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    coverage = json.loads(shown.stdout)
    assert coverage["first_year"] == 2004 and coverage["last_year"] == coverage["library_years"][1] >= 2026
    told = subprocess.run(
        [sys.executable, "-m", "app", "calendar"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert f"{coverage['first_year']}–{coverage['last_year']}" in told.stdout


async def test_automatic_head_and_options_routes_are_added(server) -> None:  # type: ignore[no-untyped-def]
    """sanic-ext's HEAD and OPTIONS routes, added in one pass at start-up, answer like before."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        head = await http.head("/healthz")
        assert head.status_code == 200 and head.content == b""
        options = await http.options("/api/v1/version")
        assert options.status_code == 204 and "GET" in options.headers["allow"]
        assert (await http.get("/healthz")).headers["x-request-id"]
    methods = {method for route in server.app.router.routes for method in route.methods}
    assert {"GET", "HEAD", "OPTIONS"} <= methods


async def test_openapi_document_is_served(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/docs/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/version" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_docs_are_off_when_disabled(start_server) -> None:  # type: ignore[no-untyped-def]
    running = await start_server(docs_enabled=False)
    async with httpx.AsyncClient(base_url=running.url) as http:
        assert (await http.get("/docs/openapi.json")).status_code == 404


async def test_metrics_count_requests_per_route(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await client.get("/healthz")
    await client.get("/no-such-route")
    body = (await client.get("/metrics")).text
    assert "# TYPE shengshi_http_requests_total counter" in body
    assert metric_value(body, "shengshi_http_requests_total", route="/healthz", method="GET", status="200") == 3
    assert 'status="404"' in body
    assert metric_value(body, "shengshi_http_request_duration_seconds_count", route="/healthz") == 3
    assert metric_value(body, "shengshi_websocket_connections") == 0
    assert metric_value(body, "shengshi_outbox_backlog") == 0


@pytest.mark.slow
def test_metrics_add_up_every_worker_and_start_afresh_with_the_server(tmp_path: Path) -> None:
    """Two workers write their counts to the multiprocess folder; a restart empties it."""
    redis_port, port = free_port(), free_port()
    with scratch_redis(redis_port):
        env = _migrated_env(tmp_path, REDIS_URL=f"redis://127.0.0.1:{redis_port}/0")
        for run, count in enumerate((7, 12)):
            service = start_service(port, env, tmp_path / f"metrics{run}.log", "--workers", "2")
            try:
                # Two workers importing at once on a busy machine can take a while.
                wait_for_http(f"{service.url}/healthz", timeout=120)
                version_url = f"{service.url}/api/v1/version"
                with ThreadPoolExecutor(6) as pool:
                    answers = list(pool.map(httpx.get, [version_url] * count))
                assert {a.status_code for a in answers} == {200}
                body = httpx.get(f"{service.url}/metrics").text
            finally:
                code = service.stop()
            assert code == 0, service.output[-4000:]
            # Exactly this run's requests: the previous run's files were removed at start.
            version = {"route": "/api/v1/version"}
            assert metric_value(body, "shengshi_http_requests_total", **version, method="GET", status="200") == count
            assert metric_value(body, "shengshi_http_request_duration_seconds_count", **version) == count
            assert "# TYPE shengshi_http_requests_total counter" in body
            assert metric_value(body, "shengshi_outbox_backlog") == 0
            assert list((tmp_path / f"metrics-{port}").glob("counter_*.db")), "no multiprocess files were written"


async def test_metrics_behind_a_token(start_server) -> None:  # type: ignore[no-untyped-def]
    """With METRICS_TOKEN only its bearer reads /metrics; production without it hides the route (404)."""
    token = "Zp3wQx8LrT2vNc6KdY9hJb4mFs7Gk1Ua"
    cases = [
        ({"metrics_token": token}, 200),
        ({"env": "production", "metrics_token": token}, 200),
        ({"env": "production"}, 404),
    ]
    for overrides, with_token in cases:
        running = await start_server(**overrides)
        async with httpx.AsyncClient(base_url=running.url) as http:
            await http.get("/healthz")
            good = await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert good.status_code == with_token, (overrides, good.text)
            for headers in ({}, {"Authorization": f"Bearer {token[:-1]}x"}, {"Authorization": f"Basic {token}"}):
                refused = await http.get("/metrics", headers=headers)
                assert refused.status_code == (401 if with_token == 200 else 404), (overrides, headers)
                assert "shengshi_http_requests_total" not in refused.text
            if with_token == 200:
                assert "shengshi_http_requests_total" in good.text
                assert refused.headers["www-authenticate"] == "Bearer"


@pytest.mark.slow
def test_readyz_names_redis_and_recovers_without_restart(tmp_path: Path) -> None:
    """A real server process whose Redis is down, then up, then down and up again."""
    redis_port, http_port = free_port(), free_port()
    env = service_env(
        SHENGSHI_VAR_DIR=str(tmp_path),
        DATABASE_URL=TEST_DATABASE_URL or f"sqlite://{tmp_path / 'ready.sqlite3'}",
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
    )
    service = start_service(http_port, env, tmp_path / "server.log")
    url = f"{service.url}/readyz"
    try:
        down = wait_for_http(url)
        assert down.status_code == 503
        error = down.json()["error"]
        assert error["code"] == "not_ready"
        assert error["details"]["failed"] == ["redis"]
        assert "redis" in error["message"]
        for _ in range(2):
            with scratch_redis(redis_port):
                assert _eventually_status(url, 200)
            assert _eventually_status(url, 503)
    finally:
        code = service.stop()
    assert code == 0, service.output[-4000:]
    assert "Traceback" not in service.output


def _eventually_status(url: str, status: int) -> bool:
    return _eventually(lambda: httpx.get(url, timeout=10).status_code == status, interval=0.2)


@pytest.mark.slow
def test_sigterm_finishes_in_flight_requests(tmp_path: Path) -> None:
    """A request still being answered when SIGTERM arrives completes; then the server exits cleanly."""
    env = _migrated_env(tmp_path)
    service = start_service(free_port(), env, tmp_path / "server.log")
    result: dict[str, httpx.Response] = {}
    try:
        wait_for_http(f"{service.url}/healthz")
        # The development fake WeChat platform answers code2session only after 2 seconds.
        httpx.post(f"{service.url}/__fakewx/_faults", json={"endpoint": "sns/jscode2session", "delay_s": 2})
        slow = threading.Thread(
            target=lambda: result.update(
                login=httpx.post(f"{service.url}/api/v1/auth/wx-login", json={"code": "slow.1"}, timeout=30)
            )
        )
        slow.start()
        # In flight: the login has reached WeChat and waits for its answer.
        assert _eventually(lambda: _fake_calls(service.url).get("sns/jscode2session", 0) >= 1), service.output
        service.send(signal.SIGTERM)
        slow.join(30)
    finally:
        code = service.stop()
    assert "login" in result, service.output[-4000:]
    assert result["login"].status_code == 200, result["login"].text
    assert "access_token" in result["login"].json()
    assert code == 0, service.output[-4000:]


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_while_starting_stops_the_server(tmp_path: Path, workers: int) -> None:
    """A SIGTERM the moment the server first answers, before every worker is ready, still stops it."""
    redis_port = free_port()
    with scratch_redis(redis_port):
        env = _migrated_env(tmp_path, REDIS_URL=f"redis://127.0.0.1:{redis_port}/0")
        for attempt in range(3):
            service = start_service(free_port(), env, tmp_path / f"server{attempt}.log", "--workers", str(workers))
            wait_for_http(f"{service.url}/healthz")
            service.send(signal.SIGTERM)
            try:
                code = service.stop(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(service.proc.pid, signal.SIGKILL)
                raise AssertionError(f"still running 30 s after SIGTERM:\n{service.output[-4000:]}") from None
            assert code == 0, service.output[-4000:]
            # A worker stopped while still starting says so with a KeyboardInterrupt; nothing else fails.
            assert service.output.count("Traceback") == service.output.count("KeyboardInterrupt"), service.output


def _migrated_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = service_env(
        SHENGSHI_VAR_DIR=str(tmp_path),
        DATABASE_URL=TEST_DATABASE_URL or f"sqlite://{tmp_path / 'probes.sqlite3'}",
        **extra,
    )
    migrated = subprocess.run(
        [sys.executable, "-m", "app", "migrate"], cwd=ROOT, env=env, capture_output=True, timeout=120
    )
    assert migrated.returncode == 0, migrated.stderr
    return env


def _fake_calls(url: str) -> dict[str, int]:
    calls: dict[str, int] = httpx.get(f"{url}/__fakewx/_stats", timeout=5).json()["calls"]
    return calls


def _eventually(check: Callable[[], bool], timeout: float = 15.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return False
