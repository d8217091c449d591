"""HTTP and WebSocket routes: validate input, call domain code, shape output."""

from sanic import Blueprint

from handlers import admin, applications, assistant, auth, catalog, citizen, meta, notifications, ws
from handlers.console import governance as console

api = Blueprint.group(
    meta.bp,
    auth.bp,
    catalog.bp,
    assistant.bp,
    ws.bp,
    applications.bp,
    notifications.bp,
    admin.bp,
    citizen.bp,
    citizen.admin_bp,
    console.bp,
    console.chat_bp,
    url_prefix="/api/v1",
)
