"""The official account: messages built as WeChat's servers build them (signed, and encrypted with wechatpy's
crypto in safe mode), answered by the same assistant, each handled once, bad input refused without a 500."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from app.core.settings import DEV_MP_AES_KEY, DEV_MP_APPID, DEV_MP_TOKEN, Settings, SettingsError
from app.official_account import MENU_FILE, MpConfig, load_menu_data, menu_for_wechat
from miniprogram_stub.fake_wechat import openid_for
from models import Follower, UnmatchedQuestion, User
from tests.conftest import TEST_REDIS_URL
from tests.helpers import ROOT, service_env
from tests.test_applications import World, open_world, seed
from tests.test_notifications import deliveries, eventually

ACCOUNT = "gh_0123456789ab"
OTHER_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")
CUSTOM_SEND = "cgi-bin/message/custom/send"
TEMPLATE_SEND = "cgi-bin/message/template/send"
RENT = ("租房子可以提公积金吗", "440000-ZF-001-01")
_msg_ids = iter(range(24_000_000_000_000_000, 25_000_000_000_000_000))


def new_openid() -> str:
    return "o" + uuid.uuid4().hex[:27]


def sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


# -- messages as WeChat's servers send them ------------------------------------------------------------------


def text_message(openid: str, content: str, msg_id: int | None = None, create_time: int | None = None) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id or next(_msg_ids)}</MsgId></xml>"
    )


def event_message(openid: str, event: str, key: str = "", create_time: int | None = None) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>"
    )


def other_message(openid: str, msg_type: str, fields: str) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{fields}"
        f"<MsgId>{next(_msg_ids)}</MsgId></xml>"
    )


class WeChatServer:
    """Signs (and in safe mode encrypts) requests the way WeChat's servers do, and reads the replies."""

    def __init__(self, http: httpx.AsyncClient, *, safe: bool = False, key: str = DEV_MP_AES_KEY):
        self.http = http
        self.safe = safe
        self.crypto = WeChatCrypto(DEV_MP_TOKEN, key, DEV_MP_APPID)

    def signed(self, timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or uuid.uuid4().hex[:10]
        return {"signature": sign(DEV_MP_TOKEN, stamp, nonce), "timestamp": stamp, "nonce": nonce}

    def envelope(self, xml: str, params: dict[str, str]) -> tuple[str, dict[str, str]]:
        """The body and query of one push: in safe mode the message travels encrypted, with msg_signature."""
        if not self.safe:
            return xml, params
        sealed = xmltodict.parse(self.crypto.encrypt_message(xml, params["nonce"], params["timestamp"]))["xml"]
        body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{sealed['Encrypt']}]]></Encrypt></xml>"
        return body, {**params, "encrypt_type": "aes", "msg_signature": sealed["MsgSignature"]}

    async def push(self, xml: str, params: dict[str, str] | None = None) -> httpx.Response:
        params = params or self.signed()
        body, query = self.envelope(xml, params)
        return await self.http.post("/wechat/mp", params=query, content=body.encode("utf-8"))

    def read(self, response: httpx.Response) -> dict[str, Any] | None:
        """The decrypted passive reply as a dict; None for ``success``."""
        assert response.status_code == 200, response.text
        if response.text == "success":
            return None
        outer = xmltodict.parse(response.text)["xml"]
        if self.safe:
            assert set(outer) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}, "the reply must be encrypted"
            plain = self.crypto.decrypt_message(
                response.text, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"]
            )
            outer = xmltodict.parse(plain)["xml"]
        return dict(outer)

    async def ask(self, openid: str, text: str) -> dict[str, Any] | None:
        return self.read(await self.push(text_message(openid, text)))


def article_url(reply: dict[str, Any]) -> str:
    assert reply["MsgType"] == "news", reply
    assert reply["ArticleCount"] == "1"
    return str(reply["Articles"]["item"]["Url"])


@pytest.fixture
async def world(start_server):  # type: ignore[no-untyped-def]
    async with open_world(start_server, timeout=30, reset_fake_wechat=True, notify_retry_base_s=0.01) as world:
        yield world


