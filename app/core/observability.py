"""Request ids, structured logs and Prometheus metrics (prometheus_client; multiprocess mode under several workers)."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sanic import Request, Sanic
from sanic.response import HTTPResponse

from app.core.security.pii import mask_personal_numbers

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# prometheus_client reads it when it is first imported: set by prepare_multiprocess_dir before the workers start.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The *_created series would be new names on /metrics (and multiprocess mode has none).
disable_created_metrics()


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line; fields passed with ``extra={"fields": {...}}`` are merged in."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": mask_personal_numbers(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or request_id_var.get() or "-",
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            # A value (or an error's text) may quote what someone typed: numbers that name a person are masked.
            entry.update({k: mask_personal_numbers(v) if isinstance(v, str) else v for k, v in fields.items()})
        if record.exc_info:
            entry["exc"] = mask_personal_numbers(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Route every logger (ours and Sanic's) through one JSON handler to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_shengshi", False):
            root.removeHandler(old)
    handler._shengshi = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("sanic.root", "sanic.error", "sanic.server", "sanic.websockets"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
    # An empty "models" package (before its first model) is not worth a warning on every start.
    logging.captureWarnings(True)
    # Our own access line replaces Sanic's (it carries the request id and the route, never the query).
    logging.getLogger("sanic.access").disabled = True


class Metrics:
    """This worker's request counters and latencies (prometheus_client).

    Under several workers (``python -m app serve --workers N``) every worker writes its values to
    files in the folder named by ``PROMETHEUS_MULTIPROC_DIR`` (see :func:`prepare_multiprocess_dir`)
    and ``GET /metrics`` on any of them adds up the whole host's: Prometheus scrapes each host.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "shengshi_http_requests",
            "HTTP requests answered, by route, method and status",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "shengshi_http_request_duration_seconds",
            "HTTP request latency by route",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self, gauges: dict[str, tuple[str, float]] | None = None) -> bytes:
        """The text exposition: every worker's counters on this host, then ``gauges`` (name: help, value)."""
        directory = os.environ.get(MULTIPROCESS_ENV)
        registry: Any = self.registry
        if directory:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=directory)
        return generate_latest(registry) + generate_latest(_Gauges(gauges or {}))


class _Gauges:
    """Gauges whose values were read just now (from Redis and the database), as a collector."""

    def __init__(self, gauges: dict[str, tuple[str, float]]):
        self.gauges = gauges

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, (help_text, value) in self.gauges.items():
            yield GaugeMetricFamily(name, help_text, value=value)


def prepare_multiprocess_dir(directory: Path) -> Path:
    """Point prometheus_client's multiprocess mode at ``directory``, emptied of an earlier run's files.

    Call it in the serving process before the workers start: they inherit the variable and must
    import prometheus_client after it is set. Falls back to a temporary folder when ``directory``
    cannot be written.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
    except OSError:
        directory = Path(tempfile.mkdtemp(prefix="shengshi-metrics-"))
    os.environ[MULTIPROCESS_ENV] = str(directory)
    return directory


access_log = logging.getLogger("shengshi.access")


def setup_observability(app: Sanic) -> None:
    """Request ids, the access log line and the request metrics."""
    metrics = Metrics()
    app.ctx.metrics = metrics

    @app.on_request(priority=1000)  # type: ignore[call-arg]
    async def assign_request_id(request: Request) -> None:
        incoming = request.headers.get("x-request-id", "")
        request.ctx.request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.ctx.started = time.perf_counter()
        request_id_var.set(request.ctx.request_id)

    @app.on_response(priority=1000)  # type: ignore[call-arg]
    async def finish_request(request: Request, response: HTTPResponse) -> None:
        request_id = getattr(request.ctx, "request_id", None)
        if request_id is None:
            # Sanic answered before our request middleware ran (e.g. unknown route, body too large).
            request_id = uuid.uuid4().hex
            request.ctx.request_id = request_id
        response.headers["X-Request-ID"] = request_id
        started = getattr(request.ctx, "started", None)
        elapsed = time.perf_counter() - started if started else 0.0
        route = request.route.path if request.route else "<unmatched>"
        route = "/" + route.lstrip("/")
        metrics.observe_request(route, request.method, response.status, elapsed)
        access_log.info(
            "%s %s %s",
            request.method,
            route,
            response.status,
            extra={
                "fields": {
                    "request_id": request_id,
                    "method": request.method,
                    "route": route,
                    "status": response.status,
                    "ms": round(elapsed * 1000, 2),
                }
            },
        )
