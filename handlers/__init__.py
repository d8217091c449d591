"""HTTP and WebSocket routes: validate input, call domain code, shape output."""

from sanic import Blueprint

from handlers import auth, chat, meta, services, ws

api = Blueprint.group(meta.bp, auth.bp, services.bp, chat.bp, ws.bp, url_prefix="/api/v1")
