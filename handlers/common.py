"""Helpers shared by handlers."""

from __future__ import annotations

from typing import Any

from sanic import Request

from app.console.audit import AuditContext
from app.core.errors import BadRequest


def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says what is wrong with it."""
    if not request.body:
        raise BadRequest("A JSON object body is required", code="invalid_json")
    try:
        body = request.json
    except Exception as exc:
        raise BadRequest("The body is not valid JSON", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object", code="invalid_json")
    return body


def audit_context(request: Request) -> AuditContext:
    """Who is acting (the staff member, once logged in) and from where, for the audit log."""
    return AuditContext(
        staff=getattr(request.ctx, "staff", None),
        ip=str(request.remote_addr or request.ip or ""),
        request_id=str(getattr(request.ctx, "request_id", "") or request.headers.get("x-request-id", "")),
    )
