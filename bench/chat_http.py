"""Requests per second and p99 of POST /api/v1/chat against a hello-world route of the same app.

    python bench/chat_http.py [--workers N] [--connections C] [--seconds S]

Starts the real server (``sanic bench.hello_app:create_bench_app --factory``) on a free
loopback port with the seed catalog, then drives both routes with wrk (``apt-get install wrk``)
in the same run and prints the ratio. Several workers need ``REDIS_URL`` (the embedded Redis is
one process); rate limits are switched off so the handler, not the limiter, is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "孩子刚出生，户口怎么上",
    "下个月去香港，通行证要续一下",
    "护照丢了怎么补办",
    "公积金租房怎么提取",
    "社保卡丢了要挂失",
    "想开个饭店要办什么证",
    "驾驶证到期了怎么换",
    "明天广州下雨吗",
]

LUA = """
local bodies = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[(i %% #bodies) + 1])
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_wrk(url: str, connections: int, seconds: int, script: str | None = None) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        command[1:1] = ["-s", script]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    latencies = {p: _ms(re.search(rf"\s{p}%\s+([\d.]+\w+)", out)[1]) for p in ("50", "99")}  # type: ignore[index]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": rps,
        "p50_ms": latencies["50"],
        "p99_ms": latencies["99"],
        "non_2xx": int(non2xx[1]) if non2xx else 0,
    }


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is needed: apt-get install wrk", file=sys.stderr)
        return 2
    if args.workers > 1 and not os.environ.get("REDIS_URL"):
        print("Several workers need REDIS_URL (e.g. redis://127.0.0.1:6379/0).", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="shengshi-bench-"))
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", f"sqlite://{workdir / 'bench.sqlite3'}")
    env.update(SHENGSHI_VAR_DIR=str(workdir), RATE_LIMIT_ENABLED="false", LOG_LEVEL="WARNING")
    subprocess.run([sys.executable, "-m", "app", "catalog", "load"], cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    log = open(workdir / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "sanic", "bench.hello_app:create_bench_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(args.workers), "--no-access-logs"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/__bench/hello", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        bodies = ", ".join(
            json.dumps(json.dumps({"text": q}, ensure_ascii=False), ensure_ascii=False) for q in QUESTIONS
        )
        script = workdir / "chat.lua"
        script.write_text(LUA % bodies, encoding="utf-8")
        run_wrk(base + "/__bench/hello", args.connections, 2)  # warm-up
        run_wrk(base + "/api/v1/chat", args.connections, 2, str(script))
        hello = run_wrk(base + "/__bench/hello", args.connections, args.seconds)
        chat = run_wrk(base + "/api/v1/chat", args.connections, args.seconds, str(script))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        log.close()
    print(
        f"{time.strftime('%Y-%m-%d')}  {platform.platform()}  {os.cpu_count()} CPUs  Python {platform.python_version()}"
    )
    load = f"wrk -t2 -c{args.connections} -d{args.seconds}s"
    print(f"workers {args.workers}, {load}, loopback, {len(QUESTIONS)} questions cycled")
    print(f"{'route':<24}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
    for name, figures in (("GET /__bench/hello", hello), ("POST /api/v1/chat", chat)):
        latency = f"{figures['p50_ms']:>10.2f}{figures['p99_ms']:>10.2f}"
        print(f"{name:<24}{figures['rps']:>10.0f}{latency}{figures['non_2xx']:>10}")
    ratio = chat["rps"] / hello["rps"]
    print(f"chat / hello: {ratio:.1%} of the requests per second, p99 ×{chat['p99_ms'] / hello['p99_ms']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
