"""The app factory: ``sanic app:create_app --factory``.

Each resource has its own ``setup_<thing>(app)`` with paired start/stop listeners.
"""

from __future__ import annotations

from redis.asyncio import Redis
from sanic import Sanic
from sanic_ext import Extend

from app.core.background import setup_background
from app.core.db import setup_database
from app.core.errors import JSONErrorHandler
from app.core.observability import configure_logging, setup_observability
from app.core.redis_client import setup_redis
from app.core.request_input import setup_request_input
from app.core.serving import add_automatic_routes_in_one_pass
from app.core.settings import Settings
from app.services import setup_services


def create_app(settings: Settings | None = None, *, name: str = "shengshi", redis: Redis | None = None) -> Sanic:
    """Build the service. ``redis`` injects a client (tests share an embedded one with the app)."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)

    app = Sanic(name, error_handler=JSONErrorHandler(), configure_logging=False)
    app.ctx.settings = settings
    app.ctx.injected_redis = redis
    configure_sanic(app, settings)

    setup_background(app)
    setup_database(app)
    setup_redis(app)
    setup_observability(app)
    setup_request_input(app)
    setup_services(app)
    setup_routes(app)
    add_automatic_routes_in_one_pass(app)
    return app


def configure_sanic(app: Sanic, settings: Settings) -> None:
    app.config.REQUEST_MAX_SIZE = settings.request_max_size
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = settings.graceful_shutdown_timeout
    # Chat messages are short; Sanic's 1 MiB default invites abuse.
    app.config.WEBSOCKET_MAX_SIZE = 64 * 1024
    app.config.ACCESS_LOG = False
    app.config.FALLBACK_ERROR_FORMAT = "json"
    # Proxy headers are trusted only when the operator says which proxy to trust.
    app.config.FORWARDED_SECRET = settings.forwarded_secret
    app.config.REAL_IP_HEADER = settings.real_ip_header
    app.config.PROXIES_COUNT = settings.proxies_count
    app.config.OAS = settings.docs_enabled
    app.config.OAS_UI_DEFAULT = "swagger"
    app.config.OAS_URL_PREFIX = "/docs"
    app.config.HEALTH = False
    app.config.CORS = False
    Extend(app)
    app.ext.openapi.describe(
        "省事 shengshi API",
        version="0.1.0",
        description="Backend of a government-services mini-program: login, catalog, assistant, applications.",
    )


def setup_routes(app: Sanic) -> None:
    from handlers import api, official_account, probes

    app.blueprint(probes.bp)
    app.blueprint(api)
    # The operations console's page (plain HTML and JavaScript, no build step).
    from handlers.console import page

    app.blueprint(page.bp)
    # The official account's webhook: WeChat calls /wechat/mp, outside the versioned API.
    app.blueprint(official_account.bp)
    if not app.ctx.settings.is_production:
        # Development only: the mini-program in a browser at /stub/ (404 in production: never mounted).
        from handlers import stub

        app.blueprint(stub.bp)
    if app.ctx.settings.mount_fake_wechat:
        # Development only: WeChat's servers, faked, reached over HTTP like the real ones.
        from miniprogram_stub.fake_wechat import create_blueprint

        app.blueprint(create_blueprint())
