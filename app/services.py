"""Domain services built once per worker and shared by the handlers."""

from __future__ import annotations

from sanic import Sanic

from app.applications import ApplicationService
from app.assistant import chat_service, listen_for_reloads
from app.auth import AuthService
from app.console.governance import DraftEngines, ReleaseSwitcher
from app.console.handoff import HandoffDesk, SessionHub, official_account_delivery
from app.identity import IdentityProvider
from app.notify import Notifier, consumer_name, default_templates
from app.official_account import MpConfig, OfficialAccount
from app.push import PushHub
from app.security.pii import PiiCipher
from app.security.tokens import TokenService
from app.settings import DEV_IDENTITY_KEY
from app.wechat import WeChatGateway, official_account_gateway, wechat_base_url
from app.workdays import WorkCalendar


def setup_services(app: Sanic) -> None:
    settings = app.ctx.settings

    def wechat_base() -> str:
        return wechat_base_url(settings, app.state.port)

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
        app.ctx.notifier = Notifier(
            app.ctx.redis,
            wechat,
            default_templates(settings.subscribe_template_id),
            retry_base_s=settings.notify_retry_base_s,
            claim_idle_ms=settings.notify_claim_idle_ms,
            redispatch_after_s=settings.notify_redispatch_s,
            official_account=official_account_gateway(app.ctx.redis, settings, wechat_base),
            mp_template_id=settings.mp_template_id,
        )
        app.ctx.chat = await chat_service(app.ctx.redis, settings.default_region)
        setup_console(app, pii, official_account_gateway(app.ctx.redis, settings, wechat_base))
        app.ctx.official_account = OfficialAccount(
            app.ctx.redis,
            app.ctx.chat,
            official_account_gateway(app.ctx.redis, settings, wechat_base),
            MpConfig.from_settings(settings),
        )

    @app.before_server_stop
    async def finish_late_answers(app: Sanic) -> None:
        # Followers' answers that went out as customer-service messages: let them arrive.
        if hasattr(app.ctx, "official_account"):
            await app.ctx.official_account.drain()

    async def reload_listener() -> None:
        await listen_for_reloads(app.ctx.chat, app.ctx.redis)

    app.ctx.background.register("assistant-reload", reload_listener)

    app.ctx.push = PushHub()

    async def push_listener() -> None:
        await app.ctx.push.listen(app.ctx.redis)

    app.ctx.background.register("push-listener", push_listener)

    async def report_connections() -> None:
        await app.ctx.push.report_forever(app.ctx.redis, consumer_name())

    app.ctx.background.register("ws-gauge", report_connections)

    app.ctx.sessions = SessionHub()

    async def handoff_listener() -> None:
        await app.ctx.sessions.listen(app.ctx.redis)

    app.ctx.background.register("handoff-push", handoff_listener)
    if settings.run_worker_in_process:
        # Development: the notification worker runs inside the web process (the Procfile runs its own).
        for name in ("dispatcher", "kick_listener", "consumer", "retry_pump"):
            app.ctx.background.register(f"notify-{name}", _notifier_loop(app, name))


def setup_console(app: Sanic, pii: PiiCipher, official_account: WeChatGateway | None) -> None:
    """The operations console: the hand-off desk hooked into the chat, and this worker's draft engine."""
    settings = app.ctx.settings
    desk = HandoffDesk(app.ctx.redis, pii, enabled=settings.handoff_enabled, replay_questions=settings.replay_questions)
    if official_account is not None:
        desk.deliverers["mp"] = official_account_delivery(official_account)
    app.ctx.handoffs = desk
    app.ctx.chat.hooks = desk
    app.ctx.chat.releases = ReleaseSwitcher(app.ctx.redis)
    app.ctx.draft_engines = DraftEngines()


def _notifier_loop(app: Sanic, name: str):  # type: ignore[no-untyped-def]
    async def run() -> None:
        await getattr(app.ctx.notifier, f"run_{name}")()

    return run
