"""From a committed transition to its notification on the citizen's WebSocket, with many clients connected.

    python bench/push_bench.py [--clients 1000 5000] [--samples 200]

Starts the real server (one worker; the notification worker runs inside it, as in development,
unless REDIS_URL and a separate `python -m app worker` are arranged by hand), opens N authenticated
WebSockets, then moves `--samples` applications one at a time through the staff API and measures,
for each, the time from the HTTP answer (the transition is committed) to the notification arriving
on that citizen's socket: outbox → stream → consumer → stored notification → pub/sub → socket.
Also the server's resident memory per idle connection. Prints figures; never a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
# What the caller asked for, read before each size's set-up changes the environment.
GIVEN_DATABASE_URL = os.environ.get("DATABASE_URL", "")
sys.path.insert(0, str(ROOT))
SERVICE = "440000-CRJ-004-01"
PASSWORD = "bench-password-123"  # noqa: S105 - a throw-away account in a throw-away database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


async def prepare(env: dict[str, str], users: int, samples: int) -> tuple[list[str], list[int], str]:
    """Users with tokens, applications for the sampled ones, a clerk: straight into the database."""
    os.environ.update(env)
    from app.applications import ApplicationService
    from app.catalog import SEED_DIR, catalog_files, load_items, validate_sources
    from app.console.staff import hash_password
    from app.core.db import close_db, init_db, migrate
    from app.core.security.tokens import ACCESS_TTL_S, TokenService
    from app.core.settings import Settings
    from app.core.workdays import WorkCalendar
    from models import Level, ServiceItem, Staff, User

    settings = Settings.from_env()
    await migrate(settings.database_url, progress=False)
    await init_db(settings.database_url)
    try:
        await load_items([i for i in validate_sources(catalog_files(SEED_DIR)) if i["code"] == SERVICE], "bench")
        item = await ServiceItem.get(code=SERVICE)
        uploads = [
            {"name": m["name"], "file_id": "f"}
            for m in item.materials
            if m["required"] and m["name"] not in ("居民身份证", "户口簿")
        ]
        tokens = TokenService(settings.jwt_secret, settings.jwt_secret_id)
        service = ApplicationService(WorkCalendar.from_file())
        await User.bulk_create(
            [User(openid=f"o-bench-{n}", level=Level.L2, id_number_mask="4403**********1232") for n in range(users)]
        )
        rows = await User.filter(openid__startswith="o-bench-").order_by("id")
        access = [tokens.issue("access", str(u.id), ACCESS_TTL_S, fam=f"bench-{u.id}").token for u in rows]
        applications = [(await service.create(u, SERVICE, {}, uploads)).id for u in rows[:samples]]
        await Staff.create(username="bench", password_hash=hash_password(PASSWORD), role="clerk")
    finally:
        await close_db()
    return access, applications, SERVICE


async def run_size(clients: int, samples: int, workdir: Path) -> dict[str, float]:
    env = {
        "SHENGSHI_VAR_DIR": str(workdir),
        "DATABASE_URL": GIVEN_DATABASE_URL or f"sqlite://{workdir / 'push.sqlite3'}",
        "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
    }
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    # A task of its own, so the ORM set up for this size does not linger into the next one.
    tokens, applications, _ = await asyncio.create_task(prepare(env, clients, samples))
    port = free_port()
    log = open(workdir / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    sockets: list = []
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for _ in range(300):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)

            # Sanic serves from a worker process under the main one: measure every process of the server.
            def server_rss() -> int:
                pids = [server.pid, *children(server.pid)]
                pids += [c for p in list(pids) for c in children(p)]
                return sum(rss_kib(p) for p in set(pids))

            before = server_rss()
            url = base.replace("http://", "ws://") + "/api/v1/ws"
            for start in range(0, clients, 200):
                batch = tokens[start : start + 200]
                sockets += await asyncio.gather(
                    *(websockets.connect(url, additional_headers={"Authorization": f"Bearer {t}"}) for t in batch)
                )
            await asyncio.sleep(2)
            after = server_rss()
            staff = (await http.post("/api/v1/admin/login", json={"username": "bench", "password": PASSWORD})).json()
            headers = {"Authorization": f"Bearer {staff['access_token']}"}
            # Drain the "submitted" notifications the prepared applications caused.
            await asyncio.sleep(3)
            for ws in sockets[:samples]:
                while True:
                    try:
                        await asyncio.wait_for(ws.recv(), 0.01)
                    except TimeoutError:
                        break
            latencies = []
            for n, application_id in enumerate(applications):
                ws = sockets[n]
                moved = await http.post(
                    f"/api/v1/admin/applications/{application_id}/transitions",
                    json={"to": "accepted", "version": 1},
                    headers=headers,
                )
                committed = time.perf_counter()
                assert moved.status_code == 200, moved.text
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if (
                        message.get("type") == "notification"
                        and message["notification"]["data"]["status"] == "accepted"
                    ):
                        break
                latencies.append((time.perf_counter() - committed) * 1000)
    finally:
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        log.close()
    latencies.sort()
    return {
        "clients": clients,
        "samples": len(latencies),
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "kib_per_connection": (after - before) / clients,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results = []
    for clients in args.clients:
        workdir = Path(tempfile.mkdtemp(prefix="shengshi-push-"))
        results.append(await run_size(clients, min(args.samples, clients), workdir))
    print(
        f"{time.strftime('%Y-%m-%d')}  {platform.platform()}  {os.cpu_count()} CPUs  Python {platform.python_version()}"
    )
    print("one server worker, notification worker in process; clients in this process on the same machine")
    header = f"{'clients':>8}{'samples':>9}{'p50 ms':>9}{'p99 ms':>9}{'KiB/conn':>10}"
    print(header + "   (targets: p99 < 100 ms at 5,000 clients; < 50 KiB per idle connection)")
    for r in results:
        print(
            f"{r['clients']:>8}{r['samples']:>9}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}{r['kib_per_connection']:>10.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
