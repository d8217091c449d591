"""What a citizen keeps for themselves: ratings (好差评), favourites, recently viewed items, 长辈模式.

Ratings: only the applicant rates, only once the application is completed (办结), once per
application (a unique row, so two racing requests cannot both succeed), a score of 1 to 5
with reasons from a fixed list and optional free text. Staff read them aggregated per item
and per department.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError

from app.core.errors import Conflict, NotFound, ValidationFailed
from models import Application, Favourite, Rating, RecentView, ServiceItem, Status, User


@dataclass(frozen=True)
class RatingReason:
    code: str
    text: str
    positive: bool


# The fixed list the client shows; reports count them by code.
RATING_REASONS = (
    RatingReason("efficient", "办事效率高", True),
    RatingReason("courteous", "服务态度好", True),
    RatingReason("clear_guide", "办事指南清楚", True),
    RatingReason("unclear_materials", "材料要求不清", False),
    RatingReason("long_wait", "等待时间长", False),
    RatingReason("repeat_visits", "多次跑腿", False),
    RatingReason("other", "其他", False),
)
REASONS_BY_CODE = {r.code: r for r in RATING_REASONS}
MAX_COMMENT_LENGTH = 500
MAX_RECENT = 30
# Ids are 32-bit in the database: a larger one names nothing (and must not reach PostgreSQL).
MAX_ID = 2**31 - 1
MAX_FAVOURITES = 200
# Long digit runs in free text are likely phone or ID numbers: personal data is not kept in clear.
_LONG_NUMBER = re.compile(r"\d{6,}[0-9Xx]*")


def reasons_view() -> list[dict[str, Any]]:
    return [{"code": r.code, "text": r.text, "positive": r.positive} for r in RATING_REASONS]


def scrub_comment(text: str) -> str:
    """Free text with long numbers masked (keeps the first three and last two digits)."""
    return _LONG_NUMBER.sub(lambda m: m.group()[:3] + "*" * (len(m.group()) - 5) + m.group()[-2:], text)


def rating_view(rating: Rating) -> dict[str, Any]:
    return {
        "id": rating.id,
        "application_id": rating.application_id,  # type: ignore[attr-defined]
        "service_code": rating.service_code,
        "service_name": rating.service_name,
        "department": rating.department,
        "score": rating.score,
        "reasons": [{"code": c, "text": REASONS_BY_CODE[c].text} for c in rating.reasons if c in REASONS_BY_CODE],
        "comment": rating.comment,
        "created_at": rating.created_at.isoformat(),
    }


def _score(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
        raise ValidationFailed("score must be a whole number from 1 to 5", details={"field": "score"})
    return value


def _reasons(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > len(RATING_REASONS) or not all(isinstance(c, str) for c in value):
        raise ValidationFailed("reasons must be a list of reason codes", details={"field": "reasons"})
    unknown = [c for c in value if c not in REASONS_BY_CODE]
    if unknown:
        raise ValidationFailed(
            "Unknown reason codes", details={"field": "reasons", "unknown": unknown, "allowed": list(REASONS_BY_CODE)}
        )
    # In the fixed list's order, each once.
    return [r.code for r in RATING_REASONS if r.code in value]


def _comment(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_COMMENT_LENGTH:
        raise ValidationFailed(
            f"comment must be text of at most {MAX_COMMENT_LENGTH} characters", details={"field": "comment"}
        )
    return scrub_comment(value.strip())


async def rate(user: User, application_id: int, score: Any, reasons: Any, comment: Any) -> Rating:
    """Rate a completed application of ``user``: 404 if not theirs, 409 if not completed or already rated."""
    checked_score, checked_reasons, checked_comment = _score(score), _reasons(reasons), _comment(comment)
    if "other" in checked_reasons and not checked_comment:
        raise ValidationFailed("Say what went wrong when choosing 其他", details={"field": "comment"})
    app = await Application.get_or_none(id=application_id, user_id=user.id) if 0 < application_id <= MAX_ID else None
    if app is None:
        raise NotFound("No such application")
    if Status(app.status) is not Status.COMPLETED:
        raise Conflict("Only a completed application can be rated", code="not_completed")
    if await Rating.exists(application_id=app.id):
        raise Conflict("This application has already been rated", code="already_rated")
    try:
        return await Rating.create(
            application_id=app.id,
            user_id=user.id,
            service_code=app.service_code,
            service_name=app.service_name,
            department=app.department,
            score=checked_score,
            reasons=checked_reasons,
            comment=checked_comment,
        )
    except IntegrityError:
        # Lost a race with another request rating the same application.
        raise Conflict("This application has already been rated", code="already_rated") from None


async def rating_of(user: User, application_id: int) -> Rating | None:
    if not 0 < application_id <= MAX_ID or not await Application.exists(id=application_id, user_id=user.id):
        raise NotFound("No such application")
    return await Rating.get_or_none(application_id=application_id)


def _group(rows: list[Rating], key: str) -> list[dict[str, Any]]:
    groups: dict[tuple[str, ...], list[Rating]] = defaultdict(list)
    for row in rows:
        ident: tuple[str, ...] = (
            (row.service_code, row.service_name, row.department) if key == "item" else (row.department,)
        )
        groups[ident].append(row)
    out = []
    for ident, members in groups.items():
        distribution = {str(s): 0 for s in range(1, 6)}
        reasons: dict[str, int] = {r.code: 0 for r in RATING_REASONS}
        for m in members:
            distribution[str(m.score)] += 1
            for c in m.reasons:
                if c in reasons:
                    reasons[c] += 1
        count = len(members)
        entry: dict[str, Any] = (
            {"service_code": ident[0], "service_name": ident[1], "department": ident[2]}
            if key == "item"
            else {"department": ident[0]}
        )
        entry.update(
            count=count,
            average=round(sum(m.score for m in members) / count, 2),
            # 差评: 1 or 2 stars, the ones a department must follow up.
            unsatisfied=sum(1 for m in members if m.score <= 2),
            distribution=distribution,
            reasons=[{"code": c, "text": REASONS_BY_CODE[c].text, "count": n} for c, n in reasons.items() if n],
        )
        out.append(entry)
    # Worst first: what staff should look at.
    return sorted(out, key=lambda e: (e["average"], -e["count"]))


async def rating_report(department: str | None = None, service_code: str | None = None) -> dict[str, Any]:
    """Ratings aggregated per item and per department, worst average first, with the latest comments."""
    query = Rating.all()
    if department:
        query = query.filter(department__contains=department[:128])
    if service_code:
        query = query.filter(service_code=service_code[:32])
    rows = await query.order_by("-id")
    total = len(rows)
    return {
        "total": total,
        "average": round(sum(r.score for r in rows) / total, 2) if total else None,
        "by_item": _group(rows, "item"),
        "by_department": _group(rows, "department"),
        "latest": [rating_view(r) for r in rows[:20]],
    }


# -- favourites and recently viewed ---------------------------------------------------------


async def _item(code: Any) -> ServiceItem:
    if not isinstance(code, str) or not code or len(code) > 32:
        raise ValidationFailed("service_code is required", details={"field": "service_code"})
    item = await ServiceItem.get_or_none(code=code)
    if item is None:
        raise NotFound("No service item with this code")
    return item


def _item_summary(item: ServiceItem | None, code: str) -> dict[str, Any]:
    if item is None:
        # Removed from the catalog since: keep the entry so the citizen sees what happened.
        return {"code": code, "name": None, "department": None, "category": None, "available": False}
    return {
        "code": item.code,
        "name": item.name,
        "department": item.department,
        "category": item.category,
        "online_level": item.online_level,
        "max_visits": item.max_visits,
        "promised_time_limit_days": item.promised_time_limit_days,
        "available": True,
    }


async def _summaries(codes: list[str]) -> dict[str, ServiceItem]:
    return {i.code: i for i in await ServiceItem.filter(code__in=codes)} if codes else {}


async def add_favourite(user: User, code: Any) -> bool:
    """Star an item; answers False when it already was (adding twice is harmless)."""
    item = await _item(code)
    if await Favourite.exists(user_id=user.id, service_code=item.code):
        return False
    if await Favourite.filter(user_id=user.id).count() >= MAX_FAVOURITES:
        raise Conflict(f"At most {MAX_FAVOURITES} favourites", code="too_many_favourites")
    try:
        await Favourite.create(user_id=user.id, service_code=item.code)
    except IntegrityError:
        return False
    return True


async def remove_favourite(user: User, code: str) -> bool:
    return bool(await Favourite.filter(user_id=user.id, service_code=code[:32]).delete())


async def favourites(user: User) -> list[dict[str, Any]]:
    rows = await Favourite.filter(user_id=user.id).order_by("-id")
    items = await _summaries([r.service_code for r in rows])
    return [
        {**_item_summary(items.get(r.service_code), r.service_code), "favourited_at": r.created_at.isoformat()}
        for r in rows
    ]


async def record_view(user: User, code: Any) -> None:
    """Remember that ``user`` opened this item now; keep the latest :data:`MAX_RECENT`."""
    item = await _item(code)
    # A fresh row per view (the newest id is the latest view): ordering never depends on how a
    # database compares stored timestamps.
    await RecentView.filter(user_id=user.id, service_code=item.code).delete()
    # Two views at once: the other request recorded it.
    with contextlib.suppress(IntegrityError):
        await RecentView.create(user_id=user.id, service_code=item.code, viewed_at=dt.datetime.now(dt.UTC))
    stale = await RecentView.filter(user_id=user.id).order_by("-id").offset(MAX_RECENT).values_list("id", flat=True)
    if stale:
        await RecentView.filter(id__in=list(stale)).delete()


async def recent(user: User, limit: int = MAX_RECENT) -> list[dict[str, Any]]:
    rows = await RecentView.filter(user_id=user.id).order_by("-id").limit(limit)
    items = await _summaries([r.service_code for r in rows])
    favourite_codes = set(
        await Favourite.filter(user_id=user.id, service_code__in=[r.service_code for r in rows]).values_list(
            "service_code", flat=True
        )
    )
    return [
        {
            **_item_summary(items.get(r.service_code), r.service_code),
            "viewed_at": r.viewed_at.isoformat(),
            "favourite": r.service_code in favourite_codes,
        }
        for r in rows
    ]


async def clear_recent(user: User) -> int:
    return int(await RecentView.filter(user_id=user.id).delete())


# -- 长辈模式 ------------------------------------------------------------------------------


def preferences_view(user: User) -> dict[str, Any]:
    """长辈模式 and the chosen region (null: the deployment's default region is used)."""
    return {"elder_mode": bool(user.elder_mode), "region": user.region}


async def set_preferences(user: User, body: dict[str, Any]) -> User:
    """Change what the body names: ``elder_mode`` (true/false), ``region`` (a known region's code, or null)."""
    from models import Region

    changed: list[str] = []
    if "elder_mode" in body or "region" not in body:
        value = body.get("elder_mode")
        if not isinstance(value, bool):
            raise ValidationFailed("elder_mode must be true or false", details={"field": "elder_mode"})
        if user.elder_mode != value:
            user.elder_mode = value
            changed.append("elder_mode")
    if "region" in body:
        region = body["region"]
        if region is not None and (not isinstance(region, str) or not await Region.exists(code=region)):
            raise ValidationFailed(
                "region must be the code of a known region (GET /api/v1/services/regions), or null",
                details={"field": "region"},
            )
        if user.region != region:
            user.region = region
            changed.append("region")
    if changed:
        await user.save(update_fields=[*changed, "updated_at"])
    return user


async def is_elder(user_id: int | None) -> bool:
    """Whether the user asked for 长辈模式 (anonymous callers never did)."""
    return (await user_chat_settings(user_id))[0]


async def user_chat_settings(user_id: int | None) -> tuple[bool, str | None]:
    """The user's 长辈模式 and chosen region, in one read (anonymous callers: neither)."""
    if user_id is None:
        return False, None
    found = await User.filter(id=user_id).values_list("elder_mode", "region")
    return (bool(found[0][0]), found[0][1]) if found else (False, None)
