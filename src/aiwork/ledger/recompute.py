"""The full check of a stored log (:meth:`aiwork.ledger.log.Log.verify`): the Merkle tree
recomputed from the stored entries, batch by batch, and compared with the stored tree and with
every signed checkpoint.

The stored tree (``ledger_tree``) keys each complete subtree by :func:`node_id`: its level in
the top bits, its index below; level 0 holds the leaf hashes.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from aiwork.errors import AiworkError, IntegrityError
from aiwork.ledger import merkle
from aiwork.ledger.entries import check_signatures
from aiwork.ledger.note import Checkpoint, VerifierKey
from aiwork.model import Entry, KindRegistry

__all__ = ["LEVEL_SHIFT", "VerifyReport", "node_id", "verify_stored"]

LEVEL_SHIFT = 56

#: A problem found at an entry index, and its message.
_Problem = tuple[int, str]


def node_id(level: int, index: int) -> int:
    """The ``ledger_tree`` id of the subtree at ``level`` and ``index``."""
    return (level << LEVEL_SHIFT) | index


@dataclass(frozen=True)
class VerifyReport:
    size: int
    root: bytes
    checkpoints: int
    seconds: float


def verify_stored(
    conn: sqlite3.Connection, *, size: int, checkpoints: Sequence[tuple[int, str]],
    kinds: KindRegistry, verifier_key: VerifierKey, origin: str,
    progress: Callable[[int, int], None] | None, chunk: int,
) -> VerifyReport:
    """Check every stored entry, the stored tree, the size and every checkpoint of a log of
    ``size`` entries; raise :class:`IntegrityError` naming the first bad index."""
    started = time.perf_counter()
    walk = _Recomputation(size, kinds, _StoredTree(conn), {cp_size for cp_size, _ in checkpoints})
    rows = conn.execute("SELECT idx, data FROM ledger_entries ORDER BY idx")
    while batch := rows.fetchmany(chunk):
        walk.check_batch(batch)
        if progress:
            progress(walk.expected, size)
    walk.finish()
    _check_checkpoints(checkpoints, walk.roots, size, verifier_key, origin)
    return VerifyReport(size, walk.compact.root(), len(checkpoints), time.perf_counter() - started)


class _Recomputation:
    """The tree recomputed entry by entry beside the stored one; ``roots`` keeps the roots at
    the checkpointed sizes."""

    def __init__(self, size: int, kinds: KindRegistry, stored: _StoredTree,
                 wanted_roots: set[int]) -> None:
        self.size = size
        self.kinds = kinds
        self.stored = stored
        self.wanted_roots = wanted_roots
        self.roots: dict[int, bytes] = {0: merkle.EMPTY_ROOT}
        self.compact = merkle.CompactRange()
        self.expected = 0

    def check_batch(self, batch: Sequence[tuple[int, bytes]]) -> None:
        """Check one batch of ``(idx, data)`` rows: each entry, then their signatures."""
        problems: list[_Problem] = []
        entries: list[Entry] = []
        for idx, raw in batch:
            parsed = self._entry(idx, raw, problems)
            if parsed is None:
                break
            entry, data = parsed
            entries.append(entry)
            if not self._grow(data, problems):
                break
        first = batch[0][0]
        bad = check_signatures(entries)
        if bad is not None:
            problems.append((first + bad[0], f"entry {first + bad[0]}: {bad[1]}"))
        if problems:
            index, message = min(problems)
            raise IntegrityError(f"ledger entry {index}: {message}", index=index)

    def _entry(self, idx: int, raw: bytes, problems: list[_Problem]) -> tuple[Entry, bytes] | None:
        """The entry stored at ``idx`` if it is the next one, inside the tree and valid."""
        if idx != self.expected:
            if idx > self.expected:
                problems.append((self.expected, f"entry {self.expected} is missing (deleted?)"))
            else:
                problems.append((idx, f"entry {idx} is out of order"))
            return None
        self.expected += 1
        if idx >= self.size:
            problems.append((idx, f"entry {idx} lies beyond the tree (size {self.size}): "
                                  "inserted behind the log's back"))
            return None
        data = bytes(raw)
        try:
            entry = Entry.from_bytes(data)
            self.kinds.get(entry.kind).validate_body(entry.body)
        except AiworkError as exc:
            problems.append((idx, f"entry {idx} is not a valid entry: {exc}"))
            return None
        return entry, data

    def _grow(self, data: bytes, problems: list[_Problem]) -> bool:
        """Add an entry's leaf; every subtree it completes must be the stored one."""
        for level, index, digest in self.compact.append(merkle.leaf_hash(data)):
            if not self.stored.matches(level, index, digest):
                start = index << level
                what = "its stored leaf hash" if level == 0 else (
                    f"the stored tree (level {level}, entries {start} to "
                    f"{start + (1 << level) - 1})"
                )
                problems.append((start, f"entry {start} does not match {what}: "
                                        "altered, swapped, inserted or reordered behind the log"))
                return False
        if self.compact.size in self.wanted_roots:
            self.roots[self.compact.size] = self.compact.root()
        return True

    def finish(self) -> None:
        """After the last batch: no entry missing at the end, no stored node left over."""
        if self.expected < self.size:
            raise IntegrityError(
                f"ledger entry {self.expected}: missing; the tree has {self.size} entries, "
                f"the store only {self.expected}",
                index=self.expected,
            )
        extra = self.stored.leftover()
        if extra is not None:
            level, index = extra
            raise IntegrityError(
                f"ledger entry {index << level}: tree node (level {level}, index {index}) "
                "has no entry behind it",
                index=index << level,
            )


