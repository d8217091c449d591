"""The audit log: every staff write, with who, what, the state before and after, and when."""

from __future__ import annotations

import logging
from typing import Any

from sanic import Request

from models import AuditEntry

log = logging.getLogger("shengshi.audit")


async def record(
    request: Request | None,
    action: str,
    target: str = "",
    *,
    before: Any = None,
    after: Any = None,
    staff: Any = None,
    username: str | None = None,
) -> AuditEntry:
    """Append one entry; the staff member comes from the request unless given."""
    staff = staff if staff is not None else (getattr(request.ctx, "staff", None) if request is not None else None)
    ip = ""
    request_id = ""
    if request is not None:
        ip = str(request.remote_addr or request.ip or "")[:64]
        request_id = str(getattr(request.ctx, "request_id", "") or request.headers.get("x-request-id", ""))[:64]
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
