"""What a citizen keeps for themselves: ratings of finished services (好差评), favourites, recently viewed items."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class Rating(Model):
    """A rating of one completed application, given once by its applicant. Item and department are copied for reports."""  # noqa: E501

    id = fields.IntField(primary_key=True)
    application: fields.OneToOneRelation[Any] = fields.OneToOneField(
        "models.Application", related_name="rating", on_delete=fields.CASCADE
    )
    user_id = fields.IntField(db_index=True)
    service_code = fields.CharField(max_length=32, db_index=True)
    service_name = fields.CharField(max_length=128)
    department = fields.CharField(max_length=128, db_index=True)
    score = fields.SmallIntField()
    reasons: list[Any] = fields.JSONField(default=list)
    comment = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "ratings"


class Favourite(Model):
    """A service item the citizen starred."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.User", related_name="favourites", on_delete=fields.CASCADE
    )
    service_code = fields.CharField(max_length=32)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "favourites"
        unique_together = (("user", "service_code"),)


class RecentView(Model):
    """The last time the citizen opened an item guide (one row per user and item, the oldest pruned)."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.User", related_name="recent_views", on_delete=fields.CASCADE
    )
    service_code = fields.CharField(max_length=32)
    viewed_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "recent_views"
        unique_together = (("user", "service_code"),)
