"""The one table from aiwork's errors to HTTP statuses, and the error body every refusal has.

Domain errors say what went wrong (:mod:`aiwork.errors`); only this module knows which HTTP
status each kind of error answers with. A refusal's body is always
``{"error": CODE, "message": TEXT}``: ``CODE`` is short and stable (the error's own ``reason``
when it has one, e.g. ``unsigned``, ``replayed``, ``unknown-witness``), ``TEXT`` is the
message with what to do about it.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from aiwork.errors import (
    AiworkError,
    ConflictError,
    ForbiddenError,
    InsufficientCreditsError,
    NotFoundError,
    OutOfRangeError,
    RequestAuthError,
    TooLargeError,
)

__all__ = ["STATUSES", "error_response", "status_of"]

#: (error class, HTTP status, error code), most specific first; the first that matches wins.
#: Any other :class:`AiworkError` is a 400 ``bad-request``.
STATUSES: tuple[tuple[type[AiworkError], int, str], ...] = (
    (RequestAuthError, 401, "unauthenticated"),
    (TooLargeError, 413, "too-large"),
    (InsufficientCreditsError, 402, "insufficient-credits"),
    (ForbiddenError, 403, "forbidden"),
    (NotFoundError, 404, "not-found"),
    (OutOfRangeError, 404, "not-found"),
    (ConflictError, 409, "conflict"),
)


def status_of(exc: AiworkError) -> tuple[int, str]:
    """The HTTP status and the error code an error answers with."""
    for cls, status, code in STATUSES:
        if isinstance(exc, cls):
            return status, getattr(exc, "reason", None) or code
    return 400, getattr(exc, "reason", None) or "bad-request"


def error_response(exc: AiworkError) -> JSONResponse:
    """The refusal for an error: its status and ``{"error", "message"}``."""
    status, code = status_of(exc)
    return JSONResponse({"error": code, "message": exc.diagnostics()}, status_code=status)
