"""The service catalog: one row per standard-coded government service item, and its change history."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class ServiceItem(Model):
    """A service item (事项) with its one standard description. List fields are JSON."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    # Unique within the region (the same standard item exists in every region).
    name = fields.CharField(max_length=128)
    # The GB/T 2260 region the code starts with (000000: nationwide).
    region = fields.CharField(max_length=6, db_index=True, default="440000")
    aliases: list[Any] = fields.JSONField(default=list)
    department = fields.CharField(max_length=128, db_index=True)
    level = fields.CharField(max_length=16)
    category = fields.CharField(max_length=32, db_index=True)
    life_events: list[Any] = fields.JSONField(default=list)
    applicant_type = fields.CharField(max_length=8, db_index=True)
    conditions: list[Any] = fields.JSONField(default=list)
    materials: list[Any] = fields.JSONField(default=list)
    steps: list[Any] = fields.JSONField(default=list)
    legal_time_limit_days = fields.IntField()
    promised_time_limit_days = fields.IntField()
    fee = fields.TextField()
    online_level = fields.CharField(max_length=16, db_index=True)
    max_visits = fields.IntField()
    offline_locations: list[Any] = fields.JSONField(default=list)
    legal_basis: list[Any] = fields.JSONField(default=list)
    keywords: list[Any] = fields.JSONField(default=list)
    training_phrases: list[Any] = fields.JSONField(default=list)
    # Optional: the item's task type (行政许可, 公共服务 …) and the address of its guide, as public data gives them.
    task_type = fields.CharField(max_length=32, default="")
    guide_url = fields.CharField(max_length=512, default="")
    # Denormalised for portable filtering on PostgreSQL and SQLite alike.
    search_text = fields.TextField()
    life_events_text = fields.CharField(max_length=512)
    content_hash = fields.CharField(max_length=64)
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "service_items"
        unique_together = (("region", "name"),)


class ServiceItemChange(Model):
    """One change of an item: which version, which fields, from where."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, db_index=True)
    version = fields.IntField()
    action = fields.CharField(max_length=16)
    changed_fields: list[Any] = fields.JSONField(default=list)
    source = fields.CharField(max_length=256)
    changed_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "service_item_changes"


class Region(Model):
    """An administrative region (GB/T 2260): province, city or county, with its parent (000000: 全国)."""

    code = fields.CharField(max_length=6, primary_key=True)
    name = fields.CharField(max_length=64)
    parent = fields.CharField(max_length=6, null=True)

    class Meta:
        table = "regions"


class CatalogState(Model):
    """One row: the catalog's version, raised by every load that changes it (workers compare it to their own)."""

    id = fields.IntField(primary_key=True)
    version = fields.IntField(default=0)

    class Meta:
        table = "catalog_state"
