"""The job / task / lease engine.

Every write runs inside one ``Database.atomic()`` (``BEGIN IMMEDIATE``), so two workers
leasing at once are serialised by the database itself, across threads and processes; each
claim is additionally a conditional ``UPDATE ... WHERE state = 'queued'`` whose row count is
checked, which keeps "one live lease per replica" true on a database without whole-file
write locks too. Time is always passed in (``now``, unix seconds).

Lease records (``market_leases``) are kept after use, with a state:

* ``live``      granted and not yet used (it may still be past its expiry, see below);
* ``expired``   its time ran out; the replica went back to the queue;
* ``submitted`` a result was accepted under it;
* ``revoked``   :meth:`Market.requeue` discarded the work done under it;
* ``released``  its worker announced itself again without it (:meth:`Market.release_leases`);
  the replica went back to the queue at once.

Expired leases are swept lazily, in the transaction of the next :meth:`Market.lease`. A
worker never gets a replica of a task on which it holds a live lease, submitted a result, or
had its work revoked (so re-run work goes to someone else); an *expired* or *released* lease
does not bar it.
"""

from __future__ import annotations

import json
import math
import secrets
import sqlite3
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence

from aiwork.analyzers import REGISTRY
from aiwork.errors import InsufficientBudgetError, JobRefusedError, LeaseError, UnknownJobError
from aiwork.market.model import (
    FINISHED,
    Job,
    JobState,
    Lease,
    ReplicaState,
    Task,
    TaskReplica,
)
from aiwork.market.lookups import Lookups
from aiwork.market.schema import MIGRATIONS
from aiwork.store import Database

__all__ = ["Market"]

_JOB_COLUMNS = (
    "id, requester, asset, analyzers, redundancy, deadline, budget, price, state, created"
)
_REPLICA_COLUMNS = "task, replica, state, worker, lease_expires, attempts, result"
_FINISHED_SQL = ", ".join(f"'{state.value}'" for state in FINISHED)


def _job(row: Sequence[object]) -> Job:
    analyzers = json.loads(str(row[3]))
    return Job(
        id=str(row[0]), requester=str(row[1]), asset=str(row[2]),
        analyzers=tuple(str(a) for a in analyzers), redundancy=int(str(row[4])),
        deadline=None if row[5] is None else float(str(row[5])), budget=int(str(row[6])),
        price=int(str(row[7])), state=JobState(str(row[8])), created=float(str(row[9])),
    )


def _replica(row: Sequence[object]) -> TaskReplica:
    return TaskReplica(
        task_id=str(row[0]), replica=int(str(row[1])), state=ReplicaState(str(row[2])),
        worker=None if row[3] is None else str(row[3]),
        lease_expires=None if row[4] is None else float(str(row[4])),
        attempts=int(str(row[5])), result=None if row[6] is None else str(row[6]),
    )


def _check_duration(seconds: float) -> None:
    if not (math.isfinite(seconds) and seconds > 0):
        raise LeaseError(f"lease_seconds must be a positive number of seconds, not {seconds!r}")


