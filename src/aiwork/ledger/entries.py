"""Signing and checking ledger entries."""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiwork.crypto import SigningKey, public_key_from_did, verify_signature
from aiwork.errors import AiworkError, EntryError, SignatureError
from aiwork.model import DEFAULT_KINDS, Entry, KindRegistry, utc_now
from aiwork.model.entry import ENTRY_SIGNING_DOMAIN

__all__ = ["check_entry", "check_entry_signature", "check_signatures", "sign_entry"]

_PARALLEL_MIN = 64  # batches at least this big verify signatures on every core


def sign_entry(
    key: SigningKey,
    kind: str,
    body: dict[str, Any],
    *,
    time: str | None = None,
    kinds: KindRegistry = DEFAULT_KINDS,
) -> Entry:
    """A new entry by ``key``'s identity. ``kind`` may be a bare name (its newest version).

    The body is checked against the kind's schema first, so a bad body is never signed.
    """
    spec = kinds.resolve(kind)
    spec.validate_body(body)
    author = key.did
    stamp = time or utc_now()
    unsigned = Entry.unsigned_bytes(spec.id, body, author, stamp)
    signature = base64.b64encode(key.sign(ENTRY_SIGNING_DOMAIN + unsigned)).decode()
    return Entry.assemble(spec.id, body, author, stamp, signature, unsigned)


def check_entry_signature(entry: Entry) -> None:
    """Return if the entry's author signed exactly these fields; raise SignatureError if not."""
    public_key = public_key_from_did(entry.author)
    try:
        signature = entry.signature_bytes
    except EntryError as exc:
        raise SignatureError(f"entry by {entry.author}: {exc}") from exc
    try:
        verify_signature(public_key, entry.signing_payload(), signature)
    except SignatureError:
        raise SignatureError(
            f"entry signature does not verify for author {entry.author}",
            hint="the entry was altered or signed with another key",
        ) from None


def check_entry(entry: Entry, kinds: KindRegistry = DEFAULT_KINDS) -> None:
    """Kind known, body valid, signature good: the checks every append makes."""
    kinds.get(entry.kind).validate_body(entry.body)
    check_entry_signature(entry)


_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    # libsodium releases the GIL: signature checks of a batch run on every core.
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
    return _executor


def _first_bad_signature(entries: Sequence[Entry], offset: int) -> tuple[int, AiworkError] | None:
    for i, entry in enumerate(entries):
        try:
            check_entry_signature(entry)
        except AiworkError as exc:
            return offset + i, exc
    return None


def check_signatures(entries: Sequence[Entry]) -> tuple[int, AiworkError] | None:
    """The first entry (position, error) whose signature fails, checked in parallel."""
    if len(entries) < _PARALLEL_MIN:
        return _first_bad_signature(entries, 0)
    workers = max(2, os.cpu_count() or 2)
    step = -(-len(entries) // workers)
    chunks = [(entries[i : i + step], i) for i in range(0, len(entries), step)]
    results = _pool().map(lambda c: _first_bad_signature(*c), chunks)
    failures = [r for r in results if r is not None]
    return min(failures, key=lambda r: r[0]) if failures else None
