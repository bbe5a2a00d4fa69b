"""The library search on the coordinator: its index kept current with the published results,
and searches that return only what the caller may read.

The index (:mod:`aiwork.search`) holds the passages of each job's published results (the
accepted output of each insight, the experts' outcomes applied). An insight's passages are
replaced in the transaction that accepts its result (:meth:`Search.settled`) and in the one
that records a consensus that corrects or rejects one of its items (:meth:`Search.corrected`),
so a search never returns a value the published results no longer hold. Gold jobs are never
indexed: a worker must not tell a gold clip from a real one. A store from before the index
gets it built from its published results when the coordinator first opens it, in the
transaction that creates its tables (:meth:`Search.rebuild`).

A search's reach is decided before it runs (:meth:`Search.readable_jobs`): the jobs of a
sensitive library are searched only for a signed caller who may read it and stated a
purpose; every other caller's search runs as if those jobs did not exist (their hits are not
found, counted or ranked). Each job of a sensitive library that a search returns hits of is
logged (``access.read``, resource ``search``) before the answer, by the caller
(:meth:`Search.log_reads`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aiwork.coordinator.gold_tasks import GoldTasks
from aiwork.coordinator.libraries import Libraries
from aiwork.coordinator.results import Results
from aiwork.errors import UnknownJobError
from aiwork.ledger.log import Log
from aiwork.market import Market
from aiwork.store import Database
from aiwork.search.index import MIGRATIONS, Hit, SearchIndex, SearchQuery, SemanticPart
from aiwork.search.passages import INSIGHTS, passages_of

if TYPE_CHECKING:
    from aiwork.coordinator.review import Review

__all__ = ["SEARCH_RESOURCE", "Search", "unindexed"]

#: The resource an ``access.read`` entry names for a search's hits.
SEARCH_RESOURCE = "search"


def unindexed(db: Database) -> bool:
    """Whether ``db`` has no search index yet (a store from before it, or a new one)."""
    applied = db.applied_migrations()
    return any(migration.name not in applied for migration in MIGRATIONS)


class Search:
    """The coordinator's search index over ``log``'s store."""

    def __init__(self, log: Log, market: Market, results: Results, gold: GoldTasks,
                 libraries: Libraries, *, semantic: SemanticPart | None = None) -> None:
        self.log, self.market, self.results = log, market, results
        self.gold, self.libraries = gold, libraries
        self.index = SearchIndex(log.db, embedder=semantic)

    def prepare(self, job_id: str, insight: str, output: Any) -> None:
        """Embed a result's passages before the transaction that may accept it (the model's
        time is not spent holding the store's write lock; a text is embedded once)."""
        if self.index.embedder is None or insight not in INSIGHTS or \
                self.gold.is_gold(job_id):
            return
        asset = self.market.job(job_id).asset
        self.index.prepare(passages_of(asset, insight, output, None, job=job_id))

    # -- keeping the index current --------------------------------------------------------

    def settled(self, job_id: str, task_id: str, review: Review) -> None:
        """After a task settled (inside its transaction): index the insight of its accepted
        result, if one is."""
        task = next((t for t in self.market.tasks(job_id) if t.id == task_id), None)
        result = None if task is None else self.results.accepted(task)
        if result is not None:
            self.reindex(job_id, result.insight, review)

    def corrected(self, job_id: str, insight: str, review: Review) -> None:
        """After a consensus corrected or rejected an item (inside its transaction)."""
        self.reindex(job_id, insight, review)

    def reindex(self, job_id: str, insight: str, review: Review) -> None:
        """Replace the passages of ``job_id``'s ``insight`` with those of its published
        output now (none when nothing of it is accepted)."""
        if insight not in INSIGHTS or self.gold.is_gold(job_id):
            return
        try:
            asset = self.market.job(job_id).asset
        except UnknownJobError:
            return  # an item of no job the market knows has no published results to index
        found = self.results.published_insight(job_id, insight, review)
        passages = [] if found is None else passages_of(asset, insight, found[1], found[0],
                                                        job=job_id)
        self.index.replace(asset, insight, passages, job=job_id)

    def rebuild(self, review: Review) -> int:
        """Index every job's published results anew, in one transaction (a store from before
        the index, or an index to check); the number of passages indexed."""
        with self.log.db.atomic():
            self.index.clear()
            for job in self.market.jobs():
                for task in self.market.tasks(job.id):
                    result = self.results.accepted(task)
                    if result is not None:
                        self.reindex(job.id, result.insight, review)
            count = self.index.count()
        self.index.rebuilt()
        return count

    # -- searching ------------------------------------------------------------------------

    def readable_jobs(self, reader: str | None, roles: set[str], purpose: bool
                      ) -> frozenset[str] | None:
        """The jobs a search by ``reader`` (None: unsigned) covers (None: every one): all
        but those of the sensitive libraries, except the ones ``reader`` may read when a
        purpose was stated."""
        hidden = self.libraries.sensitive_jobs(reader if purpose else None, roles)
        if not hidden:
            return None
        return frozenset(job.id for job in self.market.jobs()) - hidden

    def search(self, query: SearchQuery) -> list[Hit]:
        return self.index.search(query)

    def log_reads(self, hits: Iterable[Hit], reader: str | None, roles: set[str],
                  purpose: str | None) -> tuple[list[Hit], list[int]]:
        """Log one ``access.read`` per job of a sensitive library among ``hits`` (before
        they are answered); the hits kept and the entries' indexes. A hit of a library made
        sensitive after the search began, that ``reader`` may not read, is dropped."""
        kept: list[Hit] = []
        entries: dict[str, int | None] = {}
        for hit in hits:
            job = hit.passage.job
            library = self.libraries.sensitive_library_of(job)
            if library is None:
                kept.append(hit)
                continue
            if reader is None or purpose is None or not library.may_read(reader, roles):
                continue
            assert job is not None
            if job not in entries:
                entries[job] = self.libraries.record_read(job, reader, SEARCH_RESOURCE, purpose)
            kept.append(hit)
        return kept, [index for index in entries.values() if index is not None]
