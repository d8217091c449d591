"""WeChat through wechatpy, off the event loop, with one central access token.

wechatpy is synchronous (``requests``), so every call runs in a worker thread.
Its own token handling refreshes without any cross-process lock, so several
workers meeting an expired token would each fetch one, and each fetch
invalidates the others'. Here the token lives in Redis, and one refresher at a
time (a Redis lock) fetches it: when several workers meet 40001/42001 at once,
WeChat sees one token fetch.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from redis.asyncio import Redis
from wechatpy import WeChatClient
from wechatpy.client.api.base import BaseWeChatAPI
from wechatpy.exceptions import WeChatClientException

from app.core.settings import Settings

log = logging.getLogger("shengshi.wechat")

WECHAT_BASE = "https://api.weixin.qq.com/"
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
# Refresh this long before expiry; WeChat keeps the old token valid about 5 minutes after a new one.
REFRESH_MARGIN_S = 300
T = TypeVar("T")


def wechat_base_url(settings: Settings, port: int | None = None) -> str:
    """Where WeChat's API answers: the configured base, the development fake, or WeChat itself."""
    if settings.wechat_api_base:
        return str(settings.wechat_api_base)
    if settings.mount_fake_wechat:
        # Development: the fake platform answers inside the web server. Sanic's worker processes do not
        # keep the port in app.state, so `serve` exports PORT for them (and for a separate worker).
        return f"http://127.0.0.1:{port or int(os.environ.get('PORT', '8000'))}/__fakewx/"
    return WECHAT_BASE


def official_account_gateway(
    redis: Redis, settings: Settings, base_url: str | Callable[[], str]
) -> WeChatGateway | None:
    """The official account's gateway (its own appid, secret and access token), if it is configured."""
    if not settings.mp_appid or not settings.mp_secret:
        return None
    return WeChatGateway(redis, settings.mp_appid, settings.mp_secret, base_url=base_url)


class WeChatError(Exception):
    """WeChat answered with an error code (``errcode``), or not at all (``errcode`` None)."""

    def __init__(self, errcode: int | None, errmsg: str, http_status: int | None = None, maybe_sent: bool = False):
        self.errcode = errcode
        self.errmsg = errmsg
        self.http_status = http_status
        # A time-out after the request went out: WeChat may have acted on it.
        self.maybe_sent = maybe_sent
        super().__init__(f"WeChat error {errcode}: {errmsg}")


