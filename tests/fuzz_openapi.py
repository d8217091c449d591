"""``make fuzz``: every operation of the OpenAPI document, fuzzed on a live server by every kind of caller.

The run, from an empty var folder:

1. migrate, load the seed catalog, create an admin with ``python -m app staff create``;
2. serve (development settings, rate limits off so the handlers, not the limiter, answer);
3. log in a citizen through the fake WeChat platform and verify the real name, apply once;
   log in the admin and create and log in one account of every other staff role;
4. run schemathesis (``not_a_server_error``) once per identity: anonymous over every operation,
   the citizen over the citizens' operations, each staff role over ``/api/v1/admin``;
5. send the cases schemathesis cannot generate, derived from the same document: NUL and lone
   surrogates in every string (body, query, path), integers past BIGINT in every integer, values
   of the wrong JSON type in every body field; each must answer 400, never 5xx; and over the
   WebSocket, a lone surrogate (an error frame, the socket stays) and invalid UTF-8 (close 1007).

It exits 1 if any request was answered 5xx (or an explicit case got another answer than 400),
and prints per identity the operations reached (some answer other than 401/403), the cases and
the status codes. The logout operations are left to the end, so no identity ends mid-run.

Environment: ``FUZZ_DATABASE_URL`` (default: a fresh SQLite file; a PostgreSQL database is used
as it is, migrated), ``FUZZ_REDIS_URL`` (default: the embedded Redis), ``FUZZ_MAX_EXAMPLES``
(fuzzed cases per operation and identity, default 20; other staff roles get a quarter),
``FUZZ_SEED``.
"""

from __future__ import annotations

import collections
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.helpers import Service, free_port, service_env, start_service, wait_for_http  # noqa: E402

PASSWORD = "fuzz-" + secrets.token_urlsafe(12)
ROLES = (
    "viewer",
    "clerk",
    "editor",
    "publisher",
    "agent",
    "admin",
)  # app.console.staff.ROLES, without importing the app
LOGOUTS = ("/api/v1/auth/logout", "/api/v1/admin/logout")
ADMIN_PREFIX = "/api/v1/admin"
CITIZEN = ("lisi", "李四", "440306199003071232")  # a synthetic person of the fake WeChat platform
SERVICE = "440000-CRJ-004-01"  # 普通护照首次申领
HUGE = "99999999999999999999"  # past BIGINT (2**63 - 1 is 9223372036854775807)


@dataclass
class Identity:
    name: str
    headers: dict[str, str]
    include: list[str] = field(default_factory=list)  # schemathesis filter options
    examples: int = 20


