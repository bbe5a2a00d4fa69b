"""Workers' results as the coordinator checked and kept them (``coordinator_results``): every
replica's normalised output and its decision, the current one per replica and the earlier
ones as history; which result of a task is accepted, and what a job publishes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiwork import analyzers as registry
from aiwork.coordinator.libraries import opened_body
from aiwork.coordinator.review import Review, review_changes
from aiwork.coordinator.schema import MIGRATIONS
from aiwork.ledger.log import Log
from aiwork.market import Lease, Market, ReplicaState, Task
from aiwork.model.decision import stamp_decision
from aiwork.model.metadata import StaleInsight, stale_insights
from aiwork.quality.review_items import apply_outcomes

__all__ = ["Results", "StoredReplicaResult", "accepted_results", "stale_results"]


@dataclass(frozen=True)
class StoredReplicaResult:
    task: str
    replica: int
    worker: str
    analyzer: str
    insight: str
    decision: int
    digest: str
    output: Any
    current: bool


_COLUMNS = "task, replica, worker, analyzer, insight, decision, digest, output, current"


def _row(row: Any) -> StoredReplicaResult:
    return StoredReplicaResult(row[0], int(row[1]), row[2], row[3], row[4], int(row[5]),
                               row[6], json.loads(row[7]), bool(row[8]))


class Results:
    """The results kept in ``log``'s store, over the ``market``'s tasks."""

    def __init__(self, log: Log, market: Market) -> None:
        self.log = log
        self.market = market
        log.db.migrate(MIGRATIONS)

    def record(self, lease: Lease, decision: int, worker: str, insight: str, digest: str,
               output: Any) -> None:
        """Keep a replica's result (inside the transaction that logs its decision); a re-run
        replica keeps the earlier result as history: every opinion counts when the task is
        settled."""
        conn = self.log.db.conn
        conn.execute("UPDATE coordinator_results SET current = 0 WHERE task = ? AND replica = ?",
                     (lease.task_id, lease.replica))
        conn.execute(
            "INSERT INTO coordinator_results (decision, task, replica, worker, analyzer,"
            " insight, digest, output, current) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
            (decision, lease.task_id, lease.replica, worker, lease.analyzer, insight, digest,
             json.dumps(output)))

    def current(self, task: str, replica: int) -> StoredReplicaResult | None:
        row = self.log.db.conn.execute(
            f"SELECT {_COLUMNS} FROM coordinator_results WHERE task = ? AND replica = ?"
            " AND current = 1", (task, replica)).fetchone()
        return None if row is None else _row(row)

    def of_task(self, task: str) -> list[StoredReplicaResult]:
        """Every result of ``task``, current and earlier, in decision order."""
        rows = self.log.db.conn.execute(
            f"SELECT {_COLUMNS} FROM coordinator_results WHERE task = ? ORDER BY decision",
            (task,)).fetchall()
        return [_row(row) for row in rows]

    def waiting(self, worker: str, settling: str) -> list[tuple[str, int]]:
        """(task, replica) of ``worker``'s current results, but for task ``settling``."""
        return [(str(task), int(replica)) for task, replica in self.log.db.conn.execute(
            "SELECT task, replica FROM coordinator_results WHERE worker = ? AND current = 1"
            " AND task != ?", (worker, settling))]

    def accepted(self, task: Task) -> StoredReplicaResult | None:
        """The task's accepted result, if one is."""
        accepted = [r for r in self.market.replicas(task.id) if r.state == ReplicaState.ACCEPTED]
        return self.current(task.id, accepted[0].replica) if accepted else None

    def accepted_outputs(self, job_id: str) -> dict[str, tuple[int, Any]]:
        """A job's accepted AI results as their workers signed them: insight -> (decision
        index, items stamped with it); human outcomes are not applied."""
        out: dict[str, tuple[int, Any]] = {}
        for task in self.market.tasks(job_id):
            result = self.accepted(task)
            if result is not None:
                out[result.insight] = (result.decision,
                                       stamp_decision(result.output, result.decision))
        return out

    def upstream(self, job_id: str, analyzer: str) -> dict[str, tuple[str, int, Any]]:
        """analyzer -> (insight, decision, output) of the job's accepted results that
        ``analyzer`` reads."""
        reads = set(registry.upstream(analyzer)) if analyzer in registry.REGISTRY else set()
        out: dict[str, tuple[str, int, Any]] = {}
        for task in self.market.tasks(job_id):
            result = self.accepted(task) if task.analyzer in reads else None
            if result is not None:
                out[task.analyzer] = (result.insight, result.decision, result.output)
        return out

    def published(self, job_id: str, review: Review) -> dict[str, Any]:
        """The accepted output of each analyzer (its ``decision`` set), by insight, with the
        experts' outcomes applied (rejected items dropped, corrections made)."""
        out: dict[str, Any] = {}
        decisions: dict[str, int] = {}
        reviewed = review.outcomes(job_id)
        for task in self.market.tasks(job_id):
            result = self.accepted(task)
            if result is not None:
                out[result.insight] = _applied(result, reviewed)
                decisions[result.insight] = result.decision
        # An insight computed from a value experts have since corrected describes the old
        # value: it is listed as stale (metadata.json's "stale").
        stale = stale_results(self.log, decisions, review_changes(self.log, job_id))
        if stale:
            out["stale"] = [item.model_dump(mode="json") for item in stale]
        return out


    def published_insight(self, job_id: str, insight: str, review: Review
                          ) -> tuple[int, Any] | None:
        """One insight of :meth:`published`: its accepted decision's index and output, with
        the experts' outcomes applied; ``None`` when no result of it is accepted."""
        reviewed = review.outcomes(job_id)
        for task in self.market.tasks(job_id):
            result = self.accepted(task)
            if result is not None and result.insight == insight:
                return result.decision, _applied(result, reviewed)
        return None


def _applied(result: StoredReplicaResult,
             reviewed: dict[str, dict[int, tuple[str, Any, int]]]) -> Any:
    """An accepted result's output with the experts' outcomes applied, stamped with its
    decision."""
    output = apply_outcomes(result.insight, result.output,
                            {k: (o, v) for k, (o, v, _) in
                             reviewed.get(result.insight, {}).items()})
    return stamp_decision(output, result.decision)


def accepted_results(log: Log, job_id: str) -> dict[str, tuple[int, Any]]:
    """A job's accepted AI results in ``log``'s store (see :meth:`Results.accepted_outputs`)."""
    return Results(log, Market(log.db)).accepted_outputs(job_id)


def stale_results(log: Log, decisions: dict[str, int],
                  corrected: dict[str, int] | None = None) -> list[StaleInsight]:
    """Which of ``decisions`` (insight -> decision index in ``log``) were derived from an
    upstream decision that is not the current one, or whose value expert review changed
    since (``corrected``: insight -> consensus index)."""
    derived = {insight: (opened_body(log, index)[1].get("input") or {}).get("derived_from")
               for insight, index in decisions.items()}
    return stale_insights(decisions, derived, corrected)