@pytest.fixture
async def bare(start_server):  # type: ignore[no-untyped-def]
    """The server without a catalog, for what is refused before the assistant is asked."""
    running = await start_server(mount_fake_wechat=True)
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        yield World(http)


@pytest.fixture(params=["plaintext", "safe"])
def wechat(request, world: World) -> WeChatServer:  # type: ignore[no-untyped-def]
    return WeChatServer(world.http, safe=request.param == "safe")


@pytest.fixture(params=["plaintext", "safe"])
def bare_wechat(request, bare: World) -> WeChatServer:  # type: ignore[no-untyped-def]
    return WeChatServer(bare.http, safe=request.param == "safe")


# -- URL verification ------------------------------------------------------------------------------------------


async def test_url_verification_echoes_only_when_signed(bare: World) -> None:
    world = bare
    server = WeChatServer(world.http)
    ok = await world.http.get("/wechat/mp", params={**server.signed(), "echostr": "1234567890abc"})
    assert ok.status_code == 200 and ok.text == "1234567890abc"
    wrong = {**server.signed(), "echostr": "x"}
    wrong["signature"] = sign("not-the-token", wrong["timestamp"], wrong["nonce"])
    for params in (wrong, {"echostr": "x"}, {**server.signed(), "signature": "é" * 40, "echostr": "x"}):
        refused = await world.http.get("/wechat/mp", params=params)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "bad_signature"
    stale = await world.http.get("/wechat/mp", params={**server.signed(int(time.time()) - 400), "echostr": "x"})
    assert stale.status_code == 403 and stale.json()["error"]["code"] == "stale_timestamp"
    missing = await world.http.get("/wechat/mp", params=server.signed())
    assert missing.status_code == 400


# -- the assistant over the account ----------------------------------------------------------------------------


async def test_a_text_question_is_answered_with_the_right_item(wechat: WeChatServer) -> None:
    openid = new_openid()
    reply = await wechat.ask(openid, RENT[0])
    assert reply is not None
    assert reply["ToUserName"] == openid and reply["FromUserName"] == ACCOUNT
    url = article_url(reply)
    assert RENT[1] in url
    assert url.startswith("weixin://dl/business/?appid=wxdevmini00000000&path=pages/service/detail&query=code%3D")
    assert reply["Articles"]["item"]["Title"]
    follower = await Follower.get(openid=openid)
    assert follower.subscribed and follower.user_id is None


async def test_a_family_question_asks_its_slot_and_the_next_message_fills_it(wechat: WeChatServer) -> None:
    openid = new_openid()
    asked = await wechat.ask(openid, "护照")
    assert asked is not None and asked["MsgType"] == "text"
    for option in ("首次申领", "到期换发", "丢失补发"):
        assert option in asked["Content"]
    assert "weixin://bizmsgmenu?msgmenucontent=" in asked["Content"]
    filled = await wechat.ask(openid, "丢失补发")
    assert filled is not None and "440000-CRJ-004-03" in article_url(filled)
    # Another follower's dialog is their own: the same words start a new question there.
    stranger = await wechat.ask(new_openid(), "丢失补发")
    assert stranger is not None and "440000-CRJ-004-03" not in str(stranger)


async def test_complaints_and_life_events_reach_the_follower(wechat: WeChatServer) -> None:
    # A wage complaint is the labour inspectorate's item, as a card whose text says where it goes.
    complaint = await wechat.ask(new_openid(), "公司已经三个月没发工资了，我要投诉")
    assert complaint is not None and "440000-JY-007-01" in article_url(complaint)
    assert "劳动保障监察" in complaint["Articles"]["item"]["Description"]
    # A life event named alone: its items as tappable replies.
    event = await wechat.ask(new_openid(), "我失业了")
    assert event is not None and event["MsgType"] == "text"
    assert "失业" in event["Content"] and "weixin://bizmsgmenu?msgmenucontent=" in event["Content"]


