"""The ledger entry: ``{kind, body, author, signature, time}`` as RFC 8785 bytes.

The leaf the Merkle log hashes is exactly :meth:`Entry.to_bytes`. The author's Ed25519
signature covers :meth:`Entry.signing_payload`: a fixed domain line followed by the canonical
JSON of the four other fields, so an entry signature can never be mistaken for a signature
over anything else.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiwork.canonical import canonical_bytes, parse_canonical
from aiwork.errors import EntryError, MalformedJSONError, TooLargeError

__all__ = ["ENTRY_SIGNING_DOMAIN", "MAX_BODY_BYTES", "MAX_ENTRY_BYTES", "Entry", "utc_now"]

#: Prefix of every signed entry payload (domain separation).
ENTRY_SIGNING_DOMAIN = b"aiwork entry v1\n"
#: Largest canonical body accepted, in bytes. Media and big outputs live in blob storage;
#: entries carry their digests.
MAX_BODY_BYTES = 1 << 20
#: Largest whole entry: the body plus room for the other four fields.
MAX_ENTRY_BYTES = MAX_BODY_BYTES + 4096

_FIELDS = ("author", "body", "kind", "signature", "time")


def utc_now() -> str:
    """The current time as the RFC 3339 UTC string entries carry (microseconds, ``Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_time(value: str) -> None:
    if not value.endswith("Z"):
        raise EntryError(f"entry time {value!r} must be RFC 3339 in UTC, ending in 'Z'")
    try:
        datetime.fromisoformat(value)
    except ValueError as exc:
        raise EntryError(f"entry time {value!r} is not an RFC 3339 timestamp") from exc


@dataclass(frozen=True, slots=True)
class Entry:
    """One signed ledger entry. Build with :meth:`from_bytes` or the ledger's ``sign_entry``."""

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
        if not self._bytes:
            object.__setattr__(self, "_bytes", canonical_bytes(self.to_json()))
        if len(self._bytes) > MAX_ENTRY_BYTES:
            raise TooLargeError(
                f"entry is {len(self._bytes)} bytes; the limit is {MAX_ENTRY_BYTES} "
                f"(bodies up to {MAX_BODY_BYTES} bytes)",
                hint="store large data as a blob and put its digest in the body",
            )

    @staticmethod
    def payload_for(kind: str, body: dict[str, Any], author: str, time: str) -> bytes:
        """The bytes an author signs for these fields."""
        body_bytes = canonical_bytes(body)
        if len(body_bytes) > MAX_BODY_BYTES:
            raise TooLargeError(
                f"entry body is {len(body_bytes)} bytes; the limit is {MAX_BODY_BYTES}",
                hint="store large data as a blob and put its digest in the body",
            )
        return ENTRY_SIGNING_DOMAIN + canonical_bytes(
            {"author": author, "body": body, "kind": kind, "time": time}
        )

    def signing_payload(self) -> bytes:
        return self.payload_for(self.kind, self.body, self.author, self.time)

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
    def from_json(cls, value: Any) -> Entry:
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
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Entry:
        """Parse stored or submitted entry bytes; they must be canonical JSON."""
        if len(data) > MAX_ENTRY_BYTES:
            raise TooLargeError(f"entry is {len(data)} bytes; the limit is {MAX_ENTRY_BYTES}")
        try:
            value = parse_canonical(data, what="entry")
        except MalformedJSONError:
            raise
        entry = cls.from_json(value)
        object.__setattr__(entry, "_bytes", data)
        return entry
