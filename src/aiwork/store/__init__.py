"""Database access: one connection type, one ``atomic()``, named migrations.

SQLite (WAL) is the embedded default.
"""

from aiwork.store.sqlite import Database, Migration

__all__ = ["Database", "Migration"]
