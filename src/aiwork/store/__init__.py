"""Database access: one connection type, one ``atomic()``, named migrations.

SQLite (WAL) is the embedded default; PostgreSQL (a ``postgresql://`` URL) for several
coordinator processes on one database.
"""

from pathlib import Path
from typing import cast

from aiwork.store.postgres import PostgresDatabase, is_postgres_url
from aiwork.store.sqlite import Database, Migration

__all__ = ["Database", "Migration", "PostgresDatabase", "connect", "is_postgres_url"]


def connect(target: str | Path, *, create: bool = False) -> Database:
    """A SQLite file (a path) or a PostgreSQL server (a ``postgresql://`` URL)."""
    if is_postgres_url(target):
        # Same interface, another engine: callers only use what both provide.
        return cast(Database, PostgresDatabase(str(target)))
    return Database(target, create=create)
