"""The state and rules of the fake WeChat platform, free of HTTP.

Everything a test may want to predict is derived from the code it sends:
a login code ``NAME`` or ``NAME.ANYTHING`` always maps to the same openid
(per appid) and unionid (per person), and a phone code to the same phone
number. Everything else (tokens, session keys) is random, as on WeChat.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import math
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

# The endpoints the fake answers, as WeChat spells them after the API host.
JSCODE2SESSION = "sns/jscode2session"
TOKEN = "cgi-bin/token"  # noqa: S105 (an endpoint name)
PHONE_NUMBER = "wxa/business/getuserphonenumber"
SUBSCRIBE_SEND = "cgi-bin/message/subscribe/send"
TEMPLATE_SEND = "cgi-bin/message/template/send"
CUSTOM_SEND = "cgi-bin/message/custom/send"
MENU_CREATE = "cgi-bin/menu/create"
MENU_GET = "cgi-bin/menu/get"
USER_INFO = "cgi-bin/user/info"
IDVERIFY = "idverify/v1/check"

MESSAGE_ENDPOINTS = (SUBSCRIBE_SEND, TEMPLATE_SEND, CUSTOM_SEND)
ENDPOINTS = (
    JSCODE2SESSION,
    TOKEN,
    PHONE_NUMBER,
    SUBSCRIBE_SEND,
    TEMPLATE_SEND,
    CUSTOM_SEND,
    MENU_CREATE,
    MENU_GET,
    USER_INFO,
    IDVERIFY,
)

# WeChat's own wording of the errors the fake answers (and of common scripted ones).
ERRMSG: Mapping[int, str] = MappingProxyType(
    {
        -1: "system error",
        40001: "invalid credential, access_token is invalid or not latest",
        40002: "invalid grant_type",
        40003: "invalid openid",
        40008: "invalid message type",
        40016: "invalid button size",
        40029: "invalid code",
        40037: "invalid template_id",
        40125: "invalid appsecret",
        40163: "code been used",
        41001: "access_token missing",
        41002: "appid missing",
        41004: "appsecret missing",
        41008: "missing code",
        42001: "access_token expired",
        43101: "user refuse to accept the msg",
        44002: "empty post data",
        45009: "reach max api daily quota limit",
        45015: "response out of time limit or subscription is canceled",
        45047: "out of response count limit",
        46003: "menu no exist",
        47001: "data format error",
        47003: "argument invalid!",
    }
)

CUSTOM_MSGTYPES = frozenset(
    {"text", "image", "voice", "video", "music", "news", "mpnews", "msgmenu", "wxcard", "miniprogrampage", "link"}
)

# Below Sanic's default RESPONSE_TIMEOUT (60 s), which would answer 503 in place of the slow answer.
MAX_DELAY_S = 55.0
MAX_FAULT_TIMES = 10_000
MAX_CODE_LENGTH = 256


class WeChatError(Exception):
    """An answer of WeChat's error shape: HTTP 200 with ``errcode`` and ``errmsg``."""

    def __init__(self, errcode: int, errmsg: str | None = None):
        super().__init__(errcode, errmsg)
        self.errcode = errcode
        self.errmsg = errmsg or ERRMSG.get(errcode, "fake error")

    def body(self) -> dict[str, Any]:
        # Real error messages end with a request id; callers must not parse errmsg.
        rid = "-".join(secrets.token_hex(4) for _ in range(3))
        return {"errcode": self.errcode, "errmsg": f"{self.errmsg} rid: {rid}"}


class HTTPError(Exception):
    """An answer outside WeChat's shape (the identity service and the inspection API)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


# -- identities ---------------------------------------------------------------

_GB11643_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def gb11643_check_digit(first17: str) -> str:
    """The check character of a resident identity number (GB 11643, ISO 7064 MOD 11-2)."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("need the first 17 digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _GB11643_WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def is_valid_id_number(id_number: str) -> bool:
    """18 characters whose last is the right check character (date and area are not checked)."""
    return (
        len(id_number) == 18
        and id_number[:17].isdigit()
        and id_number[17].upper() == gb11643_check_digit(id_number[:17])
    )


