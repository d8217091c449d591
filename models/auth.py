"""Citizens (mini-program users) and their refresh-token families."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Level(StrEnum):
    """L1: logged in with WeChat only. L2: real name verified."""

    L1 = "L1"
    L2 = "L2"


class User(Model):
    """A citizen. Name, ID number and phone are stored only encrypted, with masks for display."""

    id = fields.IntField(primary_key=True)
    openid = fields.CharField(max_length=64, unique=True)
    unionid = fields.CharField(max_length=64, null=True, db_index=True)
    level = fields.CharEnumField(Level, max_length=4, default=Level.L1)
    real_name_enc = fields.TextField(null=True)
    real_name_mask = fields.CharField(max_length=64, null=True)
    id_number_enc = fields.TextField(null=True)
    id_number_mask = fields.CharField(max_length=32, null=True)
    # HMAC blind index: one ID number binds to one WeChat account (a unique constraint, not a check-then-insert).
    id_number_index = fields.CharField(max_length=64, null=True, unique=True)
    phone_enc = fields.TextField(null=True)
    phone_mask = fields.CharField(max_length=32, null=True)
    verified_at = fields.DatetimeField(null=True)
    # 长辈模式: larger text in the clients, shorter answers with fewer options from the assistant.
    elder_mode = fields.BooleanField(default=False)
    # The region the citizen chose (GB/T 2260); none: the deployment's DEFAULT_REGION.
    region = fields.CharField(max_length=6, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "users"


class RefreshToken(Model):
    """One issued refresh token. Tokens rotated from one login share a family, and reuse revokes it."""

    jti = fields.CharField(max_length=64, primary_key=True)
    family = fields.CharField(max_length=64, db_index=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="refresh_tokens", on_delete=fields.CASCADE
    )
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "refresh_tokens"


class RealNameAttempts(Model):
    """Real-name checks a citizen started on one day (Beijing time): five failed ones lock that day."""

    id = fields.IntField(primary_key=True)
    user_id = fields.IntField()
    day = fields.DateField()
    attempts = fields.SmallIntField(default=0)

    class Meta:
        table = "real_name_attempts"
        unique_together = (("user_id", "day"),)
