"""What the review engine tells others: a job's outcomes and progress, and, for audits, the
verdicts and consensus behind a decision."""

from __future__ import annotations

import json
from typing import Any

from aiwork.coordinator.review.base import ReviewBase
from aiwork.ledger.log import Log
from aiwork.model import Entry

__all__ = ["RELATED_PAGE", "Reading", "review_changes", "review_entries", "review_summary"]

#: The most verdicts and consensus results one page of :meth:`Reading.related` lists.
RELATED_PAGE = 200


class Reading(ReviewBase):
    """What the engine tells others about jobs' review and the whole engine."""

    def outcomes(self, job: str) -> dict[str, dict[int, tuple[str, Any, int]]]:
        """The human outcomes of a job's items: insight -> item id -> (outcome, value,
        consensus entry)."""
        out: dict[str, dict[int, tuple[str, Any, int]]] = {}
        for insight, item_id, outcome, value, consensus in self._conn.execute(
                "SELECT insight, item_id, outcome, value, consensus FROM review_outcomes"
                " WHERE job = ?", (job,)):
            out.setdefault(insight, {})[int(item_id)] = (outcome, json.loads(value),
                                                         int(consensus))
        return out

    def progress(self, job: str) -> dict[str, Any]:
        """Review progress of a job, for its requester."""
        states = dict(self._conn.execute(
            "SELECT state, COUNT(*) FROM review_items WHERE job = ? GROUP BY state",
            (job,)).fetchall())
        verified = {insight: {str(k): {"outcome": o, "consensus": c}
                              for k, (o, _, c) in items.items()}
                    for insight, items in self.outcomes(job).items()}
        (escalated,) = self._conn.execute(
            "SELECT COUNT(*) FROM review_items WHERE job = ? AND state = 'open' AND"
            " escalations > 0", (job,)).fetchone()
        return {"job": job, "items": sum(states.values()), "open": states.get("open", 0),
                "decided": states.get("decided", 0), "escalated": int(escalated),
                "human_verified": verified}

    def related(self, decision: int, after: int = -1, limit: int = RELATED_PAGE
                ) -> tuple[list[tuple[int, str, int]], int, int | None]:
        """The verdicts and consensus results about the items of ``decision`` whose ledger index
        is over ``after``, oldest first, at most ``limit`` (≤ :data:`RELATED_PAGE`): ``(index,
        "verdict" or "consensus", metadata item id)``; how many verdicts are on items not decided
        yet (counted, never listed: an expert still answering one must not see the others'
        answers); and the next page's ``after`` (``None`` on the last page). Gold items are
        never among them."""
        limit = max(1, min(limit, RELATED_PAGE))
        conn = self._conn
        decided = "EXISTS (SELECT 1 FROM review_outcomes o WHERE o.item = i.id)"
        rows = conn.execute(
            "SELECT idx, what, item FROM ("
            " SELECT a.verdict AS idx, 'verdict' AS what, i.item AS item"
            " FROM review_assignments a JOIN review_items i ON i.id = a.item"
            " WHERE i.decision = ? AND i.gold IS NULL AND a.verdict IS NOT NULL"
            f" AND a.verdict > ? AND {decided}"
            " UNION ALL"
            " SELECT o.consensus AS idx, 'consensus' AS what, i.item AS item"
            " FROM review_outcomes o JOIN review_items i ON i.id = o.item"
            " WHERE i.decision = ? AND i.gold IS NULL AND o.consensus > ?"
            ") AS related ORDER BY idx LIMIT ?",
            (decision, after, decision, after, limit + 1)).fetchall()
        (still_open,) = conn.execute(
            "SELECT COUNT(*) FROM review_assignments a JOIN review_items i ON i.id = a.item"
            " WHERE i.decision = ? AND i.gold IS NULL AND a.verdict IS NOT NULL"
            f" AND NOT {decided}",
            (decision,)).fetchone()
        page = [(int(idx), str(what), int(item)) for idx, what, item in rows[:limit]]
        return page, int(still_open), page[-1][0] if len(rows) > limit else None

    def verdicts_of(self, expert: str, *, limit: int = 50, before: int | None = None
                    ) -> dict[str, Any]:
        """``expert``'s own verdicts, newest first, at most ``limit`` with a ledger index under
        ``before``: the item, its question, their answer (and corrected value), when they
        signed it and the item's outcome once decided. Nothing of other experts' answers: an
        open item's outcome is None (a gold item's stays None: gold is never decided)."""
        rows = self._conn.execute(
            "SELECT a.verdict, a.item, i.insight, i.question, a.answer, a.value, o.outcome,"
            " o.consensus FROM review_assignments a JOIN review_items i ON i.id = a.item"
            " LEFT JOIN review_outcomes o ON o.item = a.item AND i.gold IS NULL"
            " WHERE a.expert = ? AND a.verdict IS NOT NULL AND a.verdict < ?"
            " ORDER BY a.verdict DESC LIMIT ?",
            (expert, (2 ** 62) if before is None else before, limit + 1)).fetchall()
        more = len(rows) > limit
        out = []
        for index, item, insight, question, answer, value, outcome, consensus in rows[:limit]:
            signed = Entry.from_bytes(self.log.get(int(index)))
            seconds = signed.body.get("seconds")
            out.append({"item": str(item), "insight": str(insight), "question": str(question),
                        "verdict": str(answer), "value": json.loads(value) if value else None,
                        "index": int(index), "time": signed.time,
                        "seconds": seconds if isinstance(seconds, int | float) else None,
                        "outcome": outcome, "consensus": None if consensus is None
                        else int(consensus)})
        return {"did": expert, "verdicts": out,
                "next": out[-1]["index"] if more and out else None}

    # -- the whole engine, for a simulation's report ----------------------------------------

    def answers(self) -> list[tuple[str, str, str, str]]:
        """Every verdict given: (item, expert, answer, the item's annotator: the AI model
        whose value was judged)."""
        return [(str(item), str(expert), str(answer), str(annotator))
                for item, expert, answer, annotator in self._conn.execute(
                    "SELECT a.item, a.expert, a.answer, i.annotator FROM review_assignments a"
                    " JOIN review_items i ON i.id = a.item WHERE a.verdict IS NOT NULL")]

    def decided(self) -> dict[str, str]:
        """Every decided item's outcome (accepted, corrected, rejected), by item id."""
        return {str(item): str(outcome) for item, outcome in self._conn.execute(
            "SELECT item, outcome FROM review_outcomes")}

    def escalations(self) -> list[tuple[str, int, int, int]]:
        """The non-gold items escalated at least once: (item, experts asked now, escalation
        rounds, verdicts in)."""
        return [(str(item), int(experts), int(rounds), int(answered))
                for item, experts, rounds, answered in self._conn.execute(
                    "SELECT i.id, i.experts, i.escalations, (SELECT COUNT(*) FROM"
                    " review_assignments a WHERE a.item = i.id AND a.verdict IS NOT NULL)"
                    " FROM review_items i WHERE i.gold IS NULL AND i.escalations > 0")]


