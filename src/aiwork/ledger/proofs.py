"""Inclusion and consistency proofs as JSON values.

Inclusion: ``{"leaf_index": I, "tree_size": N, "hashes": [base64, ...]}``.
Consistency: ``{"size1": M, "size2": N, "hashes": [base64, ...]}``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from aiwork.errors import ProofError

__all__ = ["ConsistencyProof", "InclusionProof"]


def _decode_hashes(value: Any) -> tuple[bytes, ...]:
    if not isinstance(value, list):
        raise ProofError("proof 'hashes' must be a list of base64 strings")
    try:
        return tuple(base64.b64decode(h, validate=True) for h in value)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ProofError("proof 'hashes' must be base64 strings") from exc


def _int_field(value: dict[str, Any], name: str) -> int:
    field = value.get(name)
    if not isinstance(field, int) or isinstance(field, bool) or field < 0:
        raise ProofError(f"proof field {name!r} must be a non-negative integer")
    return field


def _encode(hashes: tuple[bytes, ...]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    hashes: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {"leaf_index": self.leaf_index, "tree_size": self.tree_size,
                "hashes": _encode(self.hashes)}

    @classmethod
    def from_json(cls, value: Any) -> InclusionProof:
        if not isinstance(value, dict):
            raise ProofError("an inclusion proof is a JSON object")
        return cls(_int_field(value, "leaf_index"), _int_field(value, "tree_size"),
                   _decode_hashes(value.get("hashes")))


@dataclass(frozen=True)
class ConsistencyProof:
    size1: int
    size2: int
    hashes: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {"size1": self.size1, "size2": self.size2, "hashes": _encode(self.hashes)}

    @classmethod
    def from_json(cls, value: Any) -> ConsistencyProof:
        if not isinstance(value, dict):
            raise ProofError("a consistency proof is a JSON object")
        return cls(_int_field(value, "size1"), _int_field(value, "size2"),
                   _decode_hashes(value.get("hashes")))
