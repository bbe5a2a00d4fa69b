"""Signing and checking ledger entries."""

from __future__ import annotations

import base64
from typing import Any

from aiwork.crypto import SigningKey, public_key_from_did, verify_signature
from aiwork.errors import EntryError, SignatureError
from aiwork.model import DEFAULT_KINDS, Entry, KindRegistry, utc_now
from aiwork.model.entry import ENTRY_SIGNING_DOMAIN

__all__ = ["check_entry", "check_entry_signature", "sign_entry"]


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
