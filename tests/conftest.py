"""Fixtures: the real database and Redis when TEST_DATABASE_URL / TEST_REDIS_URL are set,
otherwise SQLite and the embedded Redis. Every test gets a clean database and Redis.

The test database is migrated with the committed migrations at the start of the
run (its ``public`` schema is dropped first: point TEST_DATABASE_URL at a
database meant for tests only).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sanic import Sanic
from tortoise import Tortoise, connections
from tortoise.exceptions import OperationalError

from app.core.db import migrate, normalise_url, tortoise_config
from app.core.redis_client import connect_redis
from app.core.settings import Settings

Sanic.test_mode = True

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "").strip() or None
_TMP = Path(tempfile.mkdtemp(prefix="shengshi-tests-"))
_app_names = itertools.count()


def database_url() -> str:
    return TEST_DATABASE_URL or f"sqlite://{_TMP / 'test.sqlite3'}"


def is_postgres() -> bool:
    return database_url().startswith(("postgres://", "postgresql://"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "development",
        "database_url": database_url(),
        "redis_url": TEST_REDIS_URL,
        "jwt_secret": "test-jwt-secret-" + "x" * 40,
        "pii_key": "test-pii-key-" + "y" * 40,
        "var_dir": _TMP / "var",
    }
    values.update(overrides)
    return Settings(**values)


async def _reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(normalise_url(url).replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def migrated_database() -> str:
    """Migrate the test database once per run, through the real migration path."""
    url = database_url()
    if is_postgres():
        asyncio.run(_reset_postgres(url))
    asyncio.run(migrate(url, progress=False))
    return url


async def _truncate_all() -> None:
    conn = connections.get("default")
    tables = sorted({m._meta.db_table for m in Tortoise.apps.get_models_iterable()})
    if not tables:
        return
    if is_postgres():
        statement = f"TRUNCATE {', '.join(chr(34) + t + chr(34) for t in tables)} RESTART IDENTITY CASCADE;"
        for attempt in range(5):
            try:
                await conn.execute_script(statement)
                return
            except (OperationalError, asyncpg.exceptions.TransactionRollbackError):
                # A server of the previous test may still be finishing a write (its background loops
                # stop with it): PostgreSQL breaks the deadlock by failing us; try again shortly.
                if attempt == 4:
                    raise
                await asyncio.sleep(0.5)
    else:
        for table in tables:
            await conn.execute_script(f'DELETE FROM "{table}";')


@pytest.fixture
async def db(migrated_database: str) -> AsyncIterator[None]:
    """The ORM initialised on a clean, migrated database."""
    await Tortoise.init(config=tortoise_config(migrated_database), _enable_global_fallback=True)
    try:
        await _truncate_all()
        yield
    finally:
        # Always, even when emptying failed: a context left open breaks every later test's init.
        await Tortoise.close_connections()


@pytest.fixture
async def redis() -> AsyncIterator[Any]:
    """A clean Redis: the real one (flushed) or a fresh embedded one."""
    client = connect_redis(TEST_REDIS_URL)
    await client.flushdb()
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            await client.flushdb()
        await client.aclose()


class RunningServer:
    """A real Sanic server of our app on a free loopback port, in this event loop."""

    def __init__(self, app: Sanic, port: int):
        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._server: Any = None

    async def start(self) -> None:
        server = await self.app.create_server(
            host="127.0.0.1", port=self.port, return_asyncio_server=True, access_log=False
        )
        assert server is not None
        await server.startup()
        await server.before_start()
        await server.after_start()
        await server.start_serving()
        self._server = server

    async def stop(self) -> None:
        server = self._server
        await server.before_stop()
        for conn in list(server.connections):
            conn.close_if_idle()
        server.close()
        await server.wait_closed()
        await server.after_stop()


AppFactory = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
async def start_server(db: None, redis: Any) -> AsyncIterator[AppFactory]:
    """Start the real app; ``customise(app)`` may add test-only routes before it starts."""
    from app.factory import create_app

    started: list[RunningServer] = []

    async def start(customise: Callable[[Sanic], None] | None = None, **settings_overrides: Any) -> RunningServer:
        app = create_app(make_settings(**settings_overrides), name=f"shengshi_test_{next(_app_names)}", redis=redis)
        if customise:
            customise(app)
        running = RunningServer(app, free_port())
        await running.start()
        started.append(running)
        return running

    try:
        yield start
    finally:
        for running in reversed(started):
            await running.stop()


@pytest.fixture
async def server(start_server: AppFactory) -> RunningServer:
    return await start_server()


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        yield http
