"""Notifications: in-app messages, delivery records per channel, subscribe-message grants."""

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


class Follower(Model):
    """A follower of the official account, linked to a mini-program user by unionid when WeChat supplies it."""

    id = fields.IntField(primary_key=True)
    openid = fields.CharField(max_length=64, unique=True)
    unionid = fields.CharField(max_length=64, null=True, db_index=True)
    user_id = fields.IntField(null=True, db_index=True)
    subscribed = fields.BooleanField(default=True)
    # The region the follower named (GB/T 2260), and whether the account already asked for it (it asks once).
    region = fields.CharField(max_length=6, null=True)
    region_asked = fields.BooleanField(default=False)
    subscribed_at = fields.DatetimeField(null=True)
    unsubscribed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "followers"
