"""The official account (公众号): followers chat with the same assistant and receive progress.

WeChat's servers call ``/wechat/mp``. Every step below uses wechatpy's own pieces
(its signer, its AES crypto, its message parser and reply classes); what is ours is
the order and the checks wechatpy leaves out:

    signature over token+timestamp+nonce (constant time) ─▶ timestamp within 5 minutes
      ─▶ nonce bound to the body (a replayed URL with another body is refused)
      ─▶ [safe mode] DTD refused, outer XML, msg_signature (constant time), strict base64,
         decrypt with the current EncodingAESKey, else the previous one (rotation)
      ─▶ DTD refused, parse ─▶ once per MsgId (events: FromUserName+CreateTime)
      ─▶ answer within the budget as a passive reply, else ``success`` at once and the
         answer later as a customer-service message (WeChat retries after 5 s)

A follower's openid is linked to the mini-program user by unionid (``cgi-bin/user/info``),
so a verified follower's progress questions answer with their applications, and template
messages (app/notifications/notifier.py) reach them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import xmltodict
import yaml
from tortoise.exceptions import IntegrityError
from wechatpy import parse_message
from wechatpy.crypto import PrpCrypto, WeChatCrypto, _get_signature
from wechatpy.exceptions import InvalidAppIdException
from wechatpy.replies import ArticlesReply, TextReply
from wechatpy.utils import WeChatSigner

from app.applications import application_view
from app.assistant.service import CHANGE_REGION, MAX_TEXT_LENGTH, SESSION_TTL_S, ChatService, progress_reply
from app.core.errors import BadRequest, Forbidden
from app.core.wechat import WeChatError, WeChatGateway
from models import Application, Follower, Level, User

log = logging.getLogger("shengshi.mp")

MENU_FILE = Path(__file__).resolve().parent / "data" / "mp_menu.yaml"
# WeChat's messages are a few hundred bytes; nothing legitimate comes near this.
MAX_BODY_BYTES = 64 * 1024
# Messages stamped further than this from our clock are refused (wechatpy accepts one from 1970).
MAX_CLOCK_SKEW_S = 300
# Long enough for WeChat's three attempts (about 15 s) and any nonce still inside the window.
DEDUP_TTL_S = 2 * MAX_CLOCK_SKEW_S + 60
# A follower without a unionid is looked up again at most this often.
USER_INFO_EVERY_S = 600
# Passive text replies are cut by WeChat at 2048 bytes.
MAX_REPLY_BYTES = 2000
ITEM_PAGE = "pages/service/detail"
APPLICATIONS_PAGE = "pages/application/list"
REGION_QUESTION = "\n您在哪个地区？同一事项各地规定不同，回复地区名称（如“广州市”“广安区”）即可按当地规定解答。"
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_SIGNATURE = re.compile(r"[0-9a-f]{40}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_NONCE = re.compile(r"[0-9A-Za-z_-]{1,64}")
_OPENID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_PROCESSING = "pending"
_SENT_LATER = "later"


class WebhookError(BadRequest):
    """A request WeChat's servers would never send: malformed, undecryptable or of unknown shape."""

    code = "bad_webhook_request"


# -- configuration ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MpConfig:
    """The official account's webhook settings (see app/core/settings.py)."""

    token: str
    aes_keys: tuple[str, ...]
    appid: str
    mini_program_appid: str
    reply_budget_s: float = 4.0
    item_url: str = ""
    site_url: str = "https://mp.weixin.qq.com/"

    @classmethod
    def from_settings(cls, settings: Any) -> MpConfig:
        keys = tuple(k for k in (settings.mp_aes_key, settings.mp_previous_aes_key) if k)
        return cls(
            token=settings.mp_token,
            aes_keys=keys,
            appid=settings.mp_appid,
            mini_program_appid=settings.wechat_appid,
            reply_budget_s=settings.mp_reply_budget_s,
            item_url=settings.mp_item_url,
            site_url=settings.mp_site_url,
        )


