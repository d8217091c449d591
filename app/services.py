"""Domain services built once per worker and shared by the handlers."""

from __future__ import annotations

import os

from sanic import Sanic

from app.applications import ApplicationService
from app.assistant import ChatService, build_from_database, listen_for_reloads
from app.auth import AuthService
from app.identity import IdentityProvider
from app.security.pii import PiiCipher
from app.security.tokens import TokenService
from app.settings import DEV_IDENTITY_KEY
from app.wechat import WeChatGateway
from app.workdays import WorkCalendar


def setup_services(app: Sanic) -> None:
    settings = app.ctx.settings

    def wechat_base() -> str:
        if settings.wechat_api_base:
            return settings.wechat_api_base
        if settings.mount_fake_wechat:
            # Development: the fake platform answers inside this very server.
            # In worker processes Sanic does not keep the port in app.state; `serve` exports PORT for them.
            port = app.state.port or int(os.environ.get("PORT", "8000"))
            return f"http://127.0.0.1:{port}/__fakewx/"
        return "https://api.weixin.qq.com/"

    app.ctx.wechat_base = wechat_base

    @app.before_server_start
    async def build_services(app: Sanic) -> None:
        tokens = TokenService(settings.jwt_secret, settings.jwt_secret_id, settings.jwt_previous_secrets)
        pii = PiiCipher(settings.pii_key, settings.pii_key_version, settings.pii_previous_keys)
        wechat = WeChatGateway(app.ctx.redis, settings.wechat_appid, settings.wechat_secret, base_url=wechat_base)
        identity_url, identity_key = settings.identity_api_url, settings.identity_api_key
        if not settings.is_production:
            # Development: the fake identity service beside the fake WeChat platform.
            identity_url = identity_url or wechat_base() + "idverify/v1/check"
            identity_key = identity_key or DEV_IDENTITY_KEY
        identity = IdentityProvider(identity_url, identity_key)
        app.ctx.tokens = tokens
        app.ctx.pii = pii
        app.ctx.wechat = wechat
        app.ctx.auth = AuthService(app.ctx.redis, tokens, pii, wechat, identity)
        app.ctx.applications = ApplicationService(WorkCalendar.from_file())
        app.ctx.chat = ChatService(app.ctx.redis, await build_from_database(strict=False))

    async def reload_listener() -> None:
        await listen_for_reloads(app.ctx.chat, app.ctx.redis)

    app.ctx.background.register("assistant-reload", reload_listener)
