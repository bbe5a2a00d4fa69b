"""Gold tasks: media whose right answers are known (``coordinator_gold_assets``), mixed into
the queue as jobs like any other (``coordinator_gold_jobs``), and the scored answers that wait
for their worker's batch (``coordinator_gold_pending``). The clips themselves come from
:mod:`aiwork.coordinator.gold`."""

from __future__ import annotations

import json
import random
from typing import Any

from aiwork.coordinator.schema import MIGRATIONS
from aiwork.crypto import SigningKey
from aiwork.errors import InputError
from aiwork.ledger.log import Log
from aiwork.market import Market
from aiwork.model.decision import normalize
from aiwork.store.blobs import BlobStore

__all__ = ["GoldTasks"]

#: Queued replicas read at a time while looking for real work a gold task may follow.
_PAGE = 200


class GoldTasks:
    """The gold clips and gold jobs in ``log``'s store; gold jobs are the ``market``'s."""

    def __init__(self, log: Log, blobs: BlobStore, market: Market, *, price: int,
                 rng: random.Random) -> None:
        self.log = log
        self.blobs = blobs
        self.market = market
        self.price = price
        self.rng = rng
        log.db.migrate(MIGRATIONS)

    def add(self, asset: str, expected: dict[str, Any]) -> None:
        """Register media whose right answers are known, by analyzer (schema items)."""
        if not self.blobs.has(asset):
            raise InputError(f"no media {asset} on this coordinator")
        normalized = {name: normalize(_insight(name), items) for name, items in expected.items()}
        with self.log.db.atomic() as conn:
            conn.execute("INSERT INTO coordinator_gold_assets (asset, expected) VALUES (?, ?)"
                         " ON CONFLICT (asset) DO UPDATE SET expected = excluded.expected",
                         (asset, json.dumps(normalized)))

    def has_any(self) -> bool:
        return self.log.db.conn.execute(
            "SELECT 1 FROM coordinator_gold_assets LIMIT 1").fetchone() is not None

    def is_gold(self, job_id: str) -> bool:
        return self.log.db.conn.execute(
            "SELECT 1 FROM coordinator_gold_jobs WHERE job = ?", (job_id,)).fetchone() is not None

    def expected(self, job_id: str) -> dict[str, Any] | None:
        """A gold job's right answers, by analyzer; ``None`` for any other job."""
        row = self.log.db.conn.execute(
            "SELECT g.expected FROM coordinator_gold_jobs j JOIN coordinator_gold_assets g"
            " ON g.asset = j.asset WHERE j.job = ?", (job_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def uses(self) -> dict[str, int]:
        """Each gold clip and how many gold tasks used it."""
        return {str(asset): int(used) for asset, used in self.log.db.conn.execute(
            "SELECT g.asset, (SELECT COUNT(*) FROM coordinator_gold_jobs j WHERE j.asset ="
            " g.asset) FROM coordinator_gold_assets g")}

    def due(self, capabilities: set[str], now: float, rate: float) -> bool:
        """Gold follows real work: a gold task is mixed in only while a real task this worker
        could run is queued, and only while the gold tasks issued stay under ``rate`` times
        the real tasks ever submitted. An idle network issues none, so idle workers earn
        nothing and the log does not grow."""
        if not capabilities or not self._real_work_queued(capabilities, now):
            return False
        (gold,) = self.log.db.conn.execute("SELECT COUNT(*) FROM coordinator_gold_jobs").fetchone()
        return int(gold) < rate * (self.market.task_count() - int(gold))

    def _real_work_queued(self, capabilities: set[str], now: float) -> bool:
        offset = 0
        while True:
            jobs = self.market.queued_jobs(capabilities, now, offset=offset, limit=_PAGE)
            if not jobs:
                return False
            if set(jobs) - self._gold_among(set(jobs)):
                return True
            offset += len(jobs)

    def _gold_among(self, jobs: set[str]) -> set[str]:
        wanted = sorted(jobs)
        marks = ", ".join("?" for _ in wanted)
        return {str(row[0]) for row in self.log.db.conn.execute(
            f"SELECT job FROM coordinator_gold_jobs WHERE job IN ({marks})", wanted)}

    def inject(self, capabilities: set[str], now: float) -> None:
        """Mix in a task whose answer is known, over the least used gold clip this worker
        can analyze; it looks like any other task."""
        rows = self.log.db.conn.execute(
            "SELECT g.asset, g.expected, (SELECT COUNT(*) FROM coordinator_gold_jobs j WHERE"
            " j.asset = g.asset) AS used FROM coordinator_gold_assets g ORDER BY used"
            " LIMIT 50").fetchall()
        choices = [(asset, sorted(set(json.loads(exp)) & capabilities), int(used))
                   for asset, exp, used in rows]
        choices = [choice for choice in choices if choice[1]]
        if not choices:
            return
        least = min(used for _, _, used in choices)
        asset, names, _ = self.rng.choice([c for c in choices if c[2] == least])
        analyzer = self.rng.choice(names)
        with self.log.db.atomic() as conn:
            # Its requester is a key made for it alone: no one can list the gold jobs by
            # their requester (the coordinator pays for them).
            job = self.market.submit_job(SigningKey.generate().did, asset, [analyzer],
                                         redundancy=1, budget=self.price, price=self.price,
                                         now=now)
            conn.execute("INSERT INTO coordinator_gold_jobs (job, asset) VALUES (?, ?)",
                         (job.id, asset))

    # -- answers waiting for their worker's batch ---------------------------------------------

    def hold_answer(self, worker: str, task: str, observation: float, accepted: bool,
                    now: float) -> None:
        """Keep a scored gold result until its worker's batch is settled (once per task)."""
        self.log.db.conn.execute(
            "INSERT INTO coordinator_gold_pending (worker, task, observation, accepted,"
            " answered) VALUES (?, ?, ?, ?, ?) ON CONFLICT (worker, task) DO NOTHING",
            (worker, task, observation, int(accepted), now))

    def held_answers(self, worker: str) -> list[tuple[float, bool]]:
        """(observation, accepted) of ``worker``'s held gold results, oldest first."""
        return [(float(observation), bool(accepted))
                for observation, accepted in self.log.db.conn.execute(
                    "SELECT observation, accepted FROM coordinator_gold_pending WHERE"
                    " worker = ? ORDER BY answered, task", (worker,))]

    def release_answers(self, worker: str) -> None:
        """Forget ``worker``'s held gold results (they were settled)."""
        self.log.db.conn.execute("DELETE FROM coordinator_gold_pending WHERE worker = ?",
                                 (worker,))


def _insight(analyzer: str) -> str:
    from aiwork import analyzers

    return analyzers.load(analyzer).insight
