"""Offline verification for third parties: no store, no server, no aiwork state.

Everything here needs only the bytes an auditor was given: entry bytes, proofs as JSON, a
signed checkpoint note and the log's verifier key. Each function returns quietly or raises
one of :class:`ProofError`, :class:`NoteError`, :class:`SignatureError` or :class:`EntryError`.
"""

from __future__ import annotations

from typing import Any

from aiwork.errors import ProofError
from aiwork.ledger import merkle
from aiwork.ledger.entries import check_entry, check_entry_signature
from aiwork.ledger.note import Checkpoint, VerifierKey
from aiwork.ledger.proofs import ConsistencyProof, InclusionProof
from aiwork.model import DEFAULT_KINDS, Entry, KindRegistry

__all__ = [
    "check_entry_signature",
    "verify_checkpoint",
    "verify_consistency",
    "verify_entry",
    "verify_entry_in_checkpoint",
    "verify_inclusion",
]


def verify_inclusion(proof: InclusionProof | dict[str, Any], leaf_hash: bytes, root: bytes) -> None:
    """``leaf_hash`` sits at ``proof.leaf_index`` in the tree of ``proof.tree_size`` and ``root``."""
    p = proof if isinstance(proof, InclusionProof) else InclusionProof.from_json(proof)
    merkle.verify_inclusion(p.leaf_index, p.tree_size, leaf_hash, p.hashes, root)


def verify_consistency(
    proof: ConsistencyProof | dict[str, Any], root1: bytes, root2: bytes
) -> None:
    """The tree of ``size1``/``root1`` is a prefix of the tree of ``size2``/``root2``."""
    p = proof if isinstance(proof, ConsistencyProof) else ConsistencyProof.from_json(proof)
    merkle.verify_consistency(p.size1, p.size2, root1, root2, p.hashes)


def verify_checkpoint(note: str, key: VerifierKey | str, *, origin: str | None = None) -> Checkpoint:
    """Parse a signed checkpoint and check the log key's signature on it."""
    verifier = key if isinstance(key, VerifierKey) else VerifierKey.from_text(key)
    return Checkpoint.from_note(note, verifier, origin=origin)


def verify_entry(data: bytes, kinds: KindRegistry = DEFAULT_KINDS) -> Entry:
    """Parse entry bytes (canonical JSON) and check its kind, body and author signature."""
    entry = Entry.from_bytes(data)
    check_entry(entry, kinds)
    return entry


def verify_entry_in_checkpoint(
    data: bytes,
    proof: InclusionProof | dict[str, Any],
    note: str,
    key: VerifierKey | str,
    kinds: KindRegistry = DEFAULT_KINDS,
) -> Entry:
    """All an auditor asks of one entry: well signed, and included in a signed checkpoint."""
    entry = verify_entry(data, kinds)
    checkpoint = verify_checkpoint(note, key)
    p = proof if isinstance(proof, InclusionProof) else InclusionProof.from_json(proof)
    if p.tree_size != checkpoint.size:
        raise ProofError(
            f"proof is for tree size {p.tree_size}, the checkpoint for size {checkpoint.size}"
        )
    verify_inclusion(p, merkle.leaf_hash(data), checkpoint.root_hash)
    return entry