class _Client(WeChatClient):
    """wechatpy's client pointed at ``base`` and using the token we hand it, never fetching on its own."""

    def __init__(self, base: str, appid: str, secret: str, token: str | None, timeout: float):
        super().__init__(appid, secret, timeout=timeout, auto_retry=False)
        self._base = base
        self._token = token
        self.API_BASE_URL = base + "cgi-bin/"
        for _, api in inspect.getmembers(self, lambda o: isinstance(o, BaseWeChatAPI)):
            own = getattr(type(api), "API_BASE_URL", "")
            if own.startswith(WECHAT_BASE):
                api.API_BASE_URL = base + own[len(WECHAT_BASE) :]

    @property
    def access_token(self) -> str | None:  # type: ignore[override]
        # None is dropped from the query string by requests: calls that need no token send none.
        return self._token

    def fetch_access_token(self) -> dict[str, Any]:
        return self._fetch_access_token(
            url=self._base + "cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


def _translate(exc: Exception) -> WeChatError:
    import requests

    if isinstance(exc, WeChatClientException):
        status = exc.response.status_code if getattr(exc, "response", None) is not None else None
        if exc.errcode is None and status is None:
            return WeChatError(None, "no answer from WeChat")
        return WeChatError(exc.errcode, str(exc.errmsg or ""), http_status=status)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return WeChatError(None, "WeChat did not answer in time", maybe_sent=True)
    if isinstance(exc, requests.exceptions.ConnectionError):
        return WeChatError(None, "cannot connect to WeChat")
    if isinstance(exc, requests.exceptions.RequestException):
        return WeChatError(None, type(exc).__name__)
    raise exc


class WeChatGateway:
    """Async access to the WeChat APIs of one app (mini-program or official account)."""

    def __init__(
        self,
        redis: Redis,
        appid: str,
        secret: str,
        base_url: str | Callable[[], str] = WECHAT_BASE,
        timeout: float = 5.0,
    ):
        self.redis = redis
        self.appid = appid
        self._secret = secret
        self._base_url = base_url
        self.timeout = timeout
        self.token_key = f"shengshi:wx:access_token:{appid}"
        self.lock_key = f"shengshi:wx:access_token_lock:{appid}"

    @property
    def base_url(self) -> str:
        base = self._base_url() if callable(self._base_url) else self._base_url
        return base if base.endswith("/") else base + "/"

    def _client(self, token: str | None) -> _Client:
        return _Client(self.base_url, self.appid, self._secret, token, self.timeout)

    async def _in_thread(self, fn: Callable[[_Client], T], token: str | None = None) -> T:
        """Run ``fn`` with a fresh client in a worker thread; its connections close when it is done."""

        def run() -> T:
            client = self._client(token)
            try:
                return fn(client)
            finally:
                client._http.close()

        try:
            return await asyncio.to_thread(run)
        except Exception as exc:
            raise _translate(exc) from None

    # -- access token -------------------------------------------------------

    async def _cached_token(self) -> str | None:
        raw = await self.redis.get(self.token_key)
        if not raw:
            return None
        try:
            entry = json.loads(raw)
        except ValueError:
            return None
        if float(entry.get("expires_at", 0)) - time.time() <= REFRESH_MARGIN_S:
            return None
        return str(entry["token"])

    async def access_token(self, stale: str | None = None) -> str:
        """A valid token, fetched by one refresher at a time across every worker.

        ``stale`` is a token WeChat just refused: it is not handed out again.
        """
        token = await self._cached_token()
        if token and token != stale:
            return token
        async with self.redis.lock(self.lock_key, timeout=30, blocking_timeout=35):
            # Whoever held the lock before us may have refreshed already.
            token = await self._cached_token()
            if token and token != stale:
                return token
            result = await self._in_thread(lambda c: c.fetch_access_token())
            token = str(result["access_token"])
            expires_in = int(result.get("expires_in", 7200))
            entry = json.dumps({"token": token, "expires_at": time.time() + expires_in})
            await self.redis.set(self.token_key, entry, ex=max(expires_in, 60))
            log.info("fetched a new WeChat access token", extra={"fields": {"appid": self.appid}})
            return token

    async def call(self, fn: Callable[[_Client], T]) -> T:
        """Run ``fn(client)`` off the loop with a valid token; on a refused token refresh once and retry."""
        token = await self.access_token()
        try:
            return await self._in_thread(fn, token)
        except WeChatError as exc:
            if exc.errcode not in TOKEN_ERRCODES:
                raise
        token = await self.access_token(stale=token)
        return await self._in_thread(fn, token)

    # -- mini-program -------------------------------------------------------

    async def code_to_session(self, code: str) -> dict[str, Any]:
        """``auth.code2Session``: openid, unionid (when bound) and session_key for a ``wx.login`` code."""
        return await self._in_thread(lambda c: c.wxa.code_to_session(code))

    async def phone_number(self, code: str) -> dict[str, Any]:
        """The phone number behind a ``getPhoneNumber`` code (the server-side flow; nothing to decrypt)."""
        result = await self.call(
            lambda c: c.post(self.base_url + "wxa/business/getuserphonenumber", data={"code": code})
        )
        return dict(result.get("phone_info") or {})

    async def send_subscribe_message(
        self, openid: str, template_id: str, data: dict[str, Any], page: str | None = None
    ) -> dict[str, Any]:
        return await self.call(lambda c: c.wxa.send_subscribe_message(openid, template_id, data, page=page))
