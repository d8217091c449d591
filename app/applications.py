"""Applications (办件): create, move through the lifecycle, and write notifications to the outbox.

Lifecycle::

    submitted ──accept──▶ accepted ──▶ reviewing ──▶ approved ──▶ completed (办结/送达)
        │  │                               │   └────▶ rejected
        │  └──return (补正)──▶ returned ◀───┘
        │                        │
        └──cancel (citizen, before acceptance)   resubmitted ──▶ accepted | reviewing | returned

Each transition carries the version the actor saw: one conditional UPDATE moves the
application only if nobody moved it first, so of two staff acting on the same version
exactly one succeeds and the other gets 409. The transition, its timeline event and one
outbox row per notification channel are written in one database transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.workdays import WorkCalendar
from models import Application, ApplicationEvent, OutboxMessage, ServiceItem, Status, User

CHINA = ZoneInfo("Asia/Shanghai")
CHANNELS = ("inapp", "subscribe", "template")
FINAL = frozenset({Status.APPROVED, Status.REJECTED, Status.COMPLETED, Status.CANCELLED})
OPEN = frozenset(Status) - {Status.REJECTED, Status.COMPLETED, Status.CANCELLED}

STAFF_MOVES: dict[Status, frozenset[Status]] = {
    Status.SUBMITTED: frozenset({Status.ACCEPTED, Status.RETURNED}),
    Status.ACCEPTED: frozenset({Status.REVIEWING}),
    Status.REVIEWING: frozenset({Status.APPROVED, Status.REJECTED, Status.RETURNED}),
    Status.RESUBMITTED: frozenset({Status.ACCEPTED, Status.REVIEWING, Status.RETURNED}),
    Status.APPROVED: frozenset({Status.COMPLETED}),
}
CITIZEN_MOVES: dict[Status, frozenset[Status]] = {
    Status.SUBMITTED: frozenset({Status.CANCELLED}),
    Status.RETURNED: frozenset({Status.RESUBMITTED, Status.CANCELLED}),
    Status.RESUBMITTED: frozenset({Status.CANCELLED}),
}
STATUS_TEXT = {
    Status.SUBMITTED: "已提交",
    Status.ACCEPTED: "已受理",
    Status.REVIEWING: "审核中",
    Status.RETURNED: "需补正材料",
    Status.RESUBMITTED: "已重新提交",
    Status.APPROVED: "审批通过",
    Status.REJECTED: "不予批准",
    Status.COMPLETED: "已办结",
    Status.CANCELLED: "已撤回",
}
MAX_FORM_BYTES = 20_000
log = logging.getLogger("shengshi.applications")


@dataclass(frozen=True)
class Actor:
    type: str  # citizen | staff
    id: int


def today() -> dt.date:
    return dt.datetime.now(CHINA).date()


def application_view(app: Application, events: Iterable[ApplicationEvent] | None = None) -> dict[str, Any]:
    status = Status(app.status)
    overdue = bool(app.deadline and status in OPEN and app.deadline < today())
    body: dict[str, Any] = {
        "id": app.id,
        "service_code": app.service_code,
        "service_name": app.service_name,
        "department": app.department,
        "region": app.region,
        "status": str(status),
        "status_text": STATUS_TEXT[status],
        "version": app.version,
        "time_limit_days": app.time_limit_days,
        "accepted_on": app.accepted_on.isoformat() if app.accepted_on else None,
        "deadline": app.deadline.isoformat() if app.deadline else None,
        # The deadline was counted through a year whose holidays are not published yet.
        "deadline_estimated": app.deadline_estimated,
        "overdue": overdue,
        "submitted_at": app.submitted_at.isoformat(),
        "updated_at": app.updated_at.isoformat(),
    }
    if events is not None:
        body["form"] = app.form
        body["materials"] = app.materials
        body["timeline"] = [
            {
                "from": e.from_status,
                "to": e.to_status,
                "to_text": STATUS_TEXT[Status(e.to_status)],
                "version": e.version,
                "actor": e.actor_type,
                "note": e.note,
                "missing_materials": e.missing_materials,
                "at": e.created_at.isoformat(),
            }
            for e in events
        ]
    return body


class OutboxWaker(Protocol):
    """Told when new outbox rows are committed (the notifier wakes its dispatcher)."""

    async def kick(self) -> None: ...


class ApplicationService:
    """Applications' writes; each commits its outbox rows with the change, then wakes ``outbox``."""

    def __init__(self, calendar: WorkCalendar, outbox: OutboxWaker | None = None):
        self.calendar = calendar
        self.outbox = outbox

    async def _committed(self) -> None:
        # After the commit, never inside it: the dispatcher must find the rows when it wakes.
        if self.outbox is not None:
            await self.outbox.kick()

    # -- materials -------------------------------------------------------------------

    async def reusable_materials(self, user: User) -> dict[str, dict[str, Any]]:
        """Materials this citizen uploaded before, by name (不得要求重复提交)."""
        found: dict[str, dict[str, Any]] = {}
        for app in await Application.filter(user_id=user.id).order_by("-id"):
            for material in app.materials:
                if material.get("source") == "upload" and material["name"] not in found:
                    found[material["name"]] = {"file_id": material.get("file_id"), "application_id": app.id}
        return found

    async def _resolve_materials(self, user: User, item: ServiceItem, given: Any) -> list[dict[str, Any]]:
        if not isinstance(given, list) or len(given) > 50:
            raise ValidationFailed("materials must be a list", details={"field": "materials"})
        provided: dict[str, dict[str, Any]] = {}
        for entry in given:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise ValidationFailed("each material needs a name", details={"field": "materials"})
            if entry.get("reuse") is True:
                provided[entry["name"]] = {"reuse": True}
            elif isinstance(entry.get("file_id"), str) and 0 < len(entry["file_id"]) <= 128:
                provided[entry["name"]] = {"file_id": entry["file_id"]}
            else:
                raise ValidationFailed(
                    f"material {entry['name'][:40]} needs a file_id or reuse: true", details={"field": "materials"}
                )
        reusable = await self.reusable_materials(user)
        resolved, missing = [], []
        for material in item.materials:
            name = material["name"]
            if material.get("electronic_licence") and user.id_number_mask and name in ("居民身份证", "户口簿"):
                # An electronic licence comes from the verified identity, never an upload.
                resolved.append({"name": name, "source": "licence", "ref": user.id_number_mask})
            elif name in provided and "file_id" in provided[name]:
                resolved.append({"name": name, "source": "upload", "file_id": provided[name]["file_id"]})
            elif name in provided and name in reusable:
                resolved.append({"name": name, "source": "reuse", **reusable[name]})
            elif material.get("required"):
                missing.append(name)
        if missing:
            # 一次告知: every missing material at once, with what can be reused.
            raise ValidationFailed(
                "Some required materials are missing: " + "、".join(missing),
                code="materials_missing",
                details={"missing": missing, "reusable": sorted(set(missing) & set(reusable))},
            )
        return resolved

    # -- creating and moving -----------------------------------------------------------

    async def create(self, user: User, service_code: Any, form: Any, materials: Any) -> Application:
        if not isinstance(service_code, str) or len(service_code) > 32:
            raise ValidationFailed("service_code is required", details={"field": "service_code"})
        item = await ServiceItem.get_or_none(code=service_code)
        if item is None:
            raise ValidationFailed("No service item with this code", details={"field": "service_code"})
        if not isinstance(form, dict) or len(json.dumps(form, ensure_ascii=False)) > MAX_FORM_BYTES:
            raise ValidationFailed(f"form must be an object under {MAX_FORM_BYTES} bytes", details={"field": "form"})
        resolved = await self._resolve_materials(user, item, materials)
        async with in_transaction():
            app = await Application.create(
                user_id=user.id,
                service_code=item.code,
                service_name=item.name,
                department=item.department,
                region=item.region,
                form=form,
                materials=resolved,
                time_limit_days=item.promised_time_limit_days,
            )
            event = await ApplicationEvent.create(
                application_id=app.id, from_status=None, to_status=Status.SUBMITTED, version=1,
                actor_type="citizen", actor_id=user.id,
            )  # fmt: skip
            await self._outbox(app, event)
        await self._committed()
        return app

    async def transition(
        self,
        application_id: int,
        to: Any,
        version: Any,
        actor: Actor,
        note: Any = "",
        missing_materials: Any = None,
    ) -> Application:
        try:
            target = Status(to)
        except ValueError:
            raise ValidationFailed("to must be a status", details={"field": "to"}) from None
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValidationFailed("version must be the version you saw", details={"field": "version"})
        if note is None:
            note = ""
        if not isinstance(note, str):
            raise ValidationFailed("note must be text", details={"field": "note"})
        if missing_materials is None:
            missing_materials = []
        if not isinstance(missing_materials, list) or not all(isinstance(m, str) for m in missing_materials):
            raise ValidationFailed(
                "missing_materials must be a list of material names", details={"field": "missing_materials"}
            )
        missing = [m for m in missing_materials if m.strip()][:50]
        if target is Status.RETURNED and not missing:
            raise ValidationFailed(
                "Returning for correction lists every missing or wrong material at once",
                details={"field": "missing_materials"},
            )
        async with in_transaction():
            app = await Application.get_or_none(id=application_id)
            if app is None or (actor.type == "citizen" and app.user_id != actor.id):  # type: ignore[attr-defined]
                raise NotFound("No such application")
            current = Status(app.status)
            # A stale version first: the actor decided on a state that is gone.
            if app.version != version:
                raise Conflict("Someone changed this application; reload it", code="stale_version")
            moves = CITIZEN_MOVES if actor.type == "citizen" else STAFF_MOVES
            if target not in moves.get(current, frozenset()):
                raise Conflict(f"Cannot go from {current} to {target}", code="illegal_transition")
            if target is Status.CANCELLED and app.accepted_on is not None:
                raise Conflict("An accepted application can no longer be cancelled", code="illegal_transition")
            changes: dict[str, Any] = {"status": target, "version": version + 1}
            if target is Status.ACCEPTED and app.accepted_on is None:
                accepted = today()
                deadline = self.calendar.deadline(accepted, app.time_limit_days)
                changes.update(accepted_on=accepted, deadline=deadline.day, deadline_estimated=deadline.estimated)
                if deadline.estimated:
                    log.warning(
                        "deadline of application %s counted past the last published holiday year (%s): "
                        "an estimate until the State Council's notice is in the calendar",
                        app.id,
                        max(self.calendar.published_years),
                        extra={"fields": {"application_id": app.id, "deadline": deadline.day.isoformat()}},
                    )
            moved = await Application.filter(id=app.id, version=version, status=current).update(**changes)
            if moved != 1:
                raise Conflict("Someone changed this application; reload it", code="stale_version")
            event = await ApplicationEvent.create(
                application_id=app.id, from_status=current, to_status=target, version=version + 1,
                actor_type=actor.type, actor_id=actor.id, note=note[:2000], missing_materials=missing,
            )  # fmt: skip
            app = await Application.get(id=app.id)
            await self._outbox(app, event)
        await self._committed()
        return app

    async def _outbox(self, app: Application, event: ApplicationEvent) -> None:
        payload = {
            "application_id": app.id,
            "service_code": app.service_code,
            "service_name": app.service_name,
            "status": str(event.to_status),
            "status_text": STATUS_TEXT[Status(event.to_status)],
            "note": event.note,
            "missing_materials": event.missing_materials,
            "deadline": app.deadline.isoformat() if app.deadline else None,
            "at": event.created_at.isoformat(),
        }
        for channel in CHANNELS:
            await OutboxMessage.create(
                idempotency_key=f"{app.id}:{event.id}:{channel}",
                channel=channel,
                user_id=app.user_id,  # type: ignore[attr-defined]
                application_id=app.id,
                event_id=event.id,
                payload=payload,
            )

    async def get_for_citizen(self, user: User, application_id: int) -> tuple[Application, list[ApplicationEvent]]:
        app = await Application.get_or_none(id=application_id, user_id=user.id)
        if app is None:
            raise NotFound("No such application")
        return app, await ApplicationEvent.filter(application_id=app.id).order_by("id")