@dataclass(frozen=True)
class MenuData:
    """The data file: the menu sent to WeChat, the CLICK keys, and the fixed texts."""

    menu: dict[str, Any]
    clicks: dict[str, dict[str, str]]
    texts: dict[str, str]

    def text(self, name: str) -> str:
        return self.texts.get(name, "")


def load_menu_data(path: Path = MENU_FILE) -> MenuData:
    """Read and check the menu data file; ``ValueError`` says what is wrong."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("menu"), dict):
        raise ValueError(f"{path}: a mapping with a 'menu' is expected")
    buttons = data["menu"].get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise ValueError(f"{path}: menu.button must hold 1 to 3 buttons")
    for button in buttons:
        subs = button.get("sub_button") if isinstance(button, dict) else None
        if subs is not None and (not isinstance(subs, list) or not 1 <= len(subs) <= 5):
            raise ValueError(f"{path}: a sub_button list holds 1 to 5 buttons")
    clicks = data.get("clicks") or {}
    for key, action in clicks.items():
        if not isinstance(action, dict) or len(set(action) & {"ask", "reply"}) != 1:
            raise ValueError(f"{path}: click {key!r} needs exactly one of 'ask' or 'reply'")
    texts = {k: str(v) for k, v in data.items() if k not in ("menu", "clicks") and isinstance(v, str)}
    return MenuData(menu=data["menu"], clicks={str(k): v for k, v in clicks.items()}, texts=texts)


def menu_for_wechat(menu: Mapping[str, Any], config: MpConfig) -> dict[str, Any]:
    """The menu with its placeholders filled, as ``cgi-bin/menu/create`` takes it."""
    values = {"mini_program_appid": config.mini_program_appid, "site": config.site_url}

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            for name, filled in values.items():
                value = value.replace("{" + name + "}", filled)
            return value
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    return dict(fill(dict(menu)))


async def push_menu(gateway: WeChatGateway, menu: dict[str, Any]) -> dict[str, Any]:
    """Create the official account's menu through wechatpy (``cgi-bin/menu/create``)."""
    return dict(await gateway.call(lambda c: c.menu.create(menu)))


# -- messages -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inbound:
    """One message or event from a follower, checked."""

    msg_type: str
    source: str
    target: str
    create_time: int
    msg_id: int | None = None
    event: str = ""
    event_key: str = ""
    content: str = ""
    recognition: str | None = None

    @property
    def dedup_key(self) -> str:
        # WeChat's guidance: messages by MsgId, events by FromUserName + CreateTime. The event and its key
        # are added so that two different taps within one second both count.
        if self.msg_type != "event" and self.msg_id:
            return f"msg:{self.msg_id}"
        digest = hashlib.sha256(f"{self.msg_type}:{self.event}:{self.event_key}".encode()).hexdigest()[:16]
        return f"evt:{self.source}:{self.create_time}:{digest}"


