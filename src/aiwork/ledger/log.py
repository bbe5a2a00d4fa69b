"""The append-only log: entries, the Merkle tree's complete subtrees, signed checkpoints.

Tables (SQLite):

- ``ledger_entries(idx, data)``: entry ``idx``'s canonical bytes, exactly as hashed.
- ``ledger_tree(id, hash)``: the hash of every complete subtree, ``id = level << 56 | index``.
  Level 0 holds the leaf hashes (and a unique index on them makes appends idempotent). A proof
  reads the O(log n) subtrees it needs in one query and never touches the entries.
- ``ledger_checkpoints(size, note)``: signed checkpoints, C2SP signed-note text.
- ``ledger_meta``: origin, log verifier key, tree size.

Every append is one transaction: a batch lands whole or not at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiwork.crypto import SigningKey
from aiwork.errors import (
    ConfigError,
    EntryError,
    IntegrityError,
    LedgerError,
    LedgerNotFoundError,
    OutOfRangeError,
)
from aiwork.ledger import merkle
from aiwork.ledger.entries import check_signatures
from aiwork.ledger.note import Checkpoint, VerifierKey, sign_note
from aiwork.ledger.proofs import ConsistencyProof, InclusionProof
from aiwork.ledger.recompute import LEVEL_SHIFT, VerifyReport, node_id, verify_stored
from aiwork.model import DEFAULT_KINDS, Entry, KindRegistry
from aiwork.store import Database, Migration, connect, is_postgres_url
from aiwork.store.sqlite import in_chunks

__all__ = ["Appended", "Log", "VerifyReport"]

_LEAF_LIMIT = 1 << LEVEL_SHIFT  # ids below this are leaves (level 0)


def _create_tables(conn: sqlite3.Connection) -> None:
    for statement in (
        "CREATE TABLE ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE ledger_entries (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)",
        "CREATE TABLE ledger_tree (id INTEGER PRIMARY KEY, hash BLOB NOT NULL)",
        f"CREATE UNIQUE INDEX ledger_leaf_hash ON ledger_tree (hash) WHERE id < {_LEAF_LIMIT}",
        "CREATE TABLE ledger_checkpoints"
        " (size INTEGER PRIMARY KEY, note TEXT NOT NULL, created_at TEXT NOT NULL)",
    ):
        conn.execute(statement)


MIGRATIONS = [Migration("ledger-0001-tables", _create_tables)]

@dataclass(frozen=True)
class Appended:
    """Where an entry landed; ``new`` is False when it was already in the log."""

    index: int
    leaf_hash: bytes
    new: bool

    def to_json(self) -> dict[str, object]:
        return {"index": self.index, "leaf_hash": self.leaf_hash.hex()}


class Log:
    """An append-only Merkle log in a :class:`Database`.

    ``signer`` is the log's own key; it is needed only to sign checkpoints.
    """

    def __init__(
        self, db: Database, signer: SigningKey | None = None, kinds: KindRegistry = DEFAULT_KINDS
    ) -> None:
        self.db = db
        self.kinds = kinds
        meta = self._meta()
        if "origin" not in meta:
            raise LedgerNotFoundError(f"{db.path} holds no ledger")
        self.origin = meta["origin"]
        self.verifier_key = VerifierKey.from_text(meta["verifier_key"])
        if signer is not None and signer.public_key != self.verifier_key.public_key:
            raise ConfigError(
                f"the log key given does not belong to the log {self.origin!r}",
                hint=f"the log's verifier key is {self.verifier_key.to_text()}",
            )
        self.signer = signer

    # -- creating and opening ------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        signer: SigningKey,
        *,
        origin: str | None = None,
        kinds: KindRegistry = DEFAULT_KINDS,
    ) -> Log:
        """Initialise a ledger in the database at ``path`` (created if missing)."""
        db = connect(path, create=True)
        db.migrate(MIGRATIONS)
        origin = origin or f"aiwork/{signer.public_key.hex()[:16]}"
        key = VerifierKey(origin, signer.public_key)
        with db.atomic() as conn:
            existing = dict(conn.execute("SELECT key, value FROM ledger_meta").fetchall())
            if existing:
                db.close()
                raise LedgerError(
                    f"{path} already holds the ledger {existing['origin']!r}",
                    hint="use it as it is, or choose another --db",
                )
            conn.executemany(
                "INSERT INTO ledger_meta (key, value) VALUES (?, ?)",
                [("origin", origin), ("verifier_key", key.to_text()), ("size", "0")],
            )
        return cls(db, signer, kinds)

    @staticmethod
    def is_ledger(path: str | Path) -> bool:
        """Whether ``path`` is a database that already holds a ledger."""
        if is_postgres_url(path):
            try:
                with connect(path) as db:
                    row = db.conn.execute("SELECT 1 FROM ledger_meta WHERE key = 'origin'"
                                          ).fetchone()
                return row is not None
            except Exception:  # no such table, or no server: not a ledger here
                return False
        try:
            conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
            try:
                row = conn.execute("SELECT 1 FROM ledger_meta WHERE key = 'origin'").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            return False
        return row is not None

    @classmethod
    def open(
        cls, path: str | Path, signer: SigningKey | None = None, kinds: KindRegistry = DEFAULT_KINDS,
        *, readonly: bool = False,
    ) -> Log:
        """Open the ledger at ``path``. ``readonly`` never writes to the database: no
        migration, and for SQLite no change to the file nor a -wal or -shm created (what an
        audit of the file needs: it is left exactly as it was found)."""
        if is_postgres_url(path):
            db = connect(path)
            if readonly:
                db.conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            else:
                db.migrate(MIGRATIONS)
            return cls(db, signer, kinds)
        path = Path(path)
        if not path.is_file():
            raise LedgerNotFoundError(f"no ledger at {path}")
        try:
            db = Database(path, readonly=readonly)
            if not readonly:
                db.migrate(MIGRATIONS)
        except (ConfigError, sqlite3.DatabaseError) as exc:
            raise LedgerNotFoundError(f"no ledger at {path}: {exc}") from exc
        return cls(db, signer, kinds)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Log:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _meta(self) -> dict[str, str]:
        try:
            return dict(self.db.conn.execute("SELECT key, value FROM ledger_meta").fetchall())
        except self.db.errors as exc:
            raise LedgerNotFoundError(f"{self.db.path} holds no ledger") from exc

    # -- reading -----------------------------------------------------------------------

    @property
    def size(self) -> int:
        row = self.db.conn.execute("SELECT value FROM ledger_meta WHERE key = 'size'").fetchone()
        return int(row[0])

    def get(self, index: int) -> bytes:
        """The entry's bytes exactly as hashed into the tree."""
        self._check_index(index, self.size)
        row = self.db.conn.execute(
            "SELECT data FROM ledger_entries WHERE idx = ?", (index,)
        ).fetchone()
        if row is None:
            raise IntegrityError(f"entry {index} is missing from the store", index=index)
        return bytes(row[0])

    def entry(self, index: int) -> Entry:
        return Entry.from_bytes(self.get(index))

    def leaf_hash(self, index: int) -> bytes:
        self._check_index(index, self.size)
        return self._hashes([(0, index)])[(0, index)]

    def index_of(self, leaf_hash: bytes) -> int | None:
        row = self.db.conn.execute(
            "SELECT id FROM ledger_tree WHERE hash = ? AND id < ?", (leaf_hash, _LEAF_LIMIT)
        ).fetchone()
        return None if row is None else int(row[0])

    def _hashes(self, nodes: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        wanted = {node_id(level, index): (level, index) for level, index in nodes}
        ids = list(wanted)
        found: dict[tuple[int, int], bytes] = {}
        for chunk, marks in in_chunks(ids):
            for stored_id, digest in self.db.conn.execute(
                f"SELECT id, hash FROM ledger_tree WHERE id IN ({marks})", chunk
            ):
                found[wanted[stored_id]] = bytes(digest)
        if len(found) != len(wanted):
            level, index = min(set(wanted.values()) - set(found))
            raise IntegrityError(
                f"tree node (level {level}, index {index}) is missing from the store",
                index=index << level,
                hint="run `aiwork ledger verify`",
            )
        return found

    def _range_hashes(self, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        subtrees = [merkle.complete_subtrees(lo, hi) for lo, hi in ranges]
        stored = self._hashes(node for parts in subtrees for node in parts)
        return [merkle.fold([stored[node] for node in parts]) for parts in subtrees]

    def root(self, size: int | None = None) -> bytes:
        current = self.size
        size = current if size is None else size
        self._check_size(size, current)
        return self._range_hashes([(0, size)])[0] if size else merkle.EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        current = self.size
        size = current if size is None else size
        self._check_size(size, current)
        self._check_index(index, size)
        ranges = merkle.inclusion_ranges(index, size)
        return InclusionProof(index, size, tuple(self._range_hashes(ranges)))

    def consistency_proof(self, size1: int, size2: int | None = None) -> ConsistencyProof:
        current = self.size
        size2 = current if size2 is None else size2
        self._check_size(size2, current)
        if not 0 < size1 <= size2:
            raise OutOfRangeError(
                f"a consistency proof goes from a size between 1 and {size2}, not {size1}"
            )
        ranges = merkle.consistency_ranges(size1, size2)
        return ConsistencyProof(size1, size2, tuple(self._range_hashes(ranges)))

    @staticmethod
    def _check_size(size: int, current: int) -> None:
        if not 0 <= size <= current:
            raise OutOfRangeError(f"tree size {size} is beyond the log's size {current}")

    @staticmethod
    def _check_index(index: int, size: int) -> None:
        if not 0 <= index < size:
            raise OutOfRangeError(
                f"entry index {index} is outside a tree of size {size}"
                + (" (the log is empty)" if size == 0 else f" (valid: 0 to {size - 1})")
            )

    # -- appending ---------------------------------------------------------------------

    def append(self, entries: Sequence[Entry]) -> list[Appended]:
        """Append a batch atomically; entries already in the log return their index.

        Every entry is checked first (kind, body, author signature); if any fails, the error
        names its position in the batch and nothing is written.
        """
        for position, entry in enumerate(entries):
            try:
                self.kinds.get(entry.kind).validate_body(entry.body)
            except EntryError as exc:
                raise exc.within(f"batch entry {position}") from None
        bad = check_signatures(entries)
        if bad is not None:
            position, failure = bad
            raise failure.within(f"batch entry {position}") from None
        leaves = [merkle.leaf_hash(entry.to_bytes()) for entry in entries]
        with self.db.atomic() as conn:
            return self._append_checked(conn, entries, leaves)

    def _append_checked(
        self, conn: sqlite3.Connection, entries: Sequence[Entry], leaves: list[bytes]
    ) -> list[Appended]:
        size = self.size
        existing: dict[bytes, int] = {}
        for chunk, marks in in_chunks(leaves):
            for stored_id, digest in conn.execute(
                f"SELECT id, hash FROM ledger_tree WHERE id < {_LEAF_LIMIT} AND hash IN ({marks})",
                chunk,
            ):
                existing[bytes(digest)] = int(stored_id)
        edge_nodes = merkle.complete_subtrees(0, size)
        edge = self._hashes(edge_nodes) if size else {}
        compact = merkle.CompactRange(size, [edge[node] for node in edge_nodes])
        results: list[Appended] = []
        rows: list[tuple[int, bytes]] = []
        nodes: list[tuple[int, bytes]] = []
        for entry, leaf in zip(entries, leaves, strict=True):
            index = existing.get(leaf)
            if index is not None:
                results.append(Appended(index, leaf, False))
                continue
            index = compact.size
            existing[leaf] = index
            rows.append((index, entry.to_bytes()))
            nodes.extend((node_id(lv, ix), h) for lv, ix, h in compact.append(leaf))
            results.append(Appended(index, leaf, True))
        if rows:
            conn.executemany("INSERT INTO ledger_entries (idx, data) VALUES (?, ?)", rows)
            conn.executemany("INSERT INTO ledger_tree (id, hash) VALUES (?, ?)", nodes)
            conn.execute(
                "UPDATE ledger_meta SET value = ? WHERE key = 'size'", (str(compact.size),)
            )
        return results

    # -- checkpoints -------------------------------------------------------------------

    def checkpoint(self) -> str:
        """A signed checkpoint of the current tree (made now if the size changed)."""
        if self.signer is None:
            raise ConfigError(
                "signing a checkpoint needs the log's key", hint="pass the log key file"
            )
        with self.db.atomic() as conn:
            size = self.size
            row = conn.execute(
                "SELECT note FROM ledger_checkpoints WHERE size = ?", (size,)
            ).fetchone()
            if row is not None:
                return str(row[0])
            body = Checkpoint(self.origin, size, self.root(size)).to_body()
            note = sign_note(body, self.origin, self.signer).to_text()
            conn.execute(
                "INSERT INTO ledger_checkpoints (size, note, created_at) VALUES (?, ?, ?)",
                (size, note, datetime.now(UTC).isoformat()),
            )
            return note

    def latest_checkpoint(self) -> str | None:
        row = self.db.conn.execute(
            "SELECT note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1"
        ).fetchone()
        return None if row is None else str(row[0])

    def stored_checkpoint(self, size: int) -> str | None:
        """The checkpoint this log signed for tree size ``size``, if it signed one."""
        if not 0 <= size < 1 << 63:
            return None
        row = self.db.conn.execute(
            "SELECT note FROM ledger_checkpoints WHERE size = ?", (size,)
        ).fetchone()
        return None if row is None else str(row[0])

    def checkpoints(self) -> list[tuple[int, str]]:
        return [
            (int(size), str(note))
            for size, note in self.db.conn.execute(
                "SELECT size, note FROM ledger_checkpoints ORDER BY size"
            )
        ]

    # -- full verification -------------------------------------------------------------

    def verify(
        self, progress: Callable[[int, int], None] | None = None, chunk: int = 8192
    ) -> VerifyReport:
        """Recompute the whole tree from the stored entries and check everything.

        Each entry's bytes (canonical), kind, body and signature; each stored tree node
        against the recomputed one; the tree size; every stored checkpoint's signature and
        root. Raises :class:`IntegrityError` naming the first bad index.
        """
        with self.db.snapshot():
            return verify_stored(
                self.db.conn, size=self.size, checkpoints=self.checkpoints(), kinds=self.kinds,
                verifier_key=self.verifier_key, origin=self.origin, progress=progress,
                chunk=chunk)

