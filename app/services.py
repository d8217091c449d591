"""The wiring: every domain service of a process, built once by :func:`build_services`.

The web process (:func:`setup_services`), the notification worker (``python -m app worker``) and the
CLI build the same :class:`Services`; each collaborator is passed in a constructor, nothing is set
on an object after it is built. Handlers reach it with :func:`services`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sanic import Request, Sanic

from app.applications import ApplicationService
from app.assistant.releases import ReleaseSwitcher
from app.assistant.service import ChatService, listen_for_reloads
from app.auth.identity import IdentityProvider
from app.auth.service import AuthService
from app.console.governance import DraftEngines
from app.console.handoff import HandoffDesk, SessionHub, official_account_delivery
from app.core.redis_client import Redis
from app.core.security.pii import PiiCipher
from app.core.security.tokens import TokenService
from app.core.settings import DEV_IDENTITY_KEY, Settings
from app.core.wechat import WeChatGateway, official_account_gateway, wechat_base_url
from app.core.workdays import WorkCalendar
from app.notifications.notifier import Notifier, consumer_name, default_templates
from app.notifications.push import PushHub
from app.official_account import MpConfig, OfficialAccount


@dataclass(frozen=True)
class Services:
    """The domain services of one process (a web worker, the notification worker, a CLI command)."""

    settings: Settings
    redis: Redis
    tokens: TokenService
    pii: PiiCipher
    wechat: WeChatGateway
    #: The official account's own gateway; None when MP_APPID/MP_SECRET are not set.
    mp_gateway: WeChatGateway | None
    notifier: Notifier
    auth: AuthService
    applications: ApplicationService
    handoffs: HandoffDesk
    chat: ChatService
    official_account: OfficialAccount
    draft_engines: DraftEngines
    #: This worker's sockets by user (notifications) and by chat session (an agent's replies).
    push: PushHub
    sessions: SessionHub


def build_services(
    settings: Settings,
    redis: Redis,
    *,
    wechat_base: str | Callable[[], str] | None = None,
    consumer: str | None = None,
) -> Services:
    """Every service of a process over ``redis``; ``wechat_base`` is where WeChat's API answers (a function
    when the port is known only once the server runs), ``consumer`` the notification stream consumer's name."""
    base = wechat_base if wechat_base is not None else wechat_base_url(settings)
    tokens = TokenService(settings.jwt_secret, settings.jwt_secret_id, settings.jwt_previous_secrets)
    pii = PiiCipher(settings.pii_key, settings.pii_key_version, settings.pii_previous_keys)
    wechat = WeChatGateway(redis, settings.wechat_appid, settings.wechat_secret, base_url=base)
    mp_gateway = official_account_gateway(redis, settings, base)
    notifier = Notifier(
        redis,
        wechat,
        default_templates(settings.subscribe_template_id),
        retry_base_s=settings.notify_retry_base_s,
        claim_idle_ms=settings.notify_claim_idle_ms,
        redispatch_after_s=settings.notify_redispatch_s,
        official_account=mp_gateway,
        mp_template_id=settings.mp_template_id,
        name=consumer,
    )
    handoffs = HandoffDesk(
        redis,
        pii,
        enabled=settings.handoff_enabled,
        replay_questions=settings.replay_questions,
        deliverers={"mp": official_account_delivery(mp_gateway)} if mp_gateway is not None else None,
    )
    chat = ChatService(redis, hooks=handoffs, releases=ReleaseSwitcher(redis), default_region=settings.default_region)
    return Services(
        settings=settings,
        redis=redis,
        tokens=tokens,
        pii=pii,
        wechat=wechat,
        mp_gateway=mp_gateway,
        notifier=notifier,
        auth=AuthService(redis, tokens, pii, wechat, _identity(settings, base)),
        applications=ApplicationService(WorkCalendar.from_file(), outbox=notifier),
        handoffs=handoffs,
        chat=chat,
        official_account=OfficialAccount(redis, chat, mp_gateway, MpConfig.from_settings(settings)),
        draft_engines=DraftEngines(),
        push=PushHub(),
        sessions=SessionHub(),
    )


def _identity(settings: Settings, base: str | Callable[[], str]) -> IdentityProvider:
    url, key = settings.identity_api_url, settings.identity_api_key
    if not settings.is_production:
        # Development: the fake identity service beside the fake WeChat platform.
        fake = (base() if callable(base) else base) + "idverify/v1/check"
        url, key = url or fake, key or DEV_IDENTITY_KEY
    return IdentityProvider(url, key)


def services(request: Request) -> Services:
    """The services of the worker serving ``request``."""
    built: Services = request.app.ctx.services
    return built


def setup_services(app: Sanic) -> None:
    """Build the services in each worker before it serves, and run their background loops."""
    settings: Settings = app.ctx.settings

    def wechat_base() -> str:
        return wechat_base_url(settings, app.state.port)

    @app.before_server_start
    async def build(app: Sanic) -> None:
        built = build_services(settings, app.ctx.redis, wechat_base=wechat_base)
        # The engine is built before the first request (about half a second), not on it.
        await built.chat.start()
        app.ctx.services = built

    @app.before_server_stop
    async def finish_late_answers(app: Sanic) -> None:
        # Followers' answers that went out as customer-service messages: let them arrive.
        if hasattr(app.ctx, "services"):
            await app.ctx.services.official_account.drain()

    def loop(run: Callable[[Services], Any]) -> Callable[[], Any]:
        async def task() -> None:
            await run(app.ctx.services)

        return task

    register = app.ctx.background.register
    register("assistant-reload", loop(lambda s: listen_for_reloads(s.chat, s.redis)))
    register("push-listener", loop(lambda s: s.push.listen(s.redis)))
    register("ws-gauge", loop(lambda s: s.push.report_forever(s.redis, consumer_name())))
    register("handoff-push", loop(lambda s: s.sessions.listen(s.redis)))
    if settings.run_worker_in_process:
        # Development: the notification worker runs inside the web process (the Procfile runs its own).
        for name, run in notifier_loops().items():
            register(f"notify-{name}", loop(run))


def notifier_loops() -> dict[str, Callable[[Services], Any]]:
    """The notification worker's loops, by name: the same in the web process and in ``python -m app worker``."""
    return {
        "dispatcher": lambda s: s.notifier.run_dispatcher(),
        "kick_listener": lambda s: s.notifier.run_kick_listener(),
        "consumer": lambda s: s.notifier.run_consumer(),
        "retry_pump": lambda s: s.notifier.run_retry_pump(),
    }
