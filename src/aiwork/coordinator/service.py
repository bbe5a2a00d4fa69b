"""The coordinator: a thin facade over its domains, what the HTTP API and the CLI use.

Each domain keeps its own tables and is asked through its methods: :mod:`.jobs` (requesters'
jobs, workers' results), :mod:`.settlement` (cross-checks, reputation, rewards),
:mod:`.results`, :mod:`.workers`, :mod:`.gold_tasks`, :mod:`.accounts`, :mod:`.libraries`
(with its media :mod:`.grants`),
:mod:`.review`, :mod:`.search` (the library search's index, and who may search what) (and, beside them, :mod:`.identities` and :mod:`.cosignatures`). The market
(:mod:`aiwork.market`) owns jobs, tasks, replicas and leases.
"""

from __future__ import annotations

import random
from contextlib import nullcontext
from typing import Any

from aiwork.coordinator.accounts import Accounts
from aiwork.coordinator.gold_tasks import GoldTasks
from aiwork.coordinator.grants import MediaGrants
from aiwork.coordinator.identities import Identities
from aiwork.coordinator.jobs import Jobs
from aiwork.coordinator.libraries import Libraries
from aiwork.coordinator.results import Results
from aiwork.coordinator.review import Review
from aiwork.coordinator.search import Search, unindexed
from aiwork.coordinator.settlement import Settlement
from aiwork.coordinator.workers import Workers
from aiwork.crypto import SigningKey
from aiwork.ledger.log import Log
from aiwork.ledger.summaries import Summaries
from aiwork.market import Job, Lease, Market
from aiwork.model.metadata import Metadata
from aiwork.quality.reputation import Reputation, ReputationPolicy
from aiwork.search.index import SemanticPart
from aiwork.store.blobs import BlobStore

__all__ = ["Coordinator"]


