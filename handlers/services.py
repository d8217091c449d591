"""The service catalog: search, filter, and one item's full standard description."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from app.catalog import APPLICANT_TYPES, CATEGORIES, CODE_PATTERN, LIFE_EVENTS, ONLINE_LEVELS, item_dict
from app.errors import NotFound, ValidationFailed
from app.request_input import int_arg
from models import ServiceItem, ServiceItemChange

bp = Blueprint("services")

MAX_PAGE_SIZE = 100
MAX_QUERY_LENGTH = 100
# Far past the last page of any catalog; it keeps the offset a sane number.
MAX_PAGE = 10_000


def summary(row: ServiceItem) -> dict[str, Any]:
    return {
        "code": row.code,
        "name": row.name,
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
