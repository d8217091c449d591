"""The real app plus a hello-world route: the reference chat_http.py measures against, same app, same run."""

from __future__ import annotations

from sanic import Request, Sanic
from sanic.response import HTTPResponse, text

from app.factory import create_app


def create_bench_app() -> Sanic:
    app = create_app()

    @app.get("/__bench/hello")
    async def hello(request: Request) -> HTTPResponse:
        return text("hello")

    return app
