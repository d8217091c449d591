"""HTTP and WebSocket routes: validate input, call domain code, shape output."""

from sanic import Blueprint

from handlers import admin, applications, auth, chat, meta, notifications, services, ws

api = Blueprint.group(
    meta.bp,
    auth.bp,
    services.bp,
    chat.bp,
    ws.bp,
    applications.bp,
    notifications.bp,
    admin.bp,
    url_prefix="/api/v1",
)