@dataclass
class Answer:
    """What to tell the follower: a text, or news (图文) articles; neither means ``success``."""

    text: str = ""
    articles: list[dict[str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.text and not self.articles

    def to_json(self) -> str:
        return json.dumps({"text": self.text, "articles": self.articles}, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> Answer:
        data = json.loads(raw)
        return cls(text=str(data.get("text") or ""), articles=list(data.get("articles") or []))


@dataclass(frozen=True)
class WebhookReply:
    body: str
    content_type: str = "text/plain; charset=utf-8"


SUCCESS = WebhookReply("success")


@dataclass
class _Route:
    """How an answer reaches the follower: "passive" (the HTTP reply) or "later" (customer service)."""

    way: str = ""


def _cdata_safe(text: str) -> str:
    # wechatpy writes values into CDATA sections as they are: "]]>" would end one early.
    return text.replace("]]>", "]] >")


def _cut(text: str, limit: int = MAX_REPLY_BYTES) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode("utf-8", errors="ignore") + "…"


def parse_inbound(xml: str) -> Inbound | None:
    """The message in ``xml`` (wechatpy's parser); ``None`` for a MsgType nobody knows; WebhookError if malformed."""
    try:
        message = parse_message(xml)
        if message is None:
            raise WebhookError("The message is empty")
        raw = message._data
        if not isinstance(raw, dict):
            raise WebhookError("The message is not a flat XML document")
        msg_type = raw.get("MsgType")
        source, target = raw.get("FromUserName"), raw.get("ToUserName")
        if not all(isinstance(v, str) and v for v in (msg_type, source, target)):
            raise WebhookError("MsgType, FromUserName and ToUserName are required")
        assert isinstance(msg_type, str) and isinstance(source, str) and isinstance(target, str)
        if not _OPENID.fullmatch(source) or len(target) > 64:
            raise WebhookError("FromUserName is not an openid")
        create_time = int(raw.get("CreateTime") or "")
        msg_type = msg_type.lower()
        if msg_type == "event":
            event, key = raw.get("Event"), raw.get("EventKey")
            if not isinstance(event, str) or not isinstance(key, (str, type(None))):
                raise WebhookError("Event must be text")
            return Inbound(msg_type, source, target, create_time, event=event.lower(), event_key=key or "")
        if message.type == "unknown":
            return None
        msg_id = int(raw.get("MsgId") or 0) or None
        content, recognition = raw.get("Content"), raw.get("Recognition")
        if not isinstance(content, (str, type(None))) or not isinstance(recognition, (str, type(None))):
            raise WebhookError("Content must be text")
        return Inbound(
            msg_type, source, target, create_time, msg_id=msg_id, content=content or "", recognition=recognition
        )
    except WebhookError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, xmltodict.expat.ExpatError) as exc:
        # wechatpy raises a zoo of types on malformed XML; all of them are the sender's mistake.
        raise WebhookError("The body is not a WeChat message") from exc


# -- the service --------------------------------------------------------------------------------------------


class OfficialAccount:
    """The webhook and the conversation with followers, over one Redis, the assistant and the account's gateway."""

    def __init__(
        self,
        redis: Any,
        chat: ChatService,
        gateway: WeChatGateway | None,
        config: MpConfig,
        data: MenuData | None = None,
    ):
        self.redis = redis
        self.chat = chat
        self.gateway = gateway
        self.config = config
        self.data = data or load_menu_data()
        # Answers still being worked on after the reply went out (kept referenced until done).
        self._late: set[asyncio.Task[Any]] = set()

    async def drain(self, timeout: float = 5.0) -> None:
        """Let answers still on their way (customer-service messages) finish before the worker stops."""
        if self._late:
            await asyncio.wait(set(self._late), timeout=timeout)

    # -- checks ------------------------------------------------------------------------

    def _check_signature(self, args: Mapping[str, Any]) -> tuple[str, str]:
        """The timestamp and nonce of a correctly signed, fresh request; Forbidden otherwise."""
        signature = str(args.get("signature") or "")
        timestamp = str(args.get("timestamp") or "")
        nonce = str(args.get("nonce") or "")
        well_formed = _SIGNATURE.fullmatch(signature) and _TIMESTAMP.fullmatch(timestamp) and _NONCE.fullmatch(nonce)
        if not well_formed:
            raise Forbidden("The request is not signed by WeChat", code="bad_signature")
        signer = WeChatSigner()
        signer.add_data(self.config.token, timestamp, nonce)
        # wechatpy's check_signature compares with !=, which leaks timing: compare in constant time.
        if not hmac.compare_digest(signer.signature.encode("ascii"), signature.encode("ascii")):
            raise Forbidden("The request is not signed by WeChat", code="bad_signature")
        if abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW_S:
            raise Forbidden("The request is too old or from the future", code="stale_timestamp")
        return timestamp, nonce

    def check_url(self, args: Mapping[str, Any]) -> str:
        """WeChat's URL verification: the ``echostr`` of a correctly signed request."""
        self._check_signature(args)
        echostr = args.get("echostr")
        if not isinstance(echostr, str) or not echostr or len(echostr) > 256:
            raise WebhookError("echostr is required")
        return echostr

    async def _check_replay(self, timestamp: str, nonce: str, body: bytes) -> None:
        """A signed URL is used for one body only: the plaintext signature does not cover the body."""
        key = "shengshi:mp:nonce:" + hashlib.sha256(f"{self.config.appid}:{timestamp}:{nonce}".encode()).hexdigest()
        digest = hashlib.sha256(body).hexdigest()
        if await self.redis.set(key, digest, nx=True, ex=DEDUP_TTL_S):
            return
        if await self.redis.get(key) != digest:
            raise Forbidden("This signed request was already used", code="replayed")
        # The same request again (WeChat retrying, or a replay): the message's own dedup answers it.

    def _open(self, args: Mapping[str, Any], body: bytes, timestamp: str, nonce: str) -> tuple[str, str | None]:
        """The plaintext XML, and the EncodingAESKey it was decrypted with (None in plaintext mode)."""
        if _DTD.search(body):
            raise WebhookError("DTDs and entities are not accepted")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise WebhookError("The body is not UTF-8") from None
        encrypt_type = args.get("encrypt_type") or "raw"
        if encrypt_type == "raw":
            return text, None
        if encrypt_type != "aes":
            raise WebhookError("encrypt_type must be raw or aes")
        msg_signature = str(args.get("msg_signature") or "")
        if not _SIGNATURE.fullmatch(msg_signature):
            raise Forbidden("msg_signature is missing", code="bad_signature")
        try:
            outer = xmltodict.parse(text)["xml"]
            encrypt = outer["Encrypt"]
        except (ValueError, TypeError, KeyError, xmltodict.expat.ExpatError) as exc:
            raise WebhookError("The body is not an encrypted WeChat message") from exc
        if not isinstance(encrypt, str) or not encrypt:
            raise WebhookError("Encrypt is missing")
        expected = _get_signature(self.config.token, timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected.encode("ascii"), msg_signature.encode("ascii")):
            raise Forbidden("msg_signature does not match", code="bad_signature")
        try:
            raw = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError):
            raise WebhookError("Encrypt is not base64") from None
        if not raw or len(raw) % 16:
            raise WebhookError("Encrypt is not AES-CBC ciphertext")
        for key in self.config.aes_keys:
            # During a rotation WeChat may still use the previous key (WeChat's FAQ: keep both).
            with contextlib.suppress(
                InvalidAppIdException, ValueError, TypeError, IndexError, struct.error, UnicodeDecodeError
            ):
                crypto = PrpCrypto(base64.b64decode(key + "="))
                return crypto.decrypt(encrypt, self.config.appid), key
        raise WebhookError("The message cannot be decrypted with the configured keys")

    # -- the webhook ---------------------------------------------------------------------

    async def receive(self, args: Mapping[str, Any], body: bytes) -> WebhookReply:
        """One POST from WeChat: checked, handled once, answered as WeChat expects."""
        if len(body) > MAX_BODY_BYTES:
            # WeChat's callback contract: a bad push is a 400, whatever is wrong with it.
            raise BadRequest(f"WeChat messages are under {MAX_BODY_BYTES} bytes", code="payload_too_large")
        timestamp, nonce = self._check_signature(args)
        await self._check_replay(timestamp, nonce, body)
        xml, key = self._open(args, body, timestamp, nonce)
        if _DTD.search(xml.encode("utf-8")):
            raise WebhookError("DTDs and entities are not accepted")
        inbound = parse_inbound(xml)
        if inbound is None:
            # A message type WeChat added after this code: nothing to do, and no retry wanted.
            log.info("message of an unknown type ignored")
            return SUCCESS
        answer = await self._once(inbound)
        if answer is None or answer.empty:
            return SUCCESS
        reply = self.render(answer, inbound)
        if key is None:
            return WebhookReply(reply, "application/xml; charset=utf-8")
        crypto = WeChatCrypto(self.config.token, key, self.config.appid)
        return WebhookReply(crypto.encrypt_message(reply, nonce, timestamp), "application/xml; charset=utf-8")

    async def _once(self, inbound: Inbound) -> Answer | None:
        """Handle a message exactly once; a repeat gets the first answer, or None once it went out another way."""
        seen = f"shengshi:mp:seen:{self.config.appid}:{inbound.dedup_key}"
        if not await self.redis.set(seen, _PROCESSING, nx=True, ex=DEDUP_TTL_S):
            return await self._earlier_answer(seen)
        route = _Route()
        task = asyncio.ensure_future(self._answer_and_record(inbound, seen, route))
        self._late.add(task)
        task.add_done_callback(self._late.discard)
        try:
            # shield: WeChat hanging up (Sanic cancels the handler) must not stop the work.
            return await asyncio.wait_for(asyncio.shield(task), self.config.reply_budget_s)
        except TimeoutError:
            if route.way == "passive":
                # The answer is ready and only being recorded: it still goes out as the reply.
                return await asyncio.shield(task)
            # Reply `success` now (WeChat will not retry) and send the answer as a customer-service message.
            route.way = "later"
            log.info("answer slower than %.1f s: sent as a customer-service message", self.config.reply_budget_s)
            return None

    async def _earlier_answer(self, seen: str) -> Answer | None:
        """The answer of the first delivery, waiting for it within the budget; None if it goes out otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.reply_budget_s
        while True:
            state = await self.redis.get(seen)
            if state and state not in (_PROCESSING, _SENT_LATER):
                return Answer.from_json(state)
            if state != _PROCESSING or loop.time() >= deadline:
                return None
            await asyncio.sleep(0.05)

    async def _answer_and_record(self, inbound: Inbound, seen: str, route: _Route) -> Answer:
        try:
            answer = await self.handle(inbound)
        except Exception:
            log.exception("answering a follower failed")
            answer = Answer(text=self.data.text("busy"))
        # Decided once, without awaiting in between: the reply and the late path never both carry it.
        route.way = route.way or "passive"
        if route.way == "later":
            await self.send_customer_service(inbound.source, answer)
            state = _SENT_LATER
        else:
            state = answer.to_json()
        try:
            await self.redis.set(seen, state, ex=DEDUP_TTL_S)
        except Exception:
            log.warning("could not record an answered message", exc_info=True)
        return answer

    def render(self, answer: Answer, inbound: Inbound) -> str:
        """The passive-reply XML (wechatpy's reply classes) of ``answer`` to ``inbound``."""
        if answer.articles:
            articles = [{k: _cdata_safe(v) for k, v in a.items()} for a in answer.articles[:8]]
            return str(ArticlesReply(source=inbound.target, target=inbound.source, articles=articles).render())
        content = _cdata_safe(_cut(answer.text))
        return str(TextReply(source=inbound.target, target=inbound.source, content=content).render())

    async def send_customer_service(self, openid: str, answer: Answer) -> None:
        """Send ``answer`` as a customer-service message (allowed within 48 hours of the follower's message)."""
        if answer.empty:
            return
        if self.gateway is None:
            log.warning("a late answer could not be sent: MP_SECRET is not configured")
            return
        gateway = self.gateway
        try:
            if answer.articles:
                articles = [dict(a) for a in answer.articles[:8]]
                await gateway.call(lambda c: c.message.send_articles(openid, articles))
            else:
                text = _cut(answer.text)
                await gateway.call(lambda c: c.message.send_text(openid, text))
        except WeChatError as exc:
            log.warning("a customer-service message failed: %s", exc.errcode)

    # -- what each message does ------------------------------------------------------------------

    async def handle(self, inbound: Inbound) -> Answer:
        """The answer to one message or event (no deduplication here: see :meth:`receive`)."""
        if inbound.msg_type == "event":
            return await self._event(inbound)
        follower = await self.follower(inbound.source)
        if inbound.msg_type == "text":
            return await self.ask(follower, inbound.content)
        if inbound.msg_type == "voice":
            # WeChat's speech recognition (when turned on for the account) arrives as Recognition.
            if inbound.recognition and inbound.recognition.strip():
                return await self.ask(follower, inbound.recognition)
            return Answer(text=self.data.text("voice_unrecognised"))
        return Answer(text=self.data.text("other_types"))

    async def _event(self, inbound: Inbound) -> Answer:
        event = inbound.event
        if event in ("subscribe", "subscribe_scan", "subscribe_scan_product"):
            await self.follower(inbound.source, subscribed=True, look_up=True)
            return Answer(text=self.data.text("welcome"))
        if event == "unsubscribe":
            await self.follower(inbound.source, subscribed=False)
            return Answer()
        if event == "click":
            follower = await self.follower(inbound.source)
            action = self.data.clicks.get(inbound.event_key)
            if action is None:
                return Answer(text=self.data.text("unknown_click"))
            if "ask" in action:
                return await self.ask(follower, str(action["ask"]))
            return Answer(text=str(action["reply"]))
        # VIEW (a menu link was opened), SCAN, LOCATION, TEMPLATESENDJOBFINISH …: nothing to say.
        return Answer()

    async def ask(self, follower: Follower, text: str) -> Answer:
        """The assistant's answer, in the follower's own dialog (slots carry over between messages)."""
        text = text.strip()
        if not text:
            return Answer(text=self.data.text("other_types"))
        if len(text) > MAX_TEXT_LENGTH:
            return Answer(text=self.data.text("too_long"))
        named = self.chat.region_named(text)
        if named is not None or text == CHANGE_REGION:
            return await self.choose_region(follower, named)
        user = await self.verified_user(follower)
        session_key = f"shengshi:mp:session:{self.config.appid}:{follower.openid}"
        session_id = await self.redis.get(session_key)
        # reply_to: an agent taking over the chat (the console's hand-off desk) answers this openid.
        turn = await self.chat.chat(
            text,
            session_id,
            user_id=user.id if user else None,
            channel="mp",
            reply_to=follower.openid,
            region=follower.region,
        )
        await self.redis.set(session_key, turn.session_id, ex=SESSION_TTL_S)
        body = dict(turn.body)
        if body.get("region", {}).get("default") and not follower.region_asked and self.chat.region_matters(body):
            # Asked once, when the answer depends on the region: the same item differs from region to region.
            body["reply"] = str(body.get("reply") or "") + REGION_QUESTION
            follower.region_asked = True
            await follower.save(update_fields=["region_asked"])
        if turn.action == "progress":
            if user is None:
                return Answer(text=self.data.text("progress_unlinked"))
            if not any(isinstance(c, dict) and c.get("type") == "application" for c in body.get("cards") or []):
                rows = await Application.filter(user_id=user.id).order_by("-id").limit(5)
                body["reply"], body["cards"] = progress_reply(user.id, [application_view(a) for a in rows])
        return self.compose(body)

    async def choose_region(self, follower: Follower, region: str | None) -> Answer:
        """Remember the region the follower named (or say how to name one)."""
        if region is None:
            return Answer(text=REGION_QUESTION.lstrip("\n"))
        follower.region, follower.region_asked = region, True
        await follower.save(update_fields=["region", "region_asked"])
        name = self.chat.region_name(region)
        return Answer(text=f"好的，之后按{name}的办理规定为您解答。请告诉我您要办的事。")

    def compose(self, body: Mapping[str, Any]) -> Answer:
        """The chat body as WeChat shows it: an item as a news card, choices as tappable replies."""
        action, reply = body.get("action"), str(body.get("reply") or "")
        cards = [c for c in body.get("cards") or [] if isinstance(c, dict)]
        service = next((c for c in cards if c.get("type") == "service" and c.get("code")), None)
        if action == "answer" and service is not None:
            code = str(service["code"])
            return Answer(
                articles=[
                    {
                        "title": str(service.get("name") or code),
                        "description": _cut(reply, 600),
                        "url": self.item_link(code),
                        "image": "",
                    }
                ]
            )
        lines = [reply]
        if action in ("ask_slot", "clarify") and body.get("quick_replies"):
            # WeChat turns these links into replies the follower taps (the same dialog continues).
            options = [
                f'<a href="weixin://bizmsgmenu?msgmenucontent={quote(str(q))}&msgmenuid={n}">{q}</a>'
                for n, q in enumerate(body["quick_replies"], 1)
            ]
            lines.append("请选择：" + "  ".join(options))
        apps = [c for c in cards if c.get("type") == "application"]
        if apps:
            lines.extend(f"· {a.get('service_name')}：{a.get('status_text')}" for a in apps)
            lines.append(self.mini_program_link(APPLICATIONS_PAGE, "在小程序中查看详情"))
        return Answer(text="\n".join(lines))

    def item_link(self, code: str) -> str:
        """The link of a news card into the mini-program's item page (MP_ITEM_URL, else WeChat's URL scheme)."""
        if self.config.item_url:
            return self.config.item_url.replace("{code}", quote(code))
        query = quote(f"code={code}", safe="")
        return f"weixin://dl/business/?appid={self.config.mini_program_appid}&path={ITEM_PAGE}&query={query}"

    def mini_program_link(self, path: str, label: str) -> str:
        # A text message's link into the mini-program (the mini-program must be linked to the account).
        return (
            f'<a data-miniprogram-appid="{self.config.mini_program_appid}" data-miniprogram-path="{path}" '
            f'href="{self.config.site_url}">{label}</a>'
        )

    # -- followers ---------------------------------------------------------------------

    async def follower(self, openid: str, *, subscribed: bool | None = None, look_up: bool = False) -> Follower:
        """The follower behind ``openid``, recorded and linked to the mini-program user when possible.

        ``subscribed`` records a (un)subscribe event; any message means they follow (only followers can write).
        """
        now = dt.datetime.now(dt.UTC)
        follower = await Follower.get_or_none(openid=openid)
        if follower is None:
            try:
                follower = await Follower.create(
                    openid=openid,
                    subscribed=subscribed is not False,
                    subscribed_at=now if subscribed is not False else None,
                    unsubscribed_at=now if subscribed is False else None,
                )
            except IntegrityError:
                # Two first messages at once: the other one recorded the follower.
                follower = await Follower.get(openid=openid)
        elif subscribed is True or (subscribed is None and not follower.subscribed):
            await Follower.filter(id=follower.id).update(subscribed=True, subscribed_at=now, unsubscribed_at=None)
            follower.subscribed = True
        elif subscribed is False:
            # Template messages stop: app/notifications/notifier.py sends only to subscribed followers.
            await Follower.filter(id=follower.id).update(subscribed=False, unsubscribed_at=now)
            follower.subscribed = False
        if follower.subscribed:
            await self._link(follower, look_up)
        return follower

    async def _link(self, follower: Follower, look_up: bool) -> None:
        if not follower.unionid and self.gateway is not None:
            throttle = f"shengshi:mp:userinfo:{self.config.appid}:{follower.openid}"
            if await self.redis.set(throttle, "1", nx=True, ex=USER_INFO_EVERY_S) or look_up:
                unionid = await self._unionid(follower.openid)
                if unionid:
                    await Follower.filter(id=follower.id).update(unionid=unionid)
                    follower.unionid = unionid
        if follower.unionid and follower.user_id is None:
            user = await User.filter(unionid=follower.unionid).order_by("id").first()
            if user is not None:
                await Follower.filter(id=follower.id, user_id=None).update(user_id=user.id)
                follower.user_id = user.id
                log.info("a follower is linked to a mini-program user")

    async def _unionid(self, openid: str) -> str | None:
        """The follower's unionid from ``cgi-bin/user/info`` (present when the account is bound to an open platform)."""
        assert self.gateway is not None
        try:
            info = await self.gateway.call(lambda c: c.user.get(openid))
        except WeChatError as exc:
            log.warning("user info unavailable: %s", exc.errcode)
            return None
        unionid = info.get("unionid") if isinstance(info, dict) else None
        return str(unionid) if unionid else None

    async def verified_user(self, follower: Follower) -> User | None:
        """The linked mini-program user when their real name is verified (they may see their applications)."""
        if follower.user_id is None:
            return None
        user = await User.get_or_none(id=follower.user_id)
        return user if user is not None and user.level == Level.L2 else None
