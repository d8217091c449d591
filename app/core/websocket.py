"""WebSocket text frames that are not UTF-8 close the connection with 1007 (RFC 6455 §8.1).

Sanic 25.12 decodes a text frame in ``WebsocketFrameAssembler.put``, which runs in a task nobody
awaits: a ``UnicodeDecodeError`` there is lost, the frame never arrives and the handler's
``recv()`` waits for ever. :func:`close_on_invalid_utf8` makes that error fail the connection with
1007 ("invalid frame payload data"), so the client learns what it did and the socket is freed.
"""

from __future__ import annotations

import logging
from typing import Any

from sanic.server.websockets.frame import WebsocketFrameAssembler

log = logging.getLogger("shengshi.ws")

INVALID_PAYLOAD = 1007
_installed: list[bool] = []


def close_on_invalid_utf8() -> None:
    """Wrap Sanic's frame assembler once per process (idempotent)."""
    if _installed:
        return
    _installed.append(True)
    original = WebsocketFrameAssembler.put

    async def put(self: WebsocketFrameAssembler, frame: Any) -> None:
        try:
            await original(self, frame)
        except UnicodeDecodeError:
            self.decoder = None
            self.chunks = []
            log.info("closing a WebSocket: a text frame was not UTF-8")
            self.protocol.fail_connection(INVALID_PAYLOAD, "text frame is not UTF-8")

    WebsocketFrameAssembler.put = put  # type: ignore[method-assign]
