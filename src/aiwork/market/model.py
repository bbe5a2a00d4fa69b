"""Plain records of the market: jobs, tasks, replicas, leases."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Job", "JobState", "Lease", "ReplicaState", "Task", "TaskReplica"]


class JobState(StrEnum):
    OPEN = "open"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ReplicaState(StrEnum):
    QUEUED = "queued"
    LEASED = "leased"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


#: Replica states that count as "a result came back" (a job is done when all replicas are).
FINISHED = (ReplicaState.SUBMITTED, ReplicaState.ACCEPTED, ReplicaState.REJECTED)


@dataclass(frozen=True)
class Job:
    id: str
    requester: str
    asset: str
    analyzers: tuple[str, ...]
    redundancy: int
    deadline: float | None
    budget: int
    price: int
    state: JobState
    created: float

    @property
    def cost(self) -> int:
        """Credits the job spends when every replica of every task is paid."""
        return self.price * len(self.analyzers) * self.redundancy


@dataclass(frozen=True)
class Task:
    id: str
    job_id: str
    analyzer: str
    replicas: int


@dataclass(frozen=True)
class TaskReplica:
    task_id: str
    replica: int
    state: ReplicaState
    worker: str | None
    lease_expires: float | None
    attempts: int
    result: str | None


@dataclass(frozen=True)
class Lease:
    """A worker's exclusive, time-limited claim on one replica. ``id`` is a secret token."""

    id: str
    worker: str
    job_id: str
    task_id: str
    replica: int
    analyzer: str
    asset: str
    expires: float
