"""Tables of the market. Portable SQL: plain types, text ids, no AUTOINCREMENT."""

from __future__ import annotations

import sqlite3

from aiwork.store import Migration

__all__ = ["MIGRATIONS"]


def _tables(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE market_jobs (id TEXT PRIMARY KEY, seq BIGINT NOT NULL UNIQUE,"
        " requester TEXT NOT NULL, asset TEXT NOT NULL, analyzers TEXT NOT NULL,"
        " redundancy INTEGER NOT NULL, deadline DOUBLE PRECISION, budget BIGINT NOT NULL,"
        " price BIGINT NOT NULL, state TEXT NOT NULL, created DOUBLE PRECISION NOT NULL)"
    )
    conn.execute("CREATE INDEX market_jobs_requester ON market_jobs (requester)")
    conn.execute(
        "CREATE TABLE market_tasks (id TEXT PRIMARY KEY,"
        " job TEXT NOT NULL REFERENCES market_jobs (id), position INTEGER NOT NULL,"
        " analyzer TEXT NOT NULL, replicas INTEGER NOT NULL, UNIQUE (job, analyzer))"
    )
    conn.execute(
        "CREATE TABLE market_replicas (task TEXT NOT NULL REFERENCES market_tasks (id),"
        " replica INTEGER NOT NULL, state TEXT NOT NULL, worker TEXT, lease_id TEXT,"
        " lease_expires DOUBLE PRECISION, attempts INTEGER NOT NULL, result TEXT,"
        " PRIMARY KEY (task, replica))"
    )
    conn.execute("CREATE INDEX market_replicas_state ON market_replicas (state)")
    conn.execute(
        "CREATE TABLE market_leases (id TEXT PRIMARY KEY, task TEXT NOT NULL,"
        " replica INTEGER NOT NULL, worker TEXT NOT NULL, granted DOUBLE PRECISION NOT NULL,"
        " expires DOUBLE PRECISION NOT NULL, state TEXT NOT NULL,"
        " FOREIGN KEY (task, replica) REFERENCES market_replicas (task, replica))"
    )
    conn.execute("CREATE INDEX market_leases_task_worker ON market_leases (task, worker)")
    conn.execute("CREATE INDEX market_leases_state ON market_leases (state, expires)")


def _queue_index(conn: sqlite3.Connection) -> None:
    """The queue order (job, then task, then replica) on the replicas themselves, indexed, so a
    lease reads the first fitting replicas instead of sorting the whole queue; and an index
    for the deadline sweep."""
    conn.execute("ALTER TABLE market_replicas ADD COLUMN queue_seq BIGINT")
    conn.execute("ALTER TABLE market_replicas ADD COLUMN position INTEGER")
    conn.execute(
        "UPDATE market_replicas SET"
        " queue_seq = (SELECT j.seq FROM market_tasks t JOIN market_jobs j ON j.id = t.job"
        "              WHERE t.id = market_replicas.task),"
        " position = (SELECT t.position FROM market_tasks t WHERE t.id = market_replicas.task)"
    )
    conn.execute("CREATE INDEX market_replicas_queue"
                 " ON market_replicas (state, queue_seq, position, replica)")
    conn.execute("CREATE INDEX market_jobs_deadline ON market_jobs (state, deadline)")


def _task_upstream(conn: sqlite3.Connection) -> None:
    """The tasks of the same job a task reads the results of (``,name,name,``; NULL: none):
    it is leased only once they are settled."""
    conn.execute("ALTER TABLE market_tasks ADD COLUMN upstream TEXT")


def _task_weights(conn: sqlite3.Connection) -> None:
    """The weights digest a task's results must be made with (NULL: any): it is leased only
    to a worker that advertises those weights for its analyzer."""
    conn.execute("ALTER TABLE market_tasks ADD COLUMN weights TEXT")


MIGRATIONS = [Migration("market-0001-tables", _tables),
              Migration("market-0002-queue-index", _queue_index),
              Migration("market-0003-task-upstream", _task_upstream),
              Migration("market-0004-task-weights", _task_weights)]
