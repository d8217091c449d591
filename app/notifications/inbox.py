"""A citizen's in-app notifications (read, all read) and the subscribe-message grants the mini-program reports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from app.core.errors import NotFound, ValidationFailed
from app.notifications.notifier import Template
from models import Notification, SubscriptionGrant

MAX_GRANTS = 20


async def mark_read(user_id: int, notification_id: int) -> Notification:
    """Mark one of the user's notifications read (reading it twice keeps the first time)."""
    note = await Notification.get_or_none(id=notification_id, user_id=user_id)
    if note is None:
        raise NotFound("No such notification")
    if note.read_at is None:
        note.read_at = dt.datetime.now(dt.UTC)
        await note.save(update_fields=["read_at"])
    return note


async def mark_all_read(user_id: int) -> int:
    """Mark every unread notification of the user read; answers how many."""
    return int(await Notification.filter(user_id=user_id, read_at=None).update(read_at=dt.datetime.now(dt.UTC)))


async def record_grants(user_id: int, granted: Any, templates: Sequence[Template]) -> tuple[int, int]:
    """Record what wx.requestSubscribeMessage granted (one message per one-time grant; a long-term grant once).

    Answers (grants recorded, unused grants the user now holds).
    """
    if not isinstance(granted, list) or len(granted) > MAX_GRANTS or not all(isinstance(t, str) for t in granted):
        raise ValidationFailed("granted must be a list of template ids", details={"field": "granted"})
    known = {t.template_id: t for t in templates}
    unknown = [t for t in granted if t not in known]
    if unknown:
        raise ValidationFailed("Unknown template ids", details={"field": "granted", "unknown": unknown[:MAX_GRANTS]})
    for template_id in granted:
        template = known[template_id]
        exists = await SubscriptionGrant.filter(user_id=user_id, template_id=template_id).exists()
        if not (template.long_term and exists):
            await SubscriptionGrant.create(user_id=user_id, template_id=template_id, long_term=template.long_term)
    unused = await SubscriptionGrant.filter(user_id=user_id, used_at=None).count()
    return len(granted), unused
