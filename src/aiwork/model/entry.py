"""The ledger entry: ``{kind, body, author, signature, time}`` as RFC 8785 bytes.

The leaf the Merkle log hashes is exactly :meth:`Entry.to_bytes`. The author's Ed25519
signature covers :meth:`Entry.signing_payload`: a fixed domain line followed by the canonical
JSON of the four other fields, so an entry signature can never be mistaken for a signature
over anything else.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiwork.canonical import canonical_bytes, parse_canonical
from aiwork.errors import EntryError, TooLargeError

__all__ = ["ENTRY_SIGNING_DOMAIN", "MAX_BODY_BYTES", "MAX_ENTRY_BYTES", "Entry", "utc_now"]

#: Prefix of every signed entry payload (domain separation).
ENTRY_SIGNING_DOMAIN = b"aiwork entry v1\n"
#: Largest canonical body accepted, in bytes. Media and big outputs live in blob storage;
#: entries carry their digests.
MAX_BODY_BYTES = 1 << 20
#: Largest whole entry: the body plus room for the other four fields.
MAX_ENTRY_BYTES = MAX_BODY_BYTES + 4096

_FIELDS = ("author", "body", "kind", "signature", "time")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")


def utc_now() -> str:
    """The current time as the RFC 3339 UTC string entries carry (microseconds, ``Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_time(value: str) -> None:
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise EntryError(
            f"entry time {value!r} must be an RFC 3339 UTC timestamp "
            "(YYYY-MM-DDTHH:MM:SS[.ffffff]Z)"
        )
    try:
        datetime.fromisoformat(value)
    except ValueError as exc:
        raise EntryError(f"entry time {value!r} is not a valid date and time") from exc


def _signature_suffix(signature: str, time: str) -> bytes:
    # Canonical key order puts "signature" between "kind" and "time", the last key; neither
    # value needs escaping (base64; RFC 3339), so the entry and its signed payload differ
    # by exactly these bytes.
    return f',"signature":"{signature}","time":"{time}"}}'.encode()


def _time_suffix(time: str) -> bytes:
    return f',"time":"{time}"}}'.encode()


def _sign_bytes(unsigned: bytes, signature: str, time: str) -> bytes:
    return unsigned[: -len(_time_suffix(time))] + _signature_suffix(signature, time)


@dataclass(frozen=True, slots=True)
class Entry:
    """One signed ledger entry. Build with :meth:`from_bytes` or the ledger's ``sign_entry``.

    The canonical bytes are computed once; the signed payload is derived from them.
    """

    kind: str
    body: dict[str, Any]
    author: str
    time: str
    signature: str
    _bytes: bytes = field(default=b"", repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.body, dict):
            raise EntryError(f"entry body must be a JSON object, not {type(self.body).__name__}")
        for name in ("kind", "author", "time", "signature"):
            if not isinstance(getattr(self, name), str):
                raise EntryError(f"entry field {name!r} must be a string")
        _check_time(self.time)
        if not _BASE64.fullmatch(self.signature):
            raise EntryError("entry signature must be base64")
        if not self._bytes:
            unsigned = self.unsigned_bytes(self.kind, self.body, self.author, self.time)
            object.__setattr__(self, "_bytes", _sign_bytes(unsigned, self.signature, self.time))
        if len(self._bytes) > MAX_ENTRY_BYTES:
            raise TooLargeError(
                f"entry is {len(self._bytes)} bytes; the limit is {MAX_ENTRY_BYTES} "
                f"(bodies up to {MAX_BODY_BYTES} bytes)",
                hint="store large data as a blob and put its digest in the body",
            )

    @classmethod
    def assemble(
        cls, kind: str, body: dict[str, Any], author: str, time: str, signature: str,
        unsigned: bytes,
    ) -> Entry:
        """The entry for a signature over ``unsigned`` (from :meth:`unsigned_bytes`)."""
        return cls(kind, body, author, time, signature, _sign_bytes(unsigned, signature, time))

    @staticmethod
    def unsigned_bytes(kind: str, body: dict[str, Any], author: str, time: str) -> bytes:
        """Canonical JSON of the four signed fields; refuses a body over the size limit."""
        _check_time(time)
        unsigned = canonical_bytes({"author": author, "body": body, "kind": kind, "time": time})
        if len(unsigned) > MAX_BODY_BYTES:
            body_size = len(canonical_bytes(body))
            if body_size > MAX_BODY_BYTES:
                raise TooLargeError(
                    f"entry body is {body_size} bytes; the limit is {MAX_BODY_BYTES}",
                    hint="store large data as a blob and put its digest in the body",
                )
        return unsigned

    @staticmethod
    def payload_for(kind: str, body: dict[str, Any], author: str, time: str) -> bytes:
        """The bytes an author signs for these fields."""
        return ENTRY_SIGNING_DOMAIN + Entry.unsigned_bytes(kind, body, author, time)

    def signing_payload(self) -> bytes:
        suffix = _signature_suffix(self.signature, self.time)
        return ENTRY_SIGNING_DOMAIN + self._bytes[: -len(suffix)] + _time_suffix(self.time)

    @property
    def signature_bytes(self) -> bytes:
        try:
            raw = base64.b64decode(self.signature, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise EntryError("entry signature is not base64") from exc
        return raw

    def to_json(self) -> dict[str, Any]:
        return {
            "author": self.author,
            "body": self.body,
            "kind": self.kind,
            "signature": self.signature,
            "time": self.time,
        }

    def to_bytes(self) -> bytes:
        """The canonical bytes of the entry: what the log stores and hashes as a leaf."""
        return self._bytes

    @classmethod
    def from_json(cls, value: Any, *, _data: bytes = b"") -> Entry:
        if not isinstance(value, dict):
            raise EntryError("an entry must be a JSON object")
        keys = tuple(sorted(value))
        if keys != _FIELDS:
            raise EntryError(f"an entry has exactly the fields {list(_FIELDS)}, not {list(keys)}")
        return cls(
            kind=value["kind"],
            body=value["body"],
            author=value["author"],
            time=value["time"],
            signature=value["signature"],
            _bytes=_data,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Entry:
        """Parse stored or submitted entry bytes; they must be canonical JSON."""
        if len(data) > MAX_ENTRY_BYTES:
            raise TooLargeError(f"entry is {len(data)} bytes; the limit is {MAX_ENTRY_BYTES}")
        return cls.from_json(parse_canonical(data, what="entry"), _data=data)