async def test_voice_with_recognition_is_text_and_other_types_get_a_polite_answer(world: World) -> None:
    wechat = WeChatServer(world.http)
    openid = new_openid()
    voice = other_message(
        openid,
        "voice",
        f"<MediaId><![CDATA[m1]]></MediaId><Format><![CDATA[amr]]></Format>"
        f"<Recognition><![CDATA[{RENT[0]}]]></Recognition>",
    )
    assert RENT[1] in article_url(wechat.read(await wechat.push(voice)) or {})
    unheard = other_message(openid, "voice", "<MediaId><![CDATA[m2]]></MediaId><Recognition><![CDATA[]]></Recognition>")
    assert "没听清" in (wechat.read(await wechat.push(unheard)) or {})["Content"]
    for msg_type, fields in (
        ("image", "<PicUrl><![CDATA[http://x/y.jpg]]></PicUrl><MediaId><![CDATA[m3]]></MediaId>"),
        ("location", "<Location_X>23.1</Location_X><Location_Y>113.3</Location_Y><Scale>15</Scale><Label>x</Label>"),
        ("link", "<Title>t</Title><Description>d</Description><Url>http://x</Url>"),
        ("video", "<MediaId>m</MediaId><ThumbMediaId>t</ThumbMediaId>"),
    ):
        reply = wechat.read(await wechat.push(other_message(openid, msg_type, fields)))
        assert reply is not None and reply["MsgType"] == "text" and "文字" in reply["Content"], msg_type
    empty = wechat.read(await wechat.push(text_message(openid, "   ")))
    assert empty is not None and empty["MsgType"] == "text"
    long = wechat.read(await wechat.push(text_message(openid, "护" * 600)))
    assert long is not None and "有点长" in long["Content"]


# -- followers: subscribe, progress, template messages, unsubscribe ----------------------------------------------


async def test_a_verified_follower_is_recognised_gets_progress_and_template_messages(world: World) -> None:
    wechat = WeChatServer(world.http, safe=True)
    citizen = await world.citizen("mpfan")  # logged in to the mini-program as "mpfan" and verified
    me = (await world.http.get("/api/v1/me", headers=citizen)).json()["user"]
    openid = openid_for(DEV_MP_APPID, "mpfan")
    stranger = new_openid()
    assert "实名认证" in (await wechat.ask(stranger, "我的申请到哪一步了") or {})["Content"]

    welcome = wechat.read(await wechat.push(event_message(openid, "subscribe")))
    assert welcome is not None and welcome["MsgType"] == "text" and "欢迎关注" in welcome["Content"]
    follower = await Follower.get(openid=openid)
    user = await User.get(id=me["id"])
    assert follower.subscribed and follower.unionid == user.unionid and follower.user_id == user.id

    nothing_yet = await wechat.ask(openid, "我的申请到哪一步了")
    assert nothing_yet is not None and "还没有办件" in nothing_yet["Content"]
    application = (await world.apply(citizen)).json()
    progress = await wechat.ask(openid, "我的申请到哪一步了")
    assert progress is not None
    assert application["service_name"] in progress["Content"] and "已提交" in progress["Content"]
    assert "data-miniprogram-path" in progress["Content"]
    clicked = wechat.read(await wechat.push(event_message(openid, "CLICK", "PROGRESS")))
    assert clicked is not None and application["service_name"] in clicked["Content"]

    async def template_sent() -> list[dict]:
        sent = (await world.http.get("/__fakewx/_sent", params={"endpoint": TEMPLATE_SEND})).json()["sent"]
        return [m for m in sent if m["touser"] == openid]

    assert await eventually(template_sent), "the follower gets the template message of the submission"

    assert wechat.read(await wechat.push(event_message(openid, "unsubscribe"))) is None
    follower = await Follower.get(openid=openid)
    assert not follower.subscribed and follower.unsubscribed_at is not None
    before = len(await template_sent())
    clerk = await world.staff("mpclerk")
    moved = await world.move(clerk, application, "accepted")
    assert moved.status_code == 200, moved.text

    async def template_skipped() -> bool:
        found = await deliveries(application["id"], "template")
        return len(found) == 2 and found[-1].status == "skipped"

    assert await eventually(template_skipped), "no template message once unfollowed"
    assert len(await template_sent()) == before

    # Following again records it and welcomes again.
    again = wechat.read(await wechat.push(event_message(openid, "subscribe", "qrscene_42")))
    assert again is not None and "欢迎关注" in again["Content"]
    assert (await Follower.get(openid=openid)).subscribed


