"""The official account's followers."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


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
