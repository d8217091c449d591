"""The fake WeChat platform, driven over real HTTP, through wechatpy wherever wechatpy has the call."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import httpx
import pytest
import requests
from sanic import Sanic
from sanic.response import json as json_response
from sanic_ext import Extend
from wechatpy import WeChatClient
from wechatpy.exceptions import APILimitedException, WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage

from miniprogram_stub.fake_wechat import (
    FakePlatform,
    create_blueprint,
    create_fake_app,
    gb11643_check_digit,
    is_valid_id_number,
    openid_for,
    phone_for,
    unionid_for,
)
from tests.conftest import RunningServer, free_port
from tests.helpers import ROOT, wait_for_http

APPID = "wxfaketest0000001"
OTHER_APPID = "wxfakeofficial0001"
SECRET = "fake-secret"
SUBSCRIBE = "cgi-bin/message/subscribe/send"
TEMPLATE = "cgi-bin/message/template/send"
CUSTOM = "cgi-bin/message/custom/send"
NAMED_PEOPLE = [("张三", "11010519491231002X"), ("李四", "440306199003071232"), ("王小明", "440106198501011237")]

_app_names = itertools.count()
T = TypeVar("T")


class FakeWeChatClient(WeChatClient):
    """wechatpy's client aimed at the fake.

    Three places need the base URL: the client's own ``API_BASE_URL`` (the
    ``cgi-bin/`` APIs), ``wxa.API_BASE_URL`` (WeChatWxa carries its own
    ``https://api.weixin.qq.com/``), and ``fetch_access_token``, which
    hard-codes ``https://api.weixin.qq.com/cgi-bin/token``.
    """

    def __init__(self, base: str, appid: str = APPID, secret: str = SECRET, **kwargs: Any):
        super().__init__(appid, secret, session=MemoryStorage(), **kwargs)
        self.base = base
        self.API_BASE_URL = base + "cgi-bin/"
        self.wxa.API_BASE_URL = base

    def fetch_access_token(self) -> dict[str, Any]:
        return self._fetch_access_token(
            url=self.base + "cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


async def off_loop(fn: Callable[[], T]) -> T:
    """wechatpy is synchronous: run it in a thread so the server in this loop can answer."""
    return await asyncio.to_thread(fn)


async def raises(fn: Callable[[], Any], kind: type[Exception] = WeChatClientException) -> Any:
    with pytest.raises(kind) as caught:
        await off_loop(fn)
    return caught.value


@pytest.fixture
async def fake() -> AsyncIterator[RunningServer]:
    running = RunningServer(create_fake_app(f"fake_wechat_test_{next(_app_names)}"), free_port())
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
def base(fake: RunningServer) -> str:
    return fake.url + "/__fakewx/"


@pytest.fixture
def wx(base: str) -> FakeWeChatClient:
    return FakeWeChatClient(base)


@pytest.fixture
async def http(fake: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.url + "/__fakewx", timeout=10) as client:
        yield client


async def new_token(http: httpx.AsyncClient, appid: str = APPID) -> str:
    answer = await http.get(
        "/cgi-bin/token", params={"grant_type": "client_credential", "appid": appid, "secret": SECRET}
    )
    body = answer.json()
    assert answer.status_code == 200 and body["expires_in"] == 7200 and "errcode" not in body
    assert len(body["access_token"]) >= 64
    return str(body["access_token"])


async def sent(http: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    return list((await http.get("/_sent", params=params)).json()["sent"])


def subscribe(wx: FakeWeChatClient, touser: str = "o-someone", template_id: str = "TPL_PROGRESS") -> Any:
    return wx.wxa.send_subscribe_message(touser, template_id, {"thing1": {"value": "受理"}}, page="pages/index")


# -- login ---------------------------------------------------------------------


async def test_code2session_is_deterministic_per_person(wx: FakeWeChatClient, base: str) -> None:
    first = await off_loop(lambda: wx.wxa.code_to_session("alice.1"))
    second = await off_loop(lambda: wx.wxa.code_to_session("alice.2"))
    bare = await off_loop(lambda: wx.wxa.code_to_session("alice"))
    assert first["openid"] == second["openid"] == bare["openid"] == openid_for(APPID, "alice")
    assert first["unionid"] == second["unionid"] == unionid_for("alice")
    assert re.fullmatch(r"o[\w-]{27}", first["openid"]) and re.fullmatch(r"u[\w-]{27}", first["unionid"])
    assert first["session_key"] != second["session_key"] and len(first["session_key"]) == 24
    assert "errcode" not in first

    bob = await off_loop(lambda: wx.wxa.code_to_session("bob.1"))
    assert bob["openid"] != first["openid"] and bob["unionid"] != first["unionid"]
    # The same person under another appid (the official account): another openid, the same unionid.
    official = FakeWeChatClient(base, appid=OTHER_APPID)
    there = await off_loop(lambda: official.wxa.code_to_session("alice.3"))
    assert there["openid"] != first["openid"] and there["unionid"] == first["unionid"]


async def test_codes_are_single_use_and_invalid_codes_refused(wx: FakeWeChatClient) -> None:
    await off_loop(lambda: wx.wxa.code_to_session("carol.1"))
    assert (await raises(lambda: wx.wxa.code_to_session("carol.1"))).errcode == 40163
    assert (await raises(lambda: wx.wxa.code_to_session("invalid-code"))).errcode == 40029
    assert (await raises(lambda: wx.wxa.code_to_session("invalid"))).errcode == 40029
    assert (await raises(lambda: wx.wxa.code_to_session(".nobody"))).errcode == 40029
    assert (await raises(lambda: wx.wxa.code_to_session("x" * 300))).errcode == 40029


async def test_code2session_missing_parameters(http: httpx.AsyncClient) -> None:
    full = {"appid": APPID, "secret": SECRET, "js_code": "dave.1", "grant_type": "authorization_code"}
    cases = [
        ({k: v for k, v in full.items() if k != "appid"}, 41002),
        ({k: v for k, v in full.items() if k != "secret"}, 41004),
        ({k: v for k, v in full.items() if k != "js_code"}, 41008),
        ({**full, "js_code": ""}, 41008),
        ({**full, "grant_type": "client_credential"}, 40002),
        ({**full, "secret": "invalid-secret"}, 40125),
    ]
    for params, errcode in cases:
        answer = await http.get("/sns/jscode2session", params=params)
        assert answer.status_code == 200
        assert answer.json()["errcode"] == errcode, params
        assert answer.json()["errmsg"]
    # None of those used the code.
    assert (await http.get("/sns/jscode2session", params=full)).json()["openid"] == openid_for(APPID, "dave")


async def test_login_code_for_the_simulator(http: httpx.AsyncClient, wx: FakeWeChatClient) -> None:
    answer = await http.post("/_login_code", json={"user": "alice"})
    assert answer.status_code == 200
    code = answer.json()["code"]
    assert re.fullmatch(r"alice\.[0-9a-f]+", code)
    assert code != (await http.post("/_login_code", json={"user": "alice"})).json()["code"]
    session = await off_loop(lambda: wx.wxa.code_to_session(code))
    assert session["openid"] == openid_for(APPID, "alice")
    bad_users: list[Any] = [{}, {"user": ""}, {"user": 7}, {"user": "a.b"}, {"user": "a b"}, {"user": "x" * 65}, []]
    for bad in [*bad_users, "alice"]:
        refused = await http.post("/_login_code", json=bad)
        assert refused.status_code == 400 and refused.json()["error"]["code"], bad
    assert (await http.post("/_login_code", content=b"{nope")).status_code == 400


# -- tokens and messages -------------------------------------------------------


async def test_token_fetch_and_sends_are_recorded(wx: FakeWeChatClient, http: httpx.AsyncClient) -> None:
    assert await off_loop(lambda: subscribe(wx, "o-alice")) == {"errcode": 0, "errmsg": "ok"}
    template = await off_loop(
        lambda: wx.message.send_template("o-bob", "TPL_NOTICE", {"first": {"value": "您好"}}, url="https://example.org")
    )
    assert template["errcode"] == 0 and isinstance(template["msgid"], int)
    assert (await off_loop(lambda: wx.message.send_text("o-carol", "办好了")))["errcode"] == 0

    everything = await sent(http)
    assert [item["endpoint"] for item in everything] == [SUBSCRIBE, TEMPLATE, CUSTOM]
    first, second, third = everything
    assert first["touser"] == "o-alice" and first["template_id"] == "TPL_PROGRESS"
    assert first["data"] == {"thing1": {"value": "受理"}}
    assert first["body"]["page"] == "pages/index"
    assert second["touser"] == "o-bob" and second["body"]["url"] == "https://example.org"
    assert (
        third["template_id"] is None and third["data"] == {"content": "办好了"} and third["body"]["msgtype"] == "text"
    )
    assert first["time"] <= second["time"] <= third["time"]
    assert set(first) == {"endpoint", "touser", "template_id", "data", "time", "body"}

    assert [item["touser"] for item in await sent(http, endpoint=CUSTOM)] == ["o-carol"]
    assert (await http.delete("/_sent")).status_code == 200
    assert await sent(http) == []
    # One token served all three sends.
    assert (await http.get("/_stats")).json()["calls"]["cgi-bin/token"] == 1


async def test_message_validation(http: httpx.AsyncClient) -> None:
    token = await new_token(http)
    cases = [
        (SUBSCRIBE, {"template_id": "T", "data": {}}, 40003),
        (SUBSCRIBE, {"touser": "", "template_id": "T"}, 40003),
        (SUBSCRIBE, {"touser": "o-x", "data": {}}, 40037),
        (TEMPLATE, {"touser": "o-x", "template_id": 12}, 40037),
        (SUBSCRIBE, {"touser": "o-x", "template_id": "T", "data": "words"}, 47003),
        (CUSTOM, {"touser": "o-x"}, 40008),
        (CUSTOM, {"touser": "o-x", "msgtype": "telepathy", "telepathy": {}}, 40008),
        (CUSTOM, {"touser": "o-x", "msgtype": "text", "text": "not an object"}, 47001),
    ]
    for endpoint, body, errcode in cases:
        answer = await http.post("/" + endpoint, params={"access_token": token}, json=body)
        assert answer.status_code == 200 and answer.json()["errcode"] == errcode, (endpoint, body)
    assert await sent(http) == []


async def test_new_token_ends_the_previous_one(http: httpx.AsyncClient) -> None:
    old = await new_token(http)
    other_app = await new_token(http, OTHER_APPID)
    new = await new_token(http)
    body = {"touser": "o-x", "template_id": "T", "data": {}}
    refused = (await http.post("/" + SUBSCRIBE, params={"access_token": old}, json=body)).json()
    assert refused["errcode"] == 40001 and refused["errmsg"].startswith("invalid credential")
    assert (await http.post("/" + SUBSCRIBE, params={"access_token": new}, json=body)).json()["errcode"] == 0
    # Tokens are per appid: the other app's token lives on.
    assert (await http.post("/" + SUBSCRIBE, params={"access_token": other_app}, json=body)).json()["errcode"] == 0
    assert (await http.post("/" + SUBSCRIBE, params={"access_token": "made-up"}, json=body)).json()["errcode"] == 40001
    assert (await http.post("/" + SUBSCRIBE, json=body)).json()["errcode"] == 41001
    bad_grant = await http.get("/cgi-bin/token", params={"grant_type": "x", "appid": APPID, "secret": SECRET})
    assert bad_grant.json()["errcode"] == 40002
    no_appid = await http.get("/cgi-bin/token", params={"grant_type": "client_credential", "secret": SECRET})
    assert no_appid.json()["errcode"] == 41002


async def test_expired_tokens_and_wechatpy_refetching(base: str, http: httpx.AsyncClient) -> None:
    strict = FakeWeChatClient(base, auto_retry=False)
    await off_loop(lambda: subscribe(strict))
    assert (await http.post("/_tokens/expire")).json() == {"expired": 1}
    assert (await raises(lambda: subscribe(strict))).errcode == 40001

    token = await new_token(http)
    await http.post("/_tokens/expire", json={"errcode": 42001})
    expired = await http.post("/" + SUBSCRIBE, params={"access_token": token}, json={"touser": "o", "template_id": "T"})
    assert expired.json()["errcode"] == 42001

    # wechatpy's own retry: on 40001/42001 it fetches a new token and sends again.
    retrying = FakeWeChatClient(base)
    await off_loop(lambda: subscribe(retrying, "o-first"))
    await http.post("/_tokens/expire")
    await http.delete("/_sent")
    tokens_before = (await http.get("/_stats")).json()["calls"]["cgi-bin/token"]
    await off_loop(lambda: subscribe(retrying, "o-again"))
    assert (await http.get("/_stats")).json()["calls"]["cgi-bin/token"] == tokens_before + 1
    assert [item["touser"] for item in await sent(http)] == ["o-again"]

    bad_expiries: list[Any] = [{"errcode": 40002}, {"appid": 5}, [], "x"]
    for bad in bad_expiries:
        assert (await http.post("/_tokens/expire", json=bad)).status_code == 400, bad


async def test_token_overlap_keeps_the_previous_token_a_while() -> None:
    now = [1000.0]
    platform = FakePlatform(token_overlap_s=300, clock=lambda: now[0])
    old = platform.issue_token(APPID, SECRET, "client_credential")["access_token"]
    platform.issue_token(APPID, SECRET, "client_credential")
    assert platform.check_token(old) == APPID
    now[0] += 301
    with pytest.raises(Exception, match="40001"):
        platform.check_token(old)


# -- menus ---------------------------------------------------------------------


async def test_menu_create_and_get(wx: FakeWeChatClient) -> None:
    assert await off_loop(wx.menu.get) is None
    menu = {"button": [{"type": "view", "name": "办事", "url": "https://example.org"}]}
    assert (await off_loop(lambda: wx.menu.create(menu)))["errcode"] == 0
    assert (await off_loop(wx.menu.get))["menu"] == menu
    assert (await raises(lambda: wx.menu.create({"button": []}))).errcode == 40016


# -- faults --------------------------------------------------------------------


async def test_errcode_fault_is_not_sent(wx: FakeWeChatClient, http: httpx.AsyncClient) -> None:
    scripted = await http.post("/_faults", json={"endpoint": SUBSCRIBE, "errcode": 45009, "times": 2})
    assert scripted.status_code == 200 and scripted.json()["fault"]["times"] == 2
    assert (await http.get("/_faults")).json()["faults"] == [{"endpoint": SUBSCRIBE, "errcode": 45009, "times": 2}]
    # wechatpy answers 45009 with its own subclass.
    assert (await raises(lambda: subscribe(wx, "o-1"), APILimitedException)).errcode == 45009
    assert (await http.get("/_faults")).json()["faults"][0]["times"] == 1
    assert (await raises(lambda: subscribe(wx, "o-2"), APILimitedException)).errcode == 45009
    assert (await http.get("/_faults")).json()["faults"] == []
    await off_loop(lambda: subscribe(wx, "o-3"))
    assert [item["touser"] for item in await sent(http)] == ["o-3"]


async def test_http_status_fault(wx: FakeWeChatClient, http: httpx.AsyncClient) -> None:
    await http.post("/_faults", json={"endpoint": TEMPLATE, "http_status": 500})
    failure = await raises(lambda: wx.message.send_template("o-1", "T", {}))
    assert failure.errcode is None and failure.response.status_code == 500
    assert await sent(http) == []
    await off_loop(lambda: wx.message.send_template("o-1", "T", {}))
    assert len(await sent(http)) == 1


async def test_faults_are_used_in_order_per_endpoint(wx: FakeWeChatClient, http: httpx.AsyncClient) -> None:
    await http.post("/_faults", json={"endpoint": CUSTOM, "errcode": 43101})
    await http.post("/_faults", json={"endpoint": "sns/jscode2session", "http_status": 503})
    await http.post("/_faults", json={"endpoint": "/__fakewx/" + CUSTOM, "http_status": 502})
    assert (await raises(lambda: wx.message.send_text("o-1", "a"))).errcode == 43101
    assert (await raises(lambda: wx.message.send_text("o-1", "b"))).response.status_code == 502
    await off_loop(lambda: wx.message.send_text("o-1", "c"))
    assert (await raises(lambda: wx.wxa.code_to_session("erin.1"))).response.status_code == 503
    assert [item["data"]["content"] for item in await sent(http)] == ["c"]
    await http.post("/_faults", json={"endpoint": CUSTOM, "errcode": 45047, "times": 3})
    assert (await http.delete("/_faults")).json() == {"faults": []}
    await off_loop(lambda: wx.message.send_text("o-1", "d"))


async def test_delay_fault_then_delivered(wx: FakeWeChatClient, http: httpx.AsyncClient) -> None:
    await http.post("/_faults", json={"endpoint": SUBSCRIBE, "delay_s": 0.3})
    assert (await off_loop(lambda: subscribe(wx, "o-slow")))["errcode"] == 0
    assert [item["touser"] for item in await sent(http)] == ["o-slow"]


async def test_caller_giving_up_on_a_slow_answer_still_delivers(base: str, http: httpx.AsyncClient) -> None:
    impatient = FakeWeChatClient(base, timeout=0.1)
    await off_loop(impatient.fetch_access_token)
    await http.post("/_faults", json={"endpoint": SUBSCRIBE, "delay_s": 0.5})
    await raises(lambda: subscribe(impatient, "o-maybe"), requests.exceptions.ReadTimeout)
    # The request reached the platform: the message arrives although the caller hung up.
    for _ in range(200):
        if await sent(http):
            break
        await asyncio.sleep(0.05)
    assert [item["touser"] for item in await sent(http)] == ["o-maybe"]


async def test_delay_then_error_and_token_faults(wx: FakeWeChatClient, http: httpx.AsyncClient) -> None:
    await http.post("/_faults", json={"endpoint": SUBSCRIBE, "delay_s": 0.1, "errcode": -1})
    assert (await raises(lambda: subscribe(wx))).errcode == -1
    assert await sent(http) == []
    fresh = FakeWeChatClient(wx.base)
    await http.post("/_faults", json={"endpoint": "cgi-bin/token", "errcode": 40164})
    assert (await raises(lambda: subscribe(fresh))).errcode == 40164


async def test_wechatpy_retries_scripted_40001_with_new_tokens(wx: FakeWeChatClient, http: httpx.AsyncClient) -> None:
    await http.post("/_faults", json={"endpoint": SUBSCRIBE, "errcode": 40001, "times": 2})
    await off_loop(lambda: subscribe(wx, "o-eventually"))
    calls = (await http.get("/_stats")).json()["calls"]
    assert calls[SUBSCRIBE] == 3 and calls["cgi-bin/token"] == 3
    assert [item["touser"] for item in await sent(http)] == ["o-eventually"]


async def test_bad_fault_bodies_are_400(http: httpx.AsyncClient) -> None:
    bad_bodies: list[Any] = [
        [],
        "x",
        {},
        {"endpoint": SUBSCRIBE},
        {"endpoint": "cgi-bin/nowhere", "errcode": 1},
        {"endpoint": 7, "errcode": 1},
        {"endpoint": SUBSCRIBE, "errcode": 0},
        {"endpoint": SUBSCRIBE, "errcode": "45009"},
        {"endpoint": SUBSCRIBE, "errcode": True},
        {"endpoint": SUBSCRIBE, "http_status": 200},
        {"endpoint": SUBSCRIBE, "http_status": 500.0},
        {"endpoint": SUBSCRIBE, "delay_s": -1},
        {"endpoint": SUBSCRIBE, "delay_s": 0},
        {"endpoint": SUBSCRIBE, "delay_s": 10_000},
        {"endpoint": SUBSCRIBE, "delay_s": "1"},
        {"endpoint": SUBSCRIBE, "errcode": 1, "http_status": 500},
        {"endpoint": SUBSCRIBE, "errcode": 1, "times": 0},
        {"endpoint": SUBSCRIBE, "errcode": 1, "times": 1.5},
        {"endpoint": SUBSCRIBE, "errcode": 1, "delay": 3},
    ]
    for body in bad_bodies:
        answer = await http.post("/_faults", json=body)
        assert answer.status_code == 400, body
        assert answer.json()["error"]["message"], body
    for raw in (b"", b"{", b"\xff"):
        assert (await http.post("/_faults", content=raw)).status_code == 400
    assert (await http.get("/_faults")).json()["faults"] == []


# -- phone numbers -------------------------------------------------------------


def phone_call(wx: FakeWeChatClient, body: Any) -> Any:
    # wechatpy 1.8.18 has no getuserphonenumber: post to the full URL, wechatpy adds the token.
    return wx.post(wx.base + "wxa/business/getuserphonenumber", data=body)


async def test_phone_number(wx: FakeWeChatClient, http: httpx.AsyncClient) -> None:
    answer = await off_loop(lambda: phone_call(wx, {"code": "frank.1"}))
    assert answer["errcode"] == 0 and answer["errmsg"] == "ok"
    info = answer["phone_info"]
    assert re.fullmatch(r"1[358]\d{9}", info["phoneNumber"]) and info["phoneNumber"][:2] in {"13", "15", "18"}
    assert info["purePhoneNumber"] == info["phoneNumber"] == phone_for("frank")
    assert info["countryCode"] == "86" and info["watermark"]["appid"] == APPID
    assert isinstance(info["watermark"]["timestamp"], int)
    again = await off_loop(lambda: phone_call(wx, {"code": "frank.2"}))
    assert again["phone_info"]["phoneNumber"] == info["phoneNumber"]
    assert (await raises(lambda: phone_call(wx, {"code": "frank.1"}))).errcode == 40163
    assert (await raises(lambda: phone_call(wx, {"code": "invalid-phone"}))).errcode == 40029
    assert (await raises(lambda: phone_call(wx, {}))).errcode == 41008
    assert (await raises(lambda: phone_call(wx, {"code": 5}))).errcode == 40029
    simulator_code = (await http.post("/_phone_code", json={"user": "frank"})).json()["code"]
    by_simulator = await off_loop(lambda: phone_call(wx, {"code": simulator_code}))
    assert by_simulator["phone_info"]["phoneNumber"] == info["phoneNumber"]
    assert phone_for("someone-else") != info["phoneNumber"]


# -- identity verification -----------------------------------------------------


async def verify(http: httpx.AsyncClient, body: Any, key: str | None = "any-key") -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return await http.post("/idverify/v1/check", json=body, headers=headers)


@pytest.mark.parametrize(("name", "id_number"), NAMED_PEOPLE)
async def test_identity_match_for_the_named_people(http: httpx.AsyncClient, name: str, id_number: str) -> None:
    answer = await verify(http, {"name": name, "id_number": id_number})
    assert answer.status_code == 200 and answer.json() == {"result": "match"}


async def test_identity_mismatch_not_found_and_refusals(http: httpx.AsyncClient) -> None:
    assert (await verify(http, {"name": "张三", "id_number": "11010519491231002x"})).json() == {"result": "match"}
    assert (await verify(http, {"name": "李五", "id_number": "440306199003071232"})).json() == {"result": "mismatch"}
    unknown = "44030419900101" + "123"
    unknown += gb11643_check_digit(unknown)
    assert (await verify(http, {"name": "赵六", "id_number": unknown})).json() == {"result": "not_found"}

    missing = await verify(http, {"name": "张三", "id_number": "11010519491231002X"}, key=None)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
    keyless = await http.post("/idverify/v1/check", json={}, headers={"Authorization": "Bearer"})
    assert keyless.status_code == 401
    basic = await http.post("/idverify/v1/check", json={}, headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401
    bad_checks: list[Any] = [
        {},
        {"name": "张三"},
        {"name": 1, "id_number": "1"},
        {"name": "张三", "id_number": ""},
        [],
        None,
    ]
    for bad in bad_checks:
        assert (await verify(http, bad)).status_code == 400, bad
    raw = await http.post("/idverify/v1/check", content=b"{", headers={"Authorization": "Bearer k"})
    assert raw.status_code == 400
    assert (await http.get("/_stats")).json()["calls"]["idverify/v1/check"] == 13


async def test_identity_faults(http: httpx.AsyncClient) -> None:
    await http.post("/_faults", json={"endpoint": "idverify/v1/check", "http_status": 503})
    assert (await verify(http, {"name": "李四", "id_number": "440306199003071232"})).status_code == 503
    assert (await verify(http, {"name": "李四", "id_number": "440306199003071232"})).json()["result"] == "match"


def test_registry_people_are_well_formed() -> None:
    registry = FakePlatform.REGISTRY
    for name, id_number in NAMED_PEOPLE:
        assert registry[id_number].name == name
    assert len(registry) >= 8
    assert any("·" in person.name for person in registry.values())
    for id_number, person in registry.items():
        assert person.id_number == id_number
        assert is_valid_id_number(id_number), id_number
        assert id_number[:2] in {"11", "44"}, id_number
        dt.datetime.strptime(id_number[6:14], "%Y%m%d")
    assert not is_valid_id_number("440306199003071233")
    assert gb11643_check_digit("11010519491231002") == "X"


async def test_registry_listing(http: httpx.AsyncClient) -> None:
    people = (await http.get("/_registry")).json()["people"]
    assert {"name": "李四", "id_number": "440306199003071232"} in people


# -- stats, reset, robustness --------------------------------------------------


async def test_stats_count_every_call(wx: FakeWeChatClient, http: httpx.AsyncClient) -> None:
    await http.post("/_faults", json={"endpoint": SUBSCRIBE, "errcode": 45009})
    await off_loop(lambda: wx.wxa.code_to_session("gina.1"))
    await raises(lambda: wx.wxa.code_to_session("gina.1"))
    await raises(lambda: subscribe(wx))
    await off_loop(lambda: subscribe(wx))
    await verify(http, {"name": "张三", "id_number": "11010519491231002X"})
    await verify(http, {"name": "张三", "id_number": "11010519491231002X"}, key=None)
    await http.get("/_sent")
    # wechatpy's code_to_session puts an access token on the query, so it fetches one first.
    assert (await http.get("/_stats")).json() == {
        "calls": {"cgi-bin/token": 1, "sns/jscode2session": 2, SUBSCRIBE: 2, "idverify/v1/check": 2}
    }


async def test_reset_forgets_everything(wx: FakeWeChatClient, http: httpx.AsyncClient) -> None:
    await off_loop(lambda: wx.wxa.code_to_session("hank.1"))
    await off_loop(lambda: subscribe(wx))
    await http.post("/_faults", json={"endpoint": TEMPLATE, "errcode": 45009})
    token = await new_token(http)
    assert (await http.post("/_reset")).json() == {"reset": True}
    assert await sent(http) == []
    assert (await http.get("/_faults")).json()["faults"] == []
    assert (await http.get("/_stats")).json() == {"calls": {}}
    stale = await http.post("/" + SUBSCRIBE, params={"access_token": token}, json={"touser": "o", "template_id": "T"})
    assert stale.json()["errcode"] == 40001
    # Used codes are forgotten too.
    fresh = FakeWeChatClient(wx.base)
    assert (await off_loop(lambda: fresh.wxa.code_to_session("hank.1")))["openid"] == openid_for(APPID, "hank")


GARBAGE: list[bytes] = [
    b"",
    b"   ",
    b"{",
    b"null",
    b"[]",
    b'"text"',
    b"42",
    b"\xff\xfe\x00",
    b"[" * 50_000,
    b'{"touser": 5, "template_id": [], "data": 1, "code": {}, "msgtype": null, "button": "x"}',
    b'{"name": null, "id_number": 18}',
]


async def test_garbage_never_makes_a_500(http: httpx.AsyncClient) -> None:
    token = await new_token(http)
    posts = [
        SUBSCRIBE,
        TEMPLATE,
        CUSTOM,
        "cgi-bin/menu/create",
        "wxa/business/getuserphonenumber",
        "idverify/v1/check",
        "_faults",
        "_login_code",
        "_phone_code",
        "_tokens/expire",
        "_reset",
    ]
    for path in posts:
        for raw in GARBAGE:
            for params in ({"access_token": token}, {"access_token": "%ff"}, {}):
                answer = await http.post(
                    "/" + path,
                    params=params,
                    content=raw,
                    headers={"Authorization": "Bearer k", "Content-Type": "application/json"},
                )
                assert answer.status_code < 500, (path, raw[:20], params, answer.text)
                assert isinstance(answer.json(), dict)
                if not path.startswith(("_", "idverify")):
                    assert answer.status_code == 200 and answer.json()["errcode"] != 0, (path, raw[:20])
    odd_queries: list[tuple[str, Any]] = [
        ("sns/jscode2session", {"js_code": ["a", "b"], "appid": "", "grant_type": "x" * 5000}),
        ("cgi-bin/token", {"appid": "\u0000", "secret": "é"}),
        ("cgi-bin/menu/get", {"access_token": ""}),
        ("_sent", {"endpoint": "nonsense"}),
    ]
    for path, query in odd_queries:
        answer = await http.get("/" + path, params=query)
        assert answer.status_code < 500 and isinstance(answer.json(), dict), path
    missing = await http.get("/no/such/api")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong_method = await http.get("/" + SUBSCRIBE)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "method_not_allowed"


# -- the blueprint and the command ---------------------------------------------


async def test_blueprint_mounts_fresh_and_stays_out_of_openapi() -> None:
    first, second = create_blueprint(), create_blueprint()
    assert first.name != second.name and first.ctx.platform is not second.ctx.platform
    shared = FakePlatform()
    assert create_blueprint(shared).ctx.platform is shared

    host = Sanic(f"fake_wechat_host_{next(_app_names)}")
    host.config.OAS_URL_PREFIX = "/docs"
    Extend(host)

    @host.get("/api/hello")
    async def hello(request: Any) -> Any:
        return json_response({"hello": "world"})

    host.blueprint(first)
    running = RunningServer(host, free_port())
    await running.start()
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            paths = (await client.get("/docs/openapi.json")).json()["paths"]
            assert "/api/hello" in paths
            assert not [path for path in paths if "fakewx" in path]
            await client.post("/__fakewx/_faults", json={"endpoint": SUBSCRIBE, "errcode": 45009})
            assert len(first.ctx.platform.faults) == 1 and not second.ctx.platform.faults
    finally:
        await running.stop()


@pytest.mark.slow
def test_runs_standalone_from_the_command_line() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "miniprogram_stub.fake_wechat", "--port", str(port), "--host", "127.0.0.1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        stats = wait_for_http(f"http://127.0.0.1:{port}/__fakewx/_stats")
        assert stats.json() == {"calls": {}}
        wx = FakeWeChatClient(f"http://127.0.0.1:{port}/__fakewx/")
        assert wx.wxa.code_to_session("ivy.1")["openid"] == openid_for(APPID, "ivy")
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