@dataclass
class Tally:
    """What one schemathesis run or the explicit cases did."""

    name: str
    operations: set[str] = field(default_factory=set)
    reached: set[str] = field(default_factory=set)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)
    exit_code: int = 0

    @property
    def cases(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def run(cmd: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    done = subprocess.run(cmd, cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def prepare(env: dict[str, str]) -> str:
    """Migrate, load the catalog, create the first admin the way an operator does; answer its username."""
    python = [sys.executable, "-m", "app"]
    run([*python, "migrate"], env)
    run([*python, "catalog", "load"], env)
    admin = f"fuzz-admin-{secrets.token_hex(3)}"
    run([*python, "staff", "create", admin, "--role", "admin", "--password-stdin"], env, stdin=PASSWORD + "\n")
    return admin


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def identities(http: httpx.Client, admin: str, examples: int) -> tuple[list[Identity], dict[str, Any]]:
    """Log everyone in; answer the identities and what the explicit cases need (ids that exist)."""
    login = http.post("/api/v1/auth/wx-login", json={"code": f"{CITIZEN[0]}.fuzz"})
    login.raise_for_status()
    citizen = bearer(login.json()["access_token"])
    if http.get("/api/v1/me", headers=citizen).json()["user"]["level"] != "L2":
        verified = http.post(
            "/api/v1/auth/real-name", json={"name": CITIZEN[1], "id_number": CITIZEN[2]}, headers=citizen
        )
        verified.raise_for_status()
    item = http.get(f"/api/v1/services/{SERVICE}").json()
    materials = [
        {"name": m["name"], "file_id": f"fuzz-{n}"}
        for n, m in enumerate(item["materials"])
        if m["required"] and m["name"] not in ("居民身份证", "户口簿")
    ]
    applied = http.post(
        "/api/v1/applications",
        json={"service_code": SERVICE, "form": {"reason": "旅游"}, "materials": materials},
        headers=citizen,
    )
    applied.raise_for_status()
    staff: dict[str, dict[str, str]] = {}
    admin_login = http.post("/api/v1/admin/login", json={"username": admin, "password": PASSWORD})
    admin_login.raise_for_status()
    staff["admin"] = bearer(admin_login.json()["access_token"])
    for role in ROLES:
        if role == "admin":
            continue
        username = f"fuzz-{role}-{secrets.token_hex(3)}"
        made = http.post(
            "/api/v1/admin/staff",
            json={"username": username, "role": role, "password": PASSWORD},
            headers=staff["admin"],
        )
        made.raise_for_status()
        logged = http.post("/api/v1/admin/login", json={"username": username, "password": PASSWORD})
        logged.raise_for_status()
        staff[role] = bearer(logged.json()["access_token"])
    everyone = [
        Identity("anonymous", {}, [], examples),
        Identity("citizen", citizen, ["--exclude-path-regex", f"^{ADMIN_PREFIX}/"], examples),
    ]
    # The admin last: it may change other accounts (role, password, disabled) while it is fuzzed.
    for role in sorted(ROLES, key=lambda r: r == "admin"):
        n = examples if role == "admin" else max(2, examples // 4)
        everyone.append(Identity(role, staff[role], ["--include-path-regex", f"^{ADMIN_PREFIX}/"], n))
    return everyone, {"citizen": citizen, "staff": staff, "application": applied.json()}


# -- schemathesis ---------------------------------------------------------------------------------


def schemathesis(base: str, who: Identity, seed: str, workdir: Path) -> Tally:
    binary = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    report = workdir / f"report-{who.name}"
    cmd = [
        binary,
        "run",
        f"{base}/docs/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(who.examples),
        "--seed",
        seed,
        "--wait-for-schema",
        "20",
        "--generation-database",
        "none",
        # A publish or rollback builds the new release's engine on every worker first: seconds, not ms.
        "--request-timeout",
        "60",
        # No stateful phase: the document declares no links, and it ran without bound on a loaded machine.
        "--phases",
        "examples,coverage,fuzzing",
        "--report",
        "ndjson",
        "--report-dir",
        str(report),
        "--no-color",
        *[arg for path in LOGOUTS for arg in ("--exclude-path", path)],
        *who.include,
    ]
    for name, value in who.headers.items():
        cmd += ["-H", f"{name}: {value}"]
    done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=900)
    tally = Tally(who.name, exit_code=done.returncode)
    for path in report.glob("*.ndjson"):
        read_report(path, tally)
    if done.returncode != 0:
        tally.failures.append(done.stdout[-8000:] + done.stderr[-2000:])
    return tally


def read_report(path: Path, tally: Tally) -> None:
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]
        label = recorder["label"]
        tally.operations.add(label)
        for interaction in (recorder.get("interactions") or {}).values():
            response = interaction.get("response") or {}
            status = response.get("status_code")
            if status is None:
                continue
            tally.statuses[status] += 1
            if status not in (401, 403):
                tally.reached.add(label)


# -- the explicit cases -----------------------------------------------------------------------------


@dataclass
class Case:
    operation: str  # "POST /api/v1/…" as in the document
    method: str
    path: str
    what: str
    headers: dict[str, str]
    body: bytes | None = None
    expect: int | None = 400  # None: anything but 5xx
    code: str | None = None


def alien_values(kind: str | None) -> list[tuple[str, str]]:
    """JSON texts a field must refuse with 400: bad text in any string, and every other type than its own."""
    values = [("NUL", '"a\\u0000b"'), ("lone surrogate", '"\\ud800"'), ("huge integer", HUGE)]
    others = {"string": '"x"', "integer": "1", "boolean": "true", "array": '["x"]', "object": '{"x": 1}'}
    values += [
        (f"a{'n' if k in ('integer', 'array', 'object') else ''} {k}", v) for k, v in others.items() if k != kind
    ]
    return values


def explicit_cases(document: dict[str, Any], who: dict[str, Any]) -> list[Case]:
    """The cases of the issue, for every operation the document has (a route added later is covered too)."""
    cases: list[Case] = []
    app_id = str(who["application"]["id"])
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            label = f"{method.upper()} {path}"
            headers = who["staff"]["admin"] if path.startswith(ADMIN_PREFIX + "/") else who["citizen"]
            params = op.get("parameters", [])
            in_path = {p["name"]: p.get("schema", {}).get("type") for p in params if p["in"] == "path"}

            def url(override: dict[str, str] | None = None, _path: str = path, _in_path: dict = in_path) -> str:
                values = {n: (app_id if t == "integer" else "x") for n, t in _in_path.items()}
                values.update(override or {})
                for name, value in values.items():
                    _path = _path.replace("{" + name + "}", value)
                return _path

            for name, kind in in_path.items():
                if kind == "integer":
                    cases.append(Case(label, method, url({name: HUGE}), f"path {name}={HUGE}", headers))
                    cases.append(Case(label, method, url({name: "-" + HUGE}), f"path {name}=-{HUGE}", headers))
                else:
                    cases.append(Case(label, method, url({name: "a%00b"}), f"path {name} with NUL", headers,
                                      code="invalid_text"))  # fmt: skip
            for p in params:
                if p["in"] != "query":
                    continue
                name, kind = p["name"], p.get("schema", {}).get("type")
                if kind == "integer":
                    for bad in (HUGE, "-" + HUGE, "١٢"):
                        cases.append(Case(label, method, url() + f"?{name}={quote(bad)}", f"query {name}={bad}",
                                          headers))  # fmt: skip
                cases.append(Case(label, method, url() + f"?{name}=a%00b", f"query {name} with NUL", headers,
                                  code="invalid_text"))  # fmt: skip
            schema = (op.get("requestBody", {}).get("content", {}).get("application/json", {}) or {}).get("schema")
            for prop, prop_schema in ((schema or {}).get("properties") or {}).items():
                kind = prop_schema.get("type")
                if kind == "object" and "append" in (prop_schema.get("properties") or {}):
                    kind = "array"  # sanic-ext documents a bare `list` as an object of list's methods
                for what, value in alien_values(kind):
                    body = f'{{"{prop}": {value}}}'.encode()
                    text = what in ("NUL", "lone surrogate")
                    # Text is refused wherever it is; a wrong type is refused where the field is read.
                    cases.append(Case(label, method, url(), f"body {prop}: {what}", headers, body,
                                      expect=400 if text else None, code="invalid_text" if text else None))  # fmt: skip
            if method.upper() in ("POST", "PUT", "PATCH"):
                # Sanic reads no body on GET, HEAD and DELETE routes: there is nothing to refuse there.
                cases.append(Case(label, method, url(), "body with a NUL key", headers, b'{"a\\u0000": 1}',
                                  code="invalid_text"))  # fmt: skip
    # The examples written in the issue, with ids that exist.
    admin, citizen = who["staff"]["admin"], who["citizen"]
    transition = f"{ADMIN_PREFIX}/applications/{app_id}/transitions"
    for body in (
        {"to": "accepted", "version": 1, "missing_materials": True},
        {"to": "returned", "version": 1, "missing_materials": True},
        {"to": "returned", "version": 1, "missing_materials": [1, None, {"a": 1}]},
        {"to": "accepted", "version": int(HUGE)},
        {"to": ["accepted"], "version": 1},
        {"to": "accepted", "version": 1, "note": ["x"]},
    ):
        cases.append(Case(f"POST {ADMIN_PREFIX}/applications/{{application_id}}/transitions", "post", transition,
                          f"transition {json.dumps(body)}", admin, json.dumps(body).encode()))  # fmt: skip
    for body_text in ('{"username": "a\\u0000b", "password": "xxxxxxxxxxxx"}', '{"username": "\\ud800"}'):
        cases.append(Case(f"POST {ADMIN_PREFIX}/login", "post", f"{ADMIN_PREFIX}/login", body_text, {},
                          body_text.encode(), code="invalid_text"))  # fmt: skip
    cases.append(Case("POST /api/v1/chat", "post", "/api/v1/chat", "chat text with a surrogate pair half", citizen,
                      b'{"text": "\\ud83d"}', code="invalid_text"))  # fmt: skip
    # Logouts last: they end the sessions the cases above use.
    cases.sort(key=lambda c: c.path in LOGOUTS)
    return cases


def send_cases(http: httpx.Client, cases: list[Case]) -> Tally:
    tally = Tally("explicit")
    for case in cases:
        headers = dict(case.headers)
        if case.body is not None:
            headers["Content-Type"] = "application/json"
        response = http.request(case.method.upper(), case.path, content=case.body, headers=headers)
        tally.operations.add(case.operation)
        tally.statuses[response.status_code] += 1
        if response.status_code not in (401, 403):
            tally.reached.add(case.operation)
        wrong = response.status_code >= 500
        if case.expect is not None and response.status_code != case.expect:
            wrong = True
        if case.code and not wrong:
            try:
                wrong = response.json()["error"]["code"] != case.code
            except ValueError:
                wrong = True
        if wrong:
            tally.failures.append(f"{case.operation} [{case.what}] {case.path} -> {response.status_code} "
                                  f"{response.text[:200]}")  # fmt: skip
    return tally


# -- the WebSocket ----------------------------------------------------------------------------------


def websocket_cases(port: int) -> Tally:
    """A lone surrogate answers an error frame and the socket stays; a text frame that is not UTF-8 closes with 1007."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    tally = Tally("websocket")
    label = "WS /api/v1/ws"
    tally.operations.add(label)
    url = f"ws://127.0.0.1:{port}/api/v1/ws"

    def fail(message: str) -> None:
        tally.statuses[500] += 1
        tally.failures.append(f"{label}: {message}")

    try:
        with connect(url, open_timeout=10) as ws:
            for frame in ('{"type": "chat", "text": "\\ud800"}', '{"type": "chat", "text": "a\\u0000b"}'):
                ws.send(frame)
                answer = json.loads(ws.recv(timeout=10))
                if answer.get("type") == "error" and answer["error"].get("code") == "invalid_text":
                    tally.statuses[400] += 1
                else:
                    fail(f"{frame} answered {answer}")
            ws.send('{"type": "ping"}')
            if json.loads(ws.recv(timeout=10)) != {"type": "pong"}:
                fail("the socket did not answer a ping after the errors")
    except (ConnectionClosed, TimeoutError) as exc:
        fail(f"a lone surrogate or a NUL ended the socket: {exc!r}")
    try:
        with connect(url, open_timeout=10) as ws:
            # Bytes sent as a text frame as they are: the client library does not check them.
            ws.send(b'{"type": "chat", "text": "\xff\xfe"}', text=True)
            answer = ws.recv(timeout=10)
            fail(f"invalid UTF-8 answered {answer!r} instead of closing")
    except ConnectionClosed as exc:
        if exc.rcvd is not None and exc.rcvd.code == 1007:
            tally.statuses[400] += 1
        else:
            fail(f"invalid UTF-8 closed with {exc.rcvd}, not 1007")
    except TimeoutError:
        fail("invalid UTF-8 got no answer")
    tally.reached.add(label)
    return tally


# -- the run ----------------------------------------------------------------------------------------


def report(tallies: list[Tally], logged_errors: int, seconds: float) -> int:
    print(f"\n{'identity':<10} {'operations':>10} {'reached':>8} {'cases':>7} {'5xx':>5}  statuses")
    for t in tallies:
        statuses = " ".join(f"{s}:{n}" for s, n in sorted(t.statuses.items()))
        print(f"{t.name:<10} {len(t.operations):>10} {len(t.reached):>8} {t.cases:>7} {t.server_errors:>5}  {statuses}")
    every = set().union(*(t.operations for t in tallies))
    reached = set().union(*(t.reached for t in tallies))
    cases, errors = sum(t.cases for t in tallies), sum(t.server_errors for t in tallies)
    failures = [f for t in tallies for f in t.failures]
    print(
        f"\n{len(every)} operations (with the WebSocket), {len(reached)} reached past 401/403, {cases} cases, "
        f"{errors} server errors, {logged_errors} unhandled errors logged by the server, {seconds:.0f} s"
    )
    for failure in failures:
        print("\nFAILED:", failure)
    ok = errors == 0 and logged_errors == 0 and not failures
    print("\nfuzz: " + ("no server error" if ok else "FAILED"))
    return 0 if ok else 1


def main() -> int:
    started = time.monotonic()
    examples = int(os.environ.get("FUZZ_MAX_EXAMPLES", "20"))
    seed = os.environ.get("FUZZ_SEED", "20261206")
    workdir = Path(tempfile.mkdtemp(prefix="shengshi-fuzz-"))
    env = service_env(
        SHENGSHI_ENV="development",
        SHENGSHI_VAR_DIR=str(workdir / "var"),
        DATABASE_URL=os.environ.get("FUZZ_DATABASE_URL", "").strip() or f"sqlite://{workdir / 'fuzz.sqlite3'}",
        RATE_LIMIT_ENABLED="false",
        LOG_LEVEL="WARNING",
    )
    if os.environ.get("FUZZ_REDIS_URL", "").strip():
        env["REDIS_URL"] = os.environ["FUZZ_REDIS_URL"].strip()
    print(f"fuzz: database {env['DATABASE_URL'].split('@')[-1]}, redis {env.get('REDIS_URL', 'embedded')}, "
          f"{examples} examples per operation, seed {seed}, files in {workdir}", flush=True)  # fmt: skip
    admin = prepare(env)
    port = free_port()
    service: Service = start_service(port, env, workdir / "server.log")
    base = f"http://127.0.0.1:{port}"
    tallies: list[Tally] = []
    try:
        wait_for_http(base + "/healthz")
        with httpx.Client(base_url=base, timeout=30) as http:
            everyone, known = identities(http, admin, examples)
            document = http.get("/docs/openapi.json").json()
            for who in everyone:
                tally = schemathesis(base, who, seed, workdir)
                tallies.append(tally)
                print(f"  {who.name}: {tally.cases} cases, {tally.server_errors} server errors", flush=True)
            tallies.append(send_cases(http, explicit_cases(document, known)))
            tallies.append(websocket_cases(port))
    finally:
        code = service.stop()
    log = service.output
    logged = log.count('"msg": "unhandled error')
    if code != 0:
        print(f"the server exited {code}:\n{log[-4000:]}")
    if logged:
        print(
            "the server logged:\n" + "\n".join(line for line in log.splitlines() if "unhandled error" in line)[-6000:]
        )
    return report(tallies, logged, time.monotonic() - started) or (1 if code != 0 else 0)


if __name__ == "__main__":
    sys.exit(main())
