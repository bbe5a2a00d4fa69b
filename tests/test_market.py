"""The job market over real SQLite files: leases, replicas, expiry, concurrency, crashes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiwork.errors import (
    AiworkError,
    InputError,
    InsufficientBudgetError,
    JobRefusedError,
    LeaseError,
    UnknownJobError,
)
from aiwork.market import JobState, Lease, Market, ReplicaState
from aiwork.store import connect

ALL = {"technical", "shots", "ocr", "tags", "transcript"}

# Crash tests drop connections without closing them, on purpose; psycopg says so when they
# are collected.
pytestmark = pytest.mark.filterwarnings("ignore:.*was deleted while still open:ResourceWarning")


@pytest.fixture
def db_path(store_target: Path) -> Path:
    """A SQLite file, and a PostgreSQL database: the market runs the same on both."""
    return store_target


@pytest.fixture
def market(db_path: Path) -> Iterator[Market]:
    market = Market(connect(db_path, create=True))
    yield market
    market.db.close()


def job(market: Market, analyzers: list[str] | None = None, k: int = 1, now: float = 0.0,
        deadline: float | None = None) -> str:
    return market.submit_job(
        "did:key:requester", "sha256:asset", analyzers or ["technical"], redundancy=k,
        budget=10_000, price=1, now=now, deadline=deadline,
    ).id


def test_submit_lease_submit_flow(market: Market) -> None:
    job_id = job(market, ["technical", "ocr"])
    assert market.job(job_id).state is JobState.OPEN
    assert market.job_progress(job_id)[ReplicaState.QUEUED] == 2
    first = market.lease("did:w1", ALL, now=1.0)
    assert first is not None and first.analyzer == "technical" and first.asset == "sha256:asset"
    assert first.expires == 61.0
    done = market.submit(first.id, "did:w1", "sha256:r1", now=2.0)
    assert done.state is ReplicaState.SUBMITTED and done.result == "sha256:r1" and done.attempts == 1
    assert market.job(job_id).state is JobState.OPEN
    second = market.lease("did:w1", ALL, now=3.0)
    assert second is not None and second.analyzer == "ocr"
    market.submit(second.id, "did:w1", "sha256:r2", now=4.0)
    assert market.job(job_id).state is JobState.DONE
    assert market.job_progress(job_id)[ReplicaState.SUBMITTED] == 2
    assert market.lease("did:w1", ALL, now=5.0) is None
    assert [j.id for j in market.jobs("did:key:requester")] == [job_id]
    assert market.jobs("did:someone-else") == []


def test_a_task_asking_for_weights_is_leased_only_to_a_worker_running_them(
        market: Market) -> None:
    wanted, other = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    asks = market.submit_job("did:key:requester", "sha256:asset", ["tags", "ocr"], budget=10,
                             price=1, now=0.0, weights={"tags": wanted}).id
    # A worker advertising nothing, or other weights, gets only the task that asks for none.
    assert market.lease("did:w0", ["tags"], now=1.0) is None
    assert market.lease("did:w1", ["tags"], now=1.0, weights={"tags": other}) is None
    assert market.lease("did:w1", ["tags"], now=1.0, weights={"ocr": wanted}) is None
    free = market.lease("did:w1", ["tags", "ocr"], now=1.0, weights={"tags": other})
    assert free is not None and free.analyzer == "ocr" and free.job_id == asks
    # The worker running those weights gets it.
    leased = market.lease("did:w2", ["tags"], now=2.0, weights={"tags": wanted, "ocr": None})
    assert leased is not None and leased.analyzer == "tags" and leased.job_id == asks


def test_oldest_first(market: Market) -> None:
    old = job(market, now=0.0)
    job(market, now=1.0)
    lease = market.lease("did:w1", ALL, now=2.0)
    assert lease is not None and lease.job_id == old


def test_replicas_of_one_task_go_to_different_workers(market: Market) -> None:
    job_id = job(market, ["technical"], k=3)
    a = market.lease("did:a", ALL, now=0)
    assert a is not None
    assert market.lease("did:a", ALL, now=0) is None  # holds replica 0 already
    b = market.lease("did:b", ALL, now=0)
    assert b is not None
    market.submit(a.id, "did:a", "sha256:x", now=1)
    assert market.lease("did:a", ALL, now=1) is None  # submitted one already
    c = market.lease("did:c", ALL, now=1)
    assert c is not None
    assert {a.replica, b.replica, c.replica} == {0, 1, 2}
    assert len({a.worker, b.worker, c.worker}) == 3
    market.submit(b.id, "did:b", "sha256:x", now=2)
    market.submit(c.id, "did:c", "sha256:x", now=2)
    assert market.job(job_id).state is JobState.DONE


def test_capabilities_are_respected(market: Market) -> None:
    job(market, ["ocr"])
    assert market.lease("did:w", {"technical", "shots"}, now=0) is None
    assert market.lease("did:w", set(), now=0) is None
    lease = market.lease("did:w", {"ocr"}, now=0)
    assert lease is not None and lease.analyzer == "ocr"


def test_expired_lease_is_requeued_and_late_submit_refused(market: Market) -> None:
    job_id = job(market)
    slow = market.lease("did:slow", ALL, now=0, lease_seconds=10)
    assert slow is not None
    assert market.lease("did:fast", ALL, now=9.9) is None  # still live
    fast = market.lease("did:fast", ALL, now=10.0)
    assert fast is not None and (fast.task_id, fast.replica) == (slow.task_id, slow.replica)
    with pytest.raises(LeaseError, match="expired"):
        market.submit(slow.id, "did:slow", "sha256:late", now=11)
    with pytest.raises(LeaseError, match="expired"):
        market.heartbeat(slow.id, "did:slow", now=11)
    replica = market.submit(fast.id, "did:fast", "sha256:ok", now=12)
    assert replica.worker == "did:fast" and replica.result == "sha256:ok" and replica.attempts == 2
    assert market.job(job_id).state is JobState.DONE


def test_expired_but_unswept_lease_is_refused(market: Market) -> None:
    job(market)
    lease = market.lease("did:w", ALL, now=0, lease_seconds=5)
    assert lease is not None
    with pytest.raises(LeaseError, match="expired"):
        market.submit(lease.id, "did:w", "sha256:r", now=5)
    # the refusal changed nothing: the replica is still leased until the next sweep
    assert market.replicas(lease.task_id)[0].state is ReplicaState.LEASED


def test_heartbeat_extends(market: Market) -> None:
    job(market)
    lease = market.lease("did:w", ALL, now=0, lease_seconds=10)
    assert lease is not None
    extended = market.heartbeat(lease.id, "did:w", now=8, lease_seconds=10)
    assert extended.expires == 18
    assert market.lease("did:other", ALL, now=15) is None  # not stolen after the old expiry
    market.submit(lease.id, "did:w", "sha256:r", now=17)
    with pytest.raises(LeaseError, match="another worker"):
        market.heartbeat(lease.id, "did:intruder", now=17)
    with pytest.raises(LeaseError, match="already used"):
        market.heartbeat(lease.id, "did:w", now=17)
    with pytest.raises(LeaseError, match="no lease"):
        market.heartbeat("nope", "did:w", now=17)


def test_double_and_foreign_submit_refused(market: Market, db_path: Path) -> None:
    job(market)
    lease = market.lease("did:w", ALL, now=0)
    assert lease is not None
    with pytest.raises(LeaseError, match="another worker"):
        market.submit(lease.id, "did:thief", "sha256:bad", now=1)
    market.submit(lease.id, "did:w", "sha256:good", now=1)
    with pytest.raises(LeaseError, match="already used"):
        market.submit(lease.id, "did:w", "sha256:other", now=2)
    (replica,) = market.replicas(lease.task_id)
    assert replica.result == "sha256:good" and replica.state is ReplicaState.SUBMITTED


def test_budget_refusal(market: Market) -> None:
    with pytest.raises(InsufficientBudgetError, match=r"2 task\(s\) x 3 replica\(s\) x price 5 = 30") as err:
        market.submit_job("did:r", "sha256:a", ["ocr", "tags"], redundancy=3, budget=29, price=5, now=0)
    assert isinstance(err.value, InputError) and isinstance(err.value, AiworkError)
    assert market.jobs() == []
    ok = market.submit_job("did:r", "sha256:a", ["ocr", "tags"], redundancy=3, budget=30, price=5, now=0)
    assert ok.cost == 30


@pytest.mark.parametrize(
    ("analyzers", "k", "message"),
    [([], 1, "at least one"), (["ocr", "ocr"], 1, "twice"), (["nope"], 1, "unknown"),
     (["ocr"], 0, "redundancy")],
)
def test_invalid_jobs_refused(market: Market, analyzers: list[str], k: int, message: str) -> None:
    with pytest.raises(JobRefusedError, match=message):
        market.submit_job("did:r", "sha256:a", analyzers, redundancy=k, budget=100, price=1, now=0)


def test_deadline_fails_job_and_voids_leases(market: Market) -> None:
    job_id = job(market, ["ocr", "tags"], deadline=100.0)
    lease = market.lease("did:w", ALL, now=50, lease_seconds=100)
    assert lease is not None
    with pytest.raises(LeaseError, match="deadline"):
        market.submit(lease.id, "did:w", "sha256:r", now=100)
    assert market.lease("did:w2", ALL, now=100) is None
    assert market.job(job_id).state is JobState.FAILED


def test_cancel_job(market: Market) -> None:
    job_id = job(market, ["ocr", "tags"])
    lease = market.lease("did:w", ALL, now=0)
    assert lease is not None
    assert market.cancel_job(job_id).state is JobState.CANCELLED
    assert market.lease("did:w2", ALL, now=1) is None
    with pytest.raises(LeaseError, match="cancelled"):
        market.submit(lease.id, "did:w", "sha256:r", now=1)


def test_requeue_goes_to_another_worker(market: Market) -> None:
    job_id = job(market, ["ocr"], k=1)
    bad = market.lease("did:bad", ALL, now=0)
    assert bad is not None
    market.submit(bad.id, "did:bad", "sha256:bogus", now=1)
    assert market.job(job_id).state is JobState.DONE
    assert market.requeue(bad.task_id, bad.replica) == 1
    assert market.job(job_id).state is JobState.OPEN
    assert market.lease("did:bad", ALL, now=2) is None  # its work was discarded: not again
    good = market.lease("did:good", ALL, now=2)
    assert good is not None
    market.submit(good.id, "did:good", "sha256:real", now=3)
    assert market.job(job_id).state is JobState.DONE
    with pytest.raises(UnknownJobError):
        market.requeue("no-such-task")


def test_requeue_voids_a_live_lease(market: Market) -> None:
    job(market, ["ocr"], k=2)
    a = market.lease("did:a", ALL, now=0)
    b = market.lease("did:b", ALL, now=0)
    assert a is not None and b is not None
    assert market.requeue(a.task_id) == 2
    with pytest.raises(LeaseError, match="revoked"):
        market.submit(a.id, "did:a", "sha256:r", now=1)
    assert market.job_progress(a.job_id)[ReplicaState.QUEUED] == 2


def test_settle(market: Market) -> None:
    job(market)
    lease = market.lease("did:w", ALL, now=0)
    assert lease is not None
    with pytest.raises(LeaseError, match="not submitted"):
        market.settle(lease.task_id, 0, accepted=True)
    market.submit(lease.id, "did:w", "sha256:r", now=1)
    assert market.settle(lease.task_id, 0, accepted=False).state is ReplicaState.REJECTED


def test_crash_between_lease_and_submit_loses_nothing(db_path: Path) -> None:
    first = Market(connect(db_path, create=True))
    job_id = job(first, ["ocr", "tags"], k=2)
    lease = first.lease("did:w", ALL, now=0, lease_seconds=30)
    assert lease is not None
    del first  # a crash: no close, no cleanup

    reopened = Market(connect(db_path))
    progress = reopened.job_progress(job_id)
    assert progress[ReplicaState.LEASED] == 1 and progress[ReplicaState.QUEUED] == 3
    # the worker may still submit under its lease after the restart ...
    reopened.submit(lease.id, "did:w", "sha256:r", now=10)
    # ... and the rest of the work is all there, leasable by others
    got = []
    for worker in ("did:x", "did:y", "did:z"):
        while (next_lease := reopened.lease(worker, ALL, now=20)) is not None:
            got.append(next_lease)
    assert len(got) == 3
    for each in got:
        reopened.submit(each.id, each.worker, "sha256:r", now=21)
    assert reopened.job(job_id).state is JobState.DONE


def test_crash_with_expired_lease_requeues(db_path: Path) -> None:
    first = Market(connect(db_path, create=True))
    job(first)
    lost = first.lease("did:w", ALL, now=0, lease_seconds=30)
    assert lost is not None
    del first
    reopened = Market(connect(db_path))
    again = reopened.lease("did:w2", ALL, now=31)
    assert again is not None and (again.task_id, again.replica) == (lost.task_id, lost.replica)


def _fill(db_path: Path, replicas: int) -> None:
    market = Market(connect(db_path, create=True))
    for start in range(0, replicas, 10):  # 10 jobs of 10 analyzers x 1 replica
        market.submit_job("did:r", f"sha256:{start}", sorted(_ANALYZERS)[:10],
                          budget=10, price=1, now=float(start))
    market.db.close()


_ANALYZERS = {"technical", "shots", "transcript", "audio_events", "ocr", "faces", "tags",
              "safety", "language", "keywords", "chapters"}


def test_concurrent_threads_lease_each_replica_exactly_once(db_path: Path) -> None:
    _fill(db_path, 100)
    leases: list[list[Lease]] = [[] for _ in range(8)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        try:
            market = Market(connect(db_path))
            barrier.wait()
            while (lease := market.lease(f"did:w{n}", _ANALYZERS, now=1.0)) is not None:
                leases[n].append(lease)
                time.sleep(0.001)  # "work" a little, as a worker would, letting others in
            market.db.close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    claimed = [(lease.task_id, lease.replica) for batch in leases for lease in batch]
    assert len(claimed) == 100 and len(set(claimed)) == 100
    assert sum(1 for batch in leases if batch) > 1  # they really raced
    market = Market(connect(db_path))
    assert sum(market.job_progress(j.id)[ReplicaState.LEASED] for j in market.jobs()) == 100
    live = market.db.conn.execute("SELECT COUNT(*) FROM market_leases WHERE state = 'live'").fetchone()
    assert live[0] == 100


_CHILD = """
import pathlib, sys, time
from aiwork.market import Market
from aiwork.store import connect
market = Market(connect(sys.argv[1]))
caps = set(sys.argv[3].split(","))
go = pathlib.Path(sys.argv[4])
while not go.exists():
    time.sleep(0.005)
while (lease := market.lease(sys.argv[2], caps, now=1.0)) is not None:
    print(lease.task_id, lease.replica, flush=True)
    time.sleep(0.002)
"""


def test_concurrent_processes_lease_each_replica_exactly_once(db_path: Path,
                                                             tmp_path: Path) -> None:
    _fill(db_path, 100)
    go = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", _CHILD, str(db_path), f"did:p{n}",
                          ",".join(_ANALYZERS), str(go)],
                         stdout=subprocess.PIPE, text=True)
        for n in range(2)
    ]
    time.sleep(0.3)  # let both start up (import, migrate) before they race
    go.touch()
    outputs: list[list[str]] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0
        outputs.append(out.splitlines())
    lines = [line for output in outputs for line in output]
    assert len(lines) == 100 and len(set(lines)) == 100
    assert all(outputs)  # both took part
