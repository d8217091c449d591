"""The browser simulator of the mini-program at ``/stub/`` (development only; never mounted in production).

``/stub/`` serves the simulator (``miniprogram_stub/simulator/``) and ``/stub/mp/…`` the
mini-program's own files (``miniprogram_stub/miniprogram/``), which the simulator runs
unchanged: the same page logic, templates and styles, no build step.
"""

from __future__ import annotations

from pathlib import Path

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, file, redirect
from sanic_ext import openapi

from app.core.errors import NotFound

ROOT = Path(__file__).resolve().parent.parent / "miniprogram_stub"
SIMULATOR = ROOT / "simulator"
MINIPROGRAM = ROOT / "miniprogram"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".wxml": "text/plain; charset=utf-8",
    ".wxss": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}

bp = Blueprint("stub", url_prefix="/stub")


def _resolve(root: Path, relative: str) -> Path:
    """A file under ``root`` (never outside it) with a known type, or 404."""
    target = (root / relative).resolve()
    if not target.is_relative_to(root) or not target.is_file() or target.suffix not in CONTENT_TYPES:
        raise NotFound("No such file")
    return target


async def _send(root: Path, relative: str) -> HTTPResponse:
    target = _resolve(root, relative)
    # Development files change under the developer's hands: always revalidate.
    return await file(target, mime_type=CONTENT_TYPES[target.suffix], headers={"Cache-Control": "no-cache"})


@bp.get("", strict_slashes=True)
@openapi.exclude()
async def to_index(request: Request) -> HTTPResponse:
    """/stub → /stub/."""
    return redirect("/stub/")


@bp.get("/", strict_slashes=True)
@openapi.exclude()
async def index(request: Request) -> HTTPResponse:
    """The simulator: a phone-sized page running the mini-program."""
    return await _send(SIMULATOR, "index.html")


@bp.get("/mp/<path:path>")
@openapi.exclude()
async def miniprogram_file(request: Request, path: str) -> HTTPResponse:
    """A file of the mini-program project, as WeChat DevTools would read it."""
    return await _send(MINIPROGRAM, path)


@bp.get("/<path:path>")
@openapi.exclude()
async def simulator_file(request: Request, path: str) -> HTTPResponse:
    """A file of the simulator itself."""
    return await _send(SIMULATOR, path)
