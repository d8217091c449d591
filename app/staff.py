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
from app.security.tokens import STAFF_TTL_S, InvalidToken, TokenService
from models import Staff

ROLES = ("viewer", "clerk", "editor", "publisher", "agent", "admin")
# Who may move applications through their lifecycle (受理, 审核, 办结).
CASEWORKERS = ("clerk", "admin")
MAX_LOGIN_FAILURES = 5
LOCKOUT_S = 15 * 60
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


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


async def staff_login(redis: Any, tokens: TokenService, username: Any, password: Any) -> dict[str, Any]:
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
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(failures_key)
            pipe.expire(failures_key, LOCKOUT_S)
            await pipe.execute()
        raise Unauthorized("Wrong username or password", code="bad_credentials")
    await redis.delete(failures_key)
    issued = tokens.issue("staff", str(staff.id), STAFF_TTL_S, role=staff.role)
    return {"access_token": issued.token, "token_type": "Bearer", "expires_in": STAFF_TTL_S, "role": staff.role}


def require_staff(*roles: str) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """Require a staff token (a citizen token never opens these routes) of one of ``roles`` (any role if none)."""

    def decorator(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(handler)
        async def wrapped(request: Request, *args: Any, **kwargs: Any) -> Any:
            try:
                claims = request.app.ctx.tokens.decode(bearer_token(request), "staff")
            except InvalidToken as exc:
                raise Unauthorized(f"Staff login required: {exc.reason}", code="invalid_token") from None
            staff = await Staff.get_or_none(id=int(claims["sub"]), is_active=True)
            if staff is None:
                raise Unauthorized("This staff account is disabled", code="invalid_token")
            if roles and staff.role not in roles:
                raise Forbidden("Your role may not do this", code="role_forbidden")
            request.ctx.staff = staff
            return await handler(request, *args, **kwargs)

        return wrapped

    return decorator
