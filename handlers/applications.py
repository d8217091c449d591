"""Applications: citizens apply, list, follow the timeline, cancel, resubmit; staff work the queue under /admin."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from app.applications import OPEN, Actor, application_view, today
from app.auth.guards import require_user
from app.console import audit
from app.console.staff import require_staff
from app.core.errors import NotFound, ValidationFailed
from app.services import services
from handlers.common import audit_context, json_object
from models import Application, ApplicationEvent, Level, Status

bp = Blueprint("applications")
admin_bp = Blueprint("applications_admin", url_prefix="/admin")


@bp.post("/applications")
@openapi.body({"application/json": {"service_code": str, "form": dict, "materials": list}})
@require_user(Level.L2)
async def apply(request: Request) -> HTTPResponse:
    """Apply for a service item; electronic licences are attached from the verified identity."""
    body = json_object(request)
    app = await services(request).applications.create(
        request.ctx.user, body.get("service_code"), body.get("form", {}), body.get("materials", [])
    )
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
    found = await services(request).applications.reusable_materials(request.ctx.user)
    return json({"materials": [{"name": name, **info} for name, info in found.items()]})


@bp.get("/applications/<application_id:int>")
@require_user()
async def application_detail(request: Request, application_id: int) -> HTTPResponse:
    """One application with its timeline."""
    app, events = await services(request).applications.get_for_citizen(request.ctx.user, application_id)
    return json(application_view(app, events))


async def _citizen_move(request: Request, application_id: int, to: Status) -> HTTPResponse:
    body = json_object(request)
    version = body.get("version")
    if not isinstance(version, int):
        raise ValidationFailed("version is required", details={"field": "version"})
    app = await services(request).applications.transition(
        application_id, to, version, Actor("citizen", request.ctx.user.id), note=body.get("note", "")
    )
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


# -- staff: the queue and transitions ----------------------------------------------------------


@admin_bp.get("/applications")
@openapi.parameter("status", str)
@openapi.parameter("department", str)
@openapi.parameter("overdue", bool)
@require_staff("applications.read")
async def queue(request: Request) -> HTTPResponse:
    """The queue, oldest first, filtered by status, department and overdue."""
    query = Application.all()
    status = request.args.get("status")
    if status:
        try:
            query = query.filter(status=Status(status))
        except ValueError:
            raise ValidationFailed("status is not a known status", details={"field": "status"}) from None
    department = (request.args.get("department") or "").strip()
    if department:
        query = query.filter(department__contains=department[:100])
    overdue = request.args.get("overdue")
    if overdue not in (None, "", "true", "false"):
        raise ValidationFailed("overdue must be true or false", details={"field": "overdue"})
    if overdue == "true":
        query = query.filter(deadline__lt=today(), status__in=[str(s) for s in OPEN])
    rows = await query.order_by("id").limit(200)
    return json({"items": [application_view(a) for a in rows]})


@admin_bp.get("/applications/<application_id:int>")
@require_staff("applications.read")
async def staff_application_detail(request: Request, application_id: int) -> HTTPResponse:
    """One application with its timeline."""
    app = await Application.get_or_none(id=application_id)
    if app is None:
        raise NotFound("No such application")
    events = await ApplicationEvent.filter(application_id=app.id).order_by("id")
    return json(application_view(app, events))


@admin_bp.post("/applications/<application_id:int>/transitions")
@openapi.body({"application/json": {"to": str, "version": int, "note": str, "missing_materials": list}})
@require_staff("applications.transition")
async def transition(request: Request, application_id: int) -> HTTPResponse:
    """Move an application (受理, 补正, 审核, 办结); 409 if it moved since the version you saw."""
    body = json_object(request)
    before = await Application.get_or_none(id=application_id)
    app = await services(request).applications.transition(
        application_id,
        body.get("to"),
        body.get("version"),
        Actor("staff", request.ctx.staff.id),
        note=body.get("note", ""),
        missing_materials=body.get("missing_materials"),
    )
    await audit.record(
        audit_context(request),
        "application.transition",
        f"application:{app.id}",
        before={"status": str(before.status), "version": before.version} if before else None,
        after={"status": str(app.status), "version": app.version, "note": body.get("note", "")},
    )
    return json(application_view(app))
