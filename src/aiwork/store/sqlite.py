"""SQLite storage: WAL journal, every write inside :meth:`Database.atomic`.

A transaction that is interrupted (an exception, a SIGKILL, a power cut) leaves nothing of
itself behind; WAL with ``synchronous=NORMAL`` never corrupts the file, and a process crash
loses no committed transaction (a power cut may drop the last few commits, whole).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import quote

from aiwork.config import private_folder
from aiwork.errors import ConfigError, LedgerError

__all__ = ["Database", "Migration", "TransactionalStore", "in_chunks"]

#: Host parameters per ``IN (...)`` list: well under SQLite's limit (32,766) and PostgreSQL's.
SQL_CHUNK = 500

_T = TypeVar("_T")


def in_chunks(values: Sequence[_T], size: int = SQL_CHUNK) -> Iterator[tuple[list[_T], str]]:
    """``values`` in pieces of at most ``size``, each with its placeholders (``?,?,?``) for an
    ``IN (...)`` list, so a query over any number of values stays within the driver's limits."""
    for start in range(0, len(values), size):
        chunk = list(values[start:start + size])
        yield chunk, ",".join("?" * len(chunk))

class _Connection(Protocol):
    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...
    def close(self) -> None: ...


Conn = TypeVar("Conn", bound=_Connection)  # the engine's connection type


@dataclass(frozen=True)
class Migration:
    """A named schema change; applied once, recorded in the same transaction."""

    name: str
    apply: Callable[[sqlite3.Connection], None]


class TransactionalStore(Generic[Conn]):
    """Write transactions that nest as savepoints, and read snapshots, over one connection:
    what every engine shares. An engine sets ``conn``, ``path``, ``errors`` and says how a
    write transaction (:meth:`_begin_write`) and a read snapshot (``_BEGIN_READ``) begin."""

    conn: Conn
    path: Any
    errors: tuple[type[BaseException], ...]
    _BEGIN_READ = "BEGIN"

    def __init__(self) -> None:
        self._depth = 0
        self._lock = threading.RLock()
        #: Migrations known to be applied on this database (they are never undone), so a
        #: service built per request does not take a write transaction to learn it again.
        self._known_applied: set[str] = set()

    def _begin_write(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def atomic(self) -> Iterator[Conn]:
        """A write transaction; nested calls become savepoints."""
        with self._lock:
            depth = self._depth
            name = f"sp{depth}"
            try:
                if depth == 0:
                    self._begin_write()
                else:
                    self.conn.execute(f"SAVEPOINT {name}")
            except self.errors as exc:
                raise LedgerError(f"cannot start a write on {self.path}: {exc}") from exc
            self._depth += 1
            try:
                yield self.conn
            except BaseException:
                self._depth -= 1
                if depth == 0:
                    self.conn.execute("ROLLBACK")
                else:
                    self.conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                    self.conn.execute(f"RELEASE SAVEPOINT {name}")
                raise
            self._depth -= 1
            self.conn.execute("COMMIT" if depth == 0 else f"RELEASE SAVEPOINT {name}")

    @contextmanager
    def snapshot(self) -> Iterator[Conn]:
        """A read transaction: every query inside sees the same committed state."""
        with self._lock:
            if self._depth:
                yield self.conn
                return
            self.conn.execute(self._BEGIN_READ)
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
                self.conn.execute("ROLLBACK")

    def applied_migrations(self) -> set[str]:
        return {row[0] for row in self.conn.execute("SELECT name FROM schema_migrations")}

    def migrate(self, migrations: Sequence[Migration]) -> list[str]:
        """Apply the migrations not yet applied, in order; return their names."""
        names = {migration.name for migration in migrations}
        if names <= self._known_applied:
            return []
        done = apply_migrations(self, migrations)
        self._known_applied |= names
        return done


class Database(TransactionalStore[sqlite3.Connection]):
    """One SQLite file. Not shared between threads; open one per thread or process."""

    dialect = "sqlite"
    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)

    def __init__(self, path: str | Path, *, create: bool = False, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if not create and not self.path.exists():
            raise ConfigError(f"database {self.path} does not exist")
        if create:
            private_folder(self.path.parent)
            if not self.path.exists():
                # Owner only: the store holds sensitive libraries' values; SQLite gives the
                # -wal and -shm files the database file's mode.
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        try:
            if readonly:
                self.conn = _connect_readonly(self.path)
            else:
                self.conn = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False, timeout=30.0
                )
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=NORMAL")
                self.conn.execute("PRAGMA foreign_keys=ON")
                self.conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations"
                    " (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
                )
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path} is not a usable SQLite database: {exc}") from exc
        super().__init__()

    def _begin_write(self) -> None:
        if self.readonly:
            raise sqlite3.OperationalError("the database was opened read-only")
        self.conn.execute("BEGIN IMMEDIATE")


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that never writes to the database file, nor creates its -wal or -shm.

    When no -wal file exists, no writer is active and every committed transaction is in the
    main file: ``immutable=1`` reads it without locks or WAL files (a read-only connection
    would create both). When one exists, ``mode=ro`` reads the database and the WAL that is
    already there."""
    uri = "file:" + quote(str(path.resolve()))
    wal = path.with_name(path.name + "-wal")
    uri += "?mode=ro" if wal.exists() else "?mode=ro&immutable=1"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False,
                           timeout=30.0)
    conn.execute("PRAGMA query_only=ON")
    return conn


def apply_migrations(db: Any, migrations: Sequence[Migration]) -> list[str]:
    """Apply ``migrations`` not yet recorded in ``schema_migrations``, in one write
    transaction of ``db`` (any store with ``atomic()`` and ``applied_migrations()``)."""
    done: list[str] = []
    with db.atomic() as conn:
        applied = db.applied_migrations()
        for migration in migrations:
            if migration.name in applied:
                continue
            migration.apply(conn)
            conn.execute(
                "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                (migration.name, datetime.now(UTC).isoformat()),
            )
            done.append(migration.name)
    return done
