"""PostgreSQL behind the same interface as :class:`aiwork.store.sqlite.Database`.

For operators who outgrow one machine: several coordinator processes on one PostgreSQL. The
code above the store writes one SQL dialect (``?`` placeholders, ``BLOB``, ``INTEGER PRIMARY
KEY``); this adapter translates it. Write transactions take a database-wide advisory lock, as
SQLite's ``BEGIN IMMEDIATE`` does, so appends and leases serialise across processes; reads
run in ``REPEATABLE READ`` snapshots.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from aiwork.errors import ConfigError
from aiwork.store.sqlite import TransactionalStore

__all__ = ["PostgresDatabase", "is_postgres_url"]

_WRITE_LOCK = 0x61697772  # "aiwr": the advisory lock of write transactions
_PLACEHOLDER = re.compile(r"\?")


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def _translate(sql: str) -> str:
    sql = sql.replace("INTEGER PRIMARY KEY", "BIGINT PRIMARY KEY").replace("BLOB", "BYTEA")
    sql = sql.replace(") WITHOUT ROWID", ")")
    return _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))


class _Connection:
    """The subset of sqlite3.Connection the store's users call."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.raw.execute(_translate(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        cursor = self.raw.cursor()
        cursor.executemany(_translate(sql), [tuple(r) for r in rows])
        return cursor

    def close(self) -> None:
        self.raw.close()


class PostgresDatabase(TransactionalStore["_Connection"]):
    dialect = "postgresql"
    _BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ"

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ModuleNotFoundError as exc:
            raise ConfigError("PostgreSQL needs the psycopg package",
                              hint="pip install 'psycopg[binary]'") from exc
        self.errors: tuple[type[BaseException], ...] = (psycopg.Error,)
        self.path = url.split("@")[-1]  # for messages: host/db, never the password
        try:
            raw = psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            raise ConfigError(f"cannot connect to PostgreSQL at {self.path}: {exc}") from exc
        self.conn = _Connection(raw)
        try:
            self.conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations"
                              " (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        except psycopg.errors.UniqueViolation:
            pass  # another connection created it at the same moment (IF NOT EXISTS races)
        except BaseException:
            raw.close()
            raise
        super().__init__()

    def __del__(self) -> None:
        # A connection dropped with its owner (a server thread that ended) is closed, not
        # left to the driver's warning.
        conn = getattr(self, "conn", None)
        if conn is not None and not conn.raw.closed:
            conn.raw.close()

    def _begin_write(self) -> None:
        self.conn.execute("BEGIN")
        self.conn.execute("SELECT pg_advisory_xact_lock(?)", (_WRITE_LOCK,))
