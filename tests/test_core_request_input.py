"""No input answers 500: text no database stores, numbers no column holds, and wrong types get a 400 naming the field.

Every case of issue 15 (point 2) as it was reproduced against the service, over HTTP and the WebSocket.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.core.errors import InvalidText, ValidationFailed
from app.core.request_input import BIGINT_MAX, INT_MAX, check_json, find_bad_value
from tests.test_applications import World, open_world

HUGE = "99999999999999999999"

# (who, method, path, raw JSON body or None, the error code expected with the 400)
CASES: list[tuple[str, str, str, str | bytes | None, str]] = [
    # A NUL character reaching PostgreSQL.
    ("anon", "POST", "/api/v1/admin/login", '{"username": "a\\u0000b", "password": "xxxxxxxxxxxx"}', "invalid_text"),
    ("anon", "GET", "/api/v1/services?q=%00", None, "invalid_text"),
    ("anon", "GET", "/api/v1/services?department=%00", None, "invalid_text"),
    (
        "citizen",
        "POST",
        "/api/v1/applications",
        '{"service_code": "440000-CRJ-004-01\\u0000", "form": {"a": "\\u0000"}}',
        "invalid_text",
    ),
    ("citizen", "POST", "/api/v1/me/recent", '{"service_code": "\\u0000"}', "invalid_text"),
    (
        "admin",
        "POST",
        "/api/v1/admin/staff",
        '{"username": "nul-dept", "role": "viewer", "department": "a\\u0000"}',
        "invalid_text",
    ),
    (
        "admin",
        "POST",
        "/api/v1/admin/intents",
        '{"name": "x\\u0000", "items": ["440000-CRJ-004-01"], "phrases": ["办护照"]}',
        "invalid_text",
    ),
    ("admin", "PUT", "/api/v1/admin/synonyms/%00", '{"values": ["护照"]}', "invalid_text"),
    ("admin", "PUT", "/api/v1/admin/synonyms/word", '{"values": ["a\\u0000"]}', "invalid_text"),
    ("admin", "GET", "/api/v1/admin/audit?staff=%00", None, "invalid_text"),
    ("admin", "GET", "/api/v1/admin/ratings?department=%00", None, "invalid_text"),
    ("citizen", "GET", "/api/v1/services/%00", None, "invalid_text"),
    # A lone surrogate in a JSON string.
    ("anon", "POST", "/api/v1/auth/wx-login", '{"code": "\\ud800"}', "invalid_text"),
    ("anon", "POST", "/api/v1/auth/refresh", '{"refresh_token": "\\ud800"}', "invalid_text"),
    ("citizen", "POST", "/api/v1/auth/phone", '{"code": "\\udfff"}', "invalid_text"),
    ("anon", "POST", "/api/v1/chat", '{"text": "\\ud800"}', "invalid_text"),
    ("anon", "POST", "/api/v1/chat", '{"text": "护照", "session_id": "\\ud800"}', "invalid_text"),
    ("anon", "POST", "/api/v1/admin/login", '{"username": "\\ud800", "password": "xxxxxxxxxxxx"}', "invalid_text"),
    ("anon", "POST", "/api/v1/chat", '{"text": "ok", "\\ud800": 1}', "invalid_text"),
    # Raw bytes that are no UTF-8 (an encoded surrogate) parse into a lone surrogate too.
    ("anon", "POST", "/api/v1/chat", b'{"text": "\xed\xa0\x80"}', "invalid_text"),
    # Integers out of range.
    ("anon", "GET", f"/api/v1/services?page={HUGE}", None, "invalid_input"),
    ("anon", "GET", "/api/v1/services?page=%C2%B2", None, "invalid_input"),  # '²' is a digit to str.isdigit
    ("citizen", "GET", f"/api/v1/applications/{HUGE}999", None, "invalid_input"),
    ("citizen", "GET", f"/api/v1/applications/{INT_MAX + 1}", None, "invalid_input"),
    ("citizen", "GET", f"/api/v1/notifications?before_id={HUGE}", None, "invalid_input"),
    ("citizen", "POST", f"/api/v1/notifications/{BIGINT_MAX + 1}/read", None, "invalid_input"),
    ("citizen", "GET", "/api/v1/me/recent?limit=%C2%B2", None, "invalid_input"),
    ("citizen", "POST", f"/api/v1/applications/{HUGE}/cancel", '{"version": 1}', "invalid_input"),
    ("admin", "GET", f"/api/v1/admin/applications/{HUGE}", None, "invalid_input"),
    ("admin", "GET", f"/api/v1/admin/releases/{HUGE}", None, "invalid_input"),
    ("admin", "GET", f"/api/v1/admin/releases/diff?from={INT_MAX + 1}", None, "invalid_input"),
    ("admin", "GET", f"/api/v1/admin/releases/diff?to={HUGE}", None, "invalid_input"),
    ("admin", "GET", f"/api/v1/admin/handoffs/{HUGE}", None, "invalid_input"),
    ("admin", "PATCH", f"/api/v1/admin/staff/{INT_MAX + 1}", '{"role": "viewer"}', "invalid_input"),
    # Any integer in a body past 64 bits, in a field read or not (no column holds it).
    (
        "anon",
        "POST",
        "/api/v1/chat/feedback",
        f'{{"session_id": "{"0" * 32}", "helpful": false, "n": {HUGE}}}',
        "invalid_input",
    ),
]


@pytest.fixture
async def people(start_server):  # type: ignore[no-untyped-def]
    async with open_world(start_server) as world:
        who = {"anon": {}, "citizen": await world.citizen("badinput"), "admin": await world.staff("root", "admin")}
        yield world, who


@pytest.mark.parametrize(("who", "method", "path", "body", "code"), CASES, ids=[f"{c[1]} {c[2]}" for c in CASES])
async def test_core_request_input_is_a_400_naming_what_is_wrong(
    people: tuple[World, dict[str, dict[str, str]]],
    who: str,
    method: str,
    path: str,
    body: str | bytes | None,
    code: str,
) -> None:
    world, headers = people
    response = await world.http.request(
        method,
        path,
        content=body.encode() if isinstance(body, str) else body,
        headers={**headers[who], "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["details"]["field"]


async def test_a_transition_with_fields_of_the_wrong_type_is_a_400(
    people: tuple[World, dict[str, dict[str, str]]],
) -> None:
    world, headers = people
    applied = await world.apply(headers["citizen"])
    assert applied.status_code == 201, applied.text
    app = applied.json()
    clerk = await world.staff("clerk", "clerk")
    for extra, field in [
        ({"to": "accepted", "version": 999, "missing_materials": True}, "missing_materials"),
        ({"to": "returned", "version": app["version"], "missing_materials": "身份证"}, "missing_materials"),
        ({"to": "returned", "version": app["version"], "missing_materials": [1, None]}, "missing_materials"),
        ({"to": "accepted", "version": app["version"], "note": ["x"]}, "note"),
        ({"to": ["accepted"], "version": app["version"]}, "to"),
        ({"to": "accepted", "version": True}, "version"),
    ]:
        response = await world.http.post(
            f"/api/v1/admin/applications/{app['id']}/transitions", json=extra, headers=clerk
        )
        assert response.status_code == 400, (extra, response.text)
        assert response.json()["error"]["details"]["field"] == field, (extra, response.text)
    # Nothing moved.
    detail = await world.http.get(f"/api/v1/applications/{app['id']}", headers=headers["citizen"])
    assert detail.json()["status"] == "submitted" and detail.json()["version"] == app["version"]


async def test_valid_text_and_numbers_still_pass(people: tuple[World, dict[str, dict[str, str]]]) -> None:
    world, headers = people
    # A character outside the BMP arrives as a surrogate pair in JSON: one character, accepted.
    response = await world.http.post(
        "/api/v1/chat",
        content=b'{"text": "\\u62a4\\u7167 \\ud83d\\ude00"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert (await world.http.get(f"/api/v1/applications/{INT_MAX}", headers=headers["citizen"])).status_code == 404
    assert (await world.http.get("/api/v1/services?page=2&page_size=5")).json()["page"] == 2
    # A body that is not JSON still gets the parser's own answer, not invalid_text.
    broken = await world.http.post(
        "/api/v1/auth/wx-login", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"


async def test_websocket_answers_bad_text_with_an_error_frame_and_invalid_utf8_with_1007(
    people: tuple[World, dict[str, dict[str, str]]],
) -> None:
    import websockets

    world, _ = people
    url = world.url.replace("http://", "ws://") + "/api/v1/ws"
    async with websockets.connect(url) as ws:
        for frame in ('{"type": "chat", "text": "\\ud800"}', '{"type": "chat", "text": "a\\u0000b"}',
                      '{"type": "auth", "token": "\\udc00"}'):  # fmt: skip
            await ws.send(frame)
            reply = json.loads(await ws.recv())
            assert reply["type"] == "error" and reply["error"]["code"] == "invalid_text", reply
        # The socket stays open and still chats.
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv()) == {"type": "pong"}
    async with websockets.connect(url) as ws:
        # A text frame whose bytes are not UTF-8, sent as they are.
        await ws.send(b'{"type": "chat", "text": "\xff\xfe"}', text=True)
        with pytest.raises(websockets.exceptions.ConnectionClosedError) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007


@pytest.mark.parametrize(
    ("tree", "found"),
    [
        ({"a": [1, {"b": "x\x00"}]}, ("a[1].b", "text")),
        ({"a": {"\ud800": 1}}, ("a (a key)", "text")),
        (["ok", "\udfff"], ("[1]", "text")),
        ({"n": 2**63}, ("n", "integer")),
        ({"n": -(2**63) - 1}, ("n", "integer")),
        ({"n": 2**63 - 1, "t": True, "f": 1.5, "s": "护照 😀", "z": None}, None),
    ],
)
def test_the_json_walk_finds_the_first_bad_value(tree: Any, found: tuple[str, str] | None) -> None:
    assert find_bad_value(tree) == found
    if found is None:
        check_json(tree)
    else:
        with pytest.raises(InvalidText if found[1] == "text" else ValidationFailed):
            check_json(tree)
