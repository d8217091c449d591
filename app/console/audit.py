"""The audit log: every staff write, with who, what, the state before and after, and when."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from models import AuditEntry, Staff

log = logging.getLogger("shengshi.audit")


@dataclass(frozen=True)
class AuditContext:
    """Who acted and from where: the logged-in staff member (None before login), the client's address,
    and the request id that ties the entry to the log lines."""

    staff: Staff | None = None
    ip: str = ""
    request_id: str = ""


async def record(
    context: AuditContext | None,
    action: str,
    target: str = "",
    *,
    before: Any = None,
    after: Any = None,
    staff: Staff | None = None,
    username: str | None = None,
) -> AuditEntry:
    """Append one entry; the staff member comes from ``context`` unless given."""
    context = context or AuditContext()
    staff = staff if staff is not None else context.staff
    ip = context.ip[:64]
    request_id = context.request_id[:64]
    return await AuditEntry.create(
        staff_id=staff.id if staff is not None else None,
        staff_username=(staff.username if staff is not None else username or "")[:64],
        action=action[:64],
        target=str(target)[:128],
        before=before,
        after=after,
        ip=ip,
        request_id=request_id,
    )


def entry_view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "staff_id": entry.staff_id,
        "staff": entry.staff_username,
        "action": entry.action,
        "target": entry.target,
        "before": entry.before,
        "after": entry.after,
        "ip": entry.ip,
        "request_id": entry.request_id,
        "at": entry.created_at.isoformat(),
    }
