"""The HTTP face of the fake platform: WeChat's real paths under ``/__fakewx``, plus an inspection API.

WeChat's paths answer as WeChat does (HTTP 200, ``errcode``/``errmsg``); the
inspection paths (``/__fakewx/_…``) and the identity service answer HTTP
errors with ``{"error": {"code", "message"}}``. No input makes a 500.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from sanic import Blueprint, Request, Sanic
from sanic.exceptions import SanicException
from sanic.handlers import ErrorHandler
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from miniprogram_stub.fake_wechat.platform import (
    CUSTOM_SEND,
    IDVERIFY,
    JSCODE2SESSION,
    MENU_CREATE,
    MENU_GET,
    PHONE_NUMBER,
    SUBSCRIBE_SEND,
    TEMPLATE_SEND,
    TOKEN,
    USER_INFO,
    FakePlatform,
    Fault,
    HTTPError,
    WeChatError,
    parse_json_body,
)

PREFIX = "/__fakewx"
MAX_USER_LENGTH = 64

_blueprint_names = itertools.count()
Handler = Callable[[Request], Awaitable[HTTPResponse]]


def _answer(fault: Fault | None, work: Callable[[], dict[str, Any]]) -> HTTPResponse:
    """The answer of one platform call: the scripted fault if any, else the platform's own."""
    if fault is not None and fault.http_status is not None:
        return json({"errcode": -1, "errmsg": "system error"}, status=fault.http_status)
    if fault is not None and fault.errcode is not None:
        return json(WeChatError(fault.errcode).body())
    try:
        return json(work())
    except WeChatError as exc:
        return json(exc.body())
    except HTTPError as exc:
        return json(exc.body(), status=exc.status, headers=exc.headers)


def _bad_request(message: str, code: str = "bad_request") -> HTTPResponse:
    return json(HTTPError(400, code, message).body(), status=400)


def _inspection_body(request: Request, *, required: bool) -> tuple[Any, HTTPResponse | None]:
    """The JSON body of an inspection call, or the 400 to answer instead."""
    try:
        body = parse_json_body(request.body)
    except WeChatError:
        return None, _bad_request("the body is not valid JSON", "invalid_json")
    if body is None and not required:
        return {}, None
    if not isinstance(body, dict):
        return None, _bad_request("the body must be a JSON object")
    return body, None


def _user_code(request: Request, platform: FakePlatform) -> HTTPResponse:
    body, error = _inspection_body(request, required=True)
    if error is not None:
        return error
    user = body.get("user")
    if (
        not isinstance(user, str)
        or not user
        or len(user) > MAX_USER_LENGTH
        # "." separates the person from the randomness; whitespace would not survive a query string.
        or "." in user
        or any(char.isspace() for char in user)
    ):
        return _bad_request(f"user must be 1 to {MAX_USER_LENGTH} characters, without '.' or spaces", "invalid_input")
    return json({"code": platform.new_login_code(user)})


