"""Audit bundles and explanations of a video's metadata (processed here, or a coordinator
job's).

A bundle (``aiwork audit``) holds everything an outsider needs to check a video's metadata
without the operator's help: the metadata items, every ledger entry behind them (with the
asset's latest ``asset.summary``, which lists every insight's decision), an inclusion
proof of each to one signed checkpoint, the checkpoint (with any witness cosignatures), the
anchor receipt when that checkpoint is anchored on a chain, and the keys. ``aiwork-verify``
(:mod:`aiwork.verify_bundle`) checks it with the standard library and PyNaCl alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from aiwork.pipeline.catalog import Catalog, StoredAsset
from aiwork.coordinator.results import accepted_results, stale_results
from aiwork.coordinator.cosignatures import Cosignatures
from aiwork.coordinator.libraries import keeps_openings, opened_body, stored_openings
from aiwork.coordinator.review import kept_in as reviews_kept_in
from aiwork.coordinator.review import review_changes, review_entries, review_summary
from aiwork.pipeline.process import find_asset, stored_metadata
from aiwork.ledger.summaries import Summaries
from aiwork.digests import PREFIX
from aiwork.errors import InputError, UnknownJobError
from aiwork.ledger.log import Log
from aiwork.ledger.note import Checkpoint
from aiwork.market import Market
from aiwork.market.schema import MIGRATIONS as MARKET_MIGRATIONS
from aiwork.model import Entry
from aiwork.model.kinds import DECISION_KINDS
from aiwork.model.metadata import StaleInsight

__all__ = ["BUNDLE_FORMAT", "AuditSubject", "build_bundle", "chain", "explain",
           "job_subject", "resolve", "upstream_decisions"]

BUNDLE_FORMAT = "aiwork audit bundle v1"  # aiwork.verify_bundle checks the same string

#: Where anchor receipts come from: ``anchors(log) -> [receipt, ...]`` (each with ``size``).
Anchors = Callable[[Log], list[dict[str, Any]]]


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


def _openings(log: Log, indexes: list[int]) -> dict[int, dict[str, Any]]:
    """The kept openings of the sealed entries among ``indexes`` (a sensitive library's)."""
    return stored_openings(log, indexes) if keeps_openings(log.db) else {}


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


def build_bundle(log: Log, subject: AuditSubject, *, anchors: Anchors | None = None
                 ) -> dict[str, Any]:
    """The audit bundle for ``subject`` (``log`` must be able to sign checkpoints)."""
    insights = subject.chosen
    items = [{"insight": name, "decision": subject.results[name][0],
              "output": subject.results[name][1]} for name in insights]
    decisions = [subject.results[name][0] for name in insights]
    summary = _summary(log, subject)
    # The upstream decisions the chosen ones were derived from travel with them (their
    # entries, not their items), so a checker sees what each value was computed from.
    indexes = set(decisions) | {summary} | upstream_decisions(log, decisions)
    if subject.registered is not None:
        indexes.add(subject.registered)
    if reviews_kept_in(log.db):
        indexes.update(review_entries(log, decisions))

    # A sensitive library's entries are sealed: the bundle carries the openings of their
    # commitments, so its reader can check the values against the public entries.
    openings = _openings(log, sorted(indexes))
    book = Cosignatures(log)
    size, receipt = _checkpoint_for(log, book, max(indexes) + 1, anchors)
    cosignatures = book.stored(size)
    note = log.stored_checkpoint(size) or log.checkpoint()
    scope: dict[str, Any] = {}
    if subject.job is not None:
        scope["job"] = subject.job
    if subject.insights is not None:
        scope["insights"] = list(insights)  # a part of the asset's insights, on purpose
    return {
        "format": BUNDLE_FORMAT,
        "asset": subject.asset,
        **scope,
        "log_key": log.verifier_key.to_text(),
        "checkpoint": note + "".join(line for _, line in cosignatures),
        "witness_keys": [witness for witness, _ in cosignatures],
        "anchor": receipt,
        "entries": [{"index": i, "data": log.get(i).decode(),
                     "proof": log.inclusion_proof(i, size).to_json()["hashes"]}
                    for i in sorted(indexes)],
        "items": items,
        "keys": sorted({Entry.from_bytes(log.get(i)).author for i in indexes}),
        **({"openings": {str(i): value for i, value in sorted(openings.items())}}
           if openings else {}),
    }


def _summary(log: Log, subject: AuditSubject) -> int:
    """The index of the subject's latest ``asset.summary``, checked against what the bundle
    will carry."""
    latest = Summaries(log).latest(subject.digest, subject.job)
    if latest is None:
        if subject.job is not None:
            raise InputError(f"job {subject.job} is not finished: its asset.summary is logged "
                             "once every task is settled",
                             hint="wait for the job (aiwork submit --wait), then audit it")
        raise InputError(f"{subject.name} has no asset.summary in the log (processed before "
                         "aiwork kept one)",
                         hint=f"run `aiwork process` on it again: it logs one without "
                              f"re-running the analyzers")
    index, body = latest
    listed = body.get("decisions", {})
    current = {name: subject.results[name][0] for name in subject.chosen}
    if subject.insights is None:
        current.update({name: None for name in listed if name not in current})
    for name, decision in sorted(current.items()):
        if listed.get(name) != decision:
            raise InputError(f"{subject.name}: {name} is decision {decision}, but the latest "
                             f"asset.summary ({index}) lists {listed.get(name)}",
                             hint="wait until the job is finished again (a task is being "
                                  "re-run), then audit it" if subject.job is not None else
                                  "run `aiwork process` on it again to log a current summary")
    return index


def _checkpoint_for(log: Log, book: Cosignatures, needed: int, anchors: Anchors | None
                    ) -> tuple[int, dict[str, Any] | None]:
    """The checkpoint a bundle proves against, and its anchor receipt: among the signed
    checkpoints that cover ``needed`` entries, an anchored one first, then the one most
    witnesses cosigned, then the newest; a fresh one when none covers them."""
    receipts = {int(r["size"]): r for r in (anchors(log) if anchors else [])}
    cosigned = book.cosigned_sizes()
    covering = [size for size, _ in log.checkpoints() if size >= needed]
    if not covering:
        note = log.checkpoint()
        return Checkpoint.from_note(note, log.verifier_key).size, None
    best = max(covering, key=lambda size: (size in receipts, cosigned.get(size, 0), size))
    return best, receipts.get(best)


# -- provenance -----------------------------------------------------------------------------


def derived_from(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A decision body's ``input.derived_from`` (``None`` for ``ai.decision/v1``)."""
    value = (body.get("input") or {}).get("derived_from")
    return list(value) if isinstance(value, list) else None


def upstream_decisions(log: Log, decisions: list[int]) -> set[int]:
    """Every decision the given ones were derived from, transitively."""
    seen: set[int] = set()
    todo = list(decisions)
    while todo:
        _, body = opened_body(log, todo.pop())  # a sealed decision's, from its opening
        for ref in derived_from(body) or []:
            index = int(ref["decision"])
            if index not in seen and index < log.size:
                seen.add(index)
                todo.append(index)
    return seen


def chain(log: Log, name: str, decision: int) -> str:
    """``keywords (decision 22) from transcript (decision 83, Whisper base), ...``."""
    refs = derived_from(opened_body(log, decision)[1])
    if refs is None:
        return f"{name} (decision {decision}): its upstream decisions are not named" \
               " (an ai.decision/v1 entry)"
    if not refs:
        return f"{name} (decision {decision}) from the media only"
    parts = []
    for ref in refs:
        index = int(ref["decision"])
        model = (Entry.from_bytes(log.get(index)).body.get("model") or {}
                 if index < log.size else {})
        label = f"{model.get('name')} {model.get('version')}" if model else "not in this log"
        parts.append(f"{ref['insight']} (decision {index}, {label})")
    return f"{name} (decision {decision}) from " + ", ".join(parts)


def subject_stale(log: Log, subject: AuditSubject) -> dict[str, StaleInsight]:
    """The subject's insights whose upstream value changed after they were computed."""
    corrected = (review_changes(log, subject.job)
                 if subject.job is not None and reviews_kept_in(log.db) else {})
    found = stale_results(log, {name: decision for name, (decision, _)
                                in subject.results.items()}, corrected)
    return {item.insight: item for item in found}


# -- explain --------------------------------------------------------------------------------


def explain(log: Log, subject: AuditSubject, *, anchors: Anchors | None = None
            ) -> list[str]:
    """For each insight: which model made it from what input, how sure it was, who checked
    it, and where its proof stands; as lines of text."""
    checkpoint = log.latest_checkpoint()
    proven_size = Checkpoint.from_note(checkpoint, log.verifier_key).size if checkpoint else 0
    anchored = max((int(r["size"]) for r in anchors(log)), default=0) if anchors else 0
    reviewed = reviews_kept_in(log.db)
    stale = subject_stale(log, subject)
    lines = [f"{subject.name} ({subject.digest})"]
    for name in subject.chosen:
        decision = subject.results[name][0]
        entry = Entry.from_bytes(log.get(decision))
        body = opened_body(log, decision)[1]
        model = body.get("model", {})
        span = body.get("input", {})
        conf = body.get("confidence") or {}
        lines.append(f"{name}:")
        weights = model.get("weights_digest") or "no weights file"
        lines.append(f"  made by {model.get('name')} {model.get('version')} ({weights}), "
                     f"analyzer {body.get('analyzer')} v{body.get('analyzer_version')}")
        lines.append(f"  from seconds {span.get('start')} to {span.get('end')} of the video; "
                     f"{body.get('output_items')} item(s)")
        lines.append(f"  chain: {chain(log, name, decision)}")
        if name in stale:
            lines.append(f"  STALE: {stale[name].reason}; it still describes the value of "
                         f"decision {stale[name].used} until it is computed again")
        if conf:
            lines.append(f"  confidence mean {conf.get('mean')}, min {conf.get('min')}, "
                         f"max {conf.get('max')}")
        alternatives = _alternatives(body.get("evidence") or {})
        if alternatives:
            lines.append(f"  alternatives considered: {alternatives}")
        lines.append(f"  decision entry {decision}, signed by {entry.author} at {entry.time}")
        checked = review_summary(log, decision) if reviewed else []
        lines.extend(f"  {line}" for line in checked or ["not reviewed by a human expert yet"])
        if decision < proven_size:
            status = f"included in signed checkpoint of size {proven_size}"
            status += (f"; anchored on chain at size {anchored}" if anchored > decision
                       else "; not anchored on a chain yet")
        else:
            status = "not yet covered by a signed checkpoint (run `aiwork ledger checkpoint`)"
        lines.append(f"  proof: {status}")
    return lines


def _alternatives(evidence: dict[str, Any]) -> str:
    for key in ("alternatives", "candidates", "below_threshold", "rejected"):
        value = evidence.get(key)
        if value:
            text = str(value)
            return text if len(text) <= 160 else text[:157] + "..."
    return ""
