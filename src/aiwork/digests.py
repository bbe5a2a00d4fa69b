"""``sha256:<hex>`` digests: the one way aiwork names bytes, files, streams and JSON values.

A digest is ``sha256:`` followed by the 64 lowercase hex digits of SHA-256 (:data:`DIGEST_PATTERN`).
Blobs, media files and keyframes are named by the digest of their bytes (:func:`sha256_bytes`,
:func:`sha256_file`, or :class:`Sha256Stream` for bytes that arrive in pieces); parameters,
outputs and other JSON values by the digest of their RFC 8785 bytes (:func:`sha256_json`).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from aiwork.canonical import canonical_bytes

__all__ = ["DIGEST_PATTERN", "PREFIX", "Sha256Stream", "is_digest", "sha256_bytes", "sha256_file",
           "sha256_json"]

#: What every digest starts with (the only algorithm aiwork uses).
PREFIX = "sha256:"
#: A digest, as a JSON Schema / pydantic pattern.
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"
_DIGEST = re.compile(DIGEST_PATTERN)
_CHUNK = 1 << 20


def is_digest(text: object) -> bool:
    """Whether ``text`` is a well-formed ``sha256:<64 lowercase hex>`` digest."""
    return isinstance(text, str) and _DIGEST.fullmatch(text) is not None


class Sha256Stream:
    """The digest of bytes fed in pieces, bounded in memory whatever their size."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the bytes fed so far."""
        return PREFIX + self._hash.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return PREFIX + hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = _CHUNK) -> str:
    """``sha256:<hex>`` of a file's bytes, read in chunks of ``chunk`` bytes."""
    stream = Sha256Stream()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            stream.update(block)
    return stream.digest


def sha256_json(value: Any) -> str:
    """``sha256:<hex>`` of the RFC 8785 canonical bytes of ``value``."""
    return sha256_bytes(canonical_bytes(value))
