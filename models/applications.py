"""Applications (办件) and their timeline."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class Status(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REVIEWING = "reviewing"
    RETURNED = "returned"
    RESUBMITTED = "resubmitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Application(Model):
    """One application by one citizen for one service item. ``version`` guards concurrent transitions."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.User", related_name="applications", on_delete=fields.RESTRICT
    )
    service_code = fields.CharField(max_length=32, db_index=True)
    service_name = fields.CharField(max_length=128)
    department = fields.CharField(max_length=128, db_index=True)
    # The item's region, kept with the application (GB/T 2260).
    region = fields.CharField(max_length=6, default="")
    status = fields.CharEnumField(Status, max_length=16, default=Status.SUBMITTED, db_index=True)
    version = fields.IntField(default=1)
    form: dict[str, Any] = fields.JSONField(default=dict)
    materials: list[Any] = fields.JSONField(default=list)
    time_limit_days = fields.IntField()
    accepted_on = fields.DateField(null=True)
    deadline = fields.DateField(null=True, db_index=True)
    # The deadline ran into a year whose holidays were not published when it was counted.
    deadline_estimated = fields.BooleanField(default=False)
    submitted_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "applications"


class ApplicationEvent(Model):
    """One step of an application's timeline: who moved it, when, why."""

    id = fields.IntField(primary_key=True)
    application: fields.ForeignKeyRelation[Application] = fields.ForeignKeyField(
        "models.Application", related_name="events", on_delete=fields.CASCADE
    )
    from_status = fields.CharField(max_length=16, null=True)
    to_status = fields.CharField(max_length=16)
    version = fields.IntField()
    actor_type = fields.CharField(max_length=16)
    actor_id = fields.IntField(null=True)
    note = fields.TextField(default="")
    missing_materials: list[Any] = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "application_events"
