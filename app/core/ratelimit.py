"""A Redis-backed fixed-window rate limiter any route can declare.

    @bp.post("/chat")
    @rate_limit("chat", limit=30, per=60)
    async def chat(request): ...

Over the limit the route answers 429 with ``Retry-After``. The window is
counted in Redis, so the limit holds across workers.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from sanic import Request

from app.core.errors import RateLimited

KeyFunc = Callable[[Request], str]


def client_ip(request: Request) -> str:
    # remote_addr honours proxy headers only as configured (FORWARDED_SECRET / REAL_IP_HEADER / PROXIES_COUNT).
    return request.remote_addr or request.ip or "unknown"


def user_or_ip(request: Request) -> str:
    user = getattr(request.ctx, "user_id", None)
    return f"user:{user}" if user else f"ip:{client_ip(request)}"


async def hit(redis: Redis, bucket: str, identity: str, limit: int, per: int) -> int:
    """Count one hit; answer 0 when allowed, else the seconds until the window resets."""
    key = f"shengshi:rl:{bucket}:{identity}"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, per, nx=True)
        pipe.ttl(key)
        count, _, ttl = await pipe.execute()
    if int(count) > limit:
        return max(int(ttl), 1)
    return 0


def rate_limit(
    bucket: str, *, limit: int, per: int, key: KeyFunc = user_or_ip
) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """Allow ``limit`` requests per ``per`` seconds for each caller (by ``key``)."""

    def decorator(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(handler)
        async def wrapped(request: Request, *args: Any, **kwargs: Any) -> Any:
            enabled = request.app.ctx.settings.rate_limit_enabled
            retry_after = await hit(request.app.ctx.redis, bucket, key(request), limit, per) if enabled else 0
            if retry_after:
                raise RateLimited(
                    f"Too many requests; try again in {retry_after} s",
                    headers={"Retry-After": str(retry_after)},
                    details={"retry_after": retry_after},
                )
            return await handler(request, *args, **kwargs)

        return wrapped

    return decorator