@dataclass(frozen=True)
class SyntheticPerson:
    """Somebody the fake identity service knows. The numbers are synthetic; nobody real holds them."""

    name: str
    id_number: str


def _registry(*people: SyntheticPerson) -> Mapping[str, SyntheticPerson]:
    return MappingProxyType({person.id_number: person for person in people})


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def _b64_28(prefix: str, text: str) -> str:
    # urlsafe base64 keeps to [A-Za-z0-9_-], the alphabet of real openids (wechatpy's OPENID_RE).
    return prefix + base64.urlsafe_b64encode(_digest(text)).decode("ascii")[:27]


def code_name(code: str) -> str:
    """The person a login or phone code stands for: ``NAME`` of ``NAME`` or ``NAME.ANYTHING``."""
    return code.split(".", 1)[0]


def openid_for(appid: str, name: str) -> str:
    """The openid of ``name`` under ``appid``: 28 characters, different per appid."""
    return _b64_28("o", f"{appid}:{name}")


def unionid_for(name: str) -> str:
    """The unionid of ``name``: 28 characters, the same under every appid."""
    return _b64_28("u", f"union:{name}")


def phone_for(name: str) -> str:
    """The mainland mobile number of ``name``: 11 digits starting 13, 15 or 18."""
    number = int.from_bytes(_digest(f"phone:{name}"), "big")
    prefix = ("13", "15", "18")[number % 3]
    return f"{prefix}{(number // 3) % 10**9:09d}"


# -- state --------------------------------------------------------------------


