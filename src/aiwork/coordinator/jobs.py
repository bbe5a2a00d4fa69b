"""The coordinator's services: jobs over uploaded media, leased tasks, checked results.

A worker's result is accepted only when its signed ``ai.decision`` entry is by the caller,
is for the leased analyzer and asset, and its ``output_digest`` matches the output it sent
(normalised to the published schema). The entry, the market's record and the output are
committed together. When every replica of a task is in, replicas are compared
(:mod:`aiwork.quality.agreement`); a replica that agrees with another is accepted and its
worker paid (``reward.accrued``); every comparison updates the worker's reputation
(``reputation.update``), and a quarantined worker's results are rejected and re-run.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from aiwork import analyzers as registry
from aiwork.coordinator.accounts import Accounts
from aiwork.coordinator.identities import Identities
from aiwork.coordinator.libraries import Libraries, opened_body
from aiwork.coordinator.review import Review, review_changes
from aiwork.ledger.summaries import Summaries
from aiwork.model.decision import normalize, output_digest, stamp_decision
from aiwork.crypto import SigningKey, public_key_from_did
from aiwork.errors import CommitmentError, InputError, InsufficientBudgetError, ResultRefused
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.market import Job, JobState, Lease, Market, ReplicaState
from aiwork.model import Entry
from aiwork.model.kinds import DECISION_KINDS
from aiwork.model.commitment import SEALED_FIELDS, open_fields
from aiwork.model.kinds import DecisionInput, DecisionInputV2
from aiwork.model.metadata import Metadata, StaleInsight, stale_insights
from aiwork.quality.agreement import agreement, agrees
from aiwork.quality.truth import model_annotator
from aiwork.quality.review_items import REVIEWABLE, apply_outcomes, candidates
from aiwork.quality.reputation import Reputation, ReputationPolicy, observe
from aiwork.store import Migration
from aiwork.store.blobs import BlobStore

__all__ = ["MAX_EXTRA_OPINIONS", "WORKER_GOLD_BATCH", "Coordinator"]

#: Extra workers asked when the replicas of a task all disagree.
MAX_EXTRA_OPINIONS = 3
#: A worker's gold results count in batches: its reputation and pay change only once this
#: many are in, together, when one of its real tasks settles (at twice as many otherwise), in
#: one entry that names no task, so no change can be tied to one gold task.
WORKER_GOLD_BATCH = 3
#: The most leases a worker may say it still holds when it announces itself.
MAX_HELD_LEASES = 1000


def _tables(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE coordinator_results (decision INTEGER NOT NULL, task TEXT NOT NULL,"
        " replica INTEGER NOT NULL, worker TEXT NOT NULL, analyzer TEXT NOT NULL,"
        " insight TEXT NOT NULL, digest TEXT NOT NULL, output TEXT NOT NULL,"
        " current INTEGER NOT NULL, PRIMARY KEY (task, decision))"
    )
    conn.execute("CREATE INDEX coordinator_results_task ON coordinator_results (task, replica)")
    conn.execute(
        "CREATE TABLE coordinator_reputation (worker TEXT PRIMARY KEY, score DOUBLE PRECISION"
        " NOT NULL, weight DOUBLE PRECISION NOT NULL, samples INTEGER NOT NULL,"
        " quarantined INTEGER NOT NULL)"
    )


def _gold_tables(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE coordinator_gold_assets (asset TEXT PRIMARY KEY,"
                 " expected TEXT NOT NULL)")
    conn.execute("CREATE TABLE coordinator_gold_jobs (job TEXT PRIMARY KEY, asset TEXT NOT NULL)")


def _capability_tables(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE coordinator_capabilities (worker TEXT NOT NULL,"
                 " analyzer TEXT NOT NULL, version TEXT NOT NULL, model TEXT NOT NULL,"
                 " PRIMARY KEY (worker, analyzer))")


def _gold_use_index(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE INDEX coordinator_gold_jobs_asset ON coordinator_gold_jobs (asset)")


def _gold_pending(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE coordinator_gold_pending (worker TEXT NOT NULL,"
                 " task TEXT NOT NULL, observation DOUBLE PRECISION NOT NULL,"
                 " accepted INTEGER NOT NULL, answered DOUBLE PRECISION NOT NULL,"
                 " PRIMARY KEY (worker, task))")


MIGRATIONS = [Migration("coordinator-0001-results", _tables),
              Migration("coordinator-0002-gold", _gold_tables),
              Migration("coordinator-0003-capabilities", _capability_tables),
              Migration("coordinator-0004-gold-use-index", _gold_use_index),
              Migration("coordinator-0005-gold-pending", _gold_pending)]


def accepted_results(log: Log, job_id: str) -> dict[str, tuple[int, Any]]:
    """A job's accepted AI results as their workers signed them: insight -> (decision
    index, items stamped with it); human outcomes are not applied."""
    market = Market(log.db)
    out: dict[str, tuple[int, Any]] = {}
    for task in market.tasks(job_id):
        accepted = [r for r in market.replicas(task.id) if r.state == ReplicaState.ACCEPTED]
        if not accepted:
            continue
        row = log.db.conn.execute(
            "SELECT decision, insight, output FROM coordinator_results WHERE task = ? AND"
            " replica = ? AND current = 1", (task.id, accepted[0].replica)).fetchone()
        if row is not None:
            out[str(row[1])] = (int(row[0]), stamp_decision(json.loads(row[2]), int(row[0])))
    return out


def stale_results(log: Log, decisions: dict[str, int],
                  corrected: dict[str, int] | None = None) -> list[StaleInsight]:
    """Which of ``decisions`` (insight -> decision index in ``log``) were derived from an
    upstream decision that is not the current one, or whose value expert review changed
    since (``corrected``: insight -> consensus index)."""
    derived = {insight: (opened_body(log, index)[1].get("input") or {}).get("derived_from")
               for insight, index in decisions.items()}
    return stale_insights(decisions, derived, corrected)


@dataclass(frozen=True)
class StoredReplicaResult:
    task: str
    replica: int
    worker: str
    analyzer: str
    insight: str
    decision: int
    digest: str
    output: Any
    current: bool


class Coordinator:
    def __init__(self, log: Log, blobs: BlobStore, key: SigningKey, *, price: int = 1,
                 policy: ReputationPolicy = ReputationPolicy(), gold_rate: float = 0.0,
                 rng: random.Random | None = None) -> None:
        self.gold_rate = gold_rate
        self.rng = rng or random.Random()
        self.log = log
        self.blobs = blobs
        self.key = key
        self.price = price
        self.policy = policy
        log.db.migrate(MIGRATIONS)
        self.market = Market(log.db)
        self.accounts = Accounts(log.db)
        # The review engine appends through the same function, without a reference back to
        # the coordinator (no cycle: a server thread's objects, and its database connection,
        # go as soon as the thread does).
        self.libraries = Libraries(log, key)
        identities = Identities(log, key)
        self.review = Review(log, key, self.accounts.appender(log), price=price, rng=self.rng,
                             libraries=self.libraries,
                             experts=lambda: identities.holders("expert"))
        self.summaries = Summaries(log)

    # -- requesters -----------------------------------------------------------------------

    def submit_job(self, requester: str, asset: str, analyzers: list[str], *, redundancy: int,
                   budget: int | None, now: float, deadline: float | None = None,
                   library: str | None = None) -> Job:
        """Create a job whose ``budget`` (default: its cost, price x analyzers x replicas)
        is held from the requester's available credits; in ``library`` if given (the
        requester must own it). Media of a sensitive library is analysed only in a job of that
        library: to anyone else it is as absent as media never uploaded (else a job of theirs
        would publish what it holds)."""
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
                                                   if name in registry.REGISTRY})
            self.accounts.hold(job.id, requester, budget)
            if library is not None:
                self.libraries.add_job(library, job.id)
        return job

    def grant_credits(self, to: str, amount: int, reason: str) -> int:
        """Put ``amount`` credits into ``to``'s account (a ``credits.granted`` entry signed
        by the coordinator); return the entry's index."""
        public_key_from_did(to)
        if amount <= 0:
            raise InputError(f"a grant must be a positive number of credits, not {amount}")
        return self._append([sign_entry(self.key, "credits.granted",
                                        {"to": to, "amount": amount, "reason": reason})])[0]

    def _append(self, entries: list[Entry]) -> list[int]:
        """Append entries, and apply the credits they move, in one transaction."""
        return self.accounts.append(self.log, entries)

    def progress(self, job_id: str) -> dict[str, Any]:
        job = self.market.job(job_id)
        counts = self.market.job_progress(job_id)
        return {"id": job.id, "state": job.state.value, "asset": job.asset,
                "analyzers": list(job.analyzers), "redundancy": job.redundancy,
                "replicas": {state.value: n for state, n in counts.items()},
                "library": self.libraries.library_id_of(job_id)}

    def results(self, job_id: str) -> dict[str, Any]:
        """The accepted output of each analyzer (its ``decision`` set), by insight, with the
        experts' outcomes applied (rejected items dropped, corrections made)."""
        out: dict[str, Any] = {}
        decisions: dict[str, int] = {}
        reviewed = self.review.outcomes(job_id)
        for task in self.market.tasks(job_id):
            accepted = [r for r in self.market.replicas(task.id)
                        if r.state == ReplicaState.ACCEPTED]
            if not accepted:
                continue
            result = self._result(task.id, accepted[0].replica)
            if result is not None:
                output = apply_outcomes(result.insight, result.output,
                                        {k: (o, v) for k, (o, v, _) in
                                         reviewed.get(result.insight, {}).items()})
                out[result.insight] = stamp_decision(output, result.decision)
                decisions[result.insight] = result.decision
        # An insight computed from a value experts have since corrected describes the old
        # value: it is listed as stale (metadata.json's "stale").
        stale = stale_results(self.log, decisions, review_changes(self.log, job_id))
        if stale:
            out["stale"] = [item.model_dump(mode="json") for item in stale]
        return out

    def openings(self, job_id: str) -> dict[str, dict[str, Any]]:
        """The openings of a sensitive job's sealed entries behind its results (each accepted
        decision and consensus), by ledger index: for one already allowed to read it."""
        indexes = [result.decision for result in map(self._accepted, self.market.tasks(job_id))
                   if result is not None]
        indexes += [consensus for items in self.review.outcomes(job_id).values()
                    for _, _, consensus in items.values()]
        return {str(index): value
                for index, value in sorted(self.libraries.openings(indexes).items())}

    def _accepted(self, task: Any) -> StoredReplicaResult | None:
        accepted = [r for r in self.market.replicas(task.id) if r.state == ReplicaState.ACCEPTED]
        return self._result(task.id, accepted[0].replica) if accepted else None

    def metadata(self, job_id: str, name: str | None = None) -> Metadata:
        """A job's accepted results as the published metadata document."""
        job = self.market.job(job_id)
        uploaded = datetime.fromtimestamp(job.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Metadata.model_validate({
            "asset": {"digest": job.asset, "name": name or job.asset,
                      "size": self.blobs.size(job.asset), "uploaded": uploaded},
            **self.results(job_id)})

    # -- workers --------------------------------------------------------------------------

    def advertise(self, worker: str, analyzers: Any, holding: Any = None,
                  now: float | None = None) -> dict[str, Any]:
        """Record what a worker runs (replacing what it said before): per analyzer its
        version and model ``{name, version, weights_digest}``. ``holding``, when given, lists
        the leases the worker still holds: its other live leases are released at once (a
        worker that restarted, or reconnected, is not doing them)."""
        if not isinstance(analyzers, dict) or not analyzers:
            raise InputError("'analyzers' must map analyzer names to {version, model}")
        if holding is not None and (
                not isinstance(holding, list) or len(holding) > MAX_HELD_LEASES
                or not all(isinstance(x, str) and 0 < len(x) <= 64 for x in holding)):
            raise InputError(f"'leases' must be a list of at most {MAX_HELD_LEASES} lease ids")
        rows = []
        for name, item in sorted(analyzers.items()):
            model = item.get("model") if isinstance(item, dict) else None
            if name not in self.market.known_analyzers:
                raise InputError(f"unknown analyzer {name!r}")
            if not isinstance(model, dict) or not isinstance(model.get("name"), str):
                raise InputError(f"{name}: 'model' must be {{name, version, weights_digest}}")
            rows.append((worker, name, str(item.get("version", "")),
                         json.dumps(model, sort_keys=True)))
        with self.log.db.atomic() as conn:
            conn.execute("DELETE FROM coordinator_capabilities WHERE worker = ?", (worker,))
            conn.executemany("INSERT INTO coordinator_capabilities (worker, analyzer, version,"
                             " model) VALUES (?, ?, ?, ?)", rows)
        released = (0 if holding is None else self.market.release_leases(
            worker, keep=set(holding), now=time.time() if now is None else now))
        return {**self.worker_info(worker), **({} if holding is None else
                                               {"released": released})}

    def worker_info(self, worker: str) -> dict[str, Any]:
        rows = self.log.db.conn.execute(
            "SELECT analyzer, version, model FROM coordinator_capabilities WHERE worker = ?"
            " ORDER BY analyzer", (worker,)).fetchall()
        rep = self.reputation(worker)
        return {"did": worker,
                "analyzers": {name: {"version": version, "model": json.loads(model)}
                              for name, version, model in rows},
                "reputation": {"score": round(rep.score, 4), "samples": rep.samples,
                               "quarantined": rep.quarantined}}

    def workers(self) -> list[dict[str, Any]]:
        rows = self.log.db.conn.execute(
            "SELECT DISTINCT worker FROM coordinator_capabilities UNION"
            " SELECT worker FROM coordinator_reputation ORDER BY 1").fetchall()
        return [self.worker_info(row[0]) for row in rows]

    def _advertised_model(self, worker: str, analyzer: str) -> dict[str, Any] | None:
        row = self.log.db.conn.execute(
            "SELECT model FROM coordinator_capabilities WHERE worker = ? AND analyzer = ?",
            (worker, analyzer)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def lease(self, worker: str, capabilities: set[str], now: float,
              lease_seconds: float = 60) -> Lease | None:
        if self.reputation(worker).quarantined:
            return None  # its work would not be used
        if self.gold_rate and self.rng.random() < self.gold_rate and \
                self._gold_due(capabilities, now):
            self._inject_gold(capabilities, now)
        return self.market.lease(worker, capabilities, now, lease_seconds)

    def _gold_due(self, capabilities: set[str], now: float) -> bool:
        """Gold follows real work: a gold task is mixed in only while a real task this worker
        could run is queued, and only while the gold tasks issued stay under ``gold_rate``
        times the real tasks ever submitted. An idle network issues none, so idle workers
        earn nothing and the log does not grow."""
        caps = sorted(capabilities)
        if not caps:
            return False
        conn = self.log.db.conn
        marks = ", ".join("?" for _ in caps)
        queued = conn.execute(
            "SELECT 1 FROM market_replicas r JOIN market_tasks t ON t.id = r.task"
            " JOIN market_jobs j ON j.id = t.job WHERE r.state = 'queued' AND"
            " j.state = 'open' AND (j.deadline IS NULL OR j.deadline > ?) AND"
            f" t.analyzer IN ({marks}) AND NOT EXISTS (SELECT 1 FROM coordinator_gold_jobs g"
            " WHERE g.job = j.id) LIMIT 1", (now, *caps)).fetchone()
        if queued is None:
            return False
        (gold,) = conn.execute("SELECT COUNT(*) FROM coordinator_gold_jobs").fetchone()
        (tasks,) = conn.execute("SELECT COUNT(*) FROM market_tasks").fetchone()
        return int(gold) < self.gold_rate * (int(tasks) - int(gold))

    # -- gold tasks -------------------------------------------------------------------------

    def add_gold(self, asset: str, expected: dict[str, Any]) -> None:
        """Register media whose right answers are known, by analyzer (schema items)."""
        if not self.blobs.has(asset):
            raise InputError(f"no media {asset} on this coordinator")
        normalized = {name: normalize(_insight(name), items) for name, items in expected.items()}
        with self.log.db.atomic() as conn:
            conn.execute("INSERT INTO coordinator_gold_assets (asset, expected) VALUES (?, ?)"
                         " ON CONFLICT (asset) DO UPDATE SET expected = excluded.expected",
                         (asset, json.dumps(normalized)))

    def has_gold(self) -> bool:
        return self.log.db.conn.execute(
            "SELECT 1 FROM coordinator_gold_assets LIMIT 1").fetchone() is not None

    def is_gold(self, job_id: str) -> bool:
        return self.log.db.conn.execute(
            "SELECT 1 FROM coordinator_gold_jobs WHERE job = ?", (job_id,)).fetchone() is not None

    def _gold_expected(self, job_id: str) -> dict[str, Any] | None:
        row = self.log.db.conn.execute(
            "SELECT g.expected FROM coordinator_gold_jobs j JOIN coordinator_gold_assets g"
            " ON g.asset = j.asset WHERE j.job = ?", (job_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def gold_uses(self) -> dict[str, int]:
        """Each gold clip and how many gold tasks used it."""
        return {str(asset): int(used) for asset, used in self.log.db.conn.execute(
            "SELECT g.asset, (SELECT COUNT(*) FROM coordinator_gold_jobs j WHERE j.asset ="
            " g.asset) FROM coordinator_gold_assets g")}

    def _inject_gold(self, capabilities: set[str], now: float) -> None:
        """Mix in a task whose answer is known, over the least used gold clip this worker
        can analyze; it looks like any other task."""
        rows = self.log.db.conn.execute(
            "SELECT g.asset, g.expected, (SELECT COUNT(*) FROM coordinator_gold_jobs j WHERE"
            " j.asset = g.asset) AS used FROM coordinator_gold_assets g ORDER BY used"
            " LIMIT 50").fetchall()
        choices = [(asset, sorted(set(json.loads(exp)) & capabilities), int(used))
                   for asset, exp, used in rows]
        choices = [choice for choice in choices if choice[1]]
        if not choices:
            return
        least = min(used for _, _, used in choices)
        asset, names, _ = self.rng.choice([c for c in choices if c[2] == least])
        analyzer = self.rng.choice(names)
        with self.log.db.atomic() as conn:
            # Its requester is a key made for it alone: no one can list the gold jobs by
            # their requester (the coordinator pays for them).
            job = self.market.submit_job(SigningKey.generate().did, asset, [analyzer],
                                         redundancy=1, budget=self.price, price=self.price,
                                         now=now)
            conn.execute("INSERT INTO coordinator_gold_jobs (job, asset) VALUES (?, ?)",
                         (job.id, asset))

    def accept_result(self, lease_id: str, worker: str, entry_bytes: bytes, output: Any,
                      now: float, openings: Any = None) -> int:
        """Check and record a replica's result; return the decision's ledger index. A task of
        a sensitive library's job carries a sealed decision (``ai.decision.sealed``) and the
        ``openings`` of its commitments, which are checked like the plain fields and kept
        for the library's readers."""
        lease = self.market.live_lease(lease_id, worker, now)
        entry = Entry.from_bytes(entry_bytes)
        body = entry.body
        if entry.author != worker:
            raise ResultRefused(f"the decision is signed by {entry.author}, not by {worker}")
        library = self.libraries.sensitive_library_of(lease.job_id)
        expected = DECISION_KINDS if library is None else ("ai.decision.sealed/v1",)
        if entry.kind not in expected:
            raise ResultRefused(
                f"a result carries an {' or '.join(expected)} entry, not {entry.kind}"
                + ("" if library is None else ": the task is in a sensitive library, whose"
                   " decisions hold their input, output and evidence as commitments"),
                hint="the lease says whether the task is sensitive")
        self.log.kinds.get(entry.kind).validate_body(body)  # its shape, before any field is read
        kept: dict[str, Any] | None = None
        if library is not None:
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
            body = {**body, "input": opened["input"], "evidence": opened["evidence"],
                    "output_digest": output_digest(opened["output"])}
        if body.get("analyzer") != lease.analyzer:
            raise ResultRefused(f"the lease is for {lease.analyzer}, the decision for "
                                f"{body.get('analyzer')}")
        if body.get("input", {}).get("asset") != lease.asset:
            raise ResultRefused("the decision is about another input than the leased asset")
        advertised = self._advertised_model(worker, lease.analyzer)
        raw_model = body.get("model")
        model: dict[str, Any] = raw_model if isinstance(raw_model, dict) else {}
        if advertised is not None and model.get("weights_digest") != advertised.get(
                "weights_digest"):
            raise ResultRefused(
                f"the decision names {lease.analyzer} weights {model.get('weights_digest')},"
                f" but this worker advertised {advertised.get('weights_digest')}",
                hint="advertise again after changing models (POST /v1/workers/capabilities)")
        self._check_derived_from(lease, body)
        insight = str(body.get("insight"))
        normalized = normalize(insight, output)
        digest = output_digest(normalized)
        if digest != body.get("output_digest"):
            raise ResultRefused("the output does not match the decision's output_digest")
        with self.log.db.atomic() as conn:
            index = self.log.append([entry])[0].index  # checks kind, body and signature
            if library is not None and kept is not None:
                self.libraries.keep_openings(index, library.id, kept)
            self.market.submit(lease_id, worker, digest, now)
            # A re-run replica keeps the earlier result as history: every opinion counts
            # when the task is settled.
            conn.execute("UPDATE coordinator_results SET current = 0 WHERE task = ? AND replica = ?",
                         (lease.task_id, lease.replica))
            conn.execute(
                "INSERT INTO coordinator_results (decision, task, replica, worker, analyzer,"
                " insight, digest, output, current) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (index, lease.task_id, lease.replica, worker, lease.analyzer, insight, digest,
                 json.dumps(normalized)),
            )
            if insight == "shots" and self.libraries.library_id_of(lease.job_id):
                self.libraries.add_blobs(lease.job_id, [
                    shot["keyframe"]["digest"] for shot in normalized if shot.get("keyframe")])
            self._settle_if_complete(lease.task_id, lease.job_id, now)
            self._summarize(lease.job_id)
        return index

    def upstream(self, lease: Lease) -> list[dict[str, Any]]:
        """The accepted results the leased analyzer reads (``{analyzer, insight, decision,
        output}``): the worker computes from these and names their decisions."""
        return [{"analyzer": name, "insight": insight, "decision": decision, "output": output}
                for name, (insight, decision, output)
                in sorted(self._accepted_upstream(lease.job_id, lease.analyzer).items())]

    def _accepted_upstream(self, job_id: str, analyzer: str
                           ) -> dict[str, tuple[str, int, Any]]:
        """analyzer -> (insight, decision, output) of the job's accepted results that
        ``analyzer`` reads."""
        reads = set(registry.upstream(analyzer)) if analyzer in registry.REGISTRY else set()
        out: dict[str, tuple[str, int, Any]] = {}
        for task in self.market.tasks(job_id):
            if task.analyzer not in reads:
                continue
            accepted = [r for r in self.market.replicas(task.id)
                        if r.state == ReplicaState.ACCEPTED]
            result = self._result(task.id, accepted[0].replica) if accepted else None
            if result is not None:
                out[task.analyzer] = (result.insight, result.decision, result.output)
        return out

    def _check_derived_from(self, lease: Lease, body: dict[str, Any]) -> None:
        """A result names, in ``input.derived_from``, exactly the job's accepted decisions its
        analyzer reads: each in this log, an ai.decision about that insight and the same
        asset, and the one accepted for the job."""
        accepted = {insight: decision for insight, decision, _
                    in self._accepted_upstream(lease.job_id, lease.analyzer).values()}
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
                     for insight, (decision, _) in accepted_results(self.log, job_id).items()}
        library = self.libraries.sensitive_library_of(job_id)
        self.summaries.record(
            self.key, job.asset, decisions, job=job_id,
            sealed=None if library is None else
            lambda index, openings: self.libraries.keep_openings(index, library.id, openings))

    # -- cross-checks, reputation, rewards ------------------------------------------------

    def reputation(self, worker: str) -> Reputation:
        row = self.log.db.conn.execute(
            "SELECT score, weight, samples, quarantined FROM coordinator_reputation"
            " WHERE worker = ?", (worker,)).fetchone()
        if row is None:
            return Reputation()
        return Reputation(float(row[0]), float(row[1]), int(row[2]), bool(row[3]))

    _COLUMNS = "task, replica, worker, analyzer, insight, decision, digest, output, current"

    @staticmethod
    def _row(row: Any) -> StoredReplicaResult:
        return StoredReplicaResult(row[0], int(row[1]), row[2], row[3], row[4], int(row[5]),
                                   row[6], json.loads(row[7]), bool(row[8]))

    def _result(self, task: str, replica: int) -> StoredReplicaResult | None:
        row = self.log.db.conn.execute(
            f"SELECT {self._COLUMNS} FROM coordinator_results WHERE task = ? AND replica = ?"
            " AND current = 1", (task, replica)).fetchone()
        return None if row is None else self._row(row)

    def _all_results(self, task: str) -> list[StoredReplicaResult]:
        rows = self.log.db.conn.execute(
            f"SELECT {self._COLUMNS} FROM coordinator_results WHERE task = ? ORDER BY decision",
            (task,)).fetchall()
        return [self._row(row) for row in rows]

    def _settle_if_complete(self, task_id: str, job_id: str, now: float) -> None:
        """Once every replica is in: accept the results that agree with another worker's,
        reject the rest, update reputations and pay; with no agreement at all, ask one more
        worker (up to ``MAX_EXTRA_OPINIONS`` times)."""
        replicas = self.market.replicas(task_id)
        if any(r.state != ReplicaState.SUBMITTED for r in replicas):
            return
        results = self._all_results(task_id)
        expected = self._gold_expected(job_id)
        if expected is not None:
            self._settle_gold(task_id, job_id, results, expected, now)
            return
        support = {
            r.decision: [o for o in results
                         if o.worker != r.worker and agrees(r.insight, r.output, o.output)]
            for r in results
        }
        best = max(results, key=lambda r: (len(support[r.decision]), -r.decision))
        if len(replicas) > 1 and not support[best.decision]:
            if len(results) - len(replicas) < MAX_EXTRA_OPINIONS:
                latest = max((r for r in results if r.current), key=lambda r: r.decision)
                self.market.requeue(task_id, latest.replica)
                return
        cluster = ({best.decision} | {o.decision for o in support[best.decision]}
                   if len(replicas) > 1 and support[best.decision] else
                   {best.decision} if len(replicas) == 1 else set())
        job = self.market.job(job_id)
        entries: list[Entry] = []
        # The requester pays for the replicas it asked for; an extra opinion that also
        # agrees (a tie-breaker) is the network's cost of checking, paid by the coordinator.
        # (A task pays out once: when every replica is in and some agree.)
        paid_by_requester = 0
        for res in results:
            accepted = res.decision in cluster
            observation = None
            if len(replicas) > 1:
                observation = 1.0 if accepted else agreement(res.insight, res.output, best.output)
            reason = "result agreed by another worker" if len(replicas) > 1 else "accepted result"
            payer = job.requester
            if accepted:
                if paid_by_requester >= job.redundancy:
                    payer = self.key.did
                else:
                    paid_by_requester += 1
            entries += self._judge(res, job_id, accepted, observation, source="agreement",
                                   payer=payer, amount=job.price, reason=reason)
        if entries:
            self._append(entries)
        for worker in sorted({res.worker for res in results}):
            self._settle_worker_gold(worker, at_gold=False, now=now)
        if cluster:
            self._route_for_review(job, best, [r.worker for r in results
                                               if r.decision in cluster],
                                   disagreed=len(cluster) < len(results))

    def _route_for_review(self, job: Job, result: StoredReplicaResult, producers: list[str],
                          *, disagreed: bool) -> None:
        """Send the accepted result's items to human experts as the routing rules say."""
        if result.insight not in REVIEWABLE:
            return
        model = Entry.from_bytes(self.log.get(result.decision)).body.get("model", {})
        shots = self.results(job.id).get("shots") if result.insight != "shots" else None
        self.review.route(job=job.id, insight=result.insight, decision=result.decision,
                          output=result.output, producers=producers,
                          annotator=model_annotator(str(model.get("name")),
                                                    str(model.get("weights_digest"))),
                          asset=job.asset, disagreed=disagreed,
                          shots=shots if result.insight != "shots" else result.output)

    def _settle_gold(self, task_id: str, job_id: str, results: list[StoredReplicaResult],
                     expected: dict[str, Any], now: float) -> None:
        """A gold task: each result is scored against the known answer, and its replica
        accepted or rejected; the score and the pay wait for the worker's batch
        (:meth:`_settle_worker_gold`)."""
        for res in results:
            answer = expected.get(res.analyzer)
            # A gold answer names no keyframes: the result's are not compared with it (a gold
            # result never reaches a requester's disk).
            observation = (agreement(res.insight, res.output, answer, files=False)
                           if answer is not None else 0.0)
            accepted = answer is not None and agrees(res.insight, res.output, answer,
                                                     files=False)
            if res.current:
                self.market.settle(res.task, res.replica, accepted=accepted)
            self.log.db.conn.execute(
                "INSERT INTO coordinator_gold_pending (worker, task, observation, accepted,"
                " answered) VALUES (?, ?, ?, ?, ?) ON CONFLICT (worker, task) DO NOTHING",
                (res.worker, res.task, observation, int(accepted), now))
            if res.insight == "shots" and answer is not None and res.current:
                self._gold_review_items(job_id, res, answer)
        for worker in sorted({res.worker for res in results}):
            self._settle_worker_gold(worker, at_gold=True, now=now)

    def _settle_worker_gold(self, worker: str, *, at_gold: bool, now: float) -> None:
        """Apply a worker's pending gold results, all at once, when :data:`WORKER_GOLD_BATCH`
        are in and one of its real tasks is settling (at twice as many otherwise): one
        ``reputation.update`` (the mean score, no task named) and one ``reward.accrued``
        for the right ones, within the daily cap on gold credits (``GOLD_CREDITS_PER_DAY``)."""
        rows = self.log.db.conn.execute(
            "SELECT observation, accepted FROM coordinator_gold_pending WHERE worker = ?"
            " ORDER BY answered, task", (worker,)).fetchall()
        if len(rows) < (2 * WORKER_GOLD_BATCH if at_gold else WORKER_GOLD_BATCH):
            return
        before = self.reputation(worker)
        after = before
        for observation, _ in rows:
            after = observe(after, float(observation), gold=True, policy=self.policy)
        self._save_reputation(worker, after)
        if after.quarantined and not before.quarantined:
            self._rerun_pending(worker, "")
        entries = [sign_entry(self.key, "reputation.update", {
            "subject": worker, "role": "worker", "source": "gold",
            "observation": round(sum(float(o) for o, _ in rows) / len(rows), 4),
            "score": round(after.score, 4), "samples": after.samples,
            "quarantined": after.quarantined})]
        entries += self.accounts.gold_reward(
            self.key, worker, sum(int(a) for _, a in rows), self.price, now, job="gold",
            reason=f"{len(rows)} gold results settled together")
        self.log.db.conn.execute("DELETE FROM coordinator_gold_pending WHERE worker = ?",
                                 (worker,))
        self._append(entries)

    def _gold_review_items(self, job_id: str, res: StoredReplicaResult, answer: Any) -> None:
        """Each cut a worker found in a gold clip becomes a hidden gold item for experts:
        its right answer is known from the clip's true cuts."""
        truth = [float(shot["instances"][0]["start"]) for shot in answer[1:]
                 if shot.get("instances")]
        if not truth:
            return
        job = self.market.job(job_id)
        for candidate in candidates("shots", res.output):
            nearest = min(truth, key=lambda cut: abs(cut - float(candidate.value)))
            real = abs(nearest - float(candidate.value)) <= 0.2
            self.review.add_item(
                job=None, insight="shots", decision=res.decision, candidate=candidate,
                reason="gold", asset=job.asset, producers=[res.worker],
                annotator=f"worker:{res.worker}",
                gold={"answer": "accept" if real else "reject", "value": nearest})

    def _judge(self, res: StoredReplicaResult, job_id: str, accepted: bool,
               observation: float | None, *, source: str, payer: str, amount: int,
               reason: str) -> list[Entry]:
        """Settle one result: update its worker's reputation (when observed), accept or
        reject its replica, pay for it if accepted; return the entries to log."""
        entries = []
        if observation is not None:
            before = self.reputation(res.worker)
            after = observe(before, observation, gold=source == "gold", policy=self.policy)
            self._save_reputation(res.worker, after)
            if after.quarantined and not before.quarantined:
                self._rerun_pending(res.worker, res.task)
            entries.append(sign_entry(self.key, "reputation.update", {
                "subject": res.worker, "role": "worker", "insight": res.insight,
                "source": source, "observation": round(observation, 4),
                "score": round(after.score, 4), "samples": after.samples,
                "quarantined": after.quarantined, "task": res.task}))
        if res.current:
            self.market.settle(res.task, res.replica, accepted=accepted)
        if accepted and amount > 0:
            entries.append(sign_entry(self.key, "reward.accrued", {
                "to": res.worker, "payer": payer, "amount": amount, "job": job_id,
                "task": res.task, "reason": reason}))
        return entries

    def _rerun_pending(self, worker: str, settling: str) -> None:
        """A newly quarantined worker's results still waiting for their task's other
        replicas are not used: their replicas go back to the queue, for other workers."""
        rows = self.log.db.conn.execute(
            "SELECT task, replica FROM coordinator_results WHERE worker = ? AND current = 1"
            " AND task != ?", (worker, settling)).fetchall()
        for task, replica in rows:
            state = next((r.state for r in self.market.replicas(task) if r.replica == replica),
                         None)
            if state == ReplicaState.SUBMITTED:
                self.market.requeue(task, int(replica))

    def _save_reputation(self, worker: str, rep: Reputation) -> None:
        self.log.db.conn.execute(
            "INSERT INTO coordinator_reputation (worker, score, weight, samples, quarantined)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (worker) DO UPDATE SET score = excluded.score,"
            " weight = excluded.weight, samples = excluded.samples,"
            " quarantined = excluded.quarantined",
            (worker, rep.score, rep.weight, rep.samples, int(rep.quarantined)))



def with_upstream(names: list[str]) -> list[str]:
    """``names`` and, after them, the registered analyzers they read (transitively) that are
    not among them; unknown names are kept for the market to refuse."""
    known = [name for name in names if name in registry.REGISTRY]
    return list(names) + [name for name in registry.order(known) if name not in names]


def _insight(analyzer: str) -> str:
    from aiwork import analyzers

    return analyzers.load(analyzer).insight
