"""What this service is and which version runs."""

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json

from app import __version__

bp = Blueprint("meta")


@bp.get("/version")
async def version(request: Request) -> HTTPResponse:
    """The running version and environment."""
    return json({"name": "shengshi", "version": __version__, "env": request.app.ctx.settings.env})