async def test_an_unverified_user_is_linked_but_sees_no_applications(world: World) -> None:
    wechat = WeChatServer(world.http)
    await world.citizen("mpnovice", verify=None)
    openid = openid_for(DEV_MP_APPID, "mpnovice")
    await wechat.push(event_message(openid, "subscribe"))
    assert (await Follower.get(openid=openid)).user_id is not None
    reply = await wechat.ask(openid, "查进度")
    assert reply is not None and "实名认证" in reply["Content"]


async def test_menu_clicks_and_views(world: World) -> None:
    wechat = WeChatServer(world.http)
    openid = new_openid()
    guide = wechat.read(await wechat.push(event_message(openid, "CLICK", "GUIDE")))
    assert guide is not None and "办事指南" in guide["Content"]
    human = wechat.read(await wechat.push(event_message(openid, "CLICK", "HUMAN")))
    # The assistant's answer: the hotline, or the console's hand-off desk queueing the chat for an agent.
    assert human is not None and "人工" in human["Content"]
    gone = wechat.read(await wechat.push(event_message(openid, "CLICK", "NO_SUCH_KEY")))
    assert gone is not None and "菜单已经更新" in gone["Content"]
    assert wechat.read(await wechat.push(event_message(openid, "VIEW", "https://example.org/"))) is None
    assert wechat.read(await wechat.push(event_message(openid, "LOCATION"))) is None


# -- once, and within five seconds -----------------------------------------------------------------------------


async def test_duplicates_are_handled_once(world: World) -> None:
    wechat = WeChatServer(world.http, safe=True)
    openid = new_openid()
    message = text_message(openid, "红烧肉怎么做", msg_id=next(_msg_ids))
    # WeChat's three attempts, two of them while the first is still being answered.
    replies = await asyncio.gather(*(wechat.push(message) for _ in range(3)))
    answers = [wechat.read(r) for r in replies]
    assert all(a is not None and a["Content"] == answers[0]["Content"] for a in answers)  # type: ignore[index]
    late_retry = wechat.read(await wechat.push(message))
    assert late_retry is not None and late_retry["Content"] == answers[0]["Content"]  # type: ignore[index]
    assert await UnmatchedQuestion.filter(text="红烧肉怎么做").count() == 1
    # The slot of a family is consumed once: a repeated "护照" does not ask twice, it answers the same.
    first = text_message(openid, "护照")
    assert (wechat.read(await wechat.push(first)) or {})["MsgType"] == "text"
    assert (wechat.read(await wechat.push(first)) or {})["MsgType"] == "text"
    assert "440000-CRJ-004-03" in article_url(await wechat.ask(openid, "丢失补发") or {})
    # Events are keyed by FromUserName + CreateTime.
    stamp = int(time.time())
    welcomes = [wechat.read(await wechat.push(event_message(openid, "subscribe", create_time=stamp))) for _ in "ab"]
    assert welcomes[0] is not None and welcomes[1] is not None
    assert welcomes[0]["Content"] == welcomes[1]["Content"] and "欢迎关注" in welcomes[0]["Content"]
    assert await Follower.filter(openid=openid).count() == 1


async def test_a_slow_answer_is_success_at_once_then_a_customer_service_message(start_server) -> None:  # type: ignore[no-untyped-def]
    from app.catalog import load_items

    await load_items([dict(i) for i in seed()], "seed")
    # A budget far below the assistant's time stands in for a slow answer (the real default is 4 s).
    running = await start_server(mount_fake_wechat=True, mp_reply_budget_s=0.0005)
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        await http.post("/__fakewx/_reset")
        wechat = WeChatServer(http, safe=True)
        openid = new_openid()
        message = text_message(openid, RENT[0])
        first = await wechat.push(message)
        assert first.status_code == 200 and first.text == "success"

        async def custom_sent() -> list[dict]:
            sent = (await http.get("/__fakewx/_sent", params={"endpoint": CUSTOM_SEND})).json()["sent"]
            return [m for m in sent if m["touser"] == openid]

        sent = await eventually(custom_sent)
        assert len(sent) == 1 and sent[0]["body"]["msgtype"] == "news"
        assert RENT[1] in sent[0]["data"]["articles"][0]["url"]
        # WeChat's retry of the same message: nothing is answered or sent twice.
        retry = await wechat.push(message)
        assert retry.text == "success"
        await asyncio.sleep(0.3)
        assert len(await custom_sent()) == 1


