"""What the assistant failed to understand, for the operations console (no user identity kept)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class UnmatchedQuestion(Model):
    """A question answered with a fallback, normalised, never linked to who asked."""

    id = fields.IntField(primary_key=True)
    text = fields.CharField(max_length=500)
    action = fields.CharField(max_length=16)
    channel = fields.CharField(max_length=16)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "unmatched_questions"
