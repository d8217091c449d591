"""The console's staff accounts under /api/v1/admin: login, the session, accounts and the audit log."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from app.console import accounts, audit
from app.console.staff import require_staff, staff_login, staff_logout
from app.core.errors import RateLimited, Unauthorized
from app.core.ratelimit import client_ip, rate_limit
from app.core.request_input import BIGINT_MAX, int_arg
from app.services import services
from handlers.common import audit_context, json_object
from models import AuditEntry, Staff

bp = Blueprint("console_accounts", url_prefix="/admin")


@bp.post("/login")
@openapi.body({"application/json": {"username": str, "password": str, "totp_code": str}})
@rate_limit("staff-login", limit=20, per=60, key=client_ip)
async def login(request: Request) -> HTTPResponse:
    """Staff login (password and, outside development, a TOTP code); answers a staff token."""
    body = json_object(request)
    wired = services(request)
    username = body.get("username")
    try:
        result = await staff_login(
            wired.redis,
            wired.tokens,
            username,
            body.get("password"),
            totp_code=body.get("totp_code"),
            totp_required=wired.settings.staff_totp_required,
            pii=wired.pii,
            idle_timeout_s=wired.settings.staff_idle_timeout_s,
        )
    except (Unauthorized, RateLimited) as exc:
        await audit.record(audit_context(request), "staff.login_failed", str(username)[:64], after={"code": exc.code},
                           username=str(username)[:64] if isinstance(username, str) else "")  # fmt: skip
        raise
    await audit.record(audit_context(request), "staff.login", result["username"], username=result["username"])
    return json(result)


# -- session ------------------------------------------------------------------------


@bp.get("/me")
@require_staff("session")
async def me(request: Request) -> HTTPResponse:
    """The logged-in staff member."""
    return json(accounts.staff_view(request.ctx.staff))


@bp.post("/logout")
@require_staff("session")
async def logout(request: Request) -> HTTPResponse:
    """End this staff session now."""
    await staff_logout(request.app.ctx.redis, str(request.ctx.staff_claims["jti"]))
    await audit.record(audit_context(request), "staff.logout", request.ctx.staff.username)
    return json({"logged_out": True})


# -- accounts and audit (admin) -------------------------------------------------------------


@bp.get("/staff")
@require_staff("staff.manage")
async def staff_list(request: Request) -> HTTPResponse:
    """Every staff account."""
    return json({"items": [accounts.staff_view(s) for s in await Staff.all().order_by("id")]})


@bp.post("/staff")
@openapi.body({"application/json": {"username": str, "role": str, "password": str, "department": str}})
@require_staff("staff.manage")
async def staff_create(request: Request) -> HTTPResponse:
    """Create an account; the generated password (when none is given) and the TOTP secret are shown once."""
    body = json_object(request)
    made = await accounts.create_account(
        body.get("username"), body.get("role"), body.get("password"), services(request).pii, body.get("department")
    )
    view = accounts.staff_view(made.staff)
    await audit.record(audit_context(request), "staff.create", made.staff.username, after=view)
    return json(
        {**view, "password": made.password if made.generated else None, "totp_secret": made.totp_secret,
         "totp_uri": made.totp_uri},
        status=201,
    )  # fmt: skip


@bp.patch("/staff/<staff_id:int>")
@openapi.body({"application/json": {"role": str, "is_active": bool}})
@require_staff("staff.manage")
async def staff_update(request: Request, staff_id: int) -> HTTPResponse:
    """Change an account's role or disable it."""
    before, after = await accounts.update_account(staff_id, json_object(request), request.ctx.staff)
    await audit.record(audit_context(request), "staff.update", after["username"], before=before, after=after)
    return json(after)


@bp.post("/staff/<staff_id:int>/password")
@openapi.body({"application/json": {"password": str}})
@require_staff("staff.manage")
async def staff_password(request: Request, staff_id: int) -> HTTPResponse:
    """Set a new password (typed, or generated and shown once)."""
    body = json_object(request) if request.body else {}
    typed = body.get("password")
    staff, generated = await accounts.set_password(staff_id, typed)
    await audit.record(audit_context(request), "staff.password", staff.username, after={"generated": not typed})
    return json({"id": staff.id, "password": generated})


@bp.post("/staff/<staff_id:int>/totp")
@require_staff("staff.manage")
async def staff_totp(request: Request, staff_id: int) -> HTTPResponse:
    """A new TOTP secret for an account (shown once, to enrol again)."""
    staff = await accounts.get_account(staff_id)
    secret, uri = await accounts.new_totp(staff, services(request).pii)
    await audit.record(audit_context(request), "staff.totp_reset", staff.username)
    return json({"id": staff.id, "totp_secret": secret, "totp_uri": uri})


@bp.get("/audit")
@openapi.parameter("action", str)
@openapi.parameter("staff", str)
@openapi.parameter("before_id", int)
@openapi.parameter("limit", int)
@require_staff("audit.read")
async def audit_log(request: Request) -> HTTPResponse:
    """The audit log, newest first (filter by action prefix or staff username; page with before_id)."""
    query = AuditEntry.all()
    action = (request.args.get("action") or "").strip()
    if action:
        query = query.filter(action__startswith=action[:64])
    who = (request.args.get("staff") or "").strip()
    if who:
        query = query.filter(staff_username=who[:64])
    before_id = int_arg(request, "before_id", 0, 0, BIGINT_MAX)
    if before_id:
        query = query.filter(id__lt=before_id)
    rows = await query.order_by("-id").limit(int_arg(request, "limit", 100, 1, 500))
    return json({"items": [audit.entry_view(e) for e in rows]})