# -- bad input ---------------------------------------------------------------------------------------------------


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><xml><ToUserName>a</ToUserName><FromUserName>o1</FromUserName>'
    "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol3;</Content><MsgId>1</MsgId></xml>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><ToUserName>a'
    "</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>"
    "<Content>&xxe;</Content><MsgId>2</MsgId></xml>"
)


def _now_text(fields: str) -> str:
    return f"<xml><ToUserName>{ACCOUNT}</ToUserName><FromUserName>o1</FromUserName>{fields}</xml>"


BAD_BODIES = {
    "malformed": "<xml><ToUserName>a</ToUserName><FromUser",
    "not xml": "hello",
    "empty document": "<xml></xml>",
    "another root": "<message><MsgType>text</MsgType></message>",
    "no MsgType": _now_text(f"<CreateTime>{int(time.time())}</CreateTime><Content>hi</Content>"),
    "nested MsgType": _now_text(f"<CreateTime>{int(time.time())}</CreateTime><MsgType><a>text</a></MsgType>"),
    "no CreateTime": _now_text("<MsgType>text</MsgType><Content>hi</Content><MsgId>3</MsgId>"),
    "CreateTime not a number": _now_text("<CreateTime>soon</CreateTime><MsgType>text</MsgType><MsgId>4</MsgId>"),
    "nested Content": _now_text(
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType>text</MsgType><Content><b>x</b></Content><MsgId>5</MsgId>"
    ),
    "bad FromUserName": text_message("o/../1", "护照"),
    "DTD": BILLION_LAUGHS,
    "XXE": XXE,
    "doctype only": '<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/x.dtd"><xml><MsgType>text</MsgType></xml>',
}


async def test_bad_bodies_are_400_and_nothing_is_processed(bare_wechat: WeChatServer) -> None:
    wechat = bare_wechat
    for name, body in BAD_BODIES.items():
        response = await wechat.push(body)
        assert response.status_code == 400, (name, response.status_code, response.text)
        assert response.json()["error"]["code"] == "bad_webhook_request", name
    non_utf8 = await wechat.http.post("/wechat/mp", params=wechat.signed(), content="<xml>护照</xml>".encode("gbk"))
    assert non_utf8.status_code == 400
    assert await Follower.all().count() == 0


async def test_an_unknown_msgtype_is_success_and_nothing_more(bare_wechat: WeChatServer) -> None:
    wechat = bare_wechat
    response = await wechat.push(other_message(new_openid(), "hologram", "<Beam>1</Beam>"))
    assert response.status_code == 200 and response.text == "success"
    assert await Follower.all().count() == 0


