"""Read-only questions the coordinator's other services ask the market about its jobs and
leases (they never read the market's tables themselves)."""

from __future__ import annotations

from collections.abc import Collection

from aiwork.store import Database

__all__ = ["Lookups"]


class Lookups:
    """Part of :class:`~aiwork.market.Market`: lookups over its store."""

    db: Database

    def queued_jobs(self, analyzers: Collection[str], now: float, *, offset: int = 0,
                    limit: int = 200) -> list[str]:
        """The jobs of the replicas queued for one of ``analyzers`` in open jobs not past
        their deadline, in queue order, one per replica: ``limit`` of them from ``offset``."""
        names = sorted(analyzers)
        if not names:
            return []
        marks = ", ".join("?" for _ in names)
        return [str(row[0]) for row in self.db.conn.execute(
            "SELECT t.job FROM market_replicas r JOIN market_tasks t ON t.id = r.task"
            " JOIN market_jobs j ON j.id = t.job WHERE r.state = 'queued' AND"
            " j.state = 'open' AND (j.deadline IS NULL OR j.deadline > ?) AND"
            f" t.analyzer IN ({marks}) ORDER BY r.queue_seq, r.position, r.replica"
            " LIMIT ? OFFSET ?", (now, *names, limit, offset))]

    def task_count(self) -> int:
        """How many tasks were ever submitted."""
        (count,) = self.db.conn.execute("SELECT COUNT(*) FROM market_tasks").fetchone()
        return int(count)

    def asset_jobs(self, asset: str) -> list[str]:
        """The jobs over ``asset``, oldest first."""
        return [str(row[0]) for row in self.db.conn.execute(
            "SELECT id FROM market_jobs WHERE asset = ? ORDER BY seq", (asset,))]

    def open_jobs(self, requester: str) -> list[str]:
        """``requester``'s open jobs, oldest first."""
        return [str(row[0]) for row in self.db.conn.execute(
            "SELECT id FROM market_jobs WHERE requester = ? AND state = 'open' ORDER BY seq",
            (requester,))]

    def leased_jobs(self, worker: str, now: float) -> set[str]:
        """The jobs of the tasks ``worker`` holds a live lease on."""
        return {str(row[0]) for row in self.db.conn.execute(
            "SELECT DISTINCT t.job FROM market_leases l JOIN market_tasks t ON t.id = l.task"
            " WHERE l.worker = ? AND l.state = 'live' AND l.expires > ?", (worker, now))}

    def in_order(self, jobs: Collection[str]) -> list[str]:
        """``jobs``, oldest first (ids of no job left out)."""
        wanted = sorted(set(jobs))
        found: list[tuple[int, str]] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ", ".join("?" for _ in chunk)
            found += [(int(seq), str(job)) for seq, job in self.db.conn.execute(
                f"SELECT seq, id FROM market_jobs WHERE id IN ({marks})", chunk)]
        return [job for _, job in sorted(found)]
