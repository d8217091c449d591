"""A citizen's own things: ratings (好差评), favourites, recently viewed items, 长辈模式; staff read the ratings."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from app import citizen
from app.auth.guards import require_user
from app.catalog import CODE_PATTERN
from app.console.staff import require_staff
from app.core.errors import NotFound
from app.core.request_input import int_arg
from handlers.common import json_object

bp = Blueprint("citizen")
admin_bp = Blueprint("citizen_admin", url_prefix="/admin")


def _code(code: str) -> str:
    if not CODE_PATTERN.match(code):
        raise NotFound("No service item with this code")
    return code


# -- ratings ---------------------------------------------------------------------------------


@bp.get("/ratings/reasons")
async def rating_reasons(request: Request) -> HTTPResponse:
    """The fixed list of reasons a rating may give, with their codes."""
    return json({"reasons": citizen.reasons_view(), "scores": [1, 2, 3, 4, 5]})


@bp.post("/applications/<application_id:int>/rating")
@openapi.body({"application/json": {"score": int, "reasons": [str], "comment": str}})
@require_user()
async def rate(request: Request, application_id: int) -> HTTPResponse:
    """Rate a completed application once (1–5, reasons from the fixed list, free text)."""
    body = json_object(request)
    rating = await citizen.rate(
        request.ctx.user, application_id, body.get("score"), body.get("reasons"), body.get("comment")
    )
    return json(citizen.rating_view(rating), status=201)


@bp.get("/applications/<application_id:int>/rating")
@require_user()
async def my_rating(request: Request, application_id: int) -> HTTPResponse:
    """The caller's rating of one application, or null when not rated yet."""
    rating = await citizen.rating_of(request.ctx.user, application_id)
    return json({"rating": citizen.rating_view(rating) if rating else None})


@admin_bp.get("/ratings")
@openapi.parameter("department", str)
@openapi.parameter("service_code", str)
@require_staff("ratings.read")
async def rating_report(request: Request) -> HTTPResponse:
    """Ratings per item and per department (worst average first) with the latest comments."""
    return json(
        await citizen.rating_report(
            (request.args.get("department") or "").strip() or None,
            (request.args.get("service_code") or "").strip() or None,
        )
    )


# -- favourites --------------------------------------------------------------------------------


@bp.get("/me/favourites")
@require_user()
async def favourites(request: Request) -> HTTPResponse:
    """The caller's starred items, newest first."""
    return json({"items": await citizen.favourites(request.ctx.user)})


@bp.put("/me/favourites/<code:str>")
@require_user()
async def add_favourite(request: Request, code: str) -> HTTPResponse:
    """Star an item (starring twice is harmless)."""
    added = await citizen.add_favourite(request.ctx.user, _code(code))
    return json({"code": code, "favourite": True, "added": added}, status=201 if added else 200)


@bp.delete("/me/favourites/<code:str>")
@require_user()
async def remove_favourite(request: Request, code: str) -> HTTPResponse:
    """Unstar an item."""
    removed = await citizen.remove_favourite(request.ctx.user, _code(code))
    return json({"code": code, "favourite": False, "removed": removed})


# -- recently viewed -----------------------------------------------------------------------------


@bp.get("/me/recent")
@openapi.parameter("limit", int)
@require_user()
async def recent(request: Request) -> HTTPResponse:
    """Items the caller opened lately, latest first."""
    limit = int_arg(request, "limit", citizen.MAX_RECENT, 1, citizen.MAX_RECENT)
    return json({"items": await citizen.recent(request.ctx.user, limit)})


@bp.post("/me/recent")
@openapi.body({"application/json": {"service_code": str}})
@require_user()
async def record_view(request: Request) -> HTTPResponse:
    """Record that the caller opened an item guide."""
    await citizen.record_view(request.ctx.user, json_object(request).get("service_code"))
    return json({"recorded": True})


@bp.delete("/me/recent")
@require_user()
async def clear_recent(request: Request) -> HTTPResponse:
    """Forget the caller's recently viewed items."""
    return json({"cleared": await citizen.clear_recent(request.ctx.user)})


# -- 长辈模式 --------------------------------------------------------------------------------------


@bp.get("/me/preferences")
@require_user()
async def preferences(request: Request) -> HTTPResponse:
    """The caller's preferences (长辈模式, region)."""
    return json(citizen.preferences_view(request.ctx.user))


@bp.put("/me/preferences")
@openapi.body({"application/json": {"elder_mode": bool, "region": str}})
@require_user()
async def set_preferences(request: Request) -> HTTPResponse:
    """Turn 长辈模式 on or off, or choose the region the assistant answers for (null: the default)."""
    user = await citizen.set_preferences(request.ctx.user, json_object(request))
    return json(citizen.preferences_view(user))