async def test_safe_mode_refusals(bare: World) -> None:
    world = bare
    wechat = WeChatServer(world.http, safe=True)
    params = wechat.signed()

    async def post(encrypt: str, **extra: str) -> httpx.Response:
        query = {
            **params,
            "encrypt_type": "aes",
            "msg_signature": sign(DEV_MP_TOKEN, params["timestamp"], params["nonce"], encrypt),
            **extra,
        }
        params["nonce"] = uuid.uuid4().hex[:10]
        params["signature"] = sign(DEV_MP_TOKEN, params["timestamp"], params["nonce"])
        body = f"<xml><ToUserName>{ACCOUNT}</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        return await world.http.post("/wechat/mp", params=query, content=body)

    for encrypt in ("not*base64!", "QUJD", base64.b64encode(b"x" * 33).decode(), base64.b64encode(b"y" * 64).decode()):
        response = await post(encrypt)
        assert response.status_code == 400, (encrypt, response.text)
    wrong_signature = await post("QUJD", msg_signature="0" * 40)
    assert wrong_signature.status_code == 403
    unknown_mode = await post("QUJD", encrypt_type="rsa")
    assert unknown_mode.status_code == 400
    no_encrypt = await world.http.post(
        "/wechat/mp", params={**wechat.signed(), "encrypt_type": "aes", "msg_signature": "0" * 40}, content="<xml/>"
    )
    assert no_encrypt.status_code in (400, 403)
    # A message for another account (its appid inside the ciphertext) is not ours.
    other = WeChatServer(world.http, safe=True)
    other.crypto = WeChatCrypto(DEV_MP_TOKEN, DEV_MP_AES_KEY, "wxsomeoneelse0000")
    assert (await other.push(text_message(new_openid(), "护照"))).status_code == 400
    assert await Follower.all().count() == 0


async def test_signature_is_checked_before_any_xml_is_parsed(bare: World) -> None:
    world = bare
    server = WeChatServer(world.http)
    params = server.signed()
    params["signature"] = sign("wrong", params["timestamp"], params["nonce"])
    for body in (BILLION_LAUGHS, "<xml><broken", text_message(new_openid(), "护照")):
        response = await world.http.post("/wechat/mp", params=params, content=body)
        assert response.status_code == 403 and response.json()["error"]["code"] == "bad_signature"
    assert await Follower.all().count() == 0


async def test_stale_timestamps_and_replays_are_refused(world: World) -> None:
    wechat = WeChatServer(world.http)
    openid = new_openid()
    for stamp in (100, int(time.time()) - 301, int(time.time()) + 400):
        # A correctly signed and encrypted message from 1970 is accepted by wechatpy itself; not here.
        response = await wechat.push(text_message(openid, "护照"), wechat.signed(stamp))
        assert response.status_code == 403 and response.json()["error"]["code"] == "stale_timestamp"
    params = wechat.signed()
    message = text_message(openid, "护照", msg_id=7001)
    first = wechat.read(await wechat.push(message, params))
    assert first is not None
    # Someone replays the signed URL with a body of their own: the plaintext signature does not cover it.
    forged = await wechat.push(text_message(openid, "红烧肉怎么做", msg_id=7002), params)
    assert forged.status_code == 403 and forged.json()["error"]["code"] == "replayed"
    # The very same request again is a retry: the same answer, not processed again.
    again = wechat.read(await wechat.push(message, params))
    assert again is not None and again["Content"] == first["Content"]
    assert await UnmatchedQuestion.all().count() == 0


async def test_oversized_bodies_are_refused(bare: World) -> None:
    world = bare
    wechat = WeChatServer(world.http)
    big = text_message(new_openid(), "护" * 30_000)
    response = await wechat.push(big)
    assert response.status_code == 400 and response.json()["error"]["code"] == "payload_too_large"
    huge = await world.http.post("/wechat/mp", params=wechat.signed(), content=b"<xml>" + b"a" * 2_000_000)
    assert huge.status_code == 400 and huge.json()["error"]["code"] == "payload_too_large"
    assert await Follower.all().count() == 0


async def test_key_rotation_accepts_the_previous_key(start_server) -> None:  # type: ignore[no-untyped-def]
    running = await start_server(mount_fake_wechat=True, mp_aes_key=OTHER_KEY, mp_previous_aes_key=DEV_MP_AES_KEY)
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        for key in (OTHER_KEY, DEV_MP_AES_KEY):
            wechat = WeChatServer(http, safe=True, key=key)
            reply = await wechat.ask(new_openid(), "你好")
            assert reply is not None and reply["MsgType"] == "text", key
        third = base64.b64encode(bytes(range(100, 132))).decode().rstrip("=")
        stranger = WeChatServer(http, safe=True, key=third)
        assert (await stranger.push(text_message(new_openid(), "你好"))).status_code == 400


# -- settings, the menu ------------------------------------------------------------------------------------------


