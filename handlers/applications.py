"""Citizens' applications: apply, list, follow the timeline, cancel, resubmit."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from app.applications import Actor, application_view
from app.auth.guards import require_user
from app.core.errors import ValidationFailed
from handlers.common import json_object
from models import Application, Level, Status

bp = Blueprint("applications")


@bp.post("/applications")
@openapi.body({"application/json": {"service_code": str, "form": dict, "materials": list}})
@require_user(Level.L2)
async def apply(request: Request) -> HTTPResponse:
    """Apply for a service item; electronic licences are attached from the verified identity."""
    body = json_object(request)
    app = await request.app.ctx.applications.create(
        request.ctx.user, body.get("service_code"), body.get("form", {}), body.get("materials", [])
    )
    await request.app.ctx.notifier.kick()
    return json(application_view(app), status=201)


@bp.get("/applications")
@require_user()
async def my_applications(request: Request) -> HTTPResponse:
    """The caller's applications, newest first."""
    rows = await Application.filter(user_id=request.ctx.user.id).order_by("-id").limit(100)
    return json({"items": [application_view(a) for a in rows]})


@bp.get("/applications/reusable-materials")
@require_user()
async def reusable_materials(request: Request) -> HTTPResponse:
    """Materials already submitted in earlier applications, offered for reuse."""
    found = await request.app.ctx.applications.reusable_materials(request.ctx.user)
    return json({"materials": [{"name": name, **info} for name, info in found.items()]})


@bp.get("/applications/<application_id:int>")
@require_user()
async def application_detail(request: Request, application_id: int) -> HTTPResponse:
    """One application with its timeline."""
    app, events = await request.app.ctx.applications.get_for_citizen(request.ctx.user, application_id)
    return json(application_view(app, events))


async def _citizen_move(request: Request, application_id: int, to: Status) -> HTTPResponse:
    body = json_object(request)
    version = body.get("version")
    if not isinstance(version, int):
        raise ValidationFailed("version is required", details={"field": "version"})
    app = await request.app.ctx.applications.transition(
        application_id, to, version, Actor("citizen", request.ctx.user.id), note=body.get("note", "")
    )
    await request.app.ctx.notifier.kick()
    return json(application_view(app))


@bp.post("/applications/<application_id:int>/cancel")
@openapi.body({"application/json": {"version": int, "note": str}})
@require_user()
async def cancel(request: Request, application_id: int) -> HTTPResponse:
    """Withdraw an application not yet accepted."""
    return await _citizen_move(request, application_id, Status.CANCELLED)


@bp.post("/applications/<application_id:int>/resubmit")
@openapi.body({"application/json": {"version": int, "note": str}})
@require_user(Level.L2)
async def resubmit(request: Request, application_id: int) -> HTTPResponse:
    """Send a returned application back to the queue after correcting it."""
    return await _citizen_move(request, application_id, Status.RESUBMITTED)
