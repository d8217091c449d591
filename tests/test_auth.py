"""Login, real-name verification and sessions, driving the fake WeChat platform over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from tortoise import connections

from app.auth.service import FIELD_ID, FIELD_NAME, FIELD_PHONE, FIELD_SESSION_KEY
from app.core.wechat import WeChatGateway
from models import User

PEOPLE = [("张三", "11010519491231002X"), ("李四", "440306199003071232"), ("王小明", "440106198501011237")]


class LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage() + " " + json.dumps(getattr(record, "fields", {}), ensure_ascii=False, default=str)
        if record.exc_info:
            line += logging.Formatter().formatException(record.exc_info)
        self.lines.append(line)


@pytest.fixture
def logs() -> AsyncIterator[LogCapture]:
    capture = LogCapture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    yield capture
    root.removeHandler(capture)
    root.setLevel(old_level)


class Citizen:
    """A mini-program user talking to the real server, remembering everything it received."""

    def __init__(self, http: httpx.AsyncClient, seen: list[str]):
        self.http = http
        self.seen = seen
        self.access = ""
        self.refresh_token = ""
        self.user: dict[str, Any] = {}

    async def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if self.access and "authorization" not in {k.lower() for k in headers}:
            headers["Authorization"] = f"Bearer {self.access}"
        response = await self.http.request(method, url, headers=headers, **kwargs)
        self.seen.append(response.text)
        return response

    async def login(self, code: str) -> httpx.Response:
        response = await self.call("POST", "/api/v1/auth/wx-login", json={"code": code})
        if response.status_code == 200:
            body = response.json()
            self.access, self.refresh_token, self.user = body["access_token"], body["refresh_token"], body["user"]
        return response


@pytest.fixture
async def running(start_server):  # type: ignore[no-untyped-def]
    return await start_server(mount_fake_wechat=True)


@pytest.fixture
async def http(running) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=running.url, timeout=20) as client:
        await client.post("/__fakewx/_reset")
        yield client


@pytest.fixture
def seen() -> list[str]:
    return []


def citizen(http: httpx.AsyncClient, seen: list[str]) -> Citizen:
    return Citizen(http, seen)


async def test_login_creates_then_finds_the_user(http: httpx.AsyncClient, seen: list[str]) -> None:
    alice = citizen(http, seen)
    first = await alice.login("alice.1")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["expires_in"] == 900 and body["user"]["level"] == "L1"
    assert set(body) >= {"access_token", "refresh_token", "expires_in", "user"}
    again = citizen(http, seen)
    assert (await again.login("alice.2")).json()["user"]["id"] == body["user"]["id"]
    bob = citizen(http, seen)
    assert (await bob.login("bob.1")).json()["user"]["id"] != body["user"]["id"]
    me = await alice.call("GET", "/api/v1/me")
    assert me.status_code == 200 and me.json()["user"]["id"] == body["user"]["id"]


async def test_second_use_of_a_code_and_invalid_codes(http: httpx.AsyncClient, seen: list[str]) -> None:
    assert (await citizen(http, seen).login("carol.1")).status_code == 200
    reused = await citizen(http, seen).login("carol.1")
    assert reused.status_code == 400 and reused.json()["error"]["code"] == "code_used"
    invalid = await citizen(http, seen).login("invalid-code")
    assert invalid.status_code == 400 and invalid.json()["error"]["code"] == "invalid_code"
    for bad in ({}, {"code": ""}, {"code": 12}, {"code": "x" * 500}):
        response = await http.post("/api/v1/auth/wx-login", json=bad)
        assert response.status_code == 400, bad


async def test_wechat_down_is_a_clear_503(http: httpx.AsyncClient, seen: list[str]) -> None:
    await http.post("/__fakewx/_faults", json={"endpoint": "sns/jscode2session", "http_status": 500})
    response = await citizen(http, seen).login("dave.1")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "wechat_unavailable"


async def test_me_requires_login(http: httpx.AsyncClient) -> None:
    assert (await http.get("/api/v1/me")).status_code == 401
    assert (await http.get("/api/v1/me", headers={"Authorization": "Bearer nonsense"})).status_code == 401
    assert (await http.get("/api/v1/me", headers={"Authorization": "Basic abc"})).status_code == 401


@pytest.mark.parametrize(("name", "id_number"), PEOPLE)
async def test_real_name_success_for_registry_people(
    http: httpx.AsyncClient, seen: list[str], name: str, id_number: str
) -> None:
    person = citizen(http, seen)
    await person.login(f"rn-{id_number}.1")
    response = await person.call("POST", "/api/v1/auth/real-name", json={"name": name, "id_number": id_number})
    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert user["level"] == "L2"
    assert user["real_name"] == name[0] + "*" * (len(name) - 1)
    assert user["id_number"] == id_number[:4] + "*" * 10 + id_number[-4:]
    assert name not in response.text and id_number not in response.text
    again = await person.call("POST", "/api/v1/auth/real-name", json={"name": name, "id_number": id_number})
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("name", "id_number", "code"),
    [
        ("李五", "440306199003071232", "identity_mismatch"),
        ("李四", "440306199003071233", "invalid_input"),  # check digit
        ("李四", "440306199002301239", "invalid_input"),  # 30 February
        ("李四", "44030619900307123", "invalid_input"),
        ("", "440306199003071232", "invalid_input"),
        (None, None, "invalid_input"),
        ("李四", 440306199003071232, "invalid_input"),
    ],
    ids=["mismatch", "check-digit", "impossible-date", "short", "no-name", "nulls", "number-type"],
)
async def test_real_name_refusals(
    http: httpx.AsyncClient, seen: list[str], name: Any, id_number: Any, code: str
) -> None:
    person = citizen(http, seen)
    await person.login("erin.1")
    response = await person.call("POST", "/api/v1/auth/real-name", json={"name": name, "id_number": id_number})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert (await person.call("GET", "/api/v1/me")).json()["user"]["level"] == "L1"


async def test_unknown_person_is_refused(http: httpx.AsyncClient, seen: list[str]) -> None:
    person = citizen(http, seen)
    await person.login("frank.1")
    first17 = "44010619800101123"
    from app.core.security.idcard import check_digit

    response = await person.call(
        "POST", "/api/v1/auth/real-name", json={"name": "赵六", "id_number": first17 + check_digit(first17)}
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "identity_mismatch"


def _answer(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    """Status and error body, without the request id (the one thing two identical answers differ in)."""
    error = dict(response.json()["error"])
    error.pop("request_id", None)
    return response.status_code, error


async def test_one_id_number_binds_one_account(http: httpx.AsyncClient, seen: list[str]) -> None:
    first, second, third = citizen(http, seen), citizen(http, seen), citizen(http, seen)
    await first.login("grace.1")
    await second.login("heidi.1")
    await third.login("hank.1")
    body = {"name": "李四", "id_number": "440306199003071232"}
    assert (await first.call("POST", "/api/v1/auth/real-name", json=body)).status_code == 200
    # The right name with a number bound to another account answers exactly as a wrong name does,
    # so nobody learns whether a number is registered here.
    duplicate = await second.call("POST", "/api/v1/auth/real-name", json=body)
    mismatch = await third.call("POST", "/api/v1/auth/real-name", json={"name": "王大明", "id_number": PEOPLE[2][1]})
    assert _answer(duplicate) == _answer(mismatch)
    assert duplicate.status_code == 400 and duplicate.json()["error"]["code"] == "identity_mismatch"
    # And it counts: the fifth try of the day locks, whatever number comes next.
    remaining = [duplicate.json()["error"]["details"]["remaining_attempts"]]
    for _ in range(3):
        again = await second.call("POST", "/api/v1/auth/real-name", json=body)
        remaining.append(again.json()["error"]["details"]["remaining_attempts"])
    assert remaining == [4, 3, 2, 1]
    locked = await second.call("POST", "/api/v1/auth/real-name", json=body)
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "real_name_locked"
    own = await second.call("POST", "/api/v1/auth/real-name", json={"name": PEOPLE[2][0], "id_number": PEOPLE[2][1]})
    assert own.status_code == 429
    assert (await User.get(id=second.user["id"])).level == "L1"


async def test_real_name_is_rate_limited_per_user_and_per_client(http: httpx.AsyncClient, seen: list[str]) -> None:
    from handlers.auth import REAL_NAME_PER_CLIENT, REAL_NAME_PER_USER

    # Invalid check digits never reach the daily count, but they count here.
    junk = {"name": "李四", "id_number": "440306199003071233"}
    prober = citizen(http, seen)
    await prober.login("prober.1")
    statuses = [(await prober.call("POST", "/api/v1/auth/real-name", json=junk)).status_code
                for _ in range(REAL_NAME_PER_USER + 1)]  # fmt: skip
    assert statuses == [400] * REAL_NAME_PER_USER + [429]
    # Accounts of one client share the client's window.
    sent = REAL_NAME_PER_USER + 1
    n = 0
    while sent < REAL_NAME_PER_CLIENT:
        helper = citizen(http, seen)
        await helper.login(f"helper{n}.1")
        n += 1
        for _ in range(min(REAL_NAME_PER_USER, REAL_NAME_PER_CLIENT - sent)):
            assert (await helper.call("POST", "/api/v1/auth/real-name", json=junk)).status_code == 400
            sent += 1
    fresh = citizen(http, seen)
    await fresh.login("fresh.1")
    over = await fresh.call("POST", "/api/v1/auth/real-name", json={"name": PEOPLE[1][0], "id_number": PEOPLE[1][1]})
    assert over.status_code == 429 and over.json()["error"]["code"] == "rate_limited"
    assert 0 < int(over.headers["retry-after"]) <= 3600


async def test_five_failures_lock_until_tomorrow(http: httpx.AsyncClient, seen: list[str]) -> None:
    person = citizen(http, seen)
    await person.login("ivan.1")
    wrong = {"name": "李五", "id_number": "440306199003071232"}
    statuses = [(await person.call("POST", "/api/v1/auth/real-name", json=wrong)).status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 400]
    fifth = await person.call("POST", "/api/v1/auth/real-name", json=wrong)
    assert fifth.status_code == 429
    retry_after = int(fifth.headers["retry-after"])
    assert 0 < retry_after <= 24 * 3600
    right = await person.call(
        "POST", "/api/v1/auth/real-name", json={"name": "李四", "id_number": "440306199003071232"}
    )
    assert right.status_code == 429 and right.json()["error"]["code"] == "real_name_locked"
    # Another person is not affected.
    other = citizen(http, seen)
    await other.login("judy.1")
    ok = await other.call("POST", "/api/v1/auth/real-name", json={"name": "李四", "id_number": "440306199003071232"})
    assert ok.status_code == 200


async def test_refresh_rotates_and_reuse_revokes_the_family(http: httpx.AsyncClient, seen: list[str]) -> None:
    person = citizen(http, seen)
    await person.login("ken.1")
    first_refresh, first_access = person.refresh_token, person.access
    rotated = await http.post("/api/v1/auth/refresh", json={"refresh_token": first_refresh})
    assert rotated.status_code == 200
    second_refresh, second_access = rotated.json()["refresh_token"], rotated.json()["access_token"]
    assert second_refresh != first_refresh
    ok = await http.get("/api/v1/me", headers={"Authorization": f"Bearer {second_access}"})
    assert ok.status_code == 200
    reused = await http.post("/api/v1/auth/refresh", json={"refresh_token": first_refresh})
    assert reused.status_code == 401 and reused.json()["error"]["code"] == "token_reused"
    # The whole family is gone: the newer refresh token and every access token of this login.
    assert (await http.post("/api/v1/auth/refresh", json={"refresh_token": second_refresh})).status_code == 401
    for access in (first_access, second_access):
        assert (await http.get("/api/v1/me", headers={"Authorization": f"Bearer {access}"})).status_code == 401


async def test_refresh_token_is_not_an_access_token(http: httpx.AsyncClient, seen: list[str]) -> None:
    person = citizen(http, seen)
    await person.login("leo.1")
    refused = await http.get("/api/v1/me", headers={"Authorization": f"Bearer {person.refresh_token}"})
    assert refused.status_code == 401
    as_refresh = await http.post("/api/v1/auth/refresh", json={"refresh_token": person.access})
    assert as_refresh.status_code == 401


async def test_logout_ends_the_session(http: httpx.AsyncClient, seen: list[str]) -> None:
    person = citizen(http, seen)
    await person.login("mia.1")
    other_login = citizen(http, seen)
    await other_login.login("mia.2")
    assert (await person.call("POST", "/api/v1/auth/logout")).status_code == 200
    assert (await person.call("GET", "/api/v1/me")).status_code == 401
    assert (await http.post("/api/v1/auth/refresh", json={"refresh_token": person.refresh_token})).status_code == 401
    # Logging out on one phone leaves the other login alone.
    assert (await other_login.call("GET", "/api/v1/me")).status_code == 200


async def test_phone_number_is_bound_masked(http: httpx.AsyncClient, seen: list[str], running) -> None:  # type: ignore[no-untyped-def]
    person = citizen(http, seen)
    await person.login("nina.1")
    response = await person.call("POST", "/api/v1/auth/phone", json={"code": "phone-nina"})
    assert response.status_code == 200, response.text
    masked = response.json()["user"]["phone"]
    user = await User.get(id=person.user["id"])
    phone = running.app.ctx.services.pii.decrypt(user.phone_enc, FIELD_PHONE)
    assert len(phone) == 11 and masked == phone[:3] + "****" + phone[-4:]
    bad = await person.call("POST", "/api/v1/auth/phone", json={"code": "invalid-phone-code"})
    assert bad.status_code == 400


def _token_payloads(tokens: list[str]) -> str:
    out = []
    for token in tokens:
        for part in token.split(".")[:2]:
            out.append(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode(errors="replace"))
    return "\n".join(out)


async def test_no_clear_personal_data_or_session_key_anywhere(
    http: httpx.AsyncClient,
    seen: list[str],
    running,
    logs: LogCapture,  # type: ignore[no-untyped-def]
) -> None:
    person = citizen(http, seen)
    await person.login("oscar.1")
    tokens = [person.access, person.refresh_token]
    await person.call("POST", "/api/v1/auth/real-name", json={"name": "王小明", "id_number": "440106198501011237"})
    await person.call("POST", "/api/v1/auth/phone", json={"code": "phone-oscar"})
    refreshed = await http.post("/api/v1/auth/refresh", json={"refresh_token": person.refresh_token})
    tokens += [refreshed.json()["access_token"], refreshed.json()["refresh_token"]]
    seen.append(refreshed.text)
    # A failed attempt of someone else logs nothing personal either.
    intruder = citizen(http, seen)
    await intruder.login("eve.1")
    await intruder.call("POST", "/api/v1/auth/real-name", json={"name": "王大明", "id_number": "440106198501011237"})

    user = await User.get(id=person.user["id"])
    pii = running.app.ctx.services.pii
    session_key = pii.decrypt(await running.app.ctx.redis.get(f"shengshi:wxsk:{user.id}"), FIELD_SESSION_KEY)
    phone = pii.decrypt(user.phone_enc, FIELD_PHONE)
    assert pii.decrypt(user.real_name_enc, FIELD_NAME) == "王小明"
    assert pii.decrypt(user.id_number_enc, FIELD_ID) == "440106198501011237"

    _, rows = await connections.get("default").execute_query("SELECT * FROM users")
    stored = json.dumps([dict(row) for row in rows], ensure_ascii=False, default=str)
    secrets = {"name": "王小明", "id_number": "440106198501011237", "phone": phone, "session_key": session_key}
    places = {
        "database rows": stored,
        "responses": "\n".join(seen),
        "tokens": _token_payloads(tokens) + "\n".join(tokens),
        "logs": "\n".join(logs.lines),
        "redis": json.dumps(
            {k: await running.app.ctx.redis.get(k) for k in await running.app.ctx.redis.keys("shengshi:wxsk:*")}
        ),
    }
    assert logs.lines, "the capture saw no log line at all"
    for secret_name, secret in secrets.items():
        for place, text in places.items():
            if secret_name == "session_key" and place == "redis":
                continue
            assert secret not in text, f"clear {secret_name} found in {place}"
    assert "大明" not in "\n".join(logs.lines)


async def test_concurrent_workers_fetch_one_token(running, http: httpx.AsyncClient, redis: Any) -> None:  # type: ignore[no-untyped-def]
    """Eight workers (one gateway each) all meet 40001 at once; WeChat sees one token fetch."""
    base = running.url + "/__fakewx/"
    workers = [WeChatGateway(redis, "wxdevmini00000000", "shengshi-dev-wxa-secret", base_url=base) for _ in range(8)]
    await workers[0].access_token()
    await http.post("/__fakewx/_tokens/expire")
    await http.delete("/__fakewx/_sent")
    before = (await http.get("/__fakewx/_stats")).json()["calls"].get("cgi-bin/token", 0)

    async def send(worker: WeChatGateway, n: int) -> None:
        await worker.send_subscribe_message(f"openid-{n}", "TEMPLATE_PROGRESS", {"thing1": {"value": "受理"}})

    await asyncio.gather(*(send(worker, n) for n, worker in enumerate(workers)))
    after = (await http.get("/__fakewx/_stats")).json()["calls"]["cgi-bin/token"]
    assert after - before == 1
    sent = (await http.get("/__fakewx/_sent")).json()["sent"]
    assert sorted(item["touser"] for item in sent) == sorted(f"openid-{n}" for n in range(8))
