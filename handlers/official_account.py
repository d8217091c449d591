"""The official account's webhook: WeChat's servers call ``/wechat/mp`` (not under /api/v1)."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, text
from sanic_ext import openapi

from app.services import services

bp = Blueprint("wechat_mp", url_prefix="/wechat")

_SIGNED = [
    openapi.parameter("signature", str, "query", required=True),
    openapi.parameter("timestamp", str, "query", required=True),
    openapi.parameter("nonce", str, "query", required=True),
]


def _signed(handler):  # type: ignore[no-untyped-def]
    for decorate in _SIGNED:
        handler = decorate(handler)
    return handler


@bp.get("/mp")
@_signed
@openapi.parameter("echostr", str, "query", required=True)
@openapi.tag("official account")
async def verify(request: Request) -> HTTPResponse:
    """WeChat's URL verification: answers ``echostr`` when the signature is right, 403 otherwise."""
    return text(services(request).official_account.check_url(request.args))


@bp.post("/mp")
@_signed
@openapi.parameter("encrypt_type", str, "query")
@openapi.parameter("msg_signature", str, "query")
@openapi.body({"application/xml": str})
@openapi.tag("official account")
async def receive(request: Request) -> HTTPResponse:
    """A message or event from a follower (plaintext or safe mode); answers a passive reply or ``success``."""
    reply = await services(request).official_account.receive(request.args, request.body)
    return HTTPResponse(reply.body, content_type=reply.content_type)
