"""The WebSocket follows the rules of HTTP: the chat rate limit (per user once logged in, per client before)
and logins that end (logout, a revoked refresh family, an expired access token) close their sockets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from app.catalog import load_items
from app.core.ratelimit import CHAT
from app.notifications.notifier import PUSH_PREFIX
from tests.test_applications import seed

QUESTION = "护照"


@pytest.fixture
async def running(start_server):  # type: ignore[no-untyped-def]
    await load_items([dict(i) for i in seed()], "seed")
    return await start_server(mount_fake_wechat=True)


def ws_url(server: Any) -> str:
    return server.url.replace("http://", "ws://") + "/api/v1/ws"


async def login(server: Any, code: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        response = await http.post("/api/v1/auth/wx-login", json={"code": code})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def receive(ws: Any) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), 30)))


async def logged_in_socket(server: Any, token: str) -> Any:
    ws = await websockets.connect(ws_url(server))
    await ws.send(json.dumps({"type": "auth", "token": token}))
    assert await receive(ws) == {"type": "auth", "ok": True}
    return ws


async def closed_with(ws: Any) -> int | None:
    """Read until the server closes the socket; answers the close code (pushes meanwhile are a failure)."""
    with pytest.raises(ConnectionClosed):
        message = await receive(ws)
        raise AssertionError(f"received {message} instead of the close")
    return ws.close_code


async def still_open(ws: Any) -> bool:
    await ws.send(json.dumps({"type": "ping"}))
    return (await receive(ws)) == {"type": "pong"}


async def push(server: Any, user_id: int, text: str) -> None:
    """What the notifier does for a user: publish on the user's channel, heard by every worker."""
    message = {"type": "notification", "notification": {"text": text}}
    await server.app.ctx.redis.publish(f"{PUSH_PREFIX}{user_id}", json.dumps(message))


# -- the chat rate limit ----------------------------------------------------------------------


async def test_chat_frames_count_in_the_chat_limit_and_the_socket_stays_open(running) -> None:  # type: ignore[no-untyped-def]
    async with websockets.connect(ws_url(running)) as ws:
        for _ in range(CHAT.limit):
            await ws.send(json.dumps({"type": "chat", "text": QUESTION}))
            assert (await receive(ws))["type"] == "chat"
        await ws.send(json.dumps({"type": "chat", "text": QUESTION}))
        refused = await receive(ws)
        assert refused["type"] == "error" and refused["error"]["code"] == "rate_limited", refused
        assert 1 <= refused["error"]["retry_after"] <= CHAT.per
        assert await still_open(ws)
        # The same window as HTTP: this client's anonymous chats are spent there too.
        async with httpx.AsyncClient(base_url=running.url) as http:
            over = await http.post("/api/v1/chat", json={"text": QUESTION})
            assert over.status_code == 429 and over.json()["error"]["code"] == "rate_limited"
        # A logged-in user on the same client has a window of their own, on the socket as over HTTP.
        token = (await login(running, "ws-limit.1"))["access_token"]
        await ws.send(json.dumps({"type": "auth", "token": token}))
        assert await receive(ws) == {"type": "auth", "ok": True}
        await ws.send(json.dumps({"type": "chat", "text": QUESTION}))
        assert (await receive(ws))["type"] == "chat"


async def test_chat_limit_is_per_user_behind_one_address(running) -> None:  # type: ignore[no-untyped-def]
    first = {"Authorization": f"Bearer {(await login(running, 'nat-a.1'))['access_token']}"}
    second = {"Authorization": f"Bearer {(await login(running, 'nat-b.1'))['access_token']}"}
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        for _ in range(CHAT.limit):
            response = await http.post("/api/v1/chat", json={"text": QUESTION}, headers=first)
            assert response.status_code == 200, response.text
        over = await http.post("/api/v1/chat", json={"text": QUESTION}, headers=first)
        assert over.status_code == 429 and 1 <= int(over.headers["retry-after"]) <= CHAT.per
        # Another user on the same address (a carrier NAT), and an anonymous caller there, are not affected.
        assert (await http.post("/api/v1/chat", json={"text": QUESTION}, headers=second)).status_code == 200
        assert (await http.post("/api/v1/chat", json={"text": QUESTION})).status_code == 200
        # The spent user is spent on the socket as well.
        async with websockets.connect(ws_url(running), additional_headers=first) as ws:
            await ws.send(json.dumps({"type": "chat", "text": QUESTION}))
            assert (await receive(ws))["error"]["code"] == "rate_limited"


# -- logins that end ------------------------------------------------------------------------------


async def test_logout_closes_that_logins_sockets_on_every_worker(start_server, running) -> None:  # type: ignore[no-untyped-def]
    other_worker = await start_server(mount_fake_wechat=True)
    phone = await login(running, "leaver.1")
    tablet = await login(running, "leaver.2")
    user_id = phone["user"]["id"]
    ws_phone = await logged_in_socket(running, phone["access_token"])
    ws_tablet = await logged_in_socket(running, tablet["access_token"])
    async with httpx.AsyncClient(base_url=other_worker.url) as http:
        out = await http.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {phone['access_token']}"})
        assert out.status_code == 200
    assert await closed_with(ws_phone) == 4401
    # The other login of the same person keeps its socket and its pushes.
    assert await still_open(ws_tablet)
    await push(running, user_id, "已受理")
    assert (await receive(ws_tablet))["notification"]["text"] == "已受理"
    await ws_tablet.close()


async def test_a_revoked_refresh_family_closes_its_sockets(running) -> None:  # type: ignore[no-untyped-def]
    session = await login(running, "stolen.1")
    ws = await logged_in_socket(running, session["access_token"])
    async with httpx.AsyncClient(base_url=running.url) as http:
        assert (await http.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})).is_success
        # The spent refresh token comes back: someone holds a copy, the whole login ends.
        reused = await http.post("/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]})
        assert reused.json()["error"]["code"] == "token_reused"
    assert await closed_with(ws) == 4401


async def test_a_push_checks_the_login_even_when_the_announcement_was_missed(running) -> None:  # type: ignore[no-untyped-def]
    session = await login(running, "missed.1")
    user_id = session["user"]["id"]
    # As if this worker missed the announcement (its pub/sub connection was being re-established).
    running.app.ctx.services.push.end_login = lambda family: None
    ws = await logged_in_socket(running, session["access_token"])
    chatting = await logged_in_socket(running, session["access_token"])
    async with httpx.AsyncClient(base_url=running.url) as http:
        out = await http.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {session['access_token']}"})
        assert out.status_code == 200
    assert await still_open(ws)
    # A chat frame checks the login as an HTTP request would.
    await chatting.send(json.dumps({"type": "chat", "text": QUESTION}))
    assert await closed_with(chatting) == 4401
    await push(running, user_id, "已办结")
    # The push is not sent: the socket closes instead.
    assert await closed_with(ws) == 4401


async def test_the_socket_closes_when_its_access_token_expires(running) -> None:  # type: ignore[no-untyped-def]
    session = await login(running, "short.1")
    tokens = running.app.ctx.services.tokens
    claims = tokens.decode(session["access_token"], "access")
    short = tokens.issue("access", claims["sub"], 2, fam=claims["fam"], lvl=claims["lvl"]).token
    expiring = await logged_in_socket(running, short)
    renewed = await logged_in_socket(running, short)
    # A fresh token sent in time keeps a socket open.
    await renewed.send(json.dumps({"type": "auth", "token": session["access_token"]}))
    assert await receive(renewed) == {"type": "auth", "ok": True}
    assert await closed_with(expiring) == 4401
    assert await still_open(renewed)
    await renewed.close()
