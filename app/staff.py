"""Staff accounts: scrypt password hashes, login with lockout, staff tokens apart from citizens'."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
from collections.abc import Awaitable, Callable
from typing import Any

from sanic import Request

from app.errors import Forbidden, RateLimited, Unauthorized
from app.guards import bearer_token
from app.roles import roles_for
from app.security.tokens import STAFF_TTL_S, InvalidToken, TokenService
from models import Staff

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
    redis: Any,
    tokens: TokenService,
    username: Any,
    password: Any,
    *,
    totp_code: Any = None,
    totp_required: bool = False,
    pii: Any = None,
    idle_timeout_s: int = STAFF_IDLE_S,
) -> dict[str, Any]:
    """Password, then the second factor (required outside development), then a token and an idle-expiring session."""
    if not isinstance(username, str) or not isinstance(password, str) or not username or len(password) > 256:
        raise Unauthorized("Wrong username or password", code="bad_credentials")
    failures_key = f"shengshi:staff_login_failures:{username[:64]}"
    failures = int(await redis.get(failures_key) or 0)
    if failures >= MAX_LOGIN_FAILURES:
        ttl = max(int(await redis.ttl(failures_key)), 1)
        raise RateLimited("Too many failed logins; try again later", headers={"Retry-After": str(ttl)})
    staff = await Staff.get_or_none(username=username[:64], is_active=True)
    # Hash even for unknown names so timing does not tell which usernames exist.
    valid = verify_password(password, staff.password_hash if staff else hash_password("unused-" + username))
    if staff is None or not valid:
        await _count_failure(redis, failures_key)
        raise Unauthorized("Wrong username or password", code="bad_credentials")
    if totp_required or totp_code:
        await _check_second_factor(redis, staff, totp_code, pii, failures_key)
    await redis.delete(failures_key)
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


async def _count_failure(redis: Any, failures_key: str) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(failures_key)
        pipe.expire(failures_key, LOCKOUT_S)
        await pipe.execute()


async def _check_second_factor(redis: Any, staff: Staff, code: Any, pii: Any, failures_key: str) -> None:
    from app.console import totp

    if not staff.totp_secret or pii is None:
        raise Unauthorized("No second factor is enrolled for this account: ask an admin", code="totp_not_enrolled")
    if not code:
        raise Unauthorized("Enter the code from your authenticator app", code="totp_required")
    step = totp.verify(pii.decrypt(staff.totp_secret, "staff.totp_secret"), code)
    used_key = f"shengshi:staff_totp_used:{staff.id}"
    last = int(await redis.get(used_key) or -1)
    # A code works once: one seen (or an older one) is refused, so an overheard code cannot be replayed.
    if step is None or step <= last:
        await _count_failure(redis, failures_key)
        raise Unauthorized("Wrong or already used code", code="bad_totp")
    await redis.set(used_key, step, ex=10 * 60)


async def staff_logout(redis: Any, jti: str) -> None:
    await redis.delete(SESSION_PREFIX + jti)


def require_staff(permission: str) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """Require a staff token (never a citizen's) whose role holds ``permission`` in the table of app/roles.py."""
    roles = roles_for(permission)

    def decorator(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(handler)
        async def wrapped(request: Request, *args: Any, **kwargs: Any) -> Any:
            try:
                claims = request.app.ctx.tokens.decode(bearer_token(request), "staff")
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