def review_entries(log: Log, decisions: list[int]) -> list[int]:
    """Ledger indexes of the verdicts and consensus results about items of ``decisions``
    (what an audit bundle carries beside the decisions)."""
    if not decisions:
        return []
    marks = ",".join("?" * len(decisions))
    conn = log.db.conn
    verdicts = conn.execute(
        f"SELECT a.verdict FROM review_assignments a JOIN review_items i ON i.id = a.item"
        f" WHERE i.decision IN ({marks}) AND i.gold IS NULL AND a.verdict IS NOT NULL",
        decisions).fetchall()
    consensus = conn.execute(
        f"SELECT o.consensus FROM review_outcomes o JOIN review_items i ON i.id = o.item"
        f" WHERE i.decision IN ({marks})", decisions).fetchall()
    return sorted(int(row[0]) for row in [*verdicts, *consensus])


def review_changes(log: Log, job: str) -> dict[str, int]:
    """The insights of ``job`` whose published value expert review changed (an item
    corrected or rejected): insight -> the latest such consensus entry's index. What was
    computed from the insight before that entry is stale."""
    return {str(insight): int(consensus) for insight, consensus in log.db.conn.execute(
        "SELECT insight, MAX(consensus) FROM review_outcomes WHERE job = ? AND"
        " outcome IN ('corrected', 'rejected') GROUP BY insight", (job,))}


def review_summary(log: Log, decision: int) -> list[str]:
    """Who checked the items of ``decision`` and how, in words."""
    conn = log.db.conn
    rows = conn.execute(
        "SELECT i.item, i.state, o.outcome, o.consensus, (SELECT COUNT(*) FROM"
        " review_assignments a WHERE a.item = i.id AND a.verdict IS NOT NULL) FROM"
        " review_items i LEFT JOIN review_outcomes o ON o.item = i.id WHERE i.decision = ? AND"
        " i.gold IS NULL ORDER BY i.item", (decision,)).fetchall()
    lines = []
    for item, state, outcome, consensus, verdicts in rows:
        if state == "decided":
            body = Entry.from_bytes(log.get(int(consensus))).body
            experts = [p["annotator"][-8:] for p in body["participants"] if p["verdict"]]
            lines.append(f"item {item}: {outcome} by consensus (entry {consensus}, "
                         f"{body['method']}, label {body['label']} at {body['posterior']:.2f};"
                         f" experts ...{', ...'.join(experts)})")
        else:
            lines.append(f"item {item}: under review ({verdicts} verdict(s) so far)")
    return lines
