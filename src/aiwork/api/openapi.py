"""The OpenAPI document, from the contract (:mod:`aiwork.contract`).

Routes are registered with :func:`operation`, which takes the method, path, ``operationId``
and summary from the contract's table. :func:`document` then writes into FastAPI's document
what FastAPI cannot see: no route declares a body parameter (bodies are read after the
signature, see :mod:`aiwork.api.deps`), so each operation's request body, its answers for
every status it gives (named models; the real media type of files) and its security come
from the contract.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from aiwork.api.errors import STATUSES
from aiwork.contract import AUTH_HEADERS, OPERATIONS, ErrorBody, Operation, operation as find

__all__ = ["document", "operation", "published"]

F = TypeVar("F", bound=Callable[..., Any])

_REFS = "#/components/schemas/{model}"
#: What each error status means, for the document.
_MEANING = {400: "Bad input: the message names what to fix; nothing changed",
            401: "The request's signature is missing, malformed, expired, forged or replayed",
            402: "The account cannot pay for it",
            403: "The caller lacks the role, or may not do this",
            404: "No such thing (or a sensitive library's, to one who may not read it)",
            409: "It conflicts with what is already recorded",
            413: "The body is over the operation's size limit",
            422: "The request is well formed but cannot be processed"}
_SCHEMES = {name.replace("-", ""): name for name in AUTH_HEADERS}
_SIGNED: dict[str, list[str]] = {scheme: [] for scheme in _SCHEMES}


def operation(router: APIRouter, operation_id: str) -> Callable[[F], F]:
    """Register a route for the contract's operation ``operation_id``."""
    op = find(operation_id)
    decorator: Callable[[F], F] = router.api_route(
        op.path, methods=[op.method], operation_id=op.id, summary=op.summary, tags=[op.tag],
        response_model=None)
    return decorator


def _models() -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    out: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for op in OPERATIONS:
        if op.request is not None:
            out.append((op.request, "validation"))
        if op.response is not None:
            out.append((op.response, "serialization"))
    return list(dict.fromkeys(out))


def _schemas() -> tuple[dict[tuple[Any, str], dict[str, Any]], dict[str, Any]]:
    refs, top = models_json_schema(_models(), ref_template=_REFS)
    return {(model, mode): dict(ref) for (model, mode), ref in refs.items()}, \
        dict(top.get("$defs", {}))


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _answers(op: Operation, ref: Callable[[type[BaseModel], str], dict[str, Any]]
             ) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    if op.response is not None:
        schema = ref(op.response, "serialization")
        answers["200"] = {"description": "OK", "content": _json(
            {"type": "array", "items": schema} if op.many else schema)}
    else:
        content = {media: {"schema": {"type": "string", "format": "binary"}
                           if media == "application/octet-stream" else
                           {"type": "object"} if "json" in media else {"type": "string"}}
                   for media in op.media}
        answers["200"] = {"description": "OK", "content": content}
    if op.empty:
        answers["204"] = {"description": "Nothing to give now",
                          "headers": {"aiwork-reason": {"description": "why, when known",
                                                        "schema": {"type": "string"}}}}
    for status in op.errors:
        codes = sorted({code for _, s, code in STATUSES if s == status})
        answers[str(status)] = {
            "description": _MEANING[status] + (f" (error: {', '.join(codes)}, or a "
                                               "more specific reason)" if codes else ""),
            "content": _json(ref(ErrorBody, "serialization"))}
    return answers


def _request(op: Operation, ref: Callable[[type[BaseModel], str], dict[str, Any]]
             ) -> dict[str, Any] | None:
    if op.body is not None:
        return {"required": True,
                "content": {op.body: {"schema": {"type": "string", "format": "binary"}}}}
    if op.request is None:
        return None
    return {"required": op.request.model_fields != {} and any(
        field.is_required() for field in op.request.model_fields.values()),
        "content": _json(ref(op.request, "validation"))}


def _security(op: Operation) -> list[dict[str, list[str]]]:
    auth: Literal["signed", "optional", "none"] = op.auth
    return {"signed": [_SIGNED], "optional": [{}, _SIGNED], "none": []}[auth]


def document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, built once and kept (FastAPI's ``app.openapi``)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description,
                      routes=app.routes)
    refs, schemas = _schemas()

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return dict(refs[(model, mode)])

    for op in OPERATIONS:
        entry = doc["paths"][op.path][op.method.lower()]
        request = _request(op, ref)
        if request is not None:
            entry["requestBody"] = request
        entry["responses"] = _answers(op, ref)
        entry["security"] = _security(op)
    components = doc.setdefault("components", {})
    kept = {k: v for k, v in components.get("schemas", {}).items()
            if k not in ("HTTPValidationError", "ValidationError")}
    components["schemas"] = {**kept, **schemas}
    components["securitySchemes"] = {
        scheme: {"type": "apiKey", "in": "header", "name": header,
                 "description": _HEADER_MEANING[header]}
        for scheme, header in _SCHEMES.items()}
    app.openapi_schema = doc
    return doc


_HEADER_MEANING = {
    "Aiwork-Key": "the caller's Ed25519 did:key. A signed request carries all four Aiwork-* "
                  "headers: an Ed25519 signature over \"aiwork request v1\\n\" followed by "
                  "the RFC 8785 JSON of the method, raw path and query, timestamp, nonce, key "
                  "and the body's SHA-256 (aiwork.auth, with a test vector)",
    "Aiwork-Timestamp": "Unix seconds; within 300 s of the coordinator's clock",
    "Aiwork-Nonce": "random, never used twice by a key (a replay is 401 replayed)",
    "Aiwork-Signature": "the Ed25519 signature, base64",
}


def published() -> str:
    """The document as docs/openapi.json holds it (``python -m aiwork.api`` prints it)."""
    import tempfile
    from pathlib import Path

    from aiwork.api.app import ServerSettings, create_app
    from aiwork.crypto import SigningKey

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(ServerSettings(db=Path(folder) / "coord.db", key=SigningKey.generate()))
        return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"