def _check_checkpoints(checkpoints: Sequence[tuple[int, str]], roots: dict[int, bytes],
                       size: int, verifier_key: VerifierKey, origin: str) -> None:
    """Each stored checkpoint is signed by the log, for its size, over the recomputed root."""
    good = 0  # entries below this size match a verified checkpoint
    for cp_size, note in checkpoints:
        try:
            checkpoint = Checkpoint.from_note(note, verifier_key, origin=origin)
        except AiworkError as exc:
            raise IntegrityError(f"checkpoint at size {cp_size}: {exc}") from None
        if checkpoint.size != cp_size or cp_size > size:
            raise IntegrityError(
                f"checkpoint at size {cp_size} does not belong here (signed size "
                f"{checkpoint.size}, log size {size})"
            )
        if roots.get(cp_size) != checkpoint.root_hash:
            raise IntegrityError(
                f"checkpoint at size {cp_size}: its signed root does not match the stored "
                f"entries; one of entries {good} to {cp_size - 1} was altered, and the tree "
                "rewritten to hide it"
            )
        good = cp_size


class _StoredTree:
    """Reads the stored tree level by level, in index order, beside the recomputation."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._cursors: dict[int, Iterator[tuple[int, bytes]]] = {}

    def _cursor(self, level: int) -> Iterator[tuple[int, bytes]]:
        cursor = self._cursors.get(level)
        if cursor is None:
            lo, hi = node_id(level, 0), node_id(level + 1, 0)
            cursor = iter(
                self._conn.execute(
                    "SELECT id, hash FROM ledger_tree WHERE id >= ? AND id < ? ORDER BY id",
                    (lo, hi),
                )
            )
            self._cursors[level] = cursor
        return cursor

    def matches(self, level: int, index: int, digest: bytes) -> bool:
        row = next(self._cursor(level), None)
        return row is not None and row[0] == node_id(level, index) and bytes(row[1]) == digest

    def leftover(self) -> tuple[int, int] | None:
        """A stored node the recomputation never reached, if any."""
        for level in range(64):
            row = next(self._cursor(level), None)
            if row is not None:
                return level, row[0] - node_id(level, 0)
        return None
