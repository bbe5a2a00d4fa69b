"""RFC 9162 Merkle tree math, free of any storage.

Hashing (RFC 9162 section 2.1.1): ``leaf = SHA-256(0x00 || data)``,
``node = SHA-256(0x01 || left || right)``, and the empty tree's root is ``SHA-256("")``.

The log stores the hash of every *complete* subtree: ``(level, index)`` covers leaves
``[index * 2**level, (index + 1) * 2**level)``. Any subtree RFC 9162 proofs talk about,
``MTH(D[lo:hi])``, is a right fold of at most log2(n) such complete subtrees
(:func:`complete_subtrees`), so proofs are built from O(log n) stored hashes
(:func:`inclusion_ranges`, :func:`consistency_ranges`, :func:`fold`).

Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 and raises :class:`ProofError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from aiwork.errors import OutOfRangeError, ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "complete_subtrees",
    "consistency_ranges",
    "fold",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly below ``size`` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def complete_subtrees(lo: int, hi: int) -> list[tuple[int, int]]:
    """The complete subtrees ``(level, index)`` whose right fold is ``MTH(D[lo:hi])``.

    Valid for every range RFC 9162 builds: ``lo`` is aligned to the largest subtree.
    """
    result = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        if lo & ((1 << level) - 1):
            raise OutOfRangeError(f"range [{lo}, {hi}) is not an RFC 9162 subtree")
        result.append((level, lo >> level))
        lo += 1 << level
    return result


def fold(hashes: Sequence[bytes]) -> bytes:
    """Right fold of complete-subtree hashes, left to right: ``H(a, H(b, c))``."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(left, acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The subtrees ``[lo, hi)`` whose hashes form PATH(index, D[0:size]), leaf first."""
    if not 0 <= index < size:
        raise OutOfRangeError(f"index {index} is outside a tree of size {size}")
    ranges = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """The subtrees whose hashes form PROOF(size1, D[0:size2]) (RFC 9162 2.1.4.1)."""
    if not 0 < size1 <= size2:
        raise OutOfRangeError(f"no consistency proof from size {size1} to size {size2}")
    if size1 == size2:
        return []
    ranges: list[tuple[int, int]] = []
    lo, hi, m, complete = 0, size2, size1, True
    while True:
        if m == hi - lo:
            if not complete:
                ranges.append((lo, hi))
            break
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            m -= k
            complete = False
    ranges.reverse()
    return ranges


class CompactRange:
    """The right edge of a tree: the complete subtrees covering ``[0, size)``.

    Appending a leaf returns the new complete subtrees it closed, for the store to keep.
    """

    __slots__ = ("size", "_stack")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        expected = complete_subtrees(0, size)
        if len(hashes) != len(expected):
            raise OutOfRangeError(f"a tree of size {size} has {len(expected)} edge subtrees")
        self.size = size
        self._stack: list[tuple[int, int, bytes]] = [
            (level, idx, h) for (level, idx), h in zip(expected, hashes, strict=True)
        ]

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return every node ``(level, index, hash)`` it created."""
        created = [(0, self.size, leaf)]
        stack = self._stack
        stack.append(created[0])
        while len(stack) > 1 and stack[-1][0] == stack[-2][0]:
            level, idx, right = stack.pop()
            _, _, left = stack.pop()
            parent = (level + 1, idx >> 1, node_hash(left, right))
            stack.append(parent)
            created.append(parent)
        self.size += 1
        return created

    def root(self) -> bytes:
        return fold([h for _, _, h in self._stack])


def root_from_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root that ``proof`` and ``leaf`` imply (RFC 9162 2.1.3.2); ProofError if malformed."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    if len(leaf) != HASH_SIZE or any(len(h) != HASH_SIZE for h in proof):
        raise ProofError("proof hashes must be 32 bytes")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Return if ``leaf`` is at ``index`` in the tree of ``size`` with ``root``; else raise."""
    if len(root) != HASH_SIZE:
        raise ProofError("root hash must be 32 bytes")
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError(f"inclusion proof for leaf {index} does not lead to the tree-{size} root")


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """Return if the tree of ``size1``/``root1`` is a prefix of ``size2``/``root2``; else raise.

    As RFC 9162 and its reference vectors have it: a proof from the empty tree is refused,
    and equal sizes need equal roots and an empty proof.
    """
    if size1 < 0 or size2 < 0 or size1 > size2:
        raise ProofError(f"no consistency from size {size1} to a smaller size {size2}")
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if root1 != root2:
            raise ProofError(f"two different roots for tree size {size1}")
        return
    if len(root1) != HASH_SIZE or len(root2) != HASH_SIZE:
        raise ProofError("root hashes must be 32 bytes")
    if any(len(h) != HASH_SIZE for h in proof):
        raise ProofError("proof hashes must be 32 bytes")
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # size1 is a power of two: its root starts the path
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than needed")
    if fr != root1:
        raise ProofError(f"consistency proof does not lead to the tree-{size1} root")
    if sr != root2:
        raise ProofError(f"consistency proof does not lead to the tree-{size2} root")
