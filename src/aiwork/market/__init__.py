"""The job market: requesters submit jobs over assets, workers lease per-analyzer replicas.

A job asks for some analyzers over one asset, each run ``k`` times by different workers
(``redundancy``) so results can be cross-checked. Each (job, analyzer) is a :class:`Task`
with ``k`` :class:`TaskReplica` rows, each leased on its own through :class:`Market`.
"""

from aiwork.market.engine import Market
from aiwork.market.model import Job, JobState, Lease, ReplicaState, Task, TaskReplica

__all__ = ["Job", "JobState", "Lease", "Market", "ReplicaState", "Task", "TaskReplica"]