@dataclass
class Fault:
    """A scripted answer for the next ``times`` calls of ``endpoint``."""

    endpoint: str
    errcode: int | None = None
    http_status: int | None = None
    delay_s: float | None = None
    times: int = 1

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"endpoint": self.endpoint, "times": self.times}
        for key in ("errcode", "http_status", "delay_s"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass
class _Token:
    appid: str
    expires_at: float
    # Set when a newer token of the same appid, or the inspection API, ends this one.
    revoked_at: float | None = None
    # The answer once revoked: 40001 (replaced) or 42001 (expired by the inspection API).
    revoked_errcode: int = 40001


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def normalise_endpoint(endpoint: str) -> str:
    """``/__fakewx/cgi-bin/token`` and ``/cgi-bin/token`` both name ``cgi-bin/token``."""
    endpoint = endpoint.strip().lstrip("/")
    if endpoint.startswith("__fakewx/"):
        endpoint = endpoint[len("__fakewx/") :]
    return endpoint


@dataclass
class FakePlatform:
    """Everything the fake WeChat platform remembers, in memory, for one process.

    ``token_ttl_s`` is the ``expires_in`` of new access tokens. ``token_overlap_s``
    keeps a replaced token valid that long after its successor is issued (real
    WeChat keeps about 5 minutes; the default 0 is the strict case). ``clock``
    answers the time in seconds (tests may substitute one).
    """

    REGISTRY: ClassVar[Mapping[str, SyntheticPerson]] = _registry(
        SyntheticPerson("张三", "11010519491231002X"),
        SyntheticPerson("李四", "440306199003071232"),
        SyntheticPerson("王小明", "440106198501011237"),
        SyntheticPerson("陈美玲", "440304198808150248"),
        SyntheticPerson("黄志强", "440103199202290518"),
        SyntheticPerson("林晓燕", "440604197511030669"),
        SyntheticPerson("刘建国", "110108196506070137"),
        SyntheticPerson("阿依古丽·买买提", "441900200109300487"),
        SyntheticPerson("周婷", "440402199901010829"),
    )
    ENDPOINTS: ClassVar[tuple[str, ...]] = ENDPOINTS

    token_ttl_s: int = 7200
    token_overlap_s: float = 0.0
    clock: Callable[[], float] = time.time
    sent: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    menus: dict[str, Any] = field(default_factory=dict)
    _tokens: dict[str, _Token] = field(default_factory=dict, repr=False)
    _used_login_codes: set[str] = field(default_factory=set, repr=False)
    _used_phone_codes: set[str] = field(default_factory=set, repr=False)
    # People who logged in: the official account's user info finds their unionid by openid.
    _known_names: set[str] = field(default_factory=set, repr=False)
    _msgids: itertools.count[int] = field(default_factory=lambda: itertools.count(2_000_000_001), repr=False)

    def reset(self) -> None:
        """Forget everything: sent messages, faults, stats, tokens, used codes, menus."""
        self.sent.clear()
        self.faults.clear()
        self.calls.clear()
        self.menus.clear()
        self._tokens.clear()
        self._used_login_codes.clear()
        self._used_phone_codes.clear()
        self._known_names.clear()

    # -- stats and faults ---------------------------------------------------

    def count_call(self, endpoint: str) -> None:
        """Count one call of ``endpoint``, whatever its answer."""
        self.calls[endpoint] += 1

    def stats(self) -> dict[str, Any]:
        """Calls per endpoint, as ``GET /__fakewx/_stats`` answers."""
        return {"calls": dict(self.calls)}

    def add_fault(self, spec: Any) -> Fault:
        """Script a fault from the JSON of ``POST /__fakewx/_faults``; ``ValueError`` says what is wrong."""
        if not isinstance(spec, dict):
            raise ValueError("the body must be a JSON object")
        unknown = set(spec) - {"endpoint", "errcode", "http_status", "delay_s", "times"}
        if unknown:
            raise ValueError(f"unknown fields: {', '.join(sorted(map(str, unknown)))}")
        endpoint = spec.get("endpoint")
        if not isinstance(endpoint, str) or normalise_endpoint(endpoint) not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of: {', '.join(ENDPOINTS)}")
        errcode, http_status, delay_s = spec.get("errcode"), spec.get("http_status"), spec.get("delay_s")
        times = spec.get("times", 1)
        if errcode is not None and (not _is_int(errcode) or errcode == 0):
            raise ValueError("errcode must be a non-zero integer")
        if http_status is not None and (not _is_int(http_status) or not 400 <= http_status <= 599):
            raise ValueError("http_status must be an integer from 400 to 599")
        if delay_s is not None and (not _is_number(delay_s) or not 0 < delay_s <= MAX_DELAY_S):
            raise ValueError(f"delay_s must be a number of seconds above 0 and at most {MAX_DELAY_S:g}")
        if errcode is None and http_status is None and delay_s is None:
            raise ValueError("give errcode, http_status or delay_s")
        if errcode is not None and http_status is not None:
            raise ValueError("give errcode or http_status, not both")
        if not _is_int(times) or not 1 <= times <= MAX_FAULT_TIMES:
            raise ValueError(f"times must be an integer from 1 to {MAX_FAULT_TIMES}")
        fault = Fault(
            normalise_endpoint(endpoint),
            errcode=errcode,
            http_status=http_status,
            delay_s=float(delay_s) if delay_s is not None else None,
            times=times,
        )
        self.faults.append(fault)
        return fault

    def take_fault(self, endpoint: str) -> Fault | None:
        """Consume one use of the oldest fault scripted for ``endpoint``."""
        for index, fault in enumerate(self.faults):
            if fault.endpoint == endpoint:
                fault.times -= 1
                if fault.times <= 0:
                    del self.faults[index]
                return Fault(endpoint, fault.errcode, fault.http_status, fault.delay_s, 1)
        return None

    # -- login --------------------------------------------------------------

    @staticmethod
    def new_login_code(user: str) -> str:
        """A fresh, single-use code for ``user``, as ``wx.login`` would hand the mini-program."""
        return f"{user}.{secrets.token_hex(8)}"

    def _use_code(self, code: str, used: set[str]) -> str:
        name = code_name(code)
        if not name or code.startswith("invalid") or len(code) > MAX_CODE_LENGTH:
            raise WeChatError(40029)
        if code in used:
            raise WeChatError(40163)
        used.add(code)
        return name

    def code_to_session(
        self, appid: str | None, secret: str | None, js_code: str | None, grant_type: str | None
    ) -> dict[str, Any]:
        """``sns/jscode2session``: the openid, unionid and a fresh session key of a login code."""
        self._check_app(appid, secret)
        if not js_code:
            raise WeChatError(41008)
        if grant_type is not None and grant_type != "authorization_code":
            raise WeChatError(40002)
        assert appid is not None
        name = self._use_code(js_code, self._used_login_codes)
        self._known_names.add(name)
        return {
            "session_key": base64.b64encode(secrets.token_bytes(16)).decode("ascii"),
            "openid": openid_for(appid, name),
            "unionid": unionid_for(name),
        }

    @staticmethod
    def _check_app(appid: str | None, secret: str | None) -> None:
        if not appid:
            raise WeChatError(41002)
        if not secret:
            raise WeChatError(41004)
        # Any secret is right, except one that says it is wrong: a way to script a misconfigured app.
        if secret.startswith("invalid"):
            raise WeChatError(40125)

    # -- access tokens ------------------------------------------------------

    def issue_token(self, appid: str | None, secret: str | None, grant_type: str | None) -> dict[str, Any]:
        """``cgi-bin/token``: a new token for ``appid``, which ends the previous ones."""
        if grant_type != "client_credential":
            raise WeChatError(40002)
        self._check_app(appid, secret)
        assert appid is not None
        now = self.clock()
        for token, record in list(self._tokens.items()):
            if record.appid != appid:
                continue
            if record.revoked_at is None:
                record.revoked_at = now
            elif record.revoked_at + self.token_overlap_s <= now:
                # Long dead: forgetting it answers the same 40001 and keeps memory flat.
                del self._tokens[token]
        token = secrets.token_urlsafe(96)
        self._tokens[token] = _Token(appid, now + self.token_ttl_s)
        return {"access_token": token, "expires_in": self.token_ttl_s}

    def check_token(self, token: str | None) -> str:
        """The appid of a live token; WeChat's 41001, 40001 or 42001 otherwise."""
        if not token:
            raise WeChatError(41001)
        record = self._tokens.get(token)
        if record is None:
            raise WeChatError(40001)
        now = self.clock()
        if record.revoked_at is not None and (
            record.revoked_errcode != 40001 or record.revoked_at + self.token_overlap_s <= now
        ):
            raise WeChatError(record.revoked_errcode)
        if record.expires_at <= now:
            raise WeChatError(42001)
        return record.appid

    def expire_tokens(self, appid: str | None = None, errcode: int = 40001) -> int:
        """End every issued token (of ``appid`` if given): they answer ``errcode`` (40001 or 42001)."""
        if errcode not in (40001, 42001):
            raise ValueError("errcode must be 40001 or 42001")
        # The overlap does not apply here: this stands for WeChat dropping tokens at once.
        now = self.clock() - self.token_overlap_s
        ended = 0
        for record in self._tokens.values():
            if appid is None or record.appid == appid:
                record.revoked_at = now
                record.revoked_errcode = errcode
                ended += 1
        return ended

    # -- business -----------------------------------------------------------

    def phone_number(self, token: str | None, body: Any) -> dict[str, Any]:
        """``wxa/business/getuserphonenumber``: the phone number a ``getPhoneNumber`` code stands for."""
        appid = self.check_token(token)
        body = _json_object(body)
        code = body.get("code")
        if code is None or code == "":
            raise WeChatError(41008)
        if not isinstance(code, str):
            raise WeChatError(40029)
        name = self._use_code(code, self._used_phone_codes)
        phone = phone_for(name)
        return {
            "errcode": 0,
            "errmsg": "ok",
            "phone_info": {
                "phoneNumber": phone,
                "purePhoneNumber": phone,
                "countryCode": "86",
                "watermark": {"timestamp": int(self.clock()), "appid": appid},
            },
        }

    def send_message(self, endpoint: str, token: str | None, body: Any) -> dict[str, Any]:
        """One of the message endpoints: check, record in :attr:`sent`, answer ok."""
        self.check_token(token)
        body = _json_object(body)
        touser = body.get("touser")
        if not isinstance(touser, str) or not touser.strip():
            raise WeChatError(40003)
        template_id: str | None = None
        if endpoint == CUSTOM_SEND:
            msgtype = body.get("msgtype")
            if not isinstance(msgtype, str) or msgtype not in CUSTOM_MSGTYPES:
                raise WeChatError(40008)
            if not isinstance(body.get(msgtype), dict):
                raise WeChatError(47001, f"data format error hint: [{msgtype}] must be an object")
            data = body[msgtype]
        else:
            template_id = body.get("template_id")
            if not isinstance(template_id, str) or not template_id.strip():
                raise WeChatError(40037)
            data = body.get("data")
            if data is not None and not isinstance(data, dict):
                raise WeChatError(47003, "argument invalid! data must be an object")
        self.sent.append(
            {
                "endpoint": endpoint,
                "touser": touser,
                "template_id": template_id,
                "data": data,
                "time": self.clock(),
                "body": body,
            }
        )
        answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
        if endpoint == TEMPLATE_SEND:
            answer["msgid"] = next(self._msgids)
        return answer

    def sent_messages(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        """What arrived on the message endpoints, oldest first."""
        if not endpoint:
            return list(self.sent)
        endpoint = normalise_endpoint(endpoint)
        return [entry for entry in self.sent if entry["endpoint"] == endpoint]

    def create_menu(self, token: str | None, body: Any) -> dict[str, Any]:
        """``cgi-bin/menu/create``: keep the menu of the token's appid."""
        appid = self.check_token(token)
        body = _json_object(body)
        buttons = body.get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise WeChatError(40016)
        self.menus[appid] = body
        return {"errcode": 0, "errmsg": "ok"}

    def get_menu(self, token: str | None) -> dict[str, Any]:
        """``cgi-bin/menu/get``: the menu of the token's appid."""
        appid = self.check_token(token)
        if appid not in self.menus:
            raise WeChatError(46003)
        return {"menu": self.menus[appid]}

    def user_info(self, token: str | None, openid: str | None) -> dict[str, Any]:
        """``cgi-bin/user/info``: a follower's openid, and the unionid of someone who logged in to the mini-program.

        Real WeChat answers the unionid when the official account is bound to an open-platform account; here
        the unionid is known for everyone who used a login code (the same person under every appid).
        """
        appid = self.check_token(token)
        if not openid or not isinstance(openid, str):
            raise WeChatError(40003)
        info: dict[str, Any] = {"subscribe": 1, "openid": openid, "language": "zh_CN"}
        for name in self._known_names:
            if openid_for(appid, name) == openid:
                info["unionid"] = unionid_for(name)
                break
        return info

    # -- identity verification ---------------------------------------------

    def verify_identity(self, body: Any) -> dict[str, str]:
        """``idverify/v1/check``: ``match``, ``mismatch`` (known number, other name) or ``not_found``."""
        if not isinstance(body, dict):
            raise HTTPError(400, "bad_request", "the body must be a JSON object with name and id_number")
        name, id_number = body.get("name"), body.get("id_number")
        if not isinstance(name, str) or not name.strip():
            raise HTTPError(400, "invalid_input", "name must be a non-empty string")
        if not isinstance(id_number, str) or not id_number.strip():
            raise HTTPError(400, "invalid_input", "id_number must be a non-empty string")
        person = self.REGISTRY.get(id_number.strip().upper())
        if person is None:
            return {"result": "not_found"}
        return {"result": "match" if person.name == name.strip() else "mismatch"}


def _json_object(body: Any) -> dict[str, Any]:
    """A parsed body as WeChat would take it: empty is 44002, anything but an object 47001."""
    if body is None:
        raise WeChatError(44002)
    if not isinstance(body, dict):
        raise WeChatError(47001, "data format error hint: the body must be a JSON object")
    return body


def parse_json_body(raw: bytes) -> Any:
    """The JSON of a request body; ``None`` when empty; :class:`WeChatError` 47001 when unparsable."""
    if not raw or not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # RecursionError: absurdly nested JSON is still only bad input.
        raise WeChatError(47001) from exc
