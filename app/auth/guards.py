"""Declarative route guards: who may call a route.

@bp.post("/applications")
@require_user(Level.L2)
async def apply(request): ...   # request.ctx.user is the caller
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from sanic import Request

from app.auth.service import AuthService
from app.core.errors import Forbidden, Unauthorized
from models import Level, User

_LEVEL_ORDER = {Level.L1: 1, Level.L2: 2}


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Log in first (Authorization: Bearer <access token>)", code="unauthorized")
    return token.strip()


def require_user(
    min_level: Level = Level.L1,
) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """Require a logged-in citizen at ``min_level`` or above (L2: real name verified)."""

    def decorator(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(handler)
        async def wrapped(request: Request, *args: Any, **kwargs: Any) -> Any:
            # The worker's services (app/services.py), built before it serves.
            auth: AuthService = request.app.ctx.services.auth
            principal = await auth.authenticate(bearer_token(request))
            user = await User.get_or_none(id=principal.user_id)
            if user is None:
                raise Unauthorized("This account no longer exists", code="session_revoked")
            # The level comes from the database, not the token: verification takes effect at once.
            if _LEVEL_ORDER[Level(user.level)] < _LEVEL_ORDER[min_level]:
                raise Forbidden("Verify your real name first", code="real_name_required")
            request.ctx.principal = principal
            request.ctx.user = user
            request.ctx.user_id = user.id
            return await handler(request, *args, **kwargs)

        return wrapped

    return decorator
