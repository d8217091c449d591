"""Staff accounts: scrypt password hashes, login with lockout, staff tokens apart from citizens'.

The lockout and the last TOTP step used are rows in the database (``staff_login_attempts``,
``staff.totp_last_step``): Redis losing its data must not unlock an account or replay a code.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import os
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from sanic import Request
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q

from app.auth.guards import bearer_token
from app.console.roles import roles_for
from app.core.errors import Forbidden, RateLimited, Unauthorized
from app.core.security.pii import PiiCipher
from app.core.security.tokens import STAFF_TTL_S, InvalidToken, TokenService
from models import Staff, StaffLoginAttempts

MAX_LOGIN_FAILURES = 5
LOCKOUT_S = 15 * 60
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
# A staff session ends after this long without a request (the token itself lives STAFF_TTL_S at most).
STAFF_IDLE_S = 15 * 60
SESSION_PREFIX = "shengshi:staff_session:"


def hash_password(password: str) -> str:
    """scrypt (memory-hard), salted; the parameters travel with the hash."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return "scrypt$16384$8$1$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), dklen=len(expected), n=int(n), r=int(r), p=int(p)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


async def staff_login(
    redis: Redis,
    tokens: TokenService,
    username: Any,
    password: Any,
    *,
    totp_code: Any = None,
    totp_required: bool = False,
    pii: PiiCipher | None = None,
    idle_timeout_s: int = STAFF_IDLE_S,
) -> dict[str, Any]:
    """Password, then the second factor (required outside development), then a token and an idle-expiring session."""
    if not isinstance(username, str) or not isinstance(password, str) or not username or len(password) > 256:
        raise Unauthorized("Wrong username or password", code="bad_credentials")
    username = username[:64]
    # The attempt is counted before the password is checked: parallel guesses cannot pass the limit.
    await _claim_login_attempt(username)
    staff = await Staff.get_or_none(username=username, is_active=True)
    # Hash even for unknown names so timing does not tell which usernames exist.
    valid = verify_password(password, staff.password_hash if staff else hash_password("unused-" + username))
    if staff is None or not valid:
        raise Unauthorized("Wrong username or password", code="bad_credentials")
    if totp_required or totp_code:
        await _check_second_factor(staff, totp_code, pii)
    await StaffLoginAttempts.filter(username=username).delete()
    issued = tokens.issue("staff", str(staff.id), STAFF_TTL_S, role=staff.role)
    await redis.set(SESSION_PREFIX + issued.jti, str(staff.id), ex=idle_timeout_s)
    return {
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": STAFF_TTL_S,
        "idle_timeout": idle_timeout_s,
        "role": staff.role,
        "username": staff.username,
    }


async def _claim_login_attempt(username: str) -> None:
    """Count one login attempt under ``username``; RateLimited once MAX_LOGIN_FAILURES are unresolved.

    Attempts expire LOCKOUT_S after the last one; a successful login clears them.
    """
    for _ in range(3):
        now = dt.datetime.now(dt.UTC)
        recent = now - dt.timedelta(seconds=LOCKOUT_S)
        claimed = await StaffLoginAttempts.filter(
            username=username, last_attempt_at__gt=recent, attempts__lt=MAX_LOGIN_FAILURES
        ).update(attempts=F("attempts") + 1, last_attempt_at=now)
        # Attempts older than the window are forgotten: start again at one.
        claimed = claimed or await StaffLoginAttempts.filter(username=username, last_attempt_at__lte=recent).update(
            attempts=1, last_attempt_at=now
        )
        if claimed:
            return
        try:
            await StaffLoginAttempts.create(username=username, attempts=1, last_attempt_at=now)
            return
        except IntegrityError:
            continue  # locked, or a parallel attempt created the row: look again
    row = await StaffLoginAttempts.get_or_none(username=username)
    last = row.last_attempt_at if row else dt.datetime.now(dt.UTC)
    retry_after = max(int((last - dt.datetime.now(dt.UTC)).total_seconds()) + LOCKOUT_S, 1)
    raise RateLimited("Too many failed logins; try again later", headers={"Retry-After": str(retry_after)})


async def _give_back_attempt(staff: Staff) -> None:
    # The password was right and only the second factor is missing: that answer reveals nothing new.
    await StaffLoginAttempts.filter(username=staff.username, attempts__gt=0).update(attempts=F("attempts") - 1)


async def _check_second_factor(staff: Staff, code: Any, pii: Any) -> None:
    from app.console import totp

    if not staff.totp_secret or pii is None:
        await _give_back_attempt(staff)
        raise Unauthorized("No second factor is enrolled for this account: ask an admin", code="totp_not_enrolled")
    if not code:
        await _give_back_attempt(staff)
        raise Unauthorized("Enter the code from your authenticator app", code="totp_required")
    step = totp.verify(pii.decrypt(staff.totp_secret, "staff.totp_secret"), code)
    # A code works once: claiming its time step fails for one seen (or an older one), so an overheard
    # code cannot be replayed, not even by two logins at the same moment.
    claimed = step is not None and await Staff.filter(id=staff.id).filter(
        Q(totp_last_step__isnull=True) | Q(totp_last_step__lt=step)
    ).update(totp_last_step=step)
    if not claimed:
        raise Unauthorized("Wrong or already used code", code="bad_totp")


async def staff_logout(redis: Redis, jti: str) -> None:
    await redis.delete(SESSION_PREFIX + jti)


def require_staff(permission: str) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """Require a staff token (never a citizen's) whose role holds ``permission`` in the table of app/roles.py."""
    roles = roles_for(permission)

    def decorator(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(handler)
        async def wrapped(request: Request, *args: Any, **kwargs: Any) -> Any:
            try:
                tokens: TokenService = request.app.ctx.services.tokens
                claims = tokens.decode(bearer_token(request), "staff")
            except InvalidToken as exc:
                raise Unauthorized(f"Staff login required: {exc.reason}", code="invalid_token") from None
            # Idle sessions expire: each request pushes the end of the session forward.
            idle_s = int(getattr(request.app.ctx.settings, "staff_idle_timeout_s", STAFF_IDLE_S))
            if not await request.app.ctx.redis.expire(SESSION_PREFIX + str(claims["jti"]), idle_s):
                raise Unauthorized("The session ended (idle too long, or logged out)", code="session_expired")
            staff = await Staff.get_or_none(id=int(claims["sub"]), is_active=True)
            if staff is None:
                raise Unauthorized("This staff account is disabled", code="invalid_token")
            if staff.role not in roles:
                raise Forbidden("Your role may not do this", code="role_forbidden")
            request.ctx.staff = staff
            request.ctx.staff_claims = claims
            return await handler(request, *args, **kwargs)

        # Read by the test that walks every staff route with every role.
        wrapped.staff_permission = permission  # type: ignore[attr-defined]
        return wrapped

    return decorator
