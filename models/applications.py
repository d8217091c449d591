"""Applications (办件), their timeline, staff accounts, and the transactional outbox."""

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


class Staff(Model):
    """An operations or service-window account. Passwords are stored as scrypt hashes."""

    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=64, unique=True)
    password_hash = fields.CharField(max_length=256)
    role = fields.CharField(max_length=16)
    department = fields.CharField(max_length=128, null=True)
    is_active = fields.BooleanField(default=True)
    # The TOTP secret (second factor), encrypted like personal information.
    totp_secret = fields.CharField(max_length=256, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "staff"


class OutboxMessage(Model):
    """A notification to deliver, written in the same transaction as the transition that caused it."""

    id = fields.BigIntField(primary_key=True)
    idempotency_key = fields.CharField(max_length=128, unique=True)
    channel = fields.CharField(max_length=16)
    user_id = fields.IntField(db_index=True)
    application_id = fields.IntField(db_index=True)
    event_id = fields.IntField()
    payload: dict[str, Any] = fields.JSONField(default=dict)
    dispatched_at = fields.DatetimeField(null=True, db_index=True)
    # Set when the delivery is finished, whatever its outcome: rows dispatched long ago and still
    # unfinished were lost with Redis and are dispatched again.
    delivered_at = fields.DatetimeField(null=True, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "outbox"
