"""One error hierarchy, one JSON shape.

Every error the service answers looks like::

    {"error": {"code": "not_found", "message": "…", "request_id": "…"}}

plus, for some errors, client-safe details under ``error.details``.

The tree::

    ShengshiError (SanicException)        500 internal_error
    ├── BadRequest                         400 bad_request
    │   └── ValidationFailed               400 invalid_input
    │       └── InvalidText                400 invalid_text
    ├── Unauthorized                       401 unauthorized
    ├── Forbidden                          403 forbidden
    ├── NotFound                           404 not_found
    ├── Conflict                           409 conflict
    ├── PayloadTooLarge                    413 payload_too_large
    ├── RateLimited                        429 rate_limited
    └── ServiceUnavailable                 503 unavailable

Sanic's own exceptions (unknown route, wrong method, unparsable JSON, body
over the size limit) are answered in the same shape by :class:`JSONErrorHandler`.
Anything else is a 500 whose body carries no stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from sanic import Request
from sanic.exceptions import (
    BadRequest as SanicBadRequest,
)
from sanic.exceptions import (
    MethodNotAllowed,
    RequestCancelled,
    SanicException,
)
from sanic.exceptions import (
    NotFound as SanicNotFound,
)
from sanic.exceptions import (
    PayloadTooLarge as SanicPayloadTooLarge,
)
from sanic.handlers import ErrorHandler
from sanic.response import HTTPResponse, json
from tortoise.exceptions import ValidationError as OrmValidationError

log = logging.getLogger("shengshi.errors")


class ShengshiError(SanicException):
    """Base of every error this service raises on purpose."""

    status_code = 500
    code = "internal_error"
    message = "Internal server error"
    quiet = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message or self.message, headers=headers)
        if code:
            self.code = code
        self.details = details or {}


class BadRequest(ShengshiError):
    status_code = 400
    code = "bad_request"
    message = "The request could not be understood"
    quiet = True


class ValidationFailed(BadRequest):
    code = "invalid_input"
    message = "Some fields are invalid"


class InvalidText(ValidationFailed):
    """A string no database can store: a NUL character, or a lone surrogate (app/request_input.py)."""

    code = "invalid_text"
    message = "The text contains a NUL or an unpaired surrogate character"


class Unauthorized(ShengshiError):
    status_code = 401
    code = "unauthorized"
    message = "Log in first"
    quiet = True


class Forbidden(ShengshiError):
    status_code = 403
    code = "forbidden"
    message = "You may not do this"
    quiet = True


class NotFound(ShengshiError):
    status_code = 404
    code = "not_found"
    message = "Not found"
    quiet = True


class Conflict(ShengshiError):
    status_code = 409
    code = "conflict"
    message = "The resource changed; reload and try again"
    quiet = True


class PayloadTooLarge(ShengshiError):
    status_code = 413
    code = "payload_too_large"
    message = "The request body is too large"
    quiet = True


class RateLimited(ShengshiError):
    status_code = 429
    code = "rate_limited"
    message = "Too many requests; try again later"
    quiet = True


class ServiceUnavailable(ShengshiError):
    status_code = 503
    code = "unavailable"
    message = "The service is not ready"


def error_body(
    status: int, code: str, message: str, request_id: str | None, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    if request_id:
        error["request_id"] = request_id
    return {"error": error}


# Sanic's exceptions, by class, to our codes and messages safe to show.
_SANIC_CODES: list[tuple[type[Exception], str, str]] = [
    (SanicNotFound, "not_found", "No such route"),
    (MethodNotAllowed, "method_not_allowed", "Method not allowed on this route"),
    (SanicPayloadTooLarge, "payload_too_large", "The request body is too large"),
    (SanicBadRequest, "bad_request", "The request could not be understood"),
]


# WeChat's server callbacks answer 400 for every bad push (oversized ones included).
WEBHOOK_PREFIX = "/wechat/"


class JSONErrorHandler(ErrorHandler):
    """Answers every exception in the one JSON shape."""

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        request_id = getattr(getattr(request, "ctx", None), "request_id", None) if request else None
        headers: dict[str, str] = {}
        if isinstance(exception, ShengshiError):
            status, code, message = exception.status_code, exception.code, str(exception)
            details = exception.details
            headers.update(getattr(exception, "headers", None) or {})
        elif isinstance(exception, SanicException):
            status = getattr(exception, "status_code", 500) or 500
            code, message = "error", "Request failed"
            for cls, known_code, known_message in _SANIC_CODES:
                if isinstance(exception, cls):
                    code, message = known_code, known_message
                    break
            else:
                if status < 500:
                    code = {
                        401: "unauthorized",
                        403: "forbidden",
                        408: "request_timeout",
                        416: "range_not_satisfiable",
                    }.get(status, "bad_request")
                    message = str(exception) or message
            if isinstance(exception, SanicBadRequest) and "json" in str(exception).lower():
                code, message = "invalid_json", "The body is not valid JSON"
            if isinstance(exception, MethodNotAllowed):
                allowed = getattr(exception, "allowed_methods", None)
                if allowed:
                    headers["Allow"] = ", ".join(sorted(allowed))
            details = {}
        elif isinstance(exception, OrmValidationError):
            # A value the model refuses (too long, out of range) reached the ORM: the client's input.
            status, code, message, details = 400, "invalid_input", "A value is too long or out of range", {}
        elif isinstance(exception, RequestCancelled):
            # The client hung up before the answer (a timeout on its side): nobody reads this, and it
            # is no fault of ours; noted, not logged as an error.
            log.info("request cancelled: the client went away")
            status, code, message, details = 503, "request_cancelled", "The client closed the connection", {}
        else:
            status, code, message, details = 500, "internal_error", "Internal server error", {}
        if status == 413 and request is not None and request.path.startswith(WEBHOOK_PREFIX):
            # Beyond the server's own body limit, before any handler: still a 400 to WeChat's callbacks.
            status = 400
        if isinstance(exception, ShengshiError):
            if status >= 500:
                log.warning("%s: %s", exception.code, message)
        elif status >= 500:
            log.error("unhandled error: %s", type(exception).__name__, exc_info=exception)
        return json(error_body(status, code, message, request_id, details), status=status, headers=headers)
