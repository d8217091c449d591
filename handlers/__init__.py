"""HTTP and WebSocket routes: validate input, call domain code, shape output."""

from sanic import Blueprint

from handlers import admin, applications, auth, catalog_admin, chat, citizen, console, meta, notifications, services, ws

api = Blueprint.group(
    meta.bp,
    auth.bp,
    services.bp,
    chat.bp,
    ws.bp,
    applications.bp,
    notifications.bp,
    admin.bp,
    catalog_admin.bp,
    citizen.bp,
    citizen.admin_bp,
    console.bp,
    console.chat_bp,
    url_prefix="/api/v1",
)
