"""Authentication before the body: the one way a coordinator route reads a request.

Every signed route goes through :class:`RequestGuard`, which checks, in this order:

1. the ``Aiwork-*`` headers: present, well formed, an Ed25519 did:key, a timestamp inside the
   window (:meth:`aiwork.auth.RequestVerifier.check_headers`) -- else 401;
2. the role the route needs, held by the key the headers name, and whatever else the route
   can tell from the caller alone (the owner of the library it changes) -- else 403;
3. the declared ``Content-Length`` against the route's limit -- else 413;

all before a byte of the body is read. Then the body streams in, hashed as it comes and
counted against the same limit (a chunked body that runs past it gets 413 at that point);
JSON bodies are held in memory (at most :data:`MAX_JSON_BYTES`), uploads go to a file (see
:meth:`RequestGuard.stream`). Only then is the signature checked against the body's SHA-256
and the nonce recorded (401 if either fails); only after that is the body parsed or stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from aiwork.auth import RequestVerifier, SignedHeaders
from aiwork.canonical import parse_json
from aiwork.errors import InputError, TooLargeError

__all__ = ["MAX_JSON_BYTES", "MAX_UNUSED_BYTES", "RequestGuard", "Signed", "check_length",
           "json_object", "raw_target", "read_bounded"]

#: Largest JSON request body, in bytes (1 MiB): a larger one gets 413 and changes nothing.
MAX_JSON_BYTES = 1 << 20
#: Largest body of a request whose body is not used (a GET, ``{}`` to take a review item):
#: signed like any other, but nobody gets the coordinator to read a megabyte for nothing.
MAX_UNUSED_BYTES = 1 << 10


@dataclass(frozen=True)
class Signed:
    """A request whose signature verified: its caller and its body."""

    did: str
    body: bytes

    def json(self) -> dict[str, Any]:
        return json_object(self.body)


def json_object(body: bytes) -> dict[str, Any]:
    """A request body as a JSON object (strict: no duplicate keys, no lone surrogates)."""
    value = parse_json(body, what="request body")
    if not isinstance(value, dict):
        raise InputError("request body must be a JSON object")
    return value


def raw_target(request: Request) -> str:
    """The request target exactly as sent: the raw path, and ``?query`` when there is one."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    return raw.decode("latin-1") + (("?" + query.decode("latin-1")) if query else "")


def check_length(request: Request, limit: int, what: str = "request body") -> None:
    """Refuse (413) a request whose declared ``Content-Length`` is over ``limit``; 400 when it
    is not a number."""
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not declared.isdigit() or len(declared) > 19:
        raise InputError(f"Content-Length must be a whole number of bytes, not {declared[:40]!r}")
    if int(declared) > limit:
        raise TooLargeError(f"a {what} is at most {limit} bytes; this one declares {declared}")


async def read_bounded(request: Request, limit: int, sink: Callable[[bytes], None] | None = None,
                       what: str = "request body") -> tuple[bytes, str]:
    """Read the body, at most ``limit`` bytes (413 beyond, declared or streamed), hashing as it
    comes; return ``(body, sha256 hex)``. With ``sink`` each piece goes there and the body
    returned is empty, so memory stays bounded whatever ``limit`` is."""
    check_length(request, limit, what)
    digest = hashlib.sha256()
    held = bytearray()
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLargeError(f"a {what} is at most {limit} bytes; this one is longer")
        digest.update(chunk)
        if sink is None:
            held += chunk
        else:
            sink(chunk)
    return bytes(held), digest.hexdigest()


class RequestGuard:
    """Checks a signed request in the order of the module docstring.

    ``verifier`` gives the request verifier and ``roles`` an identity's granted roles (both
    per thread: the coordinator opens one database connection per thread)."""

    def __init__(self, verifier: Callable[[], RequestVerifier],
                 require: Callable[[str, tuple[str, ...]], None]) -> None:
        self._verifier = verifier
        self._require = require

    def headers(self, request: Request, roles: tuple[str, ...] = (),
                allowed: Callable[[str], None] | None = None) -> SignedHeaders:
        """Steps 1 and 2: the signature headers, ``roles`` (any one of them) when given, and
        ``allowed`` (which raises for a caller the route refuses) called with the caller."""
        signed = self._verifier().check_headers(request.method, raw_target(request),
                                                request.headers)
        if roles:
            self._require(signed.key, roles)
        if allowed is not None:
            allowed(signed.key)
        return signed

    async def body(self, request: Request, *roles: str, limit: int = MAX_JSON_BYTES,
                   allowed: Callable[[str], None] | None = None) -> Signed:
        """A signed request by a holder of one of ``roles`` (any identity when none) whom
        ``allowed`` lets through, its body at most ``limit`` bytes, held in memory."""
        signed = self.headers(request, roles, allowed)
        body, digest = await read_bounded(request, limit)
        return Signed(self._verifier().verify_body(signed, digest), body)

    async def json(self, request: Request, *roles: str, limit: int = MAX_JSON_BYTES,
                   allowed: Callable[[str], None] | None = None) -> tuple[str, dict[str, Any]]:
        """The caller and the JSON object it sent (see :meth:`body`)."""
        signed = await self.body(request, *roles, limit=limit, allowed=allowed)
        return signed.did, signed.json()

    async def stream(self, request: Request, sink: Callable[[bytes], None], *roles: str,
                     limit: int) -> str:
        """A signed request whose body (at most ``limit`` bytes) goes piece by piece to
        ``sink`` rather than into memory; return the caller once the signature over the whole
        body verified. Whatever ``sink`` kept must be thrown away if this raises."""
        signed = self.headers(request, roles)
        _, digest = await read_bounded(request, limit, sink, what="media upload")
        return self._verifier().verify_body(signed, digest)
