"""The job side's tables, as migrated (an existing store records these names: they stay).

Each table is read and written by one module alone: ``coordinator_results`` by
:mod:`~aiwork.coordinator.results`, ``coordinator_reputation`` and
``coordinator_capabilities`` by :mod:`~aiwork.coordinator.workers`, ``coordinator_gold_*`` by
:mod:`~aiwork.coordinator.gold_tasks`.
"""

from __future__ import annotations

import sqlite3

from aiwork.store import Migration

__all__ = ["MIGRATIONS"]


def _tables(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE coordinator_results (decision INTEGER NOT NULL, task TEXT NOT NULL,"
        " replica INTEGER NOT NULL, worker TEXT NOT NULL, analyzer TEXT NOT NULL,"
        " insight TEXT NOT NULL, digest TEXT NOT NULL, output TEXT NOT NULL,"
        " current INTEGER NOT NULL, PRIMARY KEY (task, decision))"
    )
    conn.execute("CREATE INDEX coordinator_results_task ON coordinator_results (task, replica)")
    conn.execute(
        "CREATE TABLE coordinator_reputation (worker TEXT PRIMARY KEY, score DOUBLE PRECISION"
        " NOT NULL, weight DOUBLE PRECISION NOT NULL, samples INTEGER NOT NULL,"
        " quarantined INTEGER NOT NULL)"
    )


def _gold_tables(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE coordinator_gold_assets (asset TEXT PRIMARY KEY,"
                 " expected TEXT NOT NULL)")
    conn.execute("CREATE TABLE coordinator_gold_jobs (job TEXT PRIMARY KEY, asset TEXT NOT NULL)")


def _capability_tables(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE coordinator_capabilities (worker TEXT NOT NULL,"
                 " analyzer TEXT NOT NULL, version TEXT NOT NULL, model TEXT NOT NULL,"
                 " PRIMARY KEY (worker, analyzer))")


def _gold_use_index(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE INDEX coordinator_gold_jobs_asset ON coordinator_gold_jobs (asset)")


def _gold_pending(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE coordinator_gold_pending (worker TEXT NOT NULL,"
                 " task TEXT NOT NULL, observation DOUBLE PRECISION NOT NULL,"
                 " accepted INTEGER NOT NULL, answered DOUBLE PRECISION NOT NULL,"
                 " PRIMARY KEY (worker, task))")


MIGRATIONS = [Migration("coordinator-0001-results", _tables),
              Migration("coordinator-0002-gold", _gold_tables),
              Migration("coordinator-0003-capabilities", _capability_tables),
              Migration("coordinator-0004-gold-use-index", _gold_use_index),
              Migration("coordinator-0005-gold-pending", _gold_pending)]