class Coordinator:
    """One coordinator's state over ``log`` (and its store) and ``blobs``; ``key`` signs
    what the coordinator logs; ``semantic``: the search index's semantic part (None: search
    by words only). Not shared between threads: open one per thread."""

    def __init__(self, log: Log, blobs: BlobStore, key: SigningKey, *, price: int = 1,
                 policy: ReputationPolicy = ReputationPolicy(), gold_rate: float = 0.0,
                 rng: random.Random | None = None,
                 semantic: SemanticPart | None = None) -> None:
        self.log, self.blobs, self.key = log, blobs, key
        self.price, self.policy, self.gold_rate = price, policy, gold_rate
        self.rng = rng or random.Random()
        self.market = Market(log.db)
        self.accounts = Accounts(log.db)
        self.libraries = Libraries(log, key, self.market)
        self.grants = MediaGrants(self.libraries)
        # The review engine appends through the same function, without a reference back to
        # the coordinator (no cycle: a server thread's objects, and its database connection,
        # go as soon as the thread does).
        identities = Identities(log, key)
        # (named so, beside the facade's results() and workers())
        self.stored_results = Results(log, self.market)
        self.gold = GoldTasks(log, blobs, self.market, price=price, rng=self.rng)
        # The library search's index follows the published results: a result accepted, a
        # value experts corrected or rejected.
        # A store from before the index gets it built from what it holds, in the transaction
        # that creates its tables (all of it or none).
        with log.db.atomic() if unindexed(log.db) else nullcontext():
            self.search = Search(log, self.market, self.stored_results, self.gold,
                                 self.libraries, semantic=semantic)
            self.review = Review(log, key, self.accounts.appender(log), price=price,
                                 rng=self.rng, libraries=self.libraries,
                                 experts=lambda: identities.holders("expert"),
                                 on_outcome=self.search.corrected)
            if self.search.index.created:
                self.search.rebuild(self.review)
        self.summaries = Summaries(log)
        self.roster = Workers(log, self.market)
        self.settlement = Settlement(log, key, market=self.market, accounts=self.accounts,
                                     results=self.stored_results, workers=self.roster,
                                     gold=self.gold, review=self.review, price=price,
                                     policy=policy)
        self.jobs = Jobs(log, blobs, key, market=self.market, accounts=self.accounts,
                         libraries=self.libraries, review=self.review,
                         results=self.stored_results, workers=self.roster,
                         settlement=self.settlement, search=self.search, price=price)

    # -- requesters -----------------------------------------------------------------------

    def submit_job(self, requester: str, asset: str, analyzers: list[str], *, redundancy: int,
                   budget: int | None, now: float, deadline: float | None = None,
                   library: str | None = None, models: dict[str, int] | None = None) -> Job:
        """See :meth:`Jobs.submit`."""
        return self.jobs.submit(requester, asset, analyzers, redundancy=redundancy,
                                budget=budget, now=now, deadline=deadline, library=library,
                                models=models)

    def grant_credits(self, to: str, amount: int, reason: str) -> int:
        """Put ``amount`` credits into ``to``'s account (a ``credits.granted`` entry signed
        by the coordinator); return the entry's index."""
        return self.accounts.grant(self.log, self.key, to, amount, reason)

    def progress(self, job_id: str) -> dict[str, Any]:
        return self.jobs.progress(job_id)

    def results(self, job_id: str) -> dict[str, Any]:
        """The accepted output of each analyzer (its ``decision`` set), by insight, with the
        experts' outcomes applied (rejected items dropped, corrections made)."""
        return self.jobs.published(job_id)

    def openings(self, job_id: str) -> dict[str, dict[str, Any]]:
        return self.jobs.openings(job_id)

    def media(self, job_id: str) -> dict[str, Any] | None:
        """See :meth:`Jobs.media`."""
        return self.jobs.media(job_id)

    def metadata(self, job_id: str, name: str | None = None) -> Metadata:
        return self.jobs.metadata(job_id, name)

    # -- workers --------------------------------------------------------------------------

    def advertise(self, worker: str, analyzers: Any, holding: Any = None,
                  now: float | None = None) -> dict[str, Any]:
        """See :meth:`Workers.advertise`."""
        return self.roster.advertise(worker, analyzers, holding, now)

    def worker_info(self, worker: str) -> dict[str, Any]:
        return self.roster.info(worker)

    def workers(self) -> list[dict[str, Any]]:
        return self.roster.all()

    def analyzers(self) -> list[dict[str, Any]]:
        """The analyzers a job may ask for, in their running order: what each reads (a job
        asking for it runs those too) and how many workers advertise it."""
        return self.jobs.analyzers(self.roster.running())

    def reputation(self, worker: str) -> Reputation:
        return self.roster.reputation(worker)

    def lease(self, worker: str, capabilities: set[str], now: float,
              lease_seconds: float = 60) -> Lease | None:
        """Lease the worker a task it can run (a gold one mixed in at ``gold_rate``), or
        ``None``; a quarantined worker gets none (its work would not be used). A task of a
        job that asks for a registered model goes only to a worker that advertised its
        weights."""
        if self.roster.reputation(worker).quarantined:
            return None
        if self.gold_rate and self.rng.random() < self.gold_rate and \
                self.gold.due(capabilities, now, self.gold_rate):
            self.gold.inject(capabilities, now)
        return self.market.lease(worker, capabilities, now, lease_seconds,
                                 weights=self.roster.advertised_weights(worker))

    def upstream(self, lease: Lease) -> list[dict[str, Any]]:
        return self.jobs.upstream(lease)

    def accept_result(self, lease_id: str, worker: str, entry_bytes: bytes, output: Any,
                      now: float, openings: Any = None) -> int:
        """See :meth:`Jobs.accept_result`."""
        return self.jobs.accept_result(lease_id, worker, entry_bytes, output, now, openings)

    # -- gold tasks -----------------------------------------------------------------------

    def add_gold(self, asset: str, expected: dict[str, Any]) -> None:
        self.gold.add(asset, expected)

    def has_gold(self) -> bool:
        return self.gold.has_any()

    def is_gold(self, job_id: str) -> bool:
        return self.gold.is_gold(job_id)

    def gold_uses(self) -> dict[str, int]:
        return self.gold.uses()
