"""``asset.summary`` entries: the complete list of an asset's decisions, in the log.

An audit bundle carries an asset's items and the decisions behind them; without more, a
bundle from which one insight (its items *and* its decision) was cut would still check. So
whoever processes an asset logs, when it finishes and again whenever a decision is added or
replaced, an ``asset.summary``: each insight and the index of its latest ``ai.decision``, and
the index of the summary before it (``prev``). The bundle carries the latest summary and
``aiwork-verify`` checks every insight it lists is there, with that decision.

The latest summary per asset (and per coordinator job) is remembered in
``asset_summaries``, written in the same transaction as the entry.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from aiwork.crypto import SigningKey
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.model import Entry
from aiwork.model.commitment import seal
from aiwork.store import Migration

__all__ = ["Summaries"]


def _tables(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE asset_summaries (scope TEXT PRIMARY KEY,"
                 " entry INTEGER NOT NULL)")


MIGRATIONS = [Migration("summaries-0001-latest", _tables)]


def _scope(asset: str, job: str | None) -> str:
    return asset if job is None else f"{asset} job {job}"


class Summaries:
    def __init__(self, log: Log) -> None:
        self.log = log
        log.db.migrate(MIGRATIONS)

    def latest(self, asset: str, job: str | None = None) -> tuple[int, dict[str, Any]] | None:
        """The latest summary of ``asset`` (in ``job``): its ledger index and body."""
        row = self.log.db.conn.execute("SELECT entry FROM asset_summaries WHERE scope = ?",
                                       (_scope(asset, job),)).fetchone()
        if row is None:
            return None
        index = int(row[0])
        return index, dict(Entry.from_bytes(self.log.get(index)).body)

    def record(self, key: SigningKey, asset: str, decisions: dict[str, int],
               job: str | None = None,
               sealed: Callable[[int, dict[str, Any]], None] | None = None) -> int:
        """Log a summary of ``decisions`` (insight -> decision index) signed by ``key``,
        unless the latest one already says exactly that; return the latest's index. With
        ``sealed`` (a sensitive library's job) it is an ``asset.summary.sealed`` entry whose
        asset is a commitment, and ``sealed(index, openings)`` keeps the opening (in the same
        transaction)."""
        with self.log.db.atomic() as conn:
            latest = self.latest(asset, job)
            if latest is not None and latest[1].get("decisions") == decisions:
                return latest[0]
            body: dict[str, Any] = {"asset": asset, "decisions": dict(sorted(decisions.items())),
                                    "prev": None if latest is None else latest[0]}
            if job is not None:
                body["job"] = job
            if sealed is None:
                index = self.log.append([sign_entry(key, "asset.summary", body)])[0].index
            else:
                body, openings = seal(body, {"asset": asset})
                index = self.log.append([sign_entry(key, "asset.summary.sealed", body)])[0].index
                sealed(index, openings)
            conn.execute("INSERT INTO asset_summaries (scope, entry) VALUES (?, ?)"
                         " ON CONFLICT (scope) DO UPDATE SET entry = excluded.entry",
                         (_scope(asset, job), index))
        return index
