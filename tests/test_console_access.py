"""The console's staff access: TOTP, lockout, idle expiry, citizen tokens refused, each role's allowed and
forbidden actions, and an audit entry for every write."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.console import totp
from app.console.accounts import create_account
from app.console.roles import PERMISSIONS, PUBLIC_ROUTES
from models import AuditEntry, Staff, StaffLoginAttempts
from tests.helpers import ROOT, service_env

PASSWORD = "correct-horse-battery"


# -- TOTP (RFC 6238) ------------------------------------------------------------------------


def test_totp_matches_the_rfc_6238_vectors() -> None:
    # RFC 6238 appendix B, SHA-1, secret "12345678901234567890": the last 6 of its 8-digit codes.
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert totp.code_at(secret, 59 // 30) == "287082"
    assert totp.code_at(secret, 1111111109 // 30) == "081804"
    assert totp.code_at(secret, 1234567890 // 30) == "005924"
    assert totp.code_at(secret, 2000000000 // 30) == "279037"
    now = 1111111109.0
    assert totp.verify(secret, "081804", now) == 1111111109 // 30
    assert totp.verify(secret, totp.code_at(secret, 1111111109 // 30 - 1), now) is not None  # clock drift
    assert totp.verify(secret, totp.code_at(secret, 1111111109 // 30 - 3), now) is None
    for junk in ("", "12345", "abcdef", None, 123456, "0818044"):
        assert totp.verify(secret, junk, now) is None
    uri = totp.provisioning_uri(secret, "ops")
    assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri


# -- helpers ---------------------------------------------------------------------------------


async def staff_token(http: httpx.AsyncClient, app: Any, username: str, role: str) -> dict[str, str]:
    made = await create_account(username, role, PASSWORD, app.ctx.services.pii)
    body = {"username": username, "password": PASSWORD}
    if app.ctx.settings.staff_totp_required:
        body["totp_code"] = totp.code_at(made.totp_secret, totp.current_step())
    login = await http.post("/api/v1/admin/login", json=body)
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def test_second_factor_is_required_outside_development(start_server) -> None:  # type: ignore[no-untyped-def]
    running = await start_server(staff_totp_required=True)
    made = await create_account("ops", "admin", PASSWORD, running.app.ctx.services.pii)
    async with httpx.AsyncClient(base_url=running.url) as http:
        login = {"username": "ops", "password": PASSWORD}
        missing = await http.post("/api/v1/admin/login", json=login)
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "totp_required"
        wrong = await http.post("/api/v1/admin/login", json={**login, "totp_code": "000000"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "bad_totp"
        code = totp.code_at(made.totp_secret, totp.current_step())
        right = await http.post("/api/v1/admin/login", json={**login, "totp_code": code})
        assert right.status_code == 200 and right.json()["role"] == "admin"
        # A code works once.
        again = await http.post("/api/v1/admin/login", json={**login, "totp_code": code})
        assert again.status_code == 401 and again.json()["error"]["code"] == "bad_totp"
        # The secret is stored encrypted, never as typed.
        stored = await Staff.get(username="ops")
        assert stored.totp_secret and made.totp_secret not in stored.totp_secret
        # Failed second factors count towards the lockout.
        for _ in range(4):
            await http.post("/api/v1/admin/login", json={**login, "totp_code": "000000"})
        locked = await http.post("/api/v1/admin/login", json=login)
        assert locked.status_code == 429
        await StaffLoginAttempts.filter(username="ops").delete()
        # No secret enrolled: refused outright.
        await Staff.filter(username="ops").update(totp_secret=None)
        none = await http.post("/api/v1/admin/login", json={**login, "totp_code": code})
        assert none.status_code == 401 and none.json()["error"]["code"] == "totp_not_enrolled"
    actions = await AuditEntry.filter(staff_username="ops").values_list("action", flat=True)
    assert "staff.login" in actions and "staff.login_failed" in actions


def test_production_settings_force_the_second_factor() -> None:
    from app.core.settings import Settings
    from tests.test_core_settings import production_env

    env = production_env() | {"STAFF_TOTP_REQUIRED": "false"}
    assert Settings.from_env(env).staff_totp_required is True
    assert Settings.from_env({"STAFF_TOTP_REQUIRED": "true", "SHENGSHI_VAR_DIR": "/tmp/x"}).staff_totp_required
    assert not Settings.from_env({"SHENGSHI_VAR_DIR": "/tmp/x"}).staff_totp_required


async def test_idle_sessions_expire_and_logout_ends_them(start_server) -> None:  # type: ignore[no-untyped-def]
    running = await start_server(staff_idle_timeout_s=1)
    async with httpx.AsyncClient(base_url=running.url) as http:
        headers = await staff_token(http, running.app, "idle", "viewer")
        for _ in range(3):
            # Each request pushes the end of the session forward.
            assert (await http.get("/api/v1/admin/me", headers=headers)).status_code == 200
            await asyncio.sleep(0.6)
        await asyncio.sleep(1.6)
        expired = await http.get("/api/v1/admin/me", headers=headers)
        assert expired.status_code == 401 and expired.json()["error"]["code"] == "session_expired"
    running = await start_server()
    async with httpx.AsyncClient(base_url=running.url) as http:
        headers = await staff_token(http, running.app, "leaver", "viewer")
        assert (await http.post("/api/v1/admin/logout", headers=headers)).status_code == 200
        assert (await http.get("/api/v1/admin/me", headers=headers)).status_code == 401


async def test_a_citizen_token_never_opens_a_staff_route(start_server) -> None:  # type: ignore[no-untyped-def]
    running = await start_server(mount_fake_wechat=True)
    client = httpx.AsyncClient(base_url=running.url)
    login = (await client.post("/api/v1/auth/wx-login", json={"code": "citizen.1"})).json()
    citizen = {"Authorization": f"Bearer {login['access_token']}"}
    for method, path in [("GET", "/api/v1/admin/intents"), ("GET", "/api/v1/admin/audit"),
                         ("POST", "/api/v1/admin/intents/test"), ("GET", "/api/v1/admin/handoffs")]:  # fmt: skip
        response = await client.request(method, path, headers=citizen, json={"text": "护照"})
        assert response.status_code == 401, (path, response.text)
    await client.aclose()


# -- every role: allowed and forbidden -------------------------------------------------------------

ROLES = ("viewer", "clerk", "editor", "publisher", "agent", "admin")
# (method, path, body, roles allowed)
MATRIX: list[tuple[str, str, Any, set[str]]] = [
    ("GET", "/api/v1/admin/intents", None, {"viewer", "editor", "publisher", "admin"}),
    ("GET", "/api/v1/admin/intents/440000-CRJ-004-03", None, {"viewer", "editor", "publisher", "admin"}),
    ("GET", "/api/v1/admin/releases", None, {"viewer", "editor", "publisher", "admin"}),
    ("GET", "/api/v1/admin/clusters", None, {"viewer", "editor", "publisher", "admin"}),
    ("GET", "/api/v1/admin/draft", None, {"viewer", "editor", "publisher", "admin"}),
    ("POST", "/api/v1/admin/intents/test", {"text": "护照丢了"}, {"editor", "publisher", "admin"}),
    ("POST", "/api/v1/admin/intents/440000-CRJ-004-03/phrases", {"text": "本本丢了"}, {"editor", "admin"}),
    ("PUT", "/api/v1/admin/synonyms/本本", {"values": ["护照"]}, {"editor", "admin"}),
    ("POST", "/api/v1/admin/intents/replay", {"limit": 10}, {"editor", "publisher", "admin"}),
    ("POST", "/api/v1/admin/intents/publish", {"note": "x"}, {"publisher", "admin"}),
    ("POST", "/api/v1/admin/releases/1/rollback", None, {"publisher", "admin"}),
    ("GET", "/api/v1/admin/handoffs", None, {"agent", "admin"}),
    ("POST", "/api/v1/admin/handoffs/999/claim", None, {"agent", "admin"}),
    ("GET", "/api/v1/admin/staff", None, {"admin"}),
    ("POST", "/api/v1/admin/staff", {"username": "made-by-x", "role": "viewer"}, {"admin"}),
    ("GET", "/api/v1/admin/audit", None, {"admin"}),
    ("POST", "/api/v1/admin/applications/999/transitions", {"to": "accepted", "version": 1}, {"clerk", "admin"}),
    # Citizens' applications and the deliveries that name them: only the roles whose job they are.
    ("GET", "/api/v1/admin/applications", None, {"clerk", "admin"}),
    ("GET", "/api/v1/admin/applications/999", None, {"clerk", "admin"}),
    ("GET", "/api/v1/admin/deliveries", None, {"clerk", "admin"}),
    ("POST", "/api/v1/admin/deliveries/replay", {"idempotency_key": "x"}, {"clerk", "admin"}),
    ("GET", "/api/v1/admin/ratings", None, set(ROLES)),
    ("GET", "/api/v1/admin/me", None, set(ROLES)),
]


@pytest.fixture
async def console(start_server):  # type: ignore[no-untyped-def]
    from app.catalog import load_items
    from tests.test_applications import seed

    await load_items([dict(i) for i in seed()], "seed")
    running = await start_server(mount_fake_wechat=True)
    # Generous: a replay runs the whole development set through two engines, and on a loaded CI
    # machine that has taken longer than 30 seconds. No test here times anything.
    async with httpx.AsyncClient(base_url=running.url, timeout=180) as http:
        yield running, http


async def test_each_role_gets_403_outside_its_rights_and_each_write_is_audited(console) -> None:  # type: ignore[no-untyped-def]
    running, http = console
    tokens = {role: await staff_token(http, running.app, f"{role}-user", role) for role in ROLES}
    for method, path, body, allowed in MATRIX:
        for role in ROLES:
            if method == "POST" and path.endswith("/api/v1/admin/staff") and role == "admin":
                body = {"username": "made-by-admin", "role": "viewer"}
            response = await http.request(method, path, headers=tokens[role], json=body)
            if role in allowed:
                assert response.status_code not in (401, 403), (method, path, role, response.text)
                assert response.status_code < 500, (method, path, role, response.text)
            else:
                assert response.status_code == 403, (method, path, role, response.text)
                assert response.json()["error"]["code"] == "role_forbidden"
    entries = await AuditEntry.all().order_by("id")
    actions = [e.action for e in entries]
    for action in ("intent.add_phrase", "synonym.set", "staff.create", "staff.login"):
        assert action in actions, actions
    phrase = next(e for e in entries if e.action == "intent.add_phrase")
    assert phrase.staff_username in ("editor-user", "admin-user") and phrase.target == "440000-CRJ-004-03"
    assert "本本丢了" in json.dumps(phrase.after, ensure_ascii=False)
    assert "本本丢了" not in json.dumps(phrase.before, ensure_ascii=False)
    audit = (await http.get("/api/v1/admin/audit", headers=tokens["admin"], params={"action": "synonym"})).json()
    assert audit["items"] and all(i["action"].startswith("synonym") for i in audit["items"])
    assert {"staff", "action", "target", "before", "after", "at"} <= set(audit["items"][0])


# Parameters of routes walked with every role: nothing by these ids or names exists.
SAMPLE_PARAMS = {"int": "999999", "str": "no-such-thing"}
# Bodies that keep an allowed call cheap: a replay with a bad limit stops before running the engines.
SAMPLE_BODIES = {("POST", "/api/v1/admin/intents/replay"): {"limit": -1}}


def staff_routes(app: Any) -> list[tuple[str, str, str]]:
    """Every (method, path with sample parameters, permission) under /api/v1/admin; logging out last."""
    found = []
    for route in app.router.routes:
        path = "/" + route.path
        if not path.startswith("/api/v1/admin/"):
            continue
        for method in route.methods:
            # OPTIONS answers are Sanic's own (they never reach a handler); logging in needs no token.
            if method in ("OPTIONS", "HEAD") or (method, path) in PUBLIC_ROUTES:
                continue
            permission = getattr(route.handler, "staff_permission", None)
            assert permission in PERMISSIONS, f"{method} {path} names no permission of app/roles.py"
            sample = re.sub(r"<\w+(?::(\w+))?>", lambda m: SAMPLE_PARAMS[m.group(1) or "str"], path)
            found.append((method, sample, permission))
    return sorted(found, key=lambda r: (r[1] == "/api/v1/admin/logout", r[1], r[0]))


async def test_every_staff_route_follows_the_role_table(console) -> None:  # type: ignore[no-untyped-def]
    running, http = console
    tokens = {role: await staff_token(http, running.app, f"walk-{role}", role) for role in ROLES}
    routes = staff_routes(running.app)
    assert len(routes) >= 43 and {p for _, _, p in routes} == set(PERMISSIONS)
    for method, path, permission in routes:
        body = SAMPLE_BODIES.get((method, path), {})
        for role in ROLES:
            response = await http.request(method, path, headers=tokens[role], json=body)
            if role in PERMISSIONS[permission]:
                assert response.status_code not in (401, 403), (method, path, role, response.text)
                assert response.status_code < 500, (method, path, role, response.text)
            else:
                assert response.status_code == 403, (method, path, role, response.text)
                assert response.json()["error"]["code"] == "role_forbidden"
    # Least privilege where citizens' data is: applications and deliveries for clerks and admins only.
    for permission in ("applications.read", "applications.transition", "deliveries.read", "deliveries.replay"):
        assert PERMISSIONS[permission] == {"clerk", "admin"}
    # The table the console documents is this one.
    documented = (ROOT / "docs" / "console.md").read_text(encoding="utf-8")
    for permission, roles in PERMISSIONS.items():
        row = next((line for line in documented.splitlines() if line.startswith(f"| `{permission}` |")), "")
        assert row, f"docs/console.md has no row for {permission}"
        assert {r for r in ROLES if f"`{r}`" in row.split("|")[2]} == roles, row


async def test_admins_manage_accounts(console) -> None:  # type: ignore[no-untyped-def]
    running, http = console
    admin = await staff_token(http, running.app, "root", "admin")
    made = await http.post("/api/v1/admin/staff", headers=admin, json={"username": "wang.agent", "role": "agent"})
    assert made.status_code == 201
    body = made.json()
    assert len(body["password"]) >= 16 and body["totp_secret"] and body["totp_uri"].startswith("otpauth://")
    login = await http.post("/api/v1/admin/login", json={"username": "wang.agent", "password": body["password"]})
    assert login.status_code == 200 and login.json()["role"] == "agent"
    agent = {"Authorization": f"Bearer {login.json()['access_token']}"}
    for bad in ({"username": "x", "role": "agent"}, {"username": "okname", "role": "boss"},
                {"username": "okname", "role": "agent", "password": "short"}):  # fmt: skip
        assert (await http.post("/api/v1/admin/staff", headers=admin, json=bad)).status_code == 400
    dup = await http.post("/api/v1/admin/staff", headers=admin, json={"username": "wang.agent", "role": "agent"})
    assert dup.status_code == 409
    staff_id = body["id"]
    changed = await http.patch(f"/api/v1/admin/staff/{staff_id}", headers=admin, json={"role": "viewer"})
    assert changed.json()["role"] == "viewer"
    # The role is read on every request: the agent's token no longer opens the desk.
    assert (await http.get("/api/v1/admin/handoffs", headers=agent)).status_code == 403
    await http.patch(f"/api/v1/admin/staff/{staff_id}", headers=admin, json={"is_active": False})
    assert (await http.get("/api/v1/admin/me", headers=agent)).status_code == 401
    reset = (await http.post(f"/api/v1/admin/staff/{staff_id}/password", headers=admin)).json()
    assert len(reset["password"]) >= 16
    assert (await http.post(f"/api/v1/admin/staff/{staff_id}/totp", headers=admin)).json()["totp_secret"]
    actions = [e.action for e in await AuditEntry.filter(target="wang.agent").order_by("id")]
    assert actions[:1] == ["staff.create"] and "staff.update" in actions and "staff.password" in actions
    update = await AuditEntry.filter(action="staff.update").first()
    assert update is not None and update.before["role"] == "agent" and update.after["role"] == "viewer"
    assert all(reset["password"] not in json.dumps(e.after) for e in await AuditEntry.all())


def test_cli_creates_the_first_account(tmp_path: Path) -> None:
    env = service_env(SHENGSHI_VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite://{tmp_path / 'cli.sqlite3'}")
    migrate = subprocess.run([sys.executable, "-m", "app", "migrate"], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=180)  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr
    typed = subprocess.run(
        [sys.executable, "-m", "app", "staff", "create", "first", "--role", "admin", "--password-stdin"],
        input="a-long-enough-password\n", cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert typed.returncode == 0, typed.stderr
    assert "Generated password" not in typed.stdout and "TOTP secret" in typed.stdout
    assert "otpauth://totp/" in typed.stdout
    generated = subprocess.run(
        [sys.executable, "-m", "app", "staff", "create", "second", "--role", "editor"],
        input="", cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    line = next(x for x in generated.stdout.splitlines() if x.startswith("Generated password: "))
    assert len(line.split(": ", 1)[1]) >= 16
    again = subprocess.run(
        [sys.executable, "-m", "app", "staff", "create", "first", "--role", "admin", "--password-stdin"],
        input="a-long-enough-password\n", cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 1 and "already exists" in again.stderr
    short = subprocess.run(
        [sys.executable, "-m", "app", "staff", "create", "third", "--role", "admin", "--password-stdin"],
        input="short\n", cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert short.returncode == 1
