"""The operations console: audit log, governed intent data (draft and releases), resolved questions, hand-offs,
staff accounts."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class AuditEntry(Model):
    """One write by a staff member: who, what, the state before and after, when."""

    id = fields.BigIntField(primary_key=True)
    staff_id = fields.IntField(null=True, db_index=True)
    staff_username = fields.CharField(max_length=64)
    action = fields.CharField(max_length=64, db_index=True)
    target = fields.CharField(max_length=128, default="")
    before: Any = fields.JSONField(null=True)
    after: Any = fields.JSONField(null=True)
    ip = fields.CharField(max_length=64, default="")
    request_id = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "audit_log"


class IntentRelease(Model):
    """An immutable published snapshot of the governed intent data."""

    id = fields.IntField(primary_key=True)
    number = fields.IntField(unique=True)
    data: dict[str, Any] = fields.JSONField()
    checksum = fields.CharField(max_length=64)
    note = fields.CharField(max_length=500, default="")
    replay: dict[str, Any] = fields.JSONField(default=dict)
    created_by = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "intent_releases"


class IntentState(Model):
    """The single row naming the live release and holding the working draft (version guards concurrent edits)."""

    id = fields.IntField(primary_key=True)
    live_number = fields.IntField(null=True)
    draft: dict[str, Any] = fields.JSONField(null=True)
    draft_version = fields.IntField(default=0)
    draft_base = fields.IntField(null=True)
    updated_by = fields.CharField(max_length=64, default="")
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "intent_state"


class QuestionResolution(Model):
    """What staff decided about an unmatched question text (turned into data, or dismissed)."""

    id = fields.IntField(primary_key=True)
    text = fields.CharField(max_length=500, unique=True)
    decision = fields.CharField(max_length=16)
    detail = fields.CharField(max_length=200, default="")
    staff_id = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "question_resolutions"


class Handoff(Model):
    """A chat handed to a human agent, with the case context captured when it was queued."""

    id = fields.IntField(primary_key=True)
    channel = fields.CharField(max_length=16)
    session_id = fields.CharField(max_length=64, db_index=True)
    user_id = fields.IntField(null=True, db_index=True)
    openid = fields.CharField(max_length=64, null=True)
    reason = fields.CharField(max_length=16)
    status = fields.CharField(max_length=16, default="queued", db_index=True)
    agent_id = fields.IntField(null=True)
    agent_username = fields.CharField(max_length=64, null=True)
    context: dict[str, Any] = fields.JSONField(default=dict)
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    claimed_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)

    class Meta:
        table = "handoffs"


class HandoffMessage(Model):
    """One message of a handed-off chat. The text is encrypted at rest (citizens type personal details)."""

    id = fields.BigIntField(primary_key=True)
    handoff: fields.ForeignKeyRelation[Handoff] = fields.ForeignKeyField(
        "models.Handoff", related_name="messages", on_delete=fields.CASCADE
    )
    sender = fields.CharField(max_length=16)
    staff_id = fields.IntField(null=True)
    text_enc = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "handoff_messages"


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
    # The last TOTP time step accepted: a code works once (a conditional UPDATE claims it).
    totp_last_step = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "staff"


class StaffLoginAttempts(Model):
    """Console logins tried under one username (known or not) and not yet followed by a success."""

    username = fields.CharField(max_length=64, primary_key=True)
    attempts = fields.SmallIntField(default=0)
    last_attempt_at = fields.DatetimeField()

    class Meta:
        table = "staff_login_attempts"
