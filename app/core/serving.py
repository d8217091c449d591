"""Running the HTTP server: one process, or Sanic's worker manager with a stop that always works.

Sanic 25.12's worker manager has two faults around a shutdown signal (sanic-org/sanic#2997):

- one that arrives before every worker has reported ready is put back in the manager's queue
  again and again, and the manager waits for acks that never come: the server runs until killed;
- its handler talks to the shared worker state (a multiprocessing manager) from inside the signal
  handler, that is in the middle of whatever the main thread was doing, which is often a call on
  that same connection: the two calls interleave and both fail ("'list' object is not a mapping").

``StoppableWorkerManager`` notes a signal while the manager starts and monitors its workers and
acts on it at the next turn of its loop (at most 0.1 s later), outside any call to the shared
state, and it stops waiting for acks once a shutdown has begun. One worker runs in a single
process and has no manager at all.
"""

from __future__ import annotations

import asyncio
import functools
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from sanic import Sanic
from sanic.worker.loader import AppLoader
from sanic.worker.manager import MonitorCycle, WorkerManager


class StoppableWorkerManager(WorkerManager):
    """Sanic's worker manager, acting on a shutdown signal only between two turns of its loops."""

    _deferring = False  # the handler is installed before start(); until then signals act at once
    _pending_signals: list[int]

    def shutdown_signal(self, signal: int, frame: FrameType | None) -> None:
        if self._deferring:
            self._pending_signals.append(signal)
        else:
            super().shutdown_signal(signal, frame)

    @contextmanager
    def _signals_deferred(self) -> Iterator[None]:
        self._pending_signals = []
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
            self._act_on_signals()

    def _act_on_signals(self) -> None:
        while self._pending_signals:
            # A second signal finds the shutdown begun and kills the workers (Sanic's own rule).
            super().shutdown_signal(self._pending_signals.pop(0), None)

    def start(self) -> None:
        with self._signals_deferred():
            super().start()

    def monitor(self) -> None:
        with self._signals_deferred():
            super().monitor()

    def _all_workers_ack(self) -> bool:
        self._act_on_signals()
        return bool(self._shutting_down) or bool(super()._all_workers_ack())

    def _poll_monitor(self) -> MonitorCycle | None:
        self._act_on_signals()
        return super()._poll_monitor()


def serve(loader: AppLoader, app: Sanic, *, host: str, port: int, workers: int, **options: Any) -> None:
    """Serve ``app`` on ``host:port`` with ``workers`` processes until a SIGTERM or SIGINT."""
    if workers == 1:
        _stop_on_signals_during_start_up(app)
        app.prepare(host=host, port=port, single_process=True, **options)
        Sanic.serve_single(primary=app)
        return
    import sanic.mixins.startup

    # Sanic builds its manager from this module-level name; there is no other way to choose it.
    setattr(sanic.mixins.startup, "WorkerManager", StoppableWorkerManager)  # noqa: B010
    app.prepare(host=host, port=port, workers=workers, **options)
    Sanic.serve(primary=app, app_loader=loader)


def _stop_on_signals_during_start_up(app: Sanic) -> None:
    """Honour a SIGTERM or SIGINT that arrives while the server starts, in a single process.

    Sanic installs its own handlers only after the ``after_server_start`` listeners, while the socket
    already accepts requests: a signal in that window would kill the process on the spot. Until then
    a signal is noted, and a graceful stop is scheduled for once Sanic's loop runs: at the end of
    start-up for a signal noted before it, at once for one noted after it (the loop is about to run).
    """
    noted: list[int] = []
    started: list[bool] = []

    def stop_soon() -> None:
        # Later than the rest of start-up, which is synchronous from here: the stop lands in run_forever.
        asyncio.get_running_loop().call_later(_STOP_DELAY_S, functools.partial(app.stop, terminate=False))

    def note(number: int) -> None:
        noted.append(number)
        if started:
            stop_soon()

    def install(app: Sanic) -> None:
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, note, number)

    def act(app: Sanic) -> None:
        started.append(True)
        if noted:
            stop_soon()

    app.before_server_start(install, priority=1_000_000)
    app.after_server_start(act, priority=-1_000_000)


_STOP_DELAY_S = 0.5


# sanic-ext adds its HEAD and OPTIONS routes in a before_server_start listener of this priority.
_SANIC_EXT_ROUTES_PRIORITY = -1_000


def add_automatic_routes_in_one_pass(app: Sanic) -> None:
    """Rebuild Sanic's signal router once around sanic-ext's HEAD and OPTIONS routes, not once per route.

    Each route added after start-up has begun goes through ``app.amend()``, which rebuilds the
    whole signal router; sanic-ext adds one or two routes for each of ours, so a start cost
    seconds that grew with the square of the routes (sanic-org/sanic#3087). With the router
    opened before and rebuilt after sanic-ext's listener, every ``amend()`` inside finds nothing
    to rebuild. The same routes are added.
    """
    opened: list[bool] = []

    def open_signal_router(app: Sanic) -> None:
        if app.signal_router.finalized:
            app.signal_router.reset()
            opened.append(True)

    def rebuild_signal_router(app: Sanic) -> None:
        if opened:
            opened.clear()
            app.signalize(bool(app.config.TOUCHUP))

    app.before_server_start(open_signal_router, priority=_SANIC_EXT_ROUTES_PRIORITY + 1)
    app.before_server_start(rebuild_signal_router, priority=_SANIC_EXT_ROUTES_PRIORITY - 1)
