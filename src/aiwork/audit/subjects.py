"""What an audit is about: a video processed here, or a coordinator job (all its insights or
some), found from what the auditor typed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from aiwork.coordinator.libraries import opened_body
from aiwork.coordinator.results import accepted_results
from aiwork.digests import PREFIX
from aiwork.errors import InputError, UnknownJobError
from aiwork.ledger.log import Log
from aiwork.market import Market
from aiwork.market.schema import MIGRATIONS as MARKET_MIGRATIONS
from aiwork.model import Entry
from aiwork.model.kinds import DECISION_KINDS
from aiwork.pipeline.catalog import Catalog, StoredAsset
from aiwork.pipeline.process import find_asset, stored_metadata

__all__ = ["AuditSubject", "job_subject", "resolve"]


@dataclass(frozen=True)
class AuditSubject:
    """What an audit is about: a video processed here, or a coordinator job; all its
    insights or some."""

    digest: str
    name: str
    asset: dict[str, Any]  # what the bundle says of the asset (backed by its registration)
    registered: int | None  # ledger index of its asset.registered entry, if any
    results: dict[str, tuple[int, Any]]  # insight -> (decision index, items as published)
    insights: tuple[str, ...] | None = None  # None: every insight
    job: str | None = None

    def only(self, insight: str) -> AuditSubject:
        if insight not in self.results:
            raise InputError(f"{self.name} has no insight {insight!r}",
                             hint=f"one of: {', '.join(sorted(self.results))}")
        return replace(self, insights=(insight,))

    @property
    def chosen(self) -> list[str]:
        return sorted(self.insights or self.results)


def _local(catalog: Catalog, asset: StoredAsset) -> AuditSubject:
    metadata = stored_metadata(catalog, asset).model_dump(mode="json")
    results = {r.insight: (r.decision, metadata[r.insight])
               for r in catalog.results(asset.digest).values()}
    return AuditSubject(asset.digest, asset.name,
                        {"digest": asset.digest, "name": asset.name, "size": asset.size,
                         "media_type": asset.media_type},
                        asset.registered if asset.registered >= 0 else None, results)


def _job(log: Log, job_id: str) -> AuditSubject:
    """A coordinator job: the AI results its workers signed, as they were accepted (human
    outcomes are the consensus entries the bundle carries beside them)."""
    job = Market(log.db).job(job_id)
    return AuditSubject(job.asset, f"job {job.id}", {"digest": job.asset}, None,
                        accepted_results(log, job.id), job=job.id)


def job_subject(log: Log, job_id: str, insight: str | None = None) -> AuditSubject:
    """A coordinator job, all its insights or ``insight`` alone (what
    ``GET /v1/jobs/ID/audit`` bundles)."""
    subject = _job(log, job_id)
    return subject.only(insight) if insight else subject


def _find(catalog: Catalog, log: Log, what: str) -> AuditSubject:
    try:
        return _local(catalog, find_asset(catalog, what))
    except InputError as exc:
        if not _has_jobs(log):
            raise InputError(str(exc), hint="run `aiwork process` on it first; for a "
                             "coordinator job, add --coordinator URL") from None
    market = Market(log.db)
    try:
        return _job(log, market.job(what).id)
    except UnknownJobError:
        pass
    digest = what if what.startswith(PREFIX) else PREFIX + what
    jobs = [j for j in market.jobs() if j.asset == digest and j.state.value == "done"]
    if not jobs:
        raise InputError(f"{what}: no processed video and no finished job by that name",
                         hint="give a video, a job id, or a processed asset's digest")
    return _job(log, jobs[-1].id)


def _has_jobs(log: Log) -> bool:
    """Whether ``log``'s store is a coordinator's, with jobs (a local home's is not)."""
    return MARKET_MIGRATIONS[0].name in log.db.applied_migrations()


def resolve(catalog: Catalog, log: Log, video_or_item: str) -> AuditSubject:
    """``VIDEO`` (path, file name or digest) or a coordinator ``JOB`` id, optionally
    ``#INSIGHT``, or a decision's ledger index."""
    if video_or_item.isdigit():
        index = int(video_or_item)
        entry = Entry.from_bytes(log.get(index))
        if entry.kind not in (*DECISION_KINDS, "ai.decision.sealed/v1"):
            raise InputError(f"entry {index} is a {entry.kind}, not an ai.decision",
                             hint="give a video, VIDEO#INSIGHT or a decision's index")
        span = opened_body(log, index)[1].get("input")
        if not isinstance(span, dict):
            raise InputError(f"decision {index} is sealed and this store has no opening of"
                             " its input", hint="audit it by its job id")
        subject = _find(catalog, log, str(span["asset"]))
        return subject.only(str(entry.body["insight"]))
    what, _, insight = video_or_item.partition("#")
    subject = _find(catalog, log, what)
    return subject.only(insight) if insight else subject
