"""HTTP and WebSocket routes: validate input, call domain code, shape output."""

from sanic import Blueprint

from handlers import meta

api = Blueprint.group(meta.bp, url_prefix="/api/v1")
