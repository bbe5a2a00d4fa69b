"""Signed HTTP requests: every state-changing request carries its caller's Ed25519 signature.

Scheme ``aiwork request v1``
============================

A client holding an Ed25519 key (its identity is the key's ``did:key``) sends four headers
(names are case-insensitive, as always in HTTP)::

    Aiwork-Key:        did:key:z6Mk...            the caller's did:key (Ed25519, multibase z)
    Aiwork-Timestamp:  1700000000                 Unix time in whole seconds, ASCII digits,
                                                  no sign, no leading zeros
    Aiwork-Nonce:      3q2-7wAAAAAAAAAAAAAAAA     16 to 64 fresh random bytes, base64url
                                                  (RFC 4648 section 5) WITHOUT '=' padding;
                                                  never reused for the same key
    Aiwork-Signature:  <88 characters>            the 64-byte Ed25519 signature, standard
                                                  base64 (RFC 4648 section 4) WITH padding

The signature is over these bytes::

    b"aiwork request v1\\n" + JCS({
        "method":    METHOD,          # the HTTP method, upper case: "POST"
        "path":      PATH,            # the request target exactly as sent on the request
                                      # line: path plus "?" and the query when there is one,
                                      # not decoded, not normalised: "/v1/jobs?limit=5"
        "timestamp": T,               # the Aiwork-Timestamp value as a JSON integer
        "nonce":     N,               # the Aiwork-Nonce header value, as a string
        "key":       DID,             # the Aiwork-Key header value, as a string
        "body":      "sha256:" + lowercase hex SHA-256 of the raw body bytes
                                      # (of b"" when there is no body)
    })

where ``JCS`` is RFC 8785 canonical JSON (UTF-8; for these values: keys sorted, no
whitespace, strings escaped as JSON requires), i.e. ::

    aiwork request v1
    {"body":"sha256:e3b0...","key":"did:key:z6Mk...","method":"GET","nonce":"...","path":"/","timestamp":1700000000}

The server (:class:`RequestVerifier`) checks, in this order, and refuses with a
:class:`RequestAuthError` whose ``reason`` says why. The first three need only the headers, so
a server refuses an unsigned, malformed or stale request before it reads a byte of its body
(:meth:`RequestVerifier.check_headers`); the last two need the body's SHA-256, computed while
the body streams in (:meth:`RequestVerifier.verify_body`):

1. all four headers are present (``unsigned``) and well formed (``malformed``);
2. ``Aiwork-Key`` is an Ed25519 did:key (``bad-key``);
3. the timestamp lies within ``window`` seconds (default 300) of the server's clock
   (``expired`` when older, ``future`` when newer);
4. the signature verifies over the bytes above, rebuilt from the method, request target and
   body the server received (``bad-signature``: forged, another key, altered method, path,
   query, body, timestamp or nonce);
5. the nonce was not seen before for that key while still inside the window (``replayed``).
   Nonces are recorded only after the signature verified, so nobody but the key holder can
   use up a key's nonces. A nonce is remembered until its timestamp leaves the window; after
   that the timestamp check alone refuses the request.

Every refusal maps to HTTP 401; the ``reason`` is short and stable, the message says more.

Test vector (check a client implementation against it): the key with Ed25519 seed
``000102...1f`` (bytes 0 to 31) is ``did:key:z6MkehRgf7yJbgaGfYsdoAsKdBPE3dj2CYhowQdcjqSJgvVd``;
signing ``POST /v1/jobs?x=1`` with body ``{"a":1}`` (7 bytes), timestamp ``1700000000`` and
nonce ``AAECAwQFBgcICQoLDA0ODw`` (bytes 0 to 15) signs these bytes (one line after the prefix)::

    aiwork request v1
    {"body":"sha256:015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862","key":"did:key:z6MkehRgf7yJbgaGfYsdoAsKdBPE3dj2CYhowQdcjqSJgvVd","method":"POST","nonce":"AAECAwQFBgcICQoLDA0ODw","path":"/v1/jobs?x=1","timestamp":1700000000}

and gives ``Aiwork-Signature:
sP3/YpO6sXH1h6lu6/D37dBm2jGLbelOHM1giEjokBIMcbXlr8aJXTVPUOK1lNVk7vcYO+V0N9TI5ZknwAkYCg==``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import math
import os
import re
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from aiwork.canonical import canonical_bytes
from aiwork.crypto import SigningKey, public_key_from_did, verify_signature
from aiwork.errors import (
    BadKeyError,
    BadRequestSignatureError,
    ConfigError,
    MalformedAuthError,
    MalformedJSONError,
    ReplayedRequestError,
    RequestTimeError,
    SignatureError,
    UnsignedRequestError,
)
from aiwork.store import Database, Migration

__all__ = [
    "DEFAULT_WINDOW",
    "HEADER_KEY",
    "HEADER_NONCE",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "MIGRATIONS",
    "NONCE_BYTES",
    "SIGNING_PREFIX",
    "MemoryNonceStore",
    "NonceStore",
    "RequestVerifier",
    "SignedHeaders",
    "SqliteNonceStore",
    "new_nonce",
    "sign_request",
    "signing_bytes",
]

SIGNING_PREFIX = b"aiwork request v1\n"
HEADER_KEY = "Aiwork-Key"
HEADER_TIMESTAMP = "Aiwork-Timestamp"
HEADER_NONCE = "Aiwork-Nonce"
HEADER_SIGNATURE = "Aiwork-Signature"
_HEADERS = (HEADER_KEY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)

DEFAULT_WINDOW = 300
"""Seconds a request's timestamp may differ from the server's clock, either way."""

NONCE_BYTES = 16
_MAX_NONCE_BYTES = 64
_MAX_DID_CHARS = 128  # an Ed25519 did:key has 56; bounds the base58 decoding work
_TIMESTAMP_RE = re.compile(r"(0|[1-9][0-9]{0,14})")
_NONCE_RE = re.compile(r"[A-Za-z0-9_-]{22,86}")
_SIGNATURE_RE = re.compile(r"[A-Za-z0-9+/]{86}==")
_METHOD_RE = re.compile(r"[A-Z][A-Z0-9_-]*")
_SHA256_HEX_RE = re.compile(r"[0-9a-f]{64}")


# ---------------------------------------------------------------------------------------------
# Errors


# ---------------------------------------------------------------------------------------------
# Signing


def _check_method_path(method: str, path: str) -> str:
    upper = method.upper()
    if not _METHOD_RE.fullmatch(upper):
        raise MalformedAuthError(f"{method!r} is not an HTTP method")
    if not path.startswith("/"):
        raise MalformedAuthError(f"request path {path!r} must start with '/'")
    return upper


def signing_bytes(
    method: str, path: str, body: bytes, *, timestamp: int, nonce: str, key: str,
    body_sha256: str | None = None,
) -> bytes:
    """The exact bytes an ``aiwork request v1`` signature covers (see the module docstring).

    ``body_sha256`` (lowercase hex) stands for the body when it is streamed rather than held:
    give it instead of ``body`` (which is then ignored)."""
    upper = _check_method_path(method, path)
    digest = hashlib.sha256(body).hexdigest() if body_sha256 is None else body_sha256
    if not _SHA256_HEX_RE.fullmatch(digest):
        raise MalformedAuthError("a body digest is 64 lowercase hex digits")
    envelope = {
        "method": upper,
        "path": path,
        "timestamp": timestamp,
        "nonce": nonce,
        "key": key,
        "body": "sha256:" + digest,
    }
    try:
        return SIGNING_PREFIX + canonical_bytes(envelope)
    except MalformedJSONError as exc:
        raise MalformedAuthError(f"request cannot be signed: {exc}") from exc


def new_nonce() -> str:
    """A fresh nonce: 16 random bytes, base64url without padding (22 characters)."""
    return base64.urlsafe_b64encode(os.urandom(NONCE_BYTES)).rstrip(b"=").decode("ascii")


def sign_request(
    key: SigningKey, method: str, path: str, body: bytes, *, now: float | None = None,
    body_sha256: str | None = None,
) -> dict[str, str]:
    """The four ``Aiwork-*`` headers that sign ``method path`` with ``body`` as ``key``.

    ``path`` is the request target as it will be sent: path plus ``?query`` when there is one.
    To sign a body that is streamed (a large upload), give its SHA-256 as ``body_sha256``
    (lowercase hex) and ``b""`` as ``body``.
    """
    timestamp = int(time.time() if now is None else now)
    nonce = new_nonce()
    did = key.did
    message = signing_bytes(method, path, body, timestamp=timestamp, nonce=nonce, key=did,
                            body_sha256=body_sha256)
    return {
        HEADER_KEY: did,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: base64.b64encode(key.sign(message)).decode("ascii"),
    }


# ---------------------------------------------------------------------------------------------
# Nonce stores


class NonceStore(Protocol):
    """Remembers ``(key, nonce)`` pairs until they expire, atomically refusing duplicates."""

    def remember(self, key: str, nonce: str, *, expires_at: int, now: float) -> bool:
        """Record the pair, valid until ``expires_at`` (Unix seconds); forget pairs that
        expired before ``now``. Return ``False`` (recording nothing) if the pair is already
        remembered, ``True`` otherwise."""
        ...


class MemoryNonceStore:
    """A thread-safe in-process :class:`NonceStore`; forgets everything when the process ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._expiry: dict[tuple[str, str], int] = {}
        self._heap: list[tuple[int, str, str]] = []

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)

    def remember(self, key: str, nonce: str, *, expires_at: int, now: float) -> bool:
        with self._lock:
            while self._heap and self._heap[0][0] < now:
                _, old_key, old_nonce = heapq.heappop(self._heap)
                self._expiry.pop((old_key, old_nonce), None)
            pair = (key, nonce)
            if pair in self._expiry:
                return False
            self._expiry[pair] = expires_at
            heapq.heappush(self._heap, (expires_at, key, nonce))
            return True


