"""A Redis-backed fixed-window rate limiter any route can declare.

    @bp.post("/things")
    @require_user()
    @rate_limit("things", limit=30, per=60)
    async def things(request): ...

Over the limit the route answers 429 with ``Retry-After``. The window is
counted in Redis, so the limit holds across workers. A logged-in caller is
counted as a user (below a guard, which sets ``request.ctx.user_id``), an
anonymous one by client address, so users behind one carrier NAT do not share
a window. The WebSocket's chat frames count in the same window as
``POST /chat`` (:data:`CHAT`, :func:`enforce`).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sanic import Request

from app.core.errors import RateLimited

KeyFunc = Callable[[Request], str]


@dataclass(frozen=True)
class Limit:
    """``limit`` hits per ``per`` seconds in the window ``bucket``."""

    bucket: str
    limit: int
    per: int


# The assistant, over HTTP and the WebSocket alike.
CHAT = Limit("chat", limit=60, per=60)


def client_ip(request: Request) -> str:
    # remote_addr honours proxy headers only as configured (FORWARDED_SECRET / REAL_IP_HEADER / PROXIES_COUNT).
    return request.remote_addr or request.ip or "unknown"


def caller(user_id: int | None, ip: str) -> str:
    """Whom a window counts: the user when logged in, else the client address."""
    return f"user:{user_id}" if user_id else f"ip:{ip}"


def user_or_ip(request: Request) -> str:
    return caller(getattr(request.ctx, "user_id", None), client_ip(request))


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


async def enforce(app: Any, limit: Limit, identity: str) -> None:
    """Count one hit for ``identity``; :class:`RateLimited` (with ``retry_after``) when over the limit."""
    if not app.ctx.settings.rate_limit_enabled:
        return
    retry_after = await hit(app.ctx.redis, limit.bucket, identity, limit.limit, limit.per)
    if retry_after:
        raise RateLimited(
            f"Too many requests; try again in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
            details={"retry_after": retry_after},
        )


def rate_limit(
    bucket: str, *, limit: int, per: int, key: KeyFunc = user_or_ip
) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """Allow ``limit`` requests per ``per`` seconds for each caller (by ``key``; below a guard, the user)."""
    window = Limit(bucket, limit, per)

    def decorator(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(handler)
        async def wrapped(request: Request, *args: Any, **kwargs: Any) -> Any:
            await enforce(request.app, window, key(request))
            return await handler(request, *args, **kwargs)

        return wrapped

    return decorator
