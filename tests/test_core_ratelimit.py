"""The Redis-backed rate limiter any route can declare."""

from __future__ import annotations

import httpx
from sanic import Request, Sanic
from sanic.response import json

from app.core.ratelimit import hit, rate_limit


def add_limited_route(app: Sanic) -> None:
    @app.get("/_test/limited")
    @rate_limit("test", limit=3, per=60)
    async def limited(request: Request):  # type: ignore[no-untyped-def]
        return json({"ok": True})


async def test_route_answers_429_with_retry_after(start_server) -> None:  # type: ignore[no-untyped-def]
    running = await start_server(add_limited_route)
    async with httpx.AsyncClient(base_url=running.url) as http:
        statuses = [(await http.get("/_test/limited")).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        refused = await http.get("/_test/limited")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["error"]["code"] == "rate_limited"


async def test_windows_are_per_identity_and_expire(redis) -> None:  # type: ignore[no-untyped-def]
    assert await hit(redis, "b", "alice", limit=1, per=1) == 0
    assert await hit(redis, "b", "alice", limit=1, per=1) >= 1
    assert await hit(redis, "b", "bob", limit=1, per=1) == 0
    ttl = await redis.ttl("shengshi:rl:b:alice")
    assert 0 < ttl <= 1
