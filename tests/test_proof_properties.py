"""Property tests: every proof the log serves verifies, and no altered proof does.

One real SQLite log of N entries serves proofs at every older size; Hypothesis picks the
sizes and indices, then changes one bit or one number and expects the verifier to refuse.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiwork.crypto import SigningKey
from aiwork.errors import ProofError
from aiwork.ledger import merkle
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log

N = 1100  # crosses 1024, so proofs up to 11 levels deep are exercised


def naive_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 9162 section 2.1.1, independent of the log's code."""
    if not leaves:
        return merkle.EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(naive_root(leaves[:k]), naive_root(leaves[k:]))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Log, list[bytes]]]:
    path: Path = tmp_path_factory.mktemp("props") / "ledger.db"
    log = Log.create(path, SigningKey.generate())
    author = SigningKey.generate()
    entries = [sign_entry(author, "generic", {"n": n}) for n in range(N)]
    log.append(entries[:500])
    log.append(entries[500:])
    leaves = [merkle.leaf_hash(e.to_bytes()) for e in entries]
    yield log, leaves
    log.close()


_roots: dict[int, bytes] = {}


def root_of(leaves: list[bytes], size: int) -> bytes:
    if size not in _roots:
        _roots[size] = naive_root(leaves[:size])
    return _roots[size]


def flip(data: bytes, bit: int) -> bytes:
    bit %= len(data) * 8
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, N))
    return size, draw(st.integers(0, size - 1))


@SETTINGS
@given(si=size_and_index(), bit=st.integers(0, 10**6), delta=st.integers(1, N))
def test_inclusion_proofs(served: tuple[Log, list[bytes]], si: tuple[int, int], bit: int,
                          delta: int) -> None:
    log, leaves = served
    size, index = si
    proof = log.inclusion_proof(index, size)
    root, leaf, path = root_of(leaves, size), leaves[index], list(proof.hashes)
    assert log.root(size) == root
    merkle.verify_inclusion(index, size, leaf, path, root)

    def refused(i: int, s: int, lf: bytes, p: list[bytes], r: bytes) -> None:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(i, s, lf, p, r)

    refused(index, size, flip(leaf, bit), path, root)
    refused(index, size, leaf, path, flip(root, bit))
    if path:
        k = bit % len(path)
        refused(index, size, leaf, path[:k] + [flip(path[k], bit)] + path[k + 1 :], root)
        refused(index, size, leaf, path[:-1], root)
    refused(index, size, leaf, [*path, leaf], root)
    other_index = (index + delta) % size
    if other_index != index:
        refused(other_index, size, leaf, path, root)
    other_size = (size + delta - 1) % N + 1
    if other_size != size and index < other_size:
        # Checked against the root of the size it now claims, as a checkpoint would pair them.
        refused(index, other_size, leaf, path, root_of(leaves, other_size))


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    size2 = draw(st.integers(1, N))
    return draw(st.integers(1, size2)), size2


@SETTINGS
@given(sizes=two_sizes(), bit=st.integers(0, 10**6), delta=st.integers(1, N))
def test_consistency_proofs(served: tuple[Log, list[bytes]], sizes: tuple[int, int], bit: int,
                            delta: int) -> None:
    log, leaves = served
    size1, size2 = sizes
    proof = log.consistency_proof(size1, size2)
    root1, root2, path = root_of(leaves, size1), root_of(leaves, size2), list(proof.hashes)
    merkle.verify_consistency(size1, size2, root1, root2, path)

    def refused(s1: int, s2: int, r1: bytes, r2: bytes, p: list[bytes]) -> None:
        with pytest.raises(ProofError):
            merkle.verify_consistency(s1, s2, r1, r2, p)

    refused(size1, size2, flip(root1, bit), root2, path)
    refused(size1, size2, root1, flip(root2, bit), path)
    if path:
        k = bit % len(path)
        refused(size1, size2, root1, root2, path[:k] + [flip(path[k], bit)] + path[k + 1 :])
        refused(size1, size2, root1, root2, path[:-1])
    refused(size1, size2, root1, root2, [*path, root1])
    other1 = (size1 + delta - 1) % size2 + 1
    if other1 != size1:
        refused(other1, size2, root_of(leaves, other1), root2, path)
    other2 = (size2 + delta - 1) % N + 1
    if other2 != size2 and other2 >= size1:
        refused(size1, other2, root1, root_of(leaves, other2), path)


def test_every_proof_of_a_small_log_verifies(served: tuple[Log, list[bytes]]) -> None:
    """Exhaustive over the first 70 sizes: no shape of tree is left to chance."""
    log, leaves = served
    for size in range(1, 71):
        root = root_of(leaves, size)
        for index in range(size):
            proof = log.inclusion_proof(index, size)
            merkle.verify_inclusion(index, size, leaves[index], proof.hashes, root)
        for size1 in range(1, size + 1):
            proof2 = log.consistency_proof(size1, size)
            merkle.verify_consistency(size1, size, root_of(leaves, size1), root, proof2.hashes)
