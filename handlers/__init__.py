"""HTTP and WebSocket routes, one module per feature: validate input, call domain code, shape output.

Each feature's citizen routes are its ``bp``; its staff routes (under /api/v1/admin) its ``admin_bp``
or, for the console, the modules of ``handlers/console/``.
"""

from sanic import Blueprint

from handlers import applications, assistant, auth, catalog, citizen, meta, notifications, ws
from handlers.console import accounts, governance, handoff, learning

api = Blueprint.group(
    meta.bp,
    auth.bp,
    catalog.bp,
    assistant.bp,
    ws.bp,
    applications.bp,
    notifications.bp,
    catalog.admin_bp,
    citizen.bp,
    accounts.bp,
    applications.admin_bp,
    notifications.admin_bp,
    citizen.admin_bp,
    governance.bp,
    learning.bp,
    handoff.bp,
    url_prefix="/api/v1",
)