def create_blueprint(platform: FakePlatform | None = None) -> Blueprint:
    """A fresh blueprint of the fake platform at ``/__fakewx``, bound to ``platform`` (``bp.ctx.platform``).

    Every route is left out of the OpenAPI document. State lives in the
    platform object, so in this process only: mount it in one worker.
    """
    platform = platform if platform is not None else FakePlatform()
    bp = Blueprint(f"fake_wechat_{next(_blueprint_names)}", url_prefix=PREFIX)
    bp.ctx.platform = platform
    # Slow answers run as tasks so that a caller hanging up does not cancel them (see platform_call).
    slow_answers: set[asyncio.Task[HTTPResponse]] = set()

    def route(uri: str, *methods: str, name: str | None = None) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            bp.add_route(openapi.exclude()(handler), uri, methods=list(methods), name=name or handler.__name__)
            return handler

        return register

    async def platform_call(endpoint: str, work: Callable[[], dict[str, Any]]) -> HTTPResponse:
        platform.count_call(endpoint)
        fault = platform.take_fault(endpoint)
        if fault is None or fault.delay_s is None:
            return _answer(fault, work)
        delay_s = fault.delay_s

        async def slow() -> HTTPResponse:
            await asyncio.sleep(delay_s)
            return _answer(fault, work)

        # The request reached WeChat: the message is delivered after the delay even if the
        # caller timed out and hung up (Sanic cancels the handler then, hence the shield).
        task = asyncio.ensure_future(slow())
        slow_answers.add(task)
        task.add_done_callback(slow_answers.discard)
        return await asyncio.shield(task)

    # -- WeChat's paths -----------------------------------------------------

    @route("/sns/jscode2session", "GET")
    async def jscode2session(request: Request) -> HTTPResponse:
        """code2Session: a login code to openid, unionid and session key."""
        args = request.args
        return await platform_call(
            JSCODE2SESSION,
            lambda: platform.code_to_session(
                args.get("appid"), args.get("secret"), args.get("js_code"), args.get("grant_type")
            ),
        )

    @route("/cgi-bin/token", "GET")
    async def token(request: Request) -> HTTPResponse:
        """getAccessToken: a new access token, ending the appid's previous one."""
        args = request.args
        return await platform_call(
            TOKEN, lambda: platform.issue_token(args.get("appid"), args.get("secret"), args.get("grant_type"))
        )

    @route("/wxa/business/getuserphonenumber", "POST")
    async def getuserphonenumber(request: Request) -> HTTPResponse:
        """getPhoneNumber: a phone code to the user's phone number."""
        return await platform_call(
            PHONE_NUMBER,
            lambda: platform.phone_number(request.args.get("access_token"), parse_json_body(request.body)),
        )

    def message_route(endpoint: str) -> None:
        async def send(request: Request) -> HTTPResponse:
            """A message send: checked, recorded, answered ok."""
            return await platform_call(
                endpoint,
                lambda: platform.send_message(
                    endpoint, request.args.get("access_token"), parse_json_body(request.body)
                ),
            )

        route("/" + endpoint, "POST", name=endpoint.replace("/", "_").replace("-", "_"))(send)

    for endpoint in (SUBSCRIBE_SEND, TEMPLATE_SEND, CUSTOM_SEND):
        message_route(endpoint)

    @route("/cgi-bin/menu/create", "POST")
    async def menu_create(request: Request) -> HTTPResponse:
        """Create the official account's menu."""
        return await platform_call(
            MENU_CREATE,
            lambda: platform.create_menu(request.args.get("access_token"), parse_json_body(request.body)),
        )

    @route("/cgi-bin/menu/get", "GET")
    async def menu_get(request: Request) -> HTTPResponse:
        """The official account's menu."""
        return await platform_call(MENU_GET, lambda: platform.get_menu(request.args.get("access_token")))

    @route("/cgi-bin/user/info", "GET")
    async def user_info(request: Request) -> HTTPResponse:
        """A follower of the official account: openid and, when known, unionid."""
        return await platform_call(
            USER_INFO, lambda: platform.user_info(request.args.get("access_token"), request.args.get("openid"))
        )

    @route("/idverify/v1/check", "POST")
    async def idverify(request: Request) -> HTTPResponse:
        """The fake real-name check: match, mismatch or not_found."""

        def work() -> dict[str, Any]:
            scheme, _, key = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                raise HTTPError(
                    401, "unauthorized", "Authorization: Bearer <key> is required", {"WWW-Authenticate": "Bearer"}
                )
            try:
                body = parse_json_body(request.body)
            except WeChatError as exc:
                raise HTTPError(400, "invalid_json", "the body is not valid JSON") from exc
            return platform.verify_identity(body)

        return await platform_call(IDVERIFY, work)

    # -- inspection API -----------------------------------------------------

    @route("/_login_code", "POST")
    async def login_code(request: Request) -> HTTPResponse:
        """A fresh login code for a user, as wx.login hands one out."""
        return _user_code(request, platform)

    @route("/_phone_code", "POST")
    async def phone_code(request: Request) -> HTTPResponse:
        """A fresh phone code for a user, as the getPhoneNumber button hands one out."""
        return _user_code(request, platform)

    @route("/_sent", "GET")
    async def sent_list(request: Request) -> HTTPResponse:
        """Messages received on the message endpoints, oldest first; ``?endpoint=`` filters."""
        return json({"sent": platform.sent_messages(request.args.get("endpoint"))})

    @route("/_sent", "DELETE")
    async def sent_clear(request: Request) -> HTTPResponse:
        """Forget the received messages."""
        cleared = len(platform.sent)
        platform.sent.clear()
        return json({"cleared": cleared})

    @route("/_faults", "GET")
    async def faults_list(request: Request) -> HTTPResponse:
        """Pending scripted faults, in the order they will be used."""
        return json({"faults": [fault.to_json() for fault in platform.faults]})

    @route("/_faults", "POST")
    async def faults_add(request: Request) -> HTTPResponse:
        """Script a fault: errcode, http_status or delay_s for the next ``times`` calls of an endpoint."""
        body, error = _inspection_body(request, required=True)
        if error is not None:
            return error
        try:
            fault = platform.add_fault(body)
        except ValueError as exc:
            return _bad_request(str(exc), "invalid_input")
        return json({"fault": fault.to_json()})

    @route("/_faults", "DELETE")
    async def faults_clear(request: Request) -> HTTPResponse:
        """Drop every pending fault."""
        platform.faults.clear()
        return json({"faults": []})

    @route("/_stats", "GET")
    async def stats(request: Request) -> HTTPResponse:
        """Calls per endpoint, faulted and failed calls included."""
        return json(platform.stats())

    @route("/_tokens/expire", "POST")
    async def tokens_expire(request: Request) -> HTTPResponse:
        """End every issued token (optionally ``{"appid"}``; ``{"errcode": 42001}`` for expired)."""
        body, error = _inspection_body(request, required=False)
        if error is not None:
            return error
        appid, errcode = body.get("appid"), body.get("errcode", 40001)
        if appid is not None and not isinstance(appid, str):
            return _bad_request("appid must be a string", "invalid_input")
        try:
            ended = platform.expire_tokens(appid, errcode)
        except ValueError as exc:
            return _bad_request(str(exc), "invalid_input")
        return json({"expired": ended})

    @route("/_registry", "GET")
    async def registry(request: Request) -> HTTPResponse:
        """The synthetic people the identity service knows."""
        people = [{"name": p.name, "id_number": p.id_number} for p in platform.REGISTRY.values()]
        return json({"people": people})

    @route("/_reset", "POST")
    async def reset(request: Request) -> HTTPResponse:
        """Forget everything: sent messages, faults, stats, tokens, used codes."""
        platform.reset()
        return json({"reset": True})

    return bp


class _JSONErrors(ErrorHandler):
    """Unknown paths and wrong methods answer ``{"error": {"code", "message"}}``, never HTML."""

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        status = getattr(exception, "status_code", 500) if isinstance(exception, SanicException) else 500
        status = status or 500
        if status >= 500:
            return json({"error": {"code": "internal_error", "message": "Internal server error"}}, status=500)
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(status, "bad_request")
        return json({"error": {"code": code, "message": str(exception) or code}}, status=status)


def create_fake_app(name: str = "fake_wechat", *, platform: FakePlatform | None = None) -> Sanic:
    """A standalone app serving only the fake platform; its platform is ``app.ctx.platform``."""
    app = Sanic(name, error_handler=_JSONErrors())
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.config.ACCESS_LOG = False
    # A bare app: no OpenAPI, CORS or health routes from an auto-loaded sanic-ext.
    app.config.AUTO_EXTEND = False
    bp = create_blueprint(platform)
    app.blueprint(bp)
    app.ctx.platform = bp.ctx.platform
    return app