def _create_nonce_table(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE auth_nonces ("
        " key TEXT NOT NULL,"
        " nonce TEXT NOT NULL,"
        " expires_at INTEGER NOT NULL,"
        " PRIMARY KEY (key, nonce)"
        ") WITHOUT ROWID"
    )
    conn.execute("CREATE INDEX auth_nonces_expires_at ON auth_nonces (expires_at)")


MIGRATIONS = [Migration("auth-0001-nonces", _create_nonce_table)]


class SqliteNonceStore:
    """A :class:`NonceStore` in an :class:`aiwork.store.Database` (table ``auth_nonces``).

    It survives restarts, and several processes sharing the file see each other's nonces:
    the primary key ``(key, nonce)`` makes a second ``INSERT`` of a pair fail.
    """

    #: Expired nonces are deleted at most this often (seconds): one indexed DELETE per
    #: request would be most of the store's cost under load.
    SWEEP_INTERVAL = 10.0

    def __init__(self, db: Database) -> None:
        self.db = db
        self._swept = -math.inf
        db.migrate(MIGRATIONS)

    def remember(self, key: str, nonce: str, *, expires_at: int, now: float) -> bool:
        with self.db.atomic() as conn:
            if now - self._swept >= self.SWEEP_INTERVAL:
                # An expired nonce left behind a little longer is harmless: its request
                # would be refused as expired before the store is asked.
                conn.execute("DELETE FROM auth_nonces WHERE expires_at < ?", (now,))
                self._swept = now
            inserted = conn.execute(
                "INSERT INTO auth_nonces (key, nonce, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key, nonce) DO NOTHING",
                (key, nonce, expires_at),
            ).rowcount
        return bool(inserted == 1)


# ---------------------------------------------------------------------------------------------
# Verification


def _decode_nonce(value: str) -> None:
    if not _NONCE_RE.fullmatch(value) or len(value) % 4 == 1:
        raise MalformedAuthError(
            f"{HEADER_NONCE} must be {NONCE_BYTES} to {_MAX_NONCE_BYTES} bytes in unpadded"
            " base64url"
        )
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    if not NONCE_BYTES <= len(raw) <= _MAX_NONCE_BYTES:
        raise MalformedAuthError(
            f"{HEADER_NONCE} must hold {NONCE_BYTES} to {_MAX_NONCE_BYTES} bytes, not {len(raw)}"
        )


def _decode_signature(value: str) -> bytes:
    if not _SIGNATURE_RE.fullmatch(value):
        raise MalformedAuthError(
            f"{HEADER_SIGNATURE} must be a 64-byte signature in padded standard base64"
            " (88 characters)"
        )
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:  # pragma: no cover - the pattern already rules this out
        raise MalformedAuthError(f"{HEADER_SIGNATURE} is not base64: {exc}") from exc


@dataclass(frozen=True)
class SignedHeaders:
    """A request's ``Aiwork-*`` headers, checked in form, key and time: what can be checked
    before its body is read. :meth:`RequestVerifier.verify_body` finishes the check."""

    method: str
    path: str
    key: str  # the caller's did:key, not yet proven
    timestamp: int
    nonce: str
    signature: bytes
    public_key: bytes


class RequestVerifier:
    """Checks ``aiwork request v1`` signatures (see the module docstring) and refuses replays.

    ``window`` is how many seconds a timestamp may lie behind or ahead of the server's clock.
    Share one verifier (and one nonce store) between all workers that serve the same keys.
    """

    def __init__(self, nonces: NonceStore | None = None, *, window: int = DEFAULT_WINDOW) -> None:
        if window <= 0:
            raise ConfigError("the timestamp window must be positive")
        self.nonces: NonceStore = MemoryNonceStore() if nonces is None else nonces
        self.window = window

    def verify(
        self,
        method: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        now: float | None = None,
    ) -> str:
        """Return the caller's did if the request is signed, fresh and new; else raise
        a :class:`RequestAuthError` (``reason`` says which check failed).

        ``path`` is the raw request target as received (path and ``?query``, undecoded).
        """
        now = time.time() if now is None else now
        signed = self.check_headers(method, path, headers, now=now)
        return self.verify_body(signed, hashlib.sha256(body).hexdigest(), now=now)

    def check_headers(
        self, method: str, path: str, headers: Mapping[str, str], *, now: float | None = None
    ) -> SignedHeaders:
        """Checks 1 to 3 of the module docstring, from the headers alone: run them before
        reading the body. Raises a :class:`RequestAuthError`."""
        now = time.time() if now is None else now
        lowered = {name.lower(): value for name, value in headers.items()}
        values = {name: lowered.get(name.lower()) for name in _HEADERS}
        missing = [name for name, value in values.items() if value is None]
        if missing:
            what = "is" if len(missing) == 1 else "are"
            raise UnsignedRequestError(f"request is not signed: {', '.join(missing)} {what} missing")
        did, stamp, nonce, signature_b64 = (str(values[name]) for name in _HEADERS)

        if not _TIMESTAMP_RE.fullmatch(stamp):
            raise MalformedAuthError(
                f"{HEADER_TIMESTAMP} must be whole Unix seconds in ASCII digits, not {stamp[:40]!r}"
            )
        timestamp = int(stamp)
        _decode_nonce(nonce)
        signature = _decode_signature(signature_b64)
        upper = _check_method_path(method, path)

        if len(did) > _MAX_DID_CHARS:
            raise BadKeyError(f"{HEADER_KEY} is too long to be an Ed25519 did:key")
        try:
            public_key = public_key_from_did(did)
        except SignatureError as exc:
            raise BadKeyError(f"{HEADER_KEY}: {exc}") from exc

        if now - timestamp > self.window:
            raise RequestTimeError(
                f"request expired: signed {int(now - timestamp)} s ago, more than the"
                f" {self.window} s allowed",
                reason="expired",
                hint="check the client's clock and sign each request just before sending it",
            )
        if timestamp - now > self.window:
            raise RequestTimeError(
                f"request is from the future: signed {int(math.ceil(timestamp - now))} s ahead"
                f" of the server's clock, more than the {self.window} s allowed",
                reason="future",
                hint="check the client's clock",
            )
        return SignedHeaders(upper, path, did, timestamp, nonce, signature, public_key)

    def verify_body(
        self, signed: SignedHeaders, body_sha256: str, *, now: float | None = None
    ) -> str:
        """Checks 4 and 5 of the module docstring, once the body's SHA-256 (lowercase hex) is
        known: return the caller's did, or raise a :class:`RequestAuthError`."""
        now = time.time() if now is None else now
        did = signed.key
        message = signing_bytes(signed.method, signed.path, b"", timestamp=signed.timestamp,
                                nonce=signed.nonce, key=did, body_sha256=body_sha256)
        try:
            verify_signature(signed.public_key, message, signed.signature)
        except SignatureError as exc:
            raise BadRequestSignatureError(
                f"request signature does not verify for {did} (forged, made with another key,"
                " or the method, path, query or body was altered)"
            ) from exc

        if not self.nonces.remember(did, signed.nonce, expires_at=signed.timestamp + self.window,
                                    now=now):
            raise ReplayedRequestError(
                f"request replayed: {did} already used nonce {signed.nonce} within the last"
                f" {self.window} s",
                hint="use a fresh random Aiwork-Nonce for every request",
            )
        return did
