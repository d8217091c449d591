"""Long-running tasks of a worker, started after the server starts and stopped before it stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from sanic import Sanic

log = logging.getLogger("shengshi.background")

TaskFactory = Callable[[], Awaitable[None]]


def stop_requested() -> bool:
    """True once this task has been asked to stop.

    Some clients turn a cancellation into their own error, or swallow it; a loop that
    carries on after errors checks this on every turn so it still stops when told to.
    """
    task = asyncio.current_task()
    return bool(task and task.cancelling())


def unexpected(exc: BaseException) -> bool:
    """Whether an error deserves its traceback in the log (an outage of Redis or the database does not)."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from tortoise.exceptions import DBConnectionError, OperationalError

    outages = (RedisConnectionError, RedisTimeoutError, OSError, DBConnectionError, OperationalError)
    return not isinstance(exc, outages)


async def keep_running(name: str, body: Callable[[], Awaitable[None]]) -> None:
    """Run ``body`` again after any error (a second's pause) until this task is stopped."""
    while True:
        if stop_requested():
            raise asyncio.CancelledError
        try:
            await body()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if stop_requested():
                raise asyncio.CancelledError from None
            log.warning("%s failed (%s); retrying in 1 s", name, type(exc).__name__, exc_info=unexpected(exc))
            await asyncio.sleep(1.0)


async def listen(
    redis: Redis,
    subscribe: Callable[[Any], Awaitable[Any]],
    on_message: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """Subscribe (``subscribe(pubsub)``) and hand each message to ``on_message`` until stopped or Redis fails."""
    pubsub = redis.pubsub()
    try:
        await subscribe(pubsub)
        while True:
            if stop_requested():
                raise asyncio.CancelledError
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                await on_message(message)
    finally:
        with contextlib.suppress(Exception):
            await pubsub.aclose()


class BackgroundTasks:
    """Named background loops; a loop that crashes is logged and restarted after a pause."""

    def __init__(self) -> None:
        self._factories: dict[str, TaskFactory] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    def register(self, name: str, factory: TaskFactory) -> None:
        self._factories[name] = factory

    @property
    def names(self) -> list[str]:
        return sorted(self._tasks)

    def start(self) -> None:
        self._stopping = False
        for name, factory in self._factories.items():
            if name not in self._tasks:
                self._tasks[name] = asyncio.get_running_loop().create_task(self._supervise(name, factory), name=name)

    async def _supervise(self, name: str, factory: TaskFactory) -> None:
        while not self._stopping:
            try:
                await factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task %s crashed; restarting in 1 s", name)
                await asyncio.sleep(1.0)

    async def stop(self, timeout: float = 10.0) -> None:
        """Cancel every loop and wait for each to finish its cleanup."""
        self._stopping = True
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                import io

                stack = io.StringIO()
                task.print_stack(file=stack)
                log.warning("background task %s still running at shutdown: %s", task.get_name(), stack.getvalue())


def setup_background(app: Sanic) -> None:
    app.ctx.background = BackgroundTasks()

    @app.after_server_start
    async def start_background(app: Sanic) -> None:
        app.ctx.background.start()

    @app.before_server_stop
    async def stop_background(app: Sanic) -> None:
        await app.ctx.background.stop()
