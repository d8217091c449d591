"""Where input enters: text no database can store and numbers no column can hold are refused with a 400.

One request middleware checks every request before its handler runs, so no handler can forget:

- the query string and the path (percent-decoded): no NUL character (PostgreSQL cannot store one
  in text and answers ``CharacterNotInRepertoireError``);
- the JSON body, when there is one, walked once whole: no NUL and no lone surrogate (``"\\ud800"``
  parses but cannot be encoded as UTF-8: every write of it fails) in any string or key, and no
  integer beyond 64 bits;
- every integer path parameter (``<id:int>``) within its column's range: INTEGER, or BIGINT for
  the names in :data:`BIGINT_PATH_PARAMS`.

Bad text answers 400 ``invalid_text``, an out-of-range number 400 ``invalid_input``, both naming
the field. Integers in the query string are read with :func:`int_arg` (ASCII digits, bounded).
The WebSocket's messages go through :func:`check_json` too.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from sanic import Request, Sanic

from app.core.errors import InvalidText, ValidationFailed
from app.core.websocket import close_on_invalid_utf8

# PostgreSQL's integer columns (Tortoise IntField, BigIntField).
INT_MIN, INT_MAX = -(2**31), 2**31 - 1
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
# Path ids are INTEGER primary keys, except these (BIGINT ones).
BIGINT_PATH_PARAMS = frozenset({"notification_id"})

# NUL, and any surrogate code point: in a str from a JSON parser a surrogate is always a lone one
# (a valid pair is decoded into the character it encodes).
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_INTEGER = re.compile(r"-?[0-9]{1,20}")


def is_bad_text(value: str) -> bool:
    """Whether ``value`` holds a NUL or a lone surrogate."""
    return _BAD_TEXT.search(value) is not None


def find_bad_value(tree: Any, where: str = "") -> tuple[str, str] | None:
    """The first bad value in a parsed JSON document: (its field path, ``text`` or ``integer``), or None."""
    stack: list[tuple[Any, str]] = [(tree, where)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if _BAD_TEXT.search(value):
                return path or "body", "text"
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if not BIGINT_MIN <= value <= BIGINT_MAX:
                return path or "body", "integer"
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and _BAD_TEXT.search(key):
                    return (f"{path} (a key)" if path else "a key"), "text"
                stack.append((item, f"{path}.{key}" if path else str(key)))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{n}]") for n, item in enumerate(value))
    return None


def check_json(tree: Any, where: str = "") -> None:
    """Raise the 400 for the first bad value of a parsed JSON document."""
    found = find_bad_value(tree, where)
    if found is None:
        return
    field, kind = found
    if kind == "text":
        raise InvalidText(
            f"{field} contains a NUL or an unpaired surrogate character; send valid Unicode text",
            details={"field": field},
        )
    raise ValidationFailed(f"{field} is a number beyond 64 bits", details={"field": field})


def parse_int(raw: str, low: int, high: int) -> int | None:
    """``raw`` as an integer from ``low`` to ``high`` (ASCII digits only: ``str.isdigit`` also takes '²'), else None."""
    if not _INTEGER.fullmatch(raw) or not low <= int(raw) <= high:
        return None
    return int(raw)


def int_arg(request: Request, name: str, default: int, low: int, high: int) -> int:
    """An integer query argument from ``low`` to ``high``; ``default`` when absent or empty; else a 400."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    value = parse_int(raw, low, high)
    if value is None:
        raise ValidationFailed(f"{name} must be a whole number from {low} to {high}", details={"field": name})
    return value


def check_request(request: Request) -> None:
    """Refuse a request whose query, path or JSON body holds what no handler should see (see the module)."""
    if request.query_string and is_bad_text(unquote(request.query_string)):
        raise InvalidText("The query string contains a NUL character", details={"field": "query"})
    if is_bad_text(unquote(request.path)):
        raise InvalidText("The path contains a NUL character", details={"field": "path"})
    for name, value in request.match_info.items():
        if isinstance(value, int) and not isinstance(value, bool):
            low, high = (BIGINT_MIN, BIGINT_MAX) if name in BIGINT_PATH_PARAMS else (INT_MIN, INT_MAX)
            if not low <= value <= high:
                raise ValidationFailed(f"{name} must be a whole number from {low} to {high}", details={"field": name})
    if request.body:
        try:
            body = request.json
        except Exception:
            return
        check_json(body)


def setup_request_input(app: Sanic) -> None:
    # WebSocket frames follow the same rule: invalid UTF-8 closes with 1007 (app/core/websocket.py).
    close_on_invalid_utf8()

    # After the request id is assigned (priority 1000), before any handler.
    @app.on_request(priority=900)  # type: ignore[call-arg]
    async def refuse_bad_input(request: Request) -> None:
        check_request(request)
