"""Long-running tasks of a worker, started after the server starts and stopped before it stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

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