class Market(Lookups):
    """Jobs of requesters, split into per-analyzer tasks of ``k`` replicas leased by workers.

    Not shared between threads: like :class:`~aiwork.store.Database`, open one per thread.
    """

    def __init__(self, db: Database, *, analyzers: Collection[str] | None = None) -> None:
        self.db = db
        self.known_analyzers: frozenset[str] = frozenset(REGISTRY if analyzers is None else analyzers)
        db.migrate(MIGRATIONS)

    # -- requesters -------------------------------------------------------------------------

    def submit_job(
        self,
        requester: str,
        asset: str,
        analyzers: Sequence[str],
        *,
        redundancy: int = 1,
        budget: int,
        price: int,
        now: float,
        deadline: float | None = None,
        upstream: Mapping[str, Collection[str]] | None = None,
        weights: Mapping[str, str] | None = None,
    ) -> Job:
        """Create a job, one task per analyzer and ``redundancy`` queued replicas per task.

        ``upstream`` maps an analyzer to the analyzers of the same job whose results it reads:
        its task is leased only once their tasks are settled. ``weights`` maps an analyzer to
        the weights digest its results must be made with: its task is leased only to a
        worker that advertises those weights (:meth:`lease`)."""
        if not requester:
            raise JobRefusedError("a job needs a requester")
        if not asset:
            raise JobRefusedError("a job needs an asset digest")
        names = tuple(analyzers)
        if not names:
            raise JobRefusedError("a job needs at least one analyzer")
        if len(set(names)) != len(names):
            raise JobRefusedError(f"analyzers listed twice in {list(names)}")
        unknown = [name for name in names if name not in self.known_analyzers]
        if unknown:
            raise JobRefusedError(
                f"unknown analyzer(s) {unknown}", hint=f"known: {', '.join(sorted(self.known_analyzers))}"
            )
        if redundancy < 1:
            raise JobRefusedError(f"redundancy must be at least 1, not {redundancy}")
        if price < 0 or budget < 0:
            raise JobRefusedError("price and budget must not be negative")
        if deadline is not None and deadline <= now:
            raise JobRefusedError(f"deadline {deadline} is not after now ({now})")
        cost = price * len(names) * redundancy
        if budget < cost:
            raise InsufficientBudgetError(
                f"budget {budget} does not cover {len(names)} task(s) x {redundancy} replica(s)"
                f" x price {price} = {cost} credits",
                hint="raise the budget, lower the price or the redundancy, or ask for fewer analyzers",
            )
        job = Job(
            id=uuid.uuid4().hex, requester=requester, asset=asset, analyzers=names,
            redundancy=redundancy, deadline=deadline, budget=budget, price=price,
            state=JobState.OPEN, created=now,
        )
        with self.db.atomic() as conn:
            seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM market_jobs").fetchone()[0])
            conn.execute(
                f"INSERT INTO market_jobs (seq, {_JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, job.id, requester, asset, json.dumps(list(names)), redundancy, deadline,
                 budget, price, job.state.value, now),
            )
            for position, name in enumerate(names):
                task_id = uuid.uuid4().hex
                reads = sorted(set((upstream or {}).get(name, ())) & set(names) - {name})
                conn.execute(
                    "INSERT INTO market_tasks (id, job, position, analyzer, replicas, upstream,"
                    " weights) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (task_id, job.id, position, name, redundancy,
                     "," + ",".join(reads) + "," if reads else None,
                     (weights or {}).get(name)),
                )
                conn.executemany(
                    "INSERT INTO market_replicas (task, replica, state, attempts, queue_seq,"
                    " position) VALUES (?, ?, ?, 0, ?, ?)",
                    [(task_id, number, ReplicaState.QUEUED.value, seq, position)
                     for number in range(redundancy)],
                )
        return job

    def cancel_job(self, job_id: str) -> Job:
        """Stop an open job: nothing more is leased, live leases can no longer submit."""
        with self.db.atomic() as conn:
            job = self._job(conn, job_id)
            if job.state is not JobState.OPEN:
                raise JobRefusedError(f"job {job_id} is {job.state.value}, not open")
            conn.execute("UPDATE market_jobs SET state = ? WHERE id = ?",
                         (JobState.CANCELLED.value, job_id))
            return self._job(conn, job_id)

    def job(self, job_id: str) -> Job:
        with self.db.snapshot() as conn:
            return self._job(conn, job_id)

    def jobs(self, requester: str | None = None) -> list[Job]:
        """All jobs, oldest first; only ``requester``'s when given."""
        with self.db.snapshot() as conn:
            if requester is None:
                rows = conn.execute(f"SELECT {_JOB_COLUMNS} FROM market_jobs ORDER BY seq")
            else:
                rows = conn.execute(
                    f"SELECT {_JOB_COLUMNS} FROM market_jobs WHERE requester = ? ORDER BY seq",
                    (requester,),
                )
            return [_job(row) for row in rows.fetchall()]

    def tasks(self, job_id: str) -> list[Task]:
        with self.db.snapshot() as conn:
            self._job(conn, job_id)
            rows = conn.execute(
                "SELECT id, job, analyzer, replicas FROM market_tasks WHERE job = ? ORDER BY position",
                (job_id,),
            ).fetchall()
        return [Task(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]

    def replicas(self, task_id: str) -> list[TaskReplica]:
        with self.db.snapshot() as conn:
            rows = conn.execute(
                f"SELECT {_REPLICA_COLUMNS} FROM market_replicas WHERE task = ? ORDER BY replica",
                (task_id,),
            ).fetchall()
        if not rows:
            raise UnknownJobError(f"no task {task_id}")
        return [_replica(row) for row in rows]

    def job_progress(self, job_id: str) -> dict[ReplicaState, int]:
        """How many replicas of the job are in each state (every state present, maybe 0)."""
        with self.db.snapshot() as conn:
            self._job(conn, job_id)
            rows = conn.execute(
                "SELECT r.state, COUNT(*) FROM market_replicas r JOIN market_tasks t ON t.id = r.task"
                " WHERE t.job = ? GROUP BY r.state",
                (job_id,),
            ).fetchall()
        counts = dict.fromkeys(ReplicaState, 0)
        for state, count in rows:
            counts[ReplicaState(state)] = int(count)
        return counts

    # -- workers ----------------------------------------------------------------------------

    def lease(
        self, worker: str, capabilities: Iterable[str], now: float, lease_seconds: float = 60,
        weights: Mapping[str, str | None] | None = None,
    ) -> Lease | None:
        """Claim the oldest queued replica ``worker`` can run, or ``None`` when there is none.
        ``weights``: the weights digest the worker runs per analyzer; a task that asks for
        weights (:meth:`submit_job`) is leased only to a worker running those."""
        if not worker:
            raise LeaseError("a lease needs a worker")
        _check_duration(lease_seconds)
        caps = sorted(set(capabilities))
        runs = sorted(f"{name} {digest}" for name, digest in (weights or {}).items()
                      if digest is not None and name in caps)
        with self.db.atomic() as conn:
            self._sweep(conn, now)
            if not caps:
                return None
            marks = ", ".join("?" for _ in caps)
            # A task that asks for weights goes only to a worker that runs them.
            fits = (f"(t.weights IS NULL OR t.analyzer || ' ' || t.weights IN "
                    f"({', '.join('?' for _ in runs)}))" if runs else "t.weights IS NULL")
            rows = conn.execute(
                # Walks the queue index in order and stops at the first fits: the cost does
                # not grow with the number of queued replicas.
                "SELECT r.task, r.replica, t.job, t.analyzer, j.asset FROM market_replicas r"
                " JOIN market_tasks t ON t.id = r.task JOIN market_jobs j ON j.id = t.job"
                " WHERE r.state = ? AND j.state = ? AND (j.deadline IS NULL OR j.deadline > ?)"
                f" AND t.analyzer IN ({marks}) AND {fits}"
                " AND NOT EXISTS (SELECT 1 FROM market_leases l WHERE l.task = r.task"
                "   AND l.worker = ? AND l.state IN ('live', 'submitted', 'revoked'))"
                # A task that reads other tasks' results waits until they are settled.
                " AND NOT EXISTS (SELECT 1 FROM market_tasks u JOIN market_replicas ur"
                "   ON ur.task = u.id WHERE u.job = t.job AND t.upstream IS NOT NULL"
                "   AND t.upstream LIKE '%,' || u.analyzer || ',%'"
                "   AND ur.state IN ('queued', 'leased', 'submitted'))"
                " ORDER BY r.queue_seq, r.position, r.replica LIMIT 8",
                (ReplicaState.QUEUED.value, JobState.OPEN.value, now, *caps, *runs, worker),
            ).fetchall()
            for task_id, replica, job_id, analyzer, asset in rows:
                lease = Lease(
                    id=secrets.token_hex(16), worker=worker, job_id=job_id, task_id=task_id,
                    replica=int(replica), analyzer=analyzer, asset=asset,
                    expires=now + lease_seconds,
                )
                claimed = conn.execute(
                    "UPDATE market_replicas SET state = ?, worker = ?, lease_id = ?,"
                    " lease_expires = ?, attempts = attempts + 1, result = NULL"
                    " WHERE task = ? AND replica = ? AND state = ?",
                    (ReplicaState.LEASED.value, worker, lease.id, lease.expires, task_id,
                     replica, ReplicaState.QUEUED.value),
                ).rowcount
                if claimed != 1:  # taken meanwhile (only possible without a file-wide lock)
                    continue
                conn.execute(
                    "INSERT INTO market_leases (id, task, replica, worker, granted, expires, state)"
                    " VALUES (?, ?, ?, ?, ?, ?, 'live')",
                    (lease.id, task_id, replica, worker, now, lease.expires),
                )
                return lease
        return None

    def live_lease(self, lease_id: str, worker: str, now: float) -> Lease:
        """The lease, if it is live and held by ``worker``; else :class:`LeaseError`."""
        return self._live_lease(self.db.conn, lease_id, worker, now)

    def leases_asset(self, worker: str, asset: str, now: float) -> bool:
        """Whether ``worker`` holds a live lease on a task over ``asset`` (and so may fetch
        it)."""
        return self.db.conn.execute(
            "SELECT 1 FROM market_leases l JOIN market_tasks t ON t.id = l.task"
            " JOIN market_jobs j ON j.id = t.job WHERE l.worker = ? AND j.asset = ? AND"
            " l.state = 'live' AND l.expires > ? LIMIT 1", (worker, asset, now)
        ).fetchone() is not None

    def release_leases(self, worker: str, *, keep: Collection[str], now: float) -> int:
        """Release the live leases of ``worker`` other than ``keep`` (it announced that it
        holds only those): their replicas go back to the queue now, not when they expire.
        Return how many were released."""
        with self.db.atomic() as conn:
            rows = conn.execute(
                "SELECT id, task, replica FROM market_leases WHERE worker = ? AND state = 'live'"
                " AND expires > ?", (worker, now)).fetchall()
            gone = [(str(i), t, r) for i, t, r in rows if str(i) not in keep]
            for lease_id, task_id, replica in gone:
                conn.execute("UPDATE market_leases SET state = 'released' WHERE id = ?",
                             (lease_id,))
                conn.execute(
                    "UPDATE market_replicas SET state = ?, worker = NULL, lease_id = NULL,"
                    " lease_expires = NULL WHERE task = ? AND replica = ? AND state = ?"
                    " AND lease_id = ?",
                    (ReplicaState.QUEUED.value, task_id, replica, ReplicaState.LEASED.value,
                     lease_id))
        return len(gone)

    def heartbeat(self, lease_id: str, worker: str, now: float, lease_seconds: float = 60) -> Lease:
        """Extend a live lease of ``worker`` to ``now + lease_seconds``; return it."""
        _check_duration(lease_seconds)
        with self.db.atomic() as conn:
            lease = self._live_lease(conn, lease_id, worker, now)
            expires = max(lease.expires, now + lease_seconds)
            conn.execute("UPDATE market_leases SET expires = ? WHERE id = ?", (expires, lease_id))
            conn.execute(
                "UPDATE market_replicas SET lease_expires = ? WHERE task = ? AND replica = ?",
                (expires, lease.task_id, lease.replica),
            )
        return Lease(lease.id, lease.worker, lease.job_id, lease.task_id, lease.replica,
                     lease.analyzer, lease.asset, expires)

    def submit(self, lease_id: str, worker: str, result_digest: str, now: float) -> TaskReplica:
        """Record ``result_digest`` for the replica leased under ``lease_id``, exactly once."""
        if not result_digest:
            raise LeaseError("a submission needs a result digest")
        with self.db.atomic() as conn:
            lease = self._live_lease(conn, lease_id, worker, now)
            job = self._job(conn, lease.job_id)
            if job.deadline is not None and now >= job.deadline:
                raise LeaseError(f"job {job.id} passed its deadline ({job.deadline}) at {now}")
            changed = conn.execute(
                "UPDATE market_replicas SET state = ?, result = ?, lease_id = NULL,"
                " lease_expires = NULL WHERE task = ? AND replica = ? AND state = ? AND lease_id = ?",
                (ReplicaState.SUBMITTED.value, result_digest, lease.task_id, lease.replica,
                 ReplicaState.LEASED.value, lease_id),
            ).rowcount
            if changed != 1:
                raise LeaseError(f"lease {lease_id} no longer holds its replica")
            conn.execute("UPDATE market_leases SET state = 'submitted' WHERE id = ?", (lease_id,))
            self._maybe_done(conn, job.id)
            row = conn.execute(
                f"SELECT {_REPLICA_COLUMNS} FROM market_replicas WHERE task = ? AND replica = ?",
                (lease.task_id, lease.replica),
            ).fetchone()
        return _replica(row)

    # -- verification -----------------------------------------------------------------------

    def settle(self, task_id: str, replica: int, *, accepted: bool) -> TaskReplica:
        """Mark a submitted replica accepted or rejected (the cross-check's verdict)."""
        target = ReplicaState.ACCEPTED if accepted else ReplicaState.REJECTED
        with self.db.atomic() as conn:
            changed = conn.execute(
                "UPDATE market_replicas SET state = ? WHERE task = ? AND replica = ? AND state = ?",
                (target.value, task_id, replica, ReplicaState.SUBMITTED.value),
            ).rowcount
            row = conn.execute(
                f"SELECT {_REPLICA_COLUMNS} FROM market_replicas WHERE task = ? AND replica = ?",
                (task_id, replica),
            ).fetchone()
            if row is None:
                raise UnknownJobError(f"no replica {replica} of task {task_id}")
            if changed != 1:
                raise LeaseError(
                    f"replica {replica} of task {task_id} is {row[2]}, not submitted; cannot settle"
                )
        return _replica(row)

    def requeue(self, task_id: str, replica: int | None = None) -> int:
        """Put a replica (or every replica of the task) back in the queue; return how many.

        Live leases on them stop being valid, results are dropped, and the workers whose
        work is discarded are not given these replicas again. A done job reopens.
        """
        with self.db.atomic() as conn:
            row = conn.execute("SELECT job FROM market_tasks WHERE id = ?", (task_id,)).fetchone()
            if row is None:
                raise UnknownJobError(f"no task {task_id}")
            job = self._job(conn, str(row[0]))
            if job.state in (JobState.CANCELLED, JobState.FAILED):
                raise JobRefusedError(f"job {job.id} is {job.state.value}; nothing to re-run")
            where: str = "task = ?"
            args: list[object] = [task_id]
            if replica is not None:
                where, args = "task = ? AND replica = ?", [task_id, replica]
                if conn.execute(f"SELECT 1 FROM market_replicas WHERE {where}", args).fetchone() is None:
                    raise UnknownJobError(f"no replica {replica} of task {task_id}")
            conn.execute(
                f"UPDATE market_leases SET state = 'revoked' WHERE {where}"
                " AND state IN ('live', 'submitted')",
                args,
            )
            count = conn.execute(
                "UPDATE market_replicas SET state = ?, worker = NULL, lease_id = NULL,"
                f" lease_expires = NULL, result = NULL WHERE {where} AND state <> ?",
                [ReplicaState.QUEUED.value, *args, ReplicaState.QUEUED.value],
            ).rowcount
            if count and job.state is JobState.DONE:
                conn.execute("UPDATE market_jobs SET state = ? WHERE id = ?",
                             (JobState.OPEN.value, job.id))
        return count

    # -- internals --------------------------------------------------------------------------

    @staticmethod
    def _job(conn: sqlite3.Connection, job_id: str) -> Job:
        row = conn.execute(f"SELECT {_JOB_COLUMNS} FROM market_jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise UnknownJobError(f"no job {job_id}")
        return _job(row)

    @staticmethod
    def _sweep(conn: sqlite3.Connection, now: float) -> None:
        """Re-queue replicas whose lease ran out; fail open jobs past their deadline."""
        conn.execute(
            "UPDATE market_leases SET state = 'expired' WHERE state = 'live' AND expires <= ?", (now,)
        )
        conn.execute(
            "UPDATE market_replicas SET state = ?, worker = NULL, lease_id = NULL,"
            " lease_expires = NULL WHERE state = ? AND lease_expires <= ?",
            (ReplicaState.QUEUED.value, ReplicaState.LEASED.value, now),
        )
        conn.execute(
            "UPDATE market_jobs SET state = ? WHERE state = ? AND deadline IS NOT NULL"
            " AND deadline <= ?",
            (JobState.FAILED.value, JobState.OPEN.value, now),
        )

    @staticmethod
    def _live_lease(conn: sqlite3.Connection, lease_id: str, worker: str, now: float) -> Lease:
        row = conn.execute(
            "SELECT l.worker, l.task, l.replica, l.expires, l.state, t.job, t.analyzer, j.asset,"
            " j.state FROM market_leases l JOIN market_tasks t ON t.id = l.task"
            " JOIN market_jobs j ON j.id = t.job WHERE l.id = ?",
            (lease_id,),
        ).fetchone()
        if row is None:
            raise LeaseError(f"no lease {lease_id}")
        holder, task_id, replica, expires, state, job_id, analyzer, asset, job_state = row
        if holder != worker:
            raise LeaseError(f"lease {lease_id} is held by another worker, not {worker}")
        if state == "submitted":
            raise LeaseError(f"lease {lease_id} was already used: its result is recorded")
        if state == "revoked":
            raise LeaseError(f"lease {lease_id} was revoked: its replica was re-queued")
        if state == "released":
            raise LeaseError(f"lease {lease_id} was released: its worker announced itself "
                             "again without it")
        if state == "expired" or float(expires) <= now:
            raise LeaseError(f"lease {lease_id} expired at {float(expires)} (now {now})")
        if job_state != JobState.OPEN.value:
            raise LeaseError(f"job {job_id} is {job_state}; its leases are void")
        return Lease(lease_id, holder, job_id, task_id, int(replica), analyzer, asset, float(expires))

    @staticmethod
    def _maybe_done(conn: sqlite3.Connection, job_id: str) -> None:
        pending = conn.execute(
            "SELECT COUNT(*) FROM market_replicas r JOIN market_tasks t ON t.id = r.task"
            f" WHERE t.job = ? AND r.state NOT IN ({_FINISHED_SQL})",
            (job_id,),
        ).fetchone()[0]
        if int(pending) == 0:
            conn.execute("UPDATE market_jobs SET state = ? WHERE id = ? AND state = ?",
                         (JobState.DONE.value, job_id, JobState.OPEN.value))
