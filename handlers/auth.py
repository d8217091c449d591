"""Citizen login, sessions, real-name verification and phone number."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from app.auth.guards import require_user
from app.auth.service import user_view
from app.core.errors import ValidationFailed
from app.core.ratelimit import client_ip, rate_limit
from app.services import services
from handlers.common import json_object

bp = Blueprint("auth")

# Every real-name request counts, invalid ones too (only identity failures count towards the day's lock).
REAL_NAME_PER_USER, REAL_NAME_PER_CLIENT, REAL_NAME_WINDOW_S = 10, 60, 3600


def _string(body: dict, field: str, max_length: int = 256) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"{field} is required", details={"field": field})
    if len(value) > max_length:
        raise ValidationFailed(f"{field} is too long", details={"field": field})
    return value.strip()


@bp.post("/auth/wx-login")
@openapi.body({"application/json": {"code": str}})
@rate_limit("wx-login", limit=30, per=60, key=client_ip)
async def wx_login(request: Request) -> HTTPResponse:
    """Log in with a wx.login code; answers our access and refresh tokens."""
    body = json_object(request)
    return json(await services(request).auth.login(_string(body, "code", 128)))


@bp.post("/auth/refresh")
@openapi.body({"application/json": {"refresh_token": str}})
@rate_limit("refresh", limit=60, per=60, key=client_ip)
async def refresh(request: Request) -> HTTPResponse:
    """Exchange a refresh token for a new pair (the old one is spent)."""
    body = json_object(request)
    return json(await services(request).auth.refresh(_string(body, "refresh_token", 4096)))


@bp.post("/auth/logout")
@require_user()
async def logout(request: Request) -> HTTPResponse:
    """End this session: every token of this login stops working."""
    await services(request).auth.logout(request.ctx.principal)
    return json({"status": "logged_out"})


@bp.post("/auth/real-name")
@openapi.body({"application/json": {"name": str, "id_number": str}})
@rate_limit("real-name-client", limit=REAL_NAME_PER_CLIENT, per=REAL_NAME_WINDOW_S, key=client_ip)
@require_user()
@rate_limit("real-name", limit=REAL_NAME_PER_USER, per=REAL_NAME_WINDOW_S)
async def real_name(request: Request) -> HTTPResponse:
    """Verify name and resident ID number; lifts the user to level L2."""
    body = json_object(request)
    user = await services(request).auth.verify_real_name(request.ctx.user, body.get("name"), body.get("id_number"))
    return json({"user": user_view(user)})


@bp.post("/auth/phone")
@openapi.body({"application/json": {"code": str}})
@require_user()
async def phone(request: Request) -> HTTPResponse:
    """Bind the phone number behind a getPhoneNumber code."""
    body = json_object(request)
    user = await services(request).auth.bind_phone(request.ctx.user, body.get("code"))
    return json({"user": user_view(user)})


@bp.get("/me")
@require_user()
async def me(request: Request) -> HTTPResponse:
    """The logged-in citizen (masked)."""
    return json({"user": user_view(request.ctx.user)})
