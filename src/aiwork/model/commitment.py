"""Commitments: how the public log speaks of a sensitive library's content without showing it.

An entry about a sensitive library holds, in place of each value that would reveal content,
a **commitment** ``{"commitment": "sha256:<hex>"}``: SHA-256 over a random 32-byte salt
followed by the RFC 8785 canonical JSON of the value. The **opening** ``{"value": ...,
"salt": "<64 hex>"}`` stays with the value in the coordinator's access-controlled store and
goes only to those who may read the library. Anyone holding an opening can check it against
the public entry; without it the commitment says nothing, not even for a short value such as
a language code or a safety level (an unsalted digest of those would be as good as the value,
since every candidate can be tried).

Entries that carry commitments are *sealed* kinds, siblings of the plain ones with the same
fields where nothing is hidden (:data:`SEALED_FIELDS` names the committed fields of each).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aiwork.canonical import canonical_bytes
from aiwork.digests import DIGEST_PATTERN, is_digest, sha256_bytes
from aiwork.errors import CommitmentError

__all__ = [
    "SALT_BYTES",
    "SEALED_FIELDS",
    "Commitment",
    "check_opening",
    "commit",
    "commitment_of",
    "is_commitment",
    "open_fields",
    "seal",
]

#: Bytes of random salt behind every commitment.
SALT_BYTES = 32
_SALT = re.compile(r"[0-9a-f]{64}")

#: The sealed entry kinds and the fields whose values they hold only as commitments.
SEALED_FIELDS: dict[str, tuple[str, ...]] = {
    "ai.decision.sealed/v1": ("input", "output", "output_items", "confidence", "evidence"),
    "human.verdict.sealed/v1": ("value", "rationale"),
    "consensus.result.sealed/v1": ("value",),
    "asset.summary.sealed/v1": ("asset",),
}


class Commitment(BaseModel):
    """``{"commitment": "sha256:<hex>"}``: a salted SHA-256 of a value that stays private."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    commitment: str = Field(pattern=DIGEST_PATTERN,
                            description="sha256 of a 32-byte salt then the value's RFC 8785 "
                                        "JSON")


def commitment_of(value: Any, salt: str) -> str:
    """``sha256:<hex>`` of the salt's bytes (64 hex digits) followed by JCS(``value``)."""
    if not isinstance(salt, str) or not _SALT.fullmatch(salt):
        raise CommitmentError("a salt is 64 lowercase hex digits (32 bytes)")
    return sha256_bytes(bytes.fromhex(salt) + canonical_bytes(value))


def commit(value: Any) -> tuple[dict[str, str], dict[str, Any]]:
    """A fresh commitment to ``value`` and its opening ``{"value", "salt"}``."""
    salt = secrets.token_bytes(SALT_BYTES).hex()
    return {"commitment": commitment_of(value, salt)}, {"value": value, "salt": salt}


def is_commitment(value: Any) -> bool:
    return (isinstance(value, Mapping) and set(value) == {"commitment"}
            and is_digest(value["commitment"]))


def check_opening(commitment: Any, opening: Any, what: str) -> Any:
    """The opened value, if ``opening`` (``{"value", "salt"}``) opens ``commitment``; else
    :class:`CommitmentError` naming ``what``."""
    if not is_commitment(commitment):
        raise CommitmentError(f"{what} is not a commitment")
    if not isinstance(opening, Mapping) or set(opening) != {"value", "salt"}:
        raise CommitmentError(f"the opening of {what} is not {{value, salt}}")
    if commitment_of(opening["value"], opening["salt"]) != commitment["commitment"]:
        raise CommitmentError(f"the opening of {what} does not match its commitment")
    return opening["value"]


def seal(body: Mapping[str, Any], values: Mapping[str, Any]
         ) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``body`` with each field of ``values`` set to a fresh commitment to that value, and
    the openings by field."""
    sealed, openings = dict(body), {}
    for field, value in values.items():
        sealed[field], openings[field] = commit(value)
    return sealed, openings


def open_fields(kind: str, body: Mapping[str, Any], openings: Any, what: str
                ) -> dict[str, Any]:
    """The opened values of a sealed entry's committed fields, each checked; a missing or
    wrong opening raises :class:`CommitmentError` naming ``what`` and the field."""
    if not isinstance(openings, Mapping):
        raise CommitmentError(f"the openings of {what} are not an object by field")
    return {field: check_opening(body.get(field), openings.get(field), f"{what} {field!r}")
            for field in SEALED_FIELDS[kind]}
