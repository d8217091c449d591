"""The operations console's web page at /admin: static HTML, CSS and JavaScript (no build step)."""

from __future__ import annotations

from pathlib import Path

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, file
from sanic_ext import openapi

from app.core.errors import NotFound

bp = Blueprint("admin_page")
STATIC = Path(__file__).resolve().parents[2] / "app" / "static" / "admin"
FILES = {"console.js": "text/javascript", "console.css": "text/css"}
# The page runs only its own script and talks only to this origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@bp.get("/admin")
@openapi.exclude()
async def page(request: Request) -> HTTPResponse:
    """The console page."""
    return await file(STATIC / "index.html", mime_type="text/html; charset=utf-8", headers=SECURITY_HEADERS)


@bp.get("/admin/static/<name:str>")
@openapi.exclude()
async def asset(request: Request, name: str) -> HTTPResponse:
    """The page's script and style sheet."""
    if name not in FILES:
        raise NotFound("No such file")
    return await file(STATIC / name, mime_type=FILES[name] + "; charset=utf-8", headers=SECURITY_HEADERS)
