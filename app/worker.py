"""The notification worker process (``python -m app worker``, the Procfile's ``worker``).

It runs the dispatcher, a stream consumer and the retry pump until SIGTERM/SIGINT, then
cancels them: a delivery in progress is not acknowledged, so its entry stays pending and
is read again by this consumer's next start (or claimed by another).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from app.core.db import close_db, init_db
from app.core.observability import configure_logging
from app.core.redis_client import connect_redis
from app.core.settings import Settings
from app.services import build_services, notifier_loops

log = logging.getLogger("shengshi.worker")


async def run_worker(settings: Settings, name: str | None = None) -> None:
    configure_logging(settings.log_level)
    await init_db(settings.database_url)
    redis = connect_redis(settings.redis_url)
    services = build_services(settings, redis, consumer=name)
    notifier = services.notifier
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [
        asyncio.create_task(run(services), name=task_name.replace("_", "-"))
        for task_name, run in notifier_loops().items()
    ]
    log.info("notification worker started", extra={"fields": {"consumer": notifier.name}})
    await stop.wait()
    log.info("notification worker stopping")
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=10)
    with contextlib.suppress(Exception):
        await redis.aclose()
    await close_db()
    log.info("notification worker stopped")
