"""Jobs over uploaded media, and the results workers send for their tasks.

A worker's result is accepted only when its signed ``ai.decision`` entry is by the caller,
is for the leased analyzer and asset, and its ``output_digest`` matches the output it sent
(normalised to the published schema). The entry, the market's record and the output are
committed together (and, once a result is accepted, its passages in the search index); when every replica of a task is in, :mod:`~aiwork.coordinator.settlement`
settles it, and once the job is done its ``asset.summary`` is logged.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from aiwork import analyzers as registry
from aiwork.coordinator.accounts import Accounts
from aiwork.coordinator.libraries import Libraries, Library, opened_body
from aiwork.coordinator.results import Results
from aiwork.coordinator.review import Review
from aiwork.coordinator.search import Search
from aiwork.coordinator.settlement import Settlement
from aiwork.coordinator.workers import Workers
from aiwork.crypto import SigningKey
from aiwork.errors import (CommitmentError, InputError, InsufficientBudgetError, MediaError,
                           NotFoundError, ResultRefused)
from aiwork.ledger.log import Log
from aiwork.ledger.registry import ModelIndex, registration
from aiwork.ledger.summaries import Summaries
from aiwork.media import probe
from aiwork.market import Job, JobState, Lease, Market
from aiwork.model import Entry
from aiwork.model.commitment import SEALED_FIELDS, open_fields
from aiwork.model.decision import normalize, output_digest
from aiwork.model.kinds import DECISION_KINDS, DecisionInput, DecisionInputV2
from aiwork.model.metadata import Metadata
from aiwork.store import Migration
from aiwork.store.blobs import BlobStore

__all__ = ["Jobs", "with_upstream"]


def _job_models(conn: Any) -> None:
    conn.execute("CREATE TABLE coordinator_job_models (job TEXT NOT NULL, analyzer TEXT NOT"
                 " NULL, registration INTEGER NOT NULL, PRIMARY KEY (job, analyzer))")


MIGRATIONS = [Migration("jobs-0001-models", _job_models)]


class Jobs:
    """Requesters' jobs and workers' results over the coordinator's domains."""

    def __init__(self, log: Log, blobs: BlobStore, key: SigningKey, *, market: Market,
                 accounts: Accounts, libraries: Libraries, review: Review, results: Results,
                 workers: Workers, settlement: Settlement, search: Search, price: int) -> None:
        self.log, self.blobs, self.key = log, blobs, key
        self.market, self.accounts, self.libraries = market, accounts, libraries
        self.review, self.results, self.workers = review, results, workers
        self.settlement, self.search, self.price = settlement, search, price
        self.summaries = Summaries(log)
        self.model_index = ModelIndex()  # the registered versions, read incrementally
        log.db.migrate(MIGRATIONS)

    # -- requesters -----------------------------------------------------------------------

    def submit(self, requester: str, asset: str, analyzers: list[str], *, redundancy: int,
               budget: int | None, now: float, deadline: float | None = None,
               library: str | None = None, models: dict[str, int] | None = None) -> Job:
        """Create a job whose ``budget`` (default: its cost, price x analyzers x replicas)
        is held from the requester's available credits; in ``library`` if given (the
        requester must own it). Media of a sensitive library is analysed only in a job of that
        library: to anyone else it is as absent as media never uploaded (else a job of theirs
        would publish what it holds). ``models`` asks, per analyzer, for a registered model
        version (its ``model.registered`` entry): a result made with other weights is
        refused."""
        self._check_media(requester, asset, library)
        self._check_models(analyzers, models or {})
        # An analyzer that reads others' results (keywords reads the transcript) brings
        # their tasks into the job: its result is computed from theirs, once accepted, and
        # names them (input.derived_from).
        added = [name for name in with_upstream(analyzers) if name not in analyzers]
        analyzers = [*analyzers, *added]
        if budget is None:
            budget = self.price * len(analyzers) * max(redundancy, 1)
        elif added and budget < self.price * len(analyzers) * max(redundancy, 1):
            raise InsufficientBudgetError(
                f"budget {budget} does not cover {len(analyzers)} task(s) x "
                f"{max(redundancy, 1)} replica(s) x price {self.price}: the job also needs "
                f"{', '.join(added)}, which the analyzers asked for read",
                hint="raise the budget or leave it out (it defaults to the job's cost)")
        with self.log.db.atomic():
            if library is not None:
                self.libraries.owned(library, requester)
            job = self.market.submit_job(requester, asset, analyzers, redundancy=redundancy,
                                         budget=budget, price=self.price, now=now,
                                         deadline=deadline,
                                         upstream={name: registry.upstream(name)
                                                   for name in analyzers
                                                   if name in registry.REGISTRY},
                                         weights={name: registration(self.log, index)
                                                  .weights_digest
                                                  for name, index in (models or {}).items()})
            self.accounts.hold(job.id, requester, budget)
            if library is not None:
                self.libraries.add_job(library, job.id)
            self.log.db.conn.executemany(
                "INSERT INTO coordinator_job_models (job, analyzer, registration)"
                " VALUES (?, ?, ?)", [(job.id, name, index)
                                      for name, index in sorted((models or {}).items())])
        return job

    def _check_models(self, analyzers: list[str], models: dict[str, int]) -> None:
        for name, index in models.items():
            if name not in analyzers:
                raise InputError(f"'models' names {name!r}, which the job does not run")
            if not 0 <= index < self.log.size:
                raise InputError(f"'models': {name} entry {index} is not in this log",
                                 hint="aiwork models lists the registered versions")
            try:
                registered = registration(self.log, index)
            except NotFoundError as exc:
                raise InputError(f"'models': {exc}", hint=exc.hint) from exc
            if registered.analyzer != name:
                raise InputError(f"'models': entry {index} registers a model of "
                                 f"{registered.analyzer}, not of {name}")

    def required_model(self, job: str, analyzer: str) -> int | None:
        """The registration the job asks ``analyzer``'s results to be made with, if any."""
        row = self.log.db.conn.execute(
            "SELECT registration FROM coordinator_job_models WHERE job = ? AND analyzer = ?",
            (job, analyzer)).fetchone()
        return None if row is None else int(row[0])

    def _check_media(self, requester: str, asset: str, library: str | None) -> None:
        absent = InputError(f"no media {asset} on this coordinator",
                            hint="upload it first (PUT /v1/blobs/{digest})")
        if not self.blobs.has(asset):
            raise absent
        holders = self.libraries.sensitive_holders(asset)
        if holders and library not in {holder.id for holder in holders}:
            if any(holder.is_reader(requester) for holder in holders):
                raise InputError(f"media {asset} belongs to the sensitive library "
                                 f"{holders[0].id}: a job over it goes into that library",
                                 hint="its owner submits it with \"library\" (--library ID)")
            raise absent

    def analyzers(self, running: dict[str, int]) -> list[dict[str, Any]]:
        """The analyzers the market takes, in their running order, with what each reads and
        ``running[name]`` (how many workers advertise it)."""
        known = self.market.known_analyzers
        names = [name for name in registry.REGISTRY if name in known]
        names += sorted(known - set(names))
        promoted = {model.analyzer: model.index for model in self.model_index.models(self.log)
                    if model.in_use}
        found = []
        for name in names:
            view: dict[str, Any] = {
                "name": name, "workers": running.get(name, 0), "promoted": promoted.get(name),
                "reads": list(registry.upstream(name)) if name in registry.REGISTRY else []}
            if not view["workers"]:
                view["hint"] = (
                    "no worker offers it yet: it runs a platform's own trained model, so a "
                    "worker offers it (aiwork worker --analyzers custom_tags) once a version is "
                    "promoted (aiwork models promote custom_tags INDEX) and in its model store"
                    if name in registry.ON_REQUEST else
                    "no worker offers it yet: a job over it waits for one")
            found.append(view)
        return found

    def progress(self, job_id: str) -> dict[str, Any]:
        job = self.market.job(job_id)
        counts = self.market.job_progress(job_id)
        return {"id": job.id, "state": job.state.value, "asset": job.asset,
                "analyzers": list(job.analyzers), "redundancy": job.redundancy,
                "replicas": {state.value: n for state, n in counts.items()},
                "library": self.libraries.library_id_of(job_id)}

    def published(self, job_id: str) -> dict[str, Any]:
        """The accepted output of each analyzer, by insight, with the experts' outcomes
        applied (see :meth:`Results.published`)."""
        return self.results.published(job_id, self.review)

    def media(self, job_id: str) -> dict[str, Any] | None:
        """What a player needs of a job's video, read from its container header (no frame is
        decoded): its frame rate as the file gives it, duration and frame size; ``None`` when
        the blob is not a video aiwork reads."""
        return media_facts(self.blobs.path(self.market.job(job_id).asset))

    def openings(self, job_id: str) -> dict[str, dict[str, Any]]:
        """The openings of a sensitive job's sealed entries behind its results (each accepted
        decision and consensus), by ledger index: for one already allowed to read it."""
        indexes = [result.decision for result in map(self.results.accepted,
                                                     self.market.tasks(job_id))
                   if result is not None]
        indexes += [consensus for items in self.review.outcomes(job_id).values()
                    for _, _, consensus in items.values()]
        return {str(index): value
                for index, value in sorted(self.libraries.openings(indexes).items())}

    def metadata(self, job_id: str, name: str | None = None) -> Metadata:
        """A job's accepted results as the published metadata document."""
        job = self.market.job(job_id)
        uploaded = datetime.fromtimestamp(job.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Metadata.model_validate({
            "asset": {"digest": job.asset, "name": name or job.asset,
                      "size": self.blobs.size(job.asset), "uploaded": uploaded},
            **self.published(job_id)})

    # -- workers' results -------------------------------------------------------------------

    def accept_result(self, lease_id: str, worker: str, entry_bytes: bytes, output: Any,
                      now: float, openings: Any = None) -> int:
        """Check and record a replica's result; return the decision's ledger index. A task of
        a sensitive library's job carries a sealed decision (``ai.decision.sealed``) and the
        ``openings`` of its commitments, which are checked like the plain fields and kept
        for the library's readers."""
        lease = self.market.live_lease(lease_id, worker, now)
        entry = Entry.from_bytes(entry_bytes)
        if entry.author != worker:
            raise ResultRefused(f"the decision is signed by {entry.author}, not by {worker}")
        library = self.libraries.sensitive_library_of(lease.job_id)
        body, kept = self._opened(entry, library, openings)
        self._check_decision(lease, worker, body)
        insight = str(body.get("insight"))
        normalized = normalize(insight, output)
        digest = output_digest(normalized)
        if digest != body.get("output_digest"):
            raise ResultRefused("the output does not match the decision's output_digest")
        self.search.prepare(lease.job_id, insight, normalized)
        with self.log.db.atomic():
            index = self.log.append([entry])[0].index  # checks kind, body and signature
            if library is not None and kept is not None:
                self.libraries.keep_openings(index, library.id, kept)
            self.market.submit(lease_id, worker, digest, now)
            self.results.record(lease, index, worker, insight, digest, normalized)
            if insight == "shots" and self.libraries.library_id_of(lease.job_id):
                self.libraries.add_blobs(lease.job_id, [
                    shot["keyframe"]["digest"] for shot in normalized if shot.get("keyframe")])
            self.settlement.settle_if_complete(lease.task_id, lease.job_id, now)
            self.search.settled(lease.job_id, lease.task_id, self.review)
            self._summarize(lease.job_id)
        return index

    def _opened(self, entry: Entry, library: Library | None, openings: Any
                ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The decision's body to check (a sealed one's commitments opened, its output digest
        taken over the opened output) and the openings to keep (a sensitive job's)."""
        expected = DECISION_KINDS if library is None else ("ai.decision.sealed/v1",)
        if entry.kind not in expected:
            raise ResultRefused(
                f"a result carries an {' or '.join(expected)} entry, not {entry.kind}"
                + ("" if library is None else ": the task is in a sensitive library, whose"
                   " decisions hold their input, output and evidence as commitments"),
                hint="the lease says whether the task is sensitive")
        body = entry.body
        self.log.kinds.get(entry.kind).validate_body(body)  # its shape, before any field is read
        if library is None:
            return body, None
        try:
            opened = open_fields(entry.kind, body, openings, "the decision's")
        except CommitmentError as exc:
            raise ResultRefused(str(exc)) from exc
        kept = {name: openings[name] for name in SEALED_FIELDS[entry.kind]}
        if not isinstance(opened["evidence"], dict):
            raise ResultRefused("the decision's opened evidence is not an object")
        span = opened["input"]
        shape = (DecisionInputV2 if isinstance(span, dict) and "derived_from" in span
                 else DecisionInput)
        try:
            shape.model_validate(span, strict=True)
        except ValidationError as exc:
            raise ResultRefused("the decision's opened input is not {asset, start, end"
                                "[, derived_from]}") from exc
        return ({**body, "input": opened["input"], "evidence": opened["evidence"],
                 "output_digest": output_digest(opened["output"])}, kept)

    def _check_decision(self, lease: Lease, worker: str, body: dict[str, Any]) -> None:
        """The decision is for the leased analyzer and asset, made with the weights the
        worker advertised, from the job's accepted upstream decisions."""
        if body.get("analyzer") != lease.analyzer:
            raise ResultRefused(f"the lease is for {lease.analyzer}, the decision for "
                                f"{body.get('analyzer')}")
        if body.get("input", {}).get("asset") != lease.asset:
            raise ResultRefused("the decision is about another input than the leased asset")
        advertised = self.workers.advertised_model(worker, lease.analyzer)
        raw_model = body.get("model")
        model: dict[str, Any] = raw_model if isinstance(raw_model, dict) else {}
        if advertised is not None and model.get("weights_digest") != advertised.get(
                "weights_digest"):
            raise ResultRefused(
                f"the decision names {lease.analyzer} weights {model.get('weights_digest')},"
                f" but this worker advertised {advertised.get('weights_digest')}",
                hint="advertise again after changing models (POST /v1/workers/capabilities)")
        self._check_registration(lease, model)
        required = self.required_model(lease.job_id, lease.analyzer)
        if required is not None:
            wanted = registration(self.log, required).weights_digest
            if model.get("weights_digest") != wanted:
                raise ResultRefused(
                    f"job {lease.job_id} asks for the registered {lease.analyzer} model "
                    f"{required} (weights {wanted}); this decision ran weights "
                    f"{model.get('weights_digest')}",
                    hint="run the registered version (aiwork models lists them)")
        self._check_derived_from(lease, body)

    def _check_registration(self, lease: Lease, model: dict[str, Any]) -> None:
        """A decision that names a registered model (``model.registration``) names a
        ``model.registered`` entry of this log, for the leased analyzer, with the weights it
        ran."""
        named = model.get("registration")
        if named is None:
            return
        if not isinstance(named, int) or isinstance(named, bool) \
                or not 0 <= named < self.log.size:
            raise ResultRefused(f"the decision names the model entry {named!r}, which is not"
                                " in this log")
        try:
            registered = registration(self.log, named)
        except NotFoundError as exc:
            raise ResultRefused(f"the decision names the model entry {named}: {exc}") from exc
        if registered.analyzer != lease.analyzer \
                or registered.weights_digest != model.get("weights_digest"):
            raise ResultRefused(
                f"the decision names the registered model {named} ({registered.analyzer} "
                f"{registered.weights_digest}), but it ran {lease.analyzer} weights "
                f"{model.get('weights_digest')}", hint="aiwork models lists the registered"
                " versions and their weights digests")

    def upstream(self, lease: Lease) -> list[dict[str, Any]]:
        """The accepted results the leased analyzer reads (``{analyzer, insight, decision,
        output}``): the worker computes from these and names their decisions."""
        return [{"analyzer": name, "insight": insight, "decision": decision, "output": output}
                for name, (insight, decision, output)
                in sorted(self.results.upstream(lease.job_id, lease.analyzer).items())]

    def _check_derived_from(self, lease: Lease, body: dict[str, Any]) -> None:
        """A result names, in ``input.derived_from``, exactly the job's accepted decisions its
        analyzer reads: each in this log, an ai.decision about that insight and the same
        asset, and the one accepted for the job."""
        accepted = {insight: decision for insight, decision, _
                    in self.results.upstream(lease.job_id, lease.analyzer).values()}
        named = (body.get("input") or {}).get("derived_from")
        if named is None:  # ai.decision/v1
            if accepted:
                raise ResultRefused(
                    f"{lease.analyzer} is computed from {', '.join(sorted(accepted))}: its "
                    "decision must name the decisions it read (ai.decision/v2, "
                    "input.derived_from)")
            return
        seen: dict[str, int] = {}
        for ref in named:
            insight, index = str(ref["insight"]), int(ref["decision"])
            if insight in seen:
                raise ResultRefused(f"input.derived_from names {insight} twice")
            if index >= self.log.size:
                raise ResultRefused(f"input.derived_from names {insight} decision {index},"
                                    " which is not in this coordinator's log")
            # A sensitive job's upstream decisions are sealed: read through their openings.
            kind, other = opened_body(self.log, index)
            if kind not in (*DECISION_KINDS, "ai.decision.sealed/v1") or \
                    other.get("insight") != insight:
                raise ResultRefused(f"input.derived_from names entry {index} as a {insight}"
                                    f" decision, but it is a {kind} about "
                                    f"{other.get('insight')}")
            if not isinstance(other.get("input"), dict) or \
                    other["input"].get("asset") != lease.asset:
                raise ResultRefused(f"input.derived_from names {insight} decision {index},"
                                    " which was made for another asset")
            if accepted.get(insight) != index:
                raise ResultRefused(
                    f"input.derived_from names {insight} decision {index}, but the job's "
                    f"accepted {insight} decision is "
                    f"{accepted[insight] if insight in accepted else 'none'}",
                    hint="compute from the upstream results the lease carries")
            seen[insight] = index
        missing = sorted(set(accepted) - set(seen))
        if missing:
            raise ResultRefused(
                f"the decision does not name the job's accepted {', '.join(missing)} "
                f"decision(s) ({', '.join(str(accepted[m]) for m in missing)}) that "
                f"{lease.analyzer} is computed from",
                hint="compute from the upstream results the lease carries")

    def _summarize(self, job_id: str) -> None:
        """Once a job is done, log its ``asset.summary`` (each insight's accepted decision),
        signed by the coordinator; again if a re-run later replaces one."""
        job = self.market.job(job_id)
        if job.state is not JobState.DONE:  # a gold job too: it must look like any other
            return
        decisions = {insight: decision
                     for insight, (decision, _) in self.results.accepted_outputs(job_id).items()}
        library = self.libraries.sensitive_library_of(job_id)
        self.summaries.record(
            self.key, job.asset, decisions, job=job_id,
            sealed=None if library is None else
            lambda index, openings: self.libraries.keep_openings(index, library.id, openings))


@functools.lru_cache(maxsize=256)
def media_facts(path: Path) -> dict[str, Any] | None:
    """A video blob's frame rate, duration and frame size from its header (a blob is named by
    its digest, so what is read once holds); ``None`` when it is not a video aiwork reads."""
    try:
        facts = probe(path)
    except MediaError:
        return None
    return {"frame_rate": facts.frame_rate, "duration": round(facts.duration, 6),
            "width": facts.width, "height": facts.height}


def with_upstream(names: list[str]) -> list[str]:
    """``names`` and, after them, the registered analyzers they read (transitively) that are
    not among them; unknown names are kept for the market to refuse."""
    known = [name for name in names if name in registry.REGISTRY]
    return list(names) + [name for name in registry.order(known) if name not in names]
