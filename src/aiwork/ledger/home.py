"""Ledger services: create or open the ledger with its key, sign and append bodies."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiwork.config import log_key_path
from aiwork.crypto import SigningKey, read_key_file, write_key_file
from aiwork.errors import AiworkError, LedgerError
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Appended, Log

__all__ = ["append_bodies", "init_ledger", "open_ledger"]


def init_ledger(db: Path | str, *, origin: str | None = None,
                log_key: Path | None = None) -> Log:
    """A new ledger at ``db`` (a SQLite path or a PostgreSQL URL) with a fresh log key
    written beside it (mode 0600)."""
    key_path = log_key or log_key_path(db)
    if Log.is_ledger(db):
        raise LedgerError(f"{db} already holds a ledger", hint="use it, or choose another --db")
    created = isinstance(db, Path) and not db.exists()
    key = SigningKey.generate()
    write_key_file(key_path, key)
    try:
        return Log.create(db, key, origin=origin)
    except BaseException:
        key_path.unlink(missing_ok=True)
        if created and isinstance(db, Path):
            for leftover in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
                leftover.unlink(missing_ok=True)
        raise


def open_ledger(db: Path | str, *, signing: bool = False, log_key: Path | None = None,
                readonly: bool = False) -> Log:
    """Open the ledger at ``db``; with ``signing``, load its key to sign checkpoints; with
    ``readonly``, never write to it (see :meth:`Log.open`)."""
    if readonly:
        return Log.open(db, readonly=True)
    log = Log.open(db)
    if signing:
        signer = read_key_file(log_key or log_key_path(db))
        log.close()
        log = Log.open(db, signer)
    return log


def append_bodies(
    log: Log, key: SigningKey, kind: str, bodies: Iterable[dict[str, Any]]
) -> list[Appended]:
    """Sign each body as an entry of ``kind`` by ``key`` and append them as one batch."""
    entries = []
    for position, body in enumerate(bodies):
        try:
            entries.append(sign_entry(key, kind, body, kinds=log.kinds))
        except AiworkError as exc:
            raise exc.within(f"body {position + 1}") from None
    return log.append(entries)
