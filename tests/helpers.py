"""Helpers for tests that run real processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed by this test: apt-get install redis-server"
    return binary


@contextlib.contextmanager
def scratch_redis(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A throw-away redis-server on ``port`` (no persistence), stopped on exit."""
    proc = subprocess.Popen(
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port} after {timeout} s")


def wait_for_http(url: str, timeout: float = 30.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            return httpx.get(url, timeout=2)
        except httpx.HTTPError as exc:
            last = exc
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s: {last}")


def service_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHENGSHI_", "DATABASE_", "REDIS_"))}
    env.update(extra)
    return env


class Service:
    """A real server process; its output goes to a file (a pipe nobody reads would fill and block it)."""

    def __init__(self, port: int, env: dict[str, str], log_path: Path, *args: str):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._signalled = False
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port), *args],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own process group: signals the server's process manager sends stay among its workers.
            start_new_session=True,
        )

    def send(self, sig: int = signal.SIGTERM) -> None:
        self._signalled = True
        self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal the server (once: a second SIGTERM tells Sanic to kill), wait, and answer its exit code."""
        if self.proc.poll() is None and not self._signalled:
            self.send(sig)
        code = self.proc.wait(timeout)
        self._log.close()
        return code

    @property
    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start_service(port: int, env: dict[str, str], log_path: Path, *args: str) -> Service:
    return Service(port, env, log_path, *args)


def metric_value(exposition: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text (labels in any order), or None."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None
