"""Running the HTTP server: one process, or Sanic's worker manager with a stop that always works.

Sanic 25.12's worker manager waits for every worker to report ready before it reads anything
else; a shutdown signal that arrives in that window is put back in the queue again and again
and the manager never exits (sanic-org/sanic#2997). A deploy or a test that stops a server
while it is still starting would leave it running until killed. ``StoppableWorkerManager``
ends that wait as soon as a shutdown has begun; the manager then reads the shutdown message
and joins its workers as usual. One worker runs in a single process and has no manager at all.
"""

from __future__ import annotations

from typing import Any

from sanic import Sanic
from sanic.worker.loader import AppLoader
from sanic.worker.manager import WorkerManager


class StoppableWorkerManager(WorkerManager):
    """Sanic's worker manager that stops waiting for ready workers once a shutdown has begun."""

    def _all_workers_ack(self) -> bool:
        return bool(self._shutting_down) or bool(super()._all_workers_ack())


def serve(loader: AppLoader, app: Sanic, *, host: str, port: int, workers: int, **options: Any) -> None:
    """Serve ``app`` on ``host:port`` with ``workers`` processes until a SIGTERM or SIGINT."""
    if workers == 1:
        app.prepare(host=host, port=port, single_process=True, **options)
        Sanic.serve_single(primary=app)
        return
    import sanic.mixins.startup

    # Sanic builds its manager from this module-level name; there is no other way to choose it.
    setattr(sanic.mixins.startup, "WorkerManager", StoppableWorkerManager)  # noqa: B010
    app.prepare(host=host, port=port, workers=workers, **options)
    Sanic.serve(primary=app, app_loader=loader)
