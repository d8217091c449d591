"""Redis through ``redis.asyncio``; with ``REDIS_URL`` unset, fakeredis behind the same API.

The embedded Redis lives inside one process, so it is for development and the
embedded test run only; starting several workers on it is refused.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from sanic import Sanic

# Per worker process; Redis serves 10,000 clients by default.
MAX_CONNECTIONS = 500
EMBEDDED_MULTI_WORKER_ERROR = (
    "REDIS_URL is not set, and the embedded Redis works inside a single process only: "
    "run one worker, or set REDIS_URL=redis://HOST:6379/0 to run several."
)


def connect_redis(url: str | None) -> Redis:
    """A client for ``url``, or an embedded fakeredis client when ``url`` is empty."""
    if not url:
        import fakeredis

        # Its pool stops at 100 connections by default; bursts of WebSocket logins need more.
        return fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True, max_connections=10_000)
    pool = BlockingConnectionPool.from_url(
        url,
        decode_responses=True,
        # Wait for a free connection instead of failing when a burst needs more than the pool holds.
        max_connections=MAX_CONNECTIONS,
        timeout=5,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=15,
        # Reconnect by itself after a Redis restart instead of failing until the worker restarts.
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    return Redis(connection_pool=pool)


def is_embedded(client: Any) -> bool:
    """Whether ``client`` is the embedded fakeredis (no server behind it)."""
    import fakeredis

    return isinstance(client, fakeredis.FakeAsyncRedis)


async def check_redis(client: Any, timeout: float = 2.0) -> None:
    """Raise if Redis does not answer PING in time."""
    await asyncio.wait_for(client.ping(), timeout)


def setup_redis(app: Sanic) -> None:
    @app.main_process_start
    async def refuse_embedded_with_workers(app: Sanic) -> None:
        if app.ctx.settings.uses_embedded_redis and app.state.workers > 1:
            raise RuntimeError(EMBEDDED_MULTI_WORKER_ERROR)

    @app.before_server_start
    async def open_redis(app: Sanic) -> None:
        app.ctx.redis = getattr(app.ctx, "injected_redis", None) or connect_redis(app.ctx.settings.redis_url)

    @app.after_server_stop
    async def close_redis(app: Sanic) -> None:
        if getattr(app.ctx, "injected_redis", None) is None:
            await app.ctx.redis.aclose()
