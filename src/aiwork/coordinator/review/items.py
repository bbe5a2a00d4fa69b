"""Review items and the review engine's tables (``review_*``: items, assignments, outcomes,
expert reputation, rules, key owners, pending gold answers); only :mod:`aiwork.coordinator.review`
reads or writes them."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from aiwork.store import Database, Migration

__all__ = ["ITEM_COLUMNS", "MIGRATIONS", "Item", "category", "item_from_row", "kept_in"]


def _tables(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE review_rules (insight TEXT PRIMARY KEY, rules TEXT NOT NULL)")
    conn.execute(
        "CREATE TABLE review_items (id TEXT PRIMARY KEY, seq INTEGER NOT NULL,"
        " job TEXT, insight TEXT NOT NULL, decision INTEGER NOT NULL, item INTEGER NOT NULL,"
        " question TEXT NOT NULL, value TEXT NOT NULL, evidence TEXT NOT NULL,"
        " reason TEXT NOT NULL, gold TEXT, annotator TEXT NOT NULL, producers TEXT NOT NULL,"
        " experts INTEGER NOT NULL, state TEXT NOT NULL)")
    conn.execute("CREATE INDEX review_items_open ON review_items (state, seq)")
    conn.execute("CREATE INDEX review_items_job ON review_items (job)")
    conn.execute(
        "CREATE TABLE review_assignments (item TEXT NOT NULL, expert TEXT NOT NULL,"
        " assigned DOUBLE PRECISION NOT NULL, verdict INTEGER, answer TEXT, value TEXT,"
        " PRIMARY KEY (item, expert))")
    conn.execute(
        "CREATE TABLE review_outcomes (item TEXT PRIMARY KEY, job TEXT, insight TEXT NOT NULL,"
        " item_id INTEGER NOT NULL, outcome TEXT NOT NULL, value TEXT,"
        " consensus INTEGER NOT NULL)")
    conn.execute(
        "CREATE TABLE review_reputation (expert TEXT NOT NULL, insight TEXT NOT NULL,"
        " score DOUBLE PRECISION NOT NULL, weight DOUBLE PRECISION NOT NULL,"
        " samples INTEGER NOT NULL, quarantined INTEGER NOT NULL,"
        " PRIMARY KEY (expert, insight))")
    conn.execute("CREATE TABLE review_owners (key TEXT PRIMARY KEY, owner TEXT NOT NULL)")


def _insight_index(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE INDEX review_items_insight ON review_items (insight, seq)")


def _escalations(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE review_items ADD COLUMN escalations INTEGER NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE review_items ADD COLUMN escalated DOUBLE PRECISION")


def _blind_gold(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE review_items ADD COLUMN fingerprint TEXT")
    conn.execute("CREATE INDEX review_items_fingerprint ON review_items (fingerprint)")
    conn.execute(
        "CREATE TABLE review_gold_pending (expert TEXT NOT NULL, insight TEXT NOT NULL,"
        " item TEXT NOT NULL, observation DOUBLE PRECISION NOT NULL, right_answer INTEGER"
        " NOT NULL, answered DOUBLE PRECISION NOT NULL, PRIMARY KEY (expert, item))")


def _decision_index(conn: sqlite3.Connection) -> None:
    # The public log's "verdicts and consensus about decision N" reads by decision.
    conn.execute("CREATE INDEX review_items_decision ON review_items (decision)")


def _released(conn: sqlite3.Connection) -> None:
    # An expert who skips an item hands it back: the assignment stays (they are not served it
    # again, and may still answer it while it has room), but no longer holds a place.
    conn.execute("ALTER TABLE review_assignments ADD COLUMN released DOUBLE PRECISION")


def _calibrations(conn: sqlite3.Connection) -> None:
    # One fitted calibration per insight and model (the items' annotator, name@version).
    conn.execute(
        "CREATE TABLE review_calibrations (insight TEXT NOT NULL, annotator TEXT NOT NULL,"
        " calibration TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (insight, annotator))")


def _calibration_registrations(conn: sqlite3.Connection) -> None:
    # The ledger index of each calibration's model.registered entry.
    conn.execute("ALTER TABLE review_calibrations ADD COLUMN registration INTEGER")


MIGRATIONS = [Migration("review-0001-tables", _tables),
              Migration("review-0002-insight-index", _insight_index),
              Migration("review-0003-escalations", _escalations),
              Migration("review-0004-blind-gold", _blind_gold),
              Migration("review-0005-decision-index", _decision_index),
              Migration("review-0006-released", _released),
              Migration("review-0007-calibrations", _calibrations),
              Migration("review-0008-calibration-registrations", _calibration_registrations)]


def category(verdict: str) -> str:
    """The categorical answer truth inference combines: a correction rejects the AI value."""
    return "accept" if verdict == "accept" else "reject"


@dataclass(frozen=True)
class Item:
    id: str
    job: str | None
    insight: str
    decision: int
    item: int
    question: str
    value: Any
    evidence: dict[str, Any]
    reason: str
    gold: dict[str, Any] | None
    annotator: str
    producers: list[str]
    experts: int
    state: str


ITEM_COLUMNS = ("id, job, insight, decision, item, question, value, evidence, reason, gold,"
                 " annotator, producers, experts, state")


def item_from_row(row: Any) -> Item:
    return Item(row[0], row[1], row[2], int(row[3]), int(row[4]), row[5], json.loads(row[6]),
                 json.loads(row[7]), row[8], json.loads(row[9]) if row[9] else None, row[10],
                 json.loads(row[11]), int(row[12]), row[13])



def kept_in(db: Database) -> bool:
    """Whether ``db`` holds the review engine's tables (a coordinator's store does; a local
    home's does not), without creating them."""
    return MIGRATIONS[0].name in db.applied_migrations()
