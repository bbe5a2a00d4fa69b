"""Every RFC 9162 vector (transparency-dev/merkle testdata) is accepted or refused as labelled."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from aiwork.errors import ProofError
from aiwork.ledger import merkle

from .conftest import DATA, missing

VECTORS = DATA / "rfc9162"


def _load(kind: str) -> list[tuple[str, dict[str, Any]]]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    return [(str(f.relative_to(VECTORS)), json.loads(f.read_text())) for f in files]


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _proof(values: list[str] | None) -> list[bytes]:
    return [_b64(v) for v in values or []]


INCLUSION = _load("inclusion")
CONSISTENCY = _load("consistency")


def test_the_vector_set_is_complete() -> None:
    assert len(INCLUSION) > 80 and len(CONSISTENCY) > 80
    assert any(not v["wantErr"] for _, v in INCLUSION)
    assert any(v["wantErr"] for _, v in CONSISTENCY)


@pytest.mark.parametrize(("name", "vector"), INCLUSION, ids=[n for n, _ in INCLUSION])
def test_inclusion_vector(name: str, vector: dict[str, Any]) -> None:
    def check() -> None:
        merkle.verify_inclusion(
            vector["leafIdx"], vector["treeSize"], _b64(vector["leafHash"]),
            _proof(vector["proof"]), _b64(vector["root"]),
        )

    if vector["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()


@pytest.mark.parametrize(("name", "vector"), CONSISTENCY, ids=[n for n, _ in CONSISTENCY])
def test_consistency_vector(name: str, vector: dict[str, Any]) -> None:
    def check() -> None:
        merkle.verify_consistency(
            vector["size1"], vector["size2"], _b64(vector["root1"]), _b64(vector["root2"]),
            _proof(vector["proof"]),
        )

    if vector["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()


def test_vectors_match_the_shared_copy() -> None:
    """The vectors here are a verbatim copy of the project's shared set, when it is present."""
    shared = Path(__file__).resolve().parents[2] / "shared" / "vectors" / "rfc9162"
    if not shared.is_dir():
        missing("no shared/ folder beside this checkout")
    ours = {p.relative_to(VECTORS): p.read_bytes() for p in VECTORS.rglob("*.json")}
    theirs = {p.relative_to(shared): p.read_bytes() for p in shared.rglob("*.json")}
    assert ours == theirs
