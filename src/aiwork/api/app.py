"""The coordinator's HTTP API (FastAPI; OpenAPI at ``/openapi.json``, also docs/openapi.json).

Every request that changes state carries the signed headers of :mod:`aiwork.auth`; an
unsigned, forged, expired or replayed request gets 401 with its reason, a caller without the
needed role 403, and neither changes anything. Reads of the public log need no signature,
nor does a witness's cosignature of a checkpoint, which authenticates itself.

:func:`create_app` holds the state, the routers (:mod:`aiwork.api.routes`) and the handlers
that turn every refusal into ``{"error", "message"}``; who may call a route is in
:mod:`aiwork.api.deps`, the statuses in :mod:`aiwork.api.errors`, the document in
:mod:`aiwork.api.openapi`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aiwork.api.errors import error_response
from aiwork.api.guard import MAX_JSON_BYTES
from aiwork.api.openapi import document
from aiwork.api.routes import ROUTERS
from aiwork.api.state import (MAX_REGISTRATION_BYTES, MAX_RESULT_BYTES, MAX_UPLOAD_BYTES,
                              ServerSettings, State)
from aiwork.errors import AiworkError

__all__ = ["MAX_JSON_BYTES", "MAX_REGISTRATION_BYTES", "MAX_RESULT_BYTES", "MAX_UPLOAD_BYTES",
           "ServerSettings", "create_app"]


def create_app(settings: ServerSettings) -> FastAPI:
    app = FastAPI(title="aiwork coordinator", version="1",
                  description="Video metadata network: identities, media, ledger.")
    app.state.aiwork = State(settings)
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(AiworkError, _refused)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _internal)

    def openapi() -> dict[str, Any]:
        return document(app)
    app.openapi = openapi  # type: ignore[method-assign]
    return app


async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    # A route or a path nobody serves: the same {error, message} shape as every refusal.
    reason = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http")
    return JSONResponse({"error": reason, "message": str(exc.detail)},
                        status_code=exc.status_code, headers=exc.headers)


async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    # A path or query parameter of the wrong type (/v1/ledger/entries/abc) is a 400 with the
    # parameter named, like any other bad input.
    problems = "; ".join(f"{'.'.join(str(p) for p in error.get('loc', ()))}: "
                         f"{error.get('msg', 'invalid')}" for error in exc.errors()[:5])
    return JSONResponse({"error": "bad-request", "message": problems or "invalid request"},
                        status_code=400)


async def _refused(_: Request, exc: AiworkError) -> JSONResponse:
    return error_response(exc)


async def _internal(_: Request, exc: Exception) -> JSONResponse:
    # Anything else is a fault of the coordinator, not of the request: the caller gets a JSON
    # reason, never a bare 500, and the server still logs the traceback (Starlette re-raises
    # the exception to the server after this answer).
    return JSONResponse({"error": "internal",
                         "message": f"the coordinator failed on this request "
                                    f"({type(exc).__name__}); its log has the details"},
                        status_code=500)