def test_development_defaults_and_production_requirements(tmp_path: Path) -> None:
    dev = Settings.from_env({"SHENGSHI_VAR_DIR": str(tmp_path)})
    assert (dev.mp_token, dev.mp_aes_key, dev.mp_appid) == (
        "shengshi-dev-token",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "wxdevmp0000000000",
    )
    assert dev.mp_reply_budget_s == 4.0
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"SHENGSHI_ENV": "production"})
    for name in ("MP_TOKEN is missing", "MP_AES_KEY is missing", "MP_APPID is missing"):
        assert name in str(caught.value)
    from tests.test_core_settings import production_env

    assert Settings.from_env(production_env()).mp_token == production_env()["MP_TOKEN"]
    with pytest.raises(SettingsError, match="development values"):
        Settings.from_env(production_env() | {"MP_AES_KEY": DEV_MP_AES_KEY})
    for env, complaint in (
        ({"MP_AES_KEY": "short"}, "MP_AES_KEY must be"),
        ({"MP_PREVIOUS_AES_KEY": "!" * 43}, "MP_PREVIOUS_AES_KEY must be"),
        ({"MP_TOKEN": "a b"}, "MP_TOKEN must be"),
        ({"MP_REPLY_BUDGET_S": "6"}, "MP_REPLY_BUDGET_S"),
        ({"MP_REPLY_BUDGET_S": "soon"}, "MP_REPLY_BUDGET_S"),
    ):
        with pytest.raises(SettingsError, match=complaint):
            Settings.from_env({"SHENGSHI_VAR_DIR": str(tmp_path), **env})


def test_the_menu_file_is_valid_and_filled() -> None:
    data = load_menu_data(MENU_FILE)
    config = MpConfig(DEV_MP_TOKEN, (DEV_MP_AES_KEY,), DEV_MP_APPID, "wxmini", site_url="https://example.org/")
    menu = menu_for_wechat(data.menu, config)
    assert 1 <= len(menu["button"]) <= 3
    keys = {b.get("key") for top in menu["button"] for b in [top, *top.get("sub_button", [])]} - {None}
    assert keys <= set(data.clicks) and {"PROGRESS", "GUIDE", "HUMAN"} <= keys
    assert "wxmini" in str(menu) and "{mini_program_appid}" not in str(menu) and "{site}" not in str(menu)
    for text in ("welcome", "other_types", "voice_unrecognised", "busy", "progress_unlinked"):
        assert data.text(text)


def test_a_bad_menu_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "menu.yaml"
    bad.write_text("menu:\n  button: []\n", encoding="utf-8")
    with pytest.raises(ValueError, match="1 to 3"):
        load_menu_data(bad)
    bad.write_text("menu:\n  button: [{type: click, name: x, key: K}]\nclicks:\n  K: {}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="exactly one"):
        load_menu_data(bad)


async def test_menu_push_command_sends_the_menu_through_wechatpy(world: World, tmp_path: Path) -> None:
    env = service_env(
        SHENGSHI_VAR_DIR=str(tmp_path),
        WECHAT_API_BASE=f"{world.url}/__fakewx/",  # type: ignore[attr-defined]
        MP_SITE_URL="https://example.org/",
    )
    if TEST_REDIS_URL:
        env["REDIS_URL"] = TEST_REDIS_URL
    command = [sys.executable, "-m", "app", "mp", "menu", "push"]
    result = await asyncio.to_thread(
        subprocess.run, command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 button(s)" in result.stdout
    token = (
        await world.http.get(
            "/__fakewx/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": DEV_MP_APPID, "secret": "x"},
        )
    ).json()["access_token"]
    menu = (await world.http.get("/__fakewx/cgi-bin/menu/get", params={"access_token": token})).json()["menu"]
    assert [b["name"] for b in menu["button"]] == ["办事", "查进度", "人工服务"]
    assert menu["button"][0]["sub_button"][0]["url"] == "https://example.org/"
    dry = await asyncio.to_thread(
        subprocess.run, [*command, "--dry-run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert dry.returncode == 0 and '"PROGRESS"' in dry.stdout
