"""Catalog imports by staff: the same validation as `python -m app catalog import`, and every worker reloads."""

from __future__ import annotations

import json as jsonlib
from pathlib import PurePath
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from app.assistant import publish_reload
from app.catalog import CatalogError, SourceFile, import_catalog, parse_csv, parse_document
from app.console import audit
from app.errors import BadRequest, ValidationFailed
from app.staff import require_staff

bp = Blueprint("catalog_admin", url_prefix="/admin")

PUBLISHERS = ("publisher", "admin")


def _document(request: Request, name: str) -> SourceFile:
    """The body as one catalog file: CSV when sent as text/csv, else the JSON file format."""
    if not request.body:
        raise BadRequest("Send the catalog file as the body (JSON like `catalog export`, or text/csv)",
                         code="invalid_json")  # fmt: skip
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("The body must be UTF-8 text", code="invalid_json") from None
    if (request.content_type or "").startswith("text/csv"):
        return parse_csv(name, text)
    try:
        data: Any = jsonlib.loads(text)
    except ValueError:
        raise BadRequest("The body is not valid JSON", code="invalid_json") from None
    return parse_document(name, data)


@bp.post("/catalog/import")
@openapi.parameter("dry_run", bool)
@openapi.parameter("name", str)
@openapi.body({"application/json": {"region": str, "regions": list, "category": str, "items": list}})
@require_staff(*PUBLISHERS)
async def import_items(request: Request) -> HTTPResponse:
    """Import catalog items (publisher); every problem names file, item and field, and nothing is written then."""
    dry_run = request.args.get("dry_run") in ("1", "true")
    name = PurePath(request.args.get("name") or "upload.json").name[:100] or "upload.json"
    try:
        source = _document(request, name)
        result = await import_catalog([], name, dry_run=dry_run, documents=[(PurePath(name), source)])
    except CatalogError as exc:
        raise ValidationFailed(
            f"Nothing was imported: {len(exc.problems)} problem(s); fix them and import again",
            code="catalog_invalid",
            details={"problems": exc.problems[:200], "count": len(exc.problems)},
        ) from None
    body = result.summary()
    body["problems"] = body["problems"][:200]
    if not dry_run:
        body["workers_told"] = await publish_reload(request.app.ctx.redis) if result.report.changed else 0
        await audit.record(
            request, "catalog.import", name, after={k: body[k] for k in ("created", "updated", "unchanged")}
        )
    return json(body)
