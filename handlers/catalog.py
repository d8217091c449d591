"""The service catalog: search, filter, and one item's full standard description; imports by staff
(the same validation as `python -m app catalog import`, and every worker reloads)."""

from __future__ import annotations

import json as jsonlib
from collections import Counter
from pathlib import PurePath
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from app.assistant.releases import publish_reload
from app.catalog import (
    APPLICANT_TYPES,
    CATEGORIES,
    CODE_PATTERN,
    LIFE_EVENTS,
    ONLINE_LEVELS,
    REGION_PATTERN,
    CatalogError,
    SourceFile,
    import_catalog,
    item_dict,
    parse_csv,
    parse_document,
    region_chain,
)
from app.console import audit
from app.console.staff import require_staff
from app.core.errors import BadRequest, NotFound, ValidationFailed
from app.core.request_input import int_arg
from app.services import services
from handlers.common import audit_context
from models import Region, ServiceItem, ServiceItemChange

bp = Blueprint("services")
admin_bp = Blueprint("catalog_admin", url_prefix="/admin")

MAX_PAGE_SIZE = 100
MAX_QUERY_LENGTH = 100
# Far past the last page of any catalog; it keeps the offset a sane number.
MAX_PAGE = 10_000


def summary(row: ServiceItem) -> dict[str, Any]:
    return {
        "code": row.code,
        "name": row.name,
        "region": row.region,
        "aliases": row.aliases,
        "department": row.department,
        "category": row.category,
        "level": row.level,
        "life_events": row.life_events,
        "applicant_type": row.applicant_type,
        "online_level": row.online_level,
        "max_visits": row.max_visits,
        "promised_time_limit_days": row.promised_time_limit_days,
    }


def _choice_arg(request: Request, name: str, allowed: tuple[str, ...] | list[str]) -> str | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if raw not in allowed:
        raise ValidationFailed(f"{name} must be one of: {', '.join(allowed)}", details={"field": name})
    return raw


@bp.get("/services")
@openapi.parameter("q", str)
@openapi.parameter("category", str)
@openapi.parameter("life_event", str)
@openapi.parameter("department", str)
@openapi.parameter("applicant_type", str)
@openapi.parameter("online", str)
@openapi.parameter("region", str)
@openapi.parameter("page", int)
@openapi.parameter("page_size", int)
async def list_services(request: Request) -> HTTPResponse:
    """Search and filter the catalog, a page at a time."""
    page = int_arg(request, "page", 1, 1, MAX_PAGE)
    page_size = int_arg(request, "page_size", 20, 1, MAX_PAGE_SIZE)
    query = ServiceItem.all()
    q = (request.args.get("q") or "").strip()
    if len(q) > MAX_QUERY_LENGTH:
        raise ValidationFailed(f"q must be at most {MAX_QUERY_LENGTH} characters", details={"field": "q"})
    for term in q.lower().split():
        query = query.filter(search_text__contains=term)
    if category := _choice_arg(request, "category", list(CATEGORIES)):
        query = query.filter(category=category)
    if life_event := _choice_arg(request, "life_event", LIFE_EVENTS):
        query = query.filter(life_events_text__contains=f"|{life_event}|")
    if applicant_type := _choice_arg(request, "applicant_type", APPLICANT_TYPES):
        query = query.filter(applicant_type=applicant_type)
    if online := _choice_arg(request, "online", ONLINE_LEVELS):
        query = query.filter(online_level=online)
    department = (request.args.get("department") or "").strip()
    if department:
        query = query.filter(department__contains=department[:MAX_QUERY_LENGTH])
    region = (request.args.get("region") or "").strip()
    if region:
        if not REGION_PATTERN.match(region):
            raise ValidationFailed(
                "region must be a six-digit GB/T 2260 code, e.g. 440000", details={"field": "region"}
            )
        # What a citizen there can do: the region's own items and those of every region above it.
        query = query.filter(region__in=region_chain(region, services(request).chat.regions))
    total = await query.count()
    rows = await query.order_by("code").offset((page - 1) * page_size).limit(page_size)
    return json({"items": [summary(r) for r in rows], "total": total, "page": page, "page_size": page_size})


@bp.get("/services/categories")
async def categories(request: Request) -> HTTPResponse:
    """Every category with its standard code and how many items it holds."""
    counts = Counter(str(c) for c in await ServiceItem.all().values_list("category", flat=True))
    return json({"categories": [{"name": n, "code": c, "count": counts.get(n, 0)} for n, c in CATEGORIES.items()]})


@bp.get("/services/life-events")
async def life_events(request: Request) -> HTTPResponse:
    """Every life event (出生, 上学 …) with how many items serve it."""
    counts: Counter[str] = Counter()
    for events in await ServiceItem.all().values_list("life_events", flat=True):
        counts.update(events or [])
    return json({"life_events": [{"name": e, "count": counts.get(e, 0)} for e in LIFE_EVENTS]})


@bp.get("/services/regions")
async def regions(request: Request) -> HTTPResponse:
    """Every region (GB/T 2260 code, name, parent) with how many items it holds itself."""
    counts = Counter(str(r) for r in await ServiceItem.all().values_list("region", flat=True))
    rows = await Region.all().order_by("code")
    return json(
        {
            "regions": [
                {"code": r.code, "name": r.name, "parent": r.parent, "count": counts.get(r.code, 0)} for r in rows
            ],
            "default": request.app.ctx.settings.default_region,
        }
    )


@bp.get("/services/<code:str>")
async def service_detail(request: Request, code: str) -> HTTPResponse:
    """One item: conditions, materials, steps, time limits, fee, where, legal basis, and its history."""
    row = await ServiceItem.get_or_none(code=code) if CODE_PATTERN.match(code) else None
    if row is None:
        raise NotFound("No service item with this code")
    history = await ServiceItemChange.filter(code=row.code).order_by("version")
    body = item_dict(row)
    body.update(
        version=row.version,
        updated_at=row.updated_at.isoformat(),
        history=[
            {
                "version": h.version,
                "action": h.action,
                "changed_fields": h.changed_fields,
                "source": h.source,
                "changed_at": h.changed_at.isoformat(),
            }
            for h in history
        ],
    )
    return json(body)


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


@admin_bp.post("/catalog/import")
@openapi.parameter("dry_run", bool)
@openapi.parameter("name", str)
@openapi.body({"application/json": {"region": str, "regions": list, "category": str, "items": list}})
@require_staff("catalog.import")
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
        body["workers_told"] = await publish_reload(services(request).redis) if result.report.changed else 0
        await audit.record(
            audit_context(request),
            "catalog.import",
            name,
            after={k: body[k] for k in ("created", "updated", "unchanged")},
        )
    return json(body)
