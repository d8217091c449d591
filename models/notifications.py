"""Notifications: in-app messages, delivery records per channel, subscribe-message grants, and the
transactional outbox an application change writes in its own transaction."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class Notification(Model):
    """An in-app message. It always exists, whatever happens on the WeChat side."""

    id = fields.BigIntField(primary_key=True)
    idempotency_key = fields.CharField(max_length=128, unique=True)
    user_id = fields.IntField(db_index=True)
    application_id = fields.IntField(null=True)
    title = fields.CharField(max_length=128)
    body = fields.TextField()
    data: dict[str, Any] = fields.JSONField(default=dict)
    read_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "notifications"


class Delivery(Model):
    """What became of one outbox message on its channel: sent, skipped, refused, uncertain or dead."""

    id = fields.BigIntField(primary_key=True)
    idempotency_key = fields.CharField(max_length=128, unique=True)
    outbox_id = fields.BigIntField()
    channel = fields.CharField(max_length=16)
    status = fields.CharField(max_length=16, db_index=True)
    attempts = fields.IntField(default=0)
    detail = fields.CharField(max_length=256, default="")
    # The consumer's claim ("claimed", then "sending" just before the WeChat call): only the owner
    # may send or finish it; a claim older than the claim timeout belongs to a dead consumer.
    owner = fields.CharField(max_length=64, null=True)
    claimed_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "deliveries"


class SubscriptionGrant(Model):
    """A subscribe-message authorisation from wx.requestSubscribeMessage. A one-time grant is used up once."""

    id = fields.BigIntField(primary_key=True)
    user_id = fields.IntField(db_index=True)
    template_id = fields.CharField(max_length=64)
    long_term = fields.BooleanField(default=False)
    used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "subscription_grants"


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
    # Which dispatcher's claim put the row into the stream (set together with dispatched_at by one
    # conditional UPDATE, so of several dispatchers exactly one streams each row).
    dispatched_by = fields.CharField(max_length=64, null=True)
    # Set when the delivery is finished, whatever its outcome: rows dispatched long ago and still
    # unfinished were lost with Redis and are dispatched again.
    delivered_at = fields.DatetimeField(null=True, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "outbox"
