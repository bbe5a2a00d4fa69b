"""Settlement: once every replica of a task is in, its results are compared
(:mod:`aiwork.quality.agreement`); a replica that agrees with another is accepted and its
worker paid (``reward.accrued``); every comparison updates the worker's reputation
(``reputation.update``), and a quarantined worker's results are rejected and re-run. A gold
task's results are scored against the known answer instead, and counted in batches. An
accepted result's items go to human review as the routing rules say."""

from __future__ import annotations

from typing import Any

from aiwork.coordinator.accounts import Accounts
from aiwork.coordinator.gold_tasks import GoldTasks
from aiwork.coordinator.results import Results, StoredReplicaResult
from aiwork.coordinator.review import Review
from aiwork.coordinator.workers import Workers
from aiwork.crypto import SigningKey
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.market import Job, Market, ReplicaState
from aiwork.model import Entry
from aiwork.quality.agreement import agreement, agrees
from aiwork.quality.reputation import ReputationPolicy, observe
from aiwork.quality.review_items import REVIEWABLE, candidates
from aiwork.quality.truth import model_annotator

__all__ = ["MAX_EXTRA_OPINIONS", "WORKER_GOLD_BATCH", "Settlement"]

#: Extra workers asked when the replicas of a task all disagree.
MAX_EXTRA_OPINIONS = 3
#: A worker's gold results count in batches: its reputation and pay change only once this
#: many are in, together, when one of its real tasks settles (at twice as many otherwise), in
#: one entry that names no task, so no change can be tied to one gold task.
WORKER_GOLD_BATCH = 3


class Settlement:
    """Settles tasks over the coordinator's domains; ``key`` signs what it logs."""

    def __init__(self, log: Log, key: SigningKey, *, market: Market, accounts: Accounts,
                 results: Results, workers: Workers, gold: GoldTasks, review: Review,
                 price: int, policy: ReputationPolicy) -> None:
        self.log, self.key = log, key
        self.market, self.accounts, self.results = market, accounts, results
        self.workers, self.gold, self.review = workers, gold, review
        self.price, self.policy = price, policy

    def _append(self, entries: list[Entry]) -> list[int]:
        return self.accounts.append(self.log, entries)

    def settle_if_complete(self, task_id: str, job_id: str, now: float) -> None:
        """Once every replica is in: accept the results that agree with another worker's,
        reject the rest, update reputations and pay; with no agreement at all, ask one more
        worker (up to ``MAX_EXTRA_OPINIONS`` times)."""
        replicas = self.market.replicas(task_id)
        if any(r.state != ReplicaState.SUBMITTED for r in replicas):
            return
        results = self.results.of_task(task_id)
        expected = self.gold.expected(job_id)
        if expected is not None:
            self._settle_gold(job_id, results, expected, now)
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
        self._pay(job, results, best, cluster, replicated=len(replicas) > 1)
        for worker in sorted({res.worker for res in results}):
            self.settle_worker_gold(worker, at_gold=False, now=now)
        if cluster:
            self._route_for_review(job, best, [r.worker for r in results
                                               if r.decision in cluster],
                                   disagreed=len(cluster) < len(results))

    def _pay(self, job: Job, results: list[StoredReplicaResult], best: StoredReplicaResult,
             cluster: set[int], *, replicated: bool) -> None:
        """Judge each result (accepted: in the agreeing ``cluster``) and log what it brings.
        The requester pays for the replicas it asked for; an extra opinion that also agrees
        (a tie-breaker) is the network's cost of checking, paid by the coordinator. (A task
        pays out once: when every replica is in and some agree.)"""
        entries: list[Entry] = []
        paid_by_requester = 0
        for res in results:
            accepted = res.decision in cluster
            observation = None
            if replicated:
                observation = 1.0 if accepted else agreement(res.insight, res.output, best.output)
            reason = "result agreed by another worker" if replicated else "accepted result"
            payer = job.requester
            if accepted:
                if paid_by_requester >= job.redundancy:
                    payer = self.key.did
                else:
                    paid_by_requester += 1
            entries += self._judge(res, job.id, accepted, observation, source="agreement",
                                   payer=payer, amount=job.price, reason=reason)
        if entries:
            self._append(entries)

    def _route_for_review(self, job: Job, result: StoredReplicaResult, producers: list[str],
                          *, disagreed: bool) -> None:
        """Send the accepted result's items to human experts as the routing rules say."""
        if result.insight not in REVIEWABLE:
            return
        model = Entry.from_bytes(self.log.get(result.decision)).body.get("model", {})
        shots = (self.results.published(job.id, self.review).get("shots")
                 if result.insight != "shots" else None)
        self.review.route(job=job.id, insight=result.insight, decision=result.decision,
                          output=result.output, producers=producers,
                          annotator=model_annotator(str(model.get("name")),
                                                    str(model.get("weights_digest"))),
                          asset=job.asset, disagreed=disagreed,
                          shots=shots if result.insight != "shots" else result.output)

    def _settle_gold(self, job_id: str, results: list[StoredReplicaResult],
                     expected: dict[str, Any], now: float) -> None:
        """A gold task: each result is scored against the known answer, and its replica
        accepted or rejected; the score and the pay wait for the worker's batch
        (:meth:`settle_worker_gold`)."""
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
            self.gold.hold_answer(res.worker, res.task, observation, accepted, now)
            if res.insight == "shots" and answer is not None and res.current:
                self._gold_review_items(job_id, res, answer)
        for worker in sorted({res.worker for res in results}):
            self.settle_worker_gold(worker, at_gold=True, now=now)

    def settle_worker_gold(self, worker: str, *, at_gold: bool, now: float) -> None:
        """Apply a worker's pending gold results, all at once, when :data:`WORKER_GOLD_BATCH`
        are in and one of its real tasks is settling (at twice as many otherwise): one
        ``reputation.update`` (the mean score, no task named) and one ``reward.accrued``
        for the right ones, within the daily cap on gold credits (``GOLD_CREDITS_PER_DAY``)."""
        rows = self.gold.held_answers(worker)
        if len(rows) < (2 * WORKER_GOLD_BATCH if at_gold else WORKER_GOLD_BATCH):
            return
        before = self.workers.reputation(worker)
        after = before
        for observation, _ in rows:
            after = observe(after, observation, gold=True, policy=self.policy)
        self.workers.save_reputation(worker, after)
        if after.quarantined and not before.quarantined:
            self._rerun_pending(worker, "")
        entries = [sign_entry(self.key, "reputation.update", {
            "subject": worker, "role": "worker", "source": "gold",
            "observation": round(sum(o for o, _ in rows) / len(rows), 4),
            "score": round(after.score, 4), "samples": after.samples,
            "quarantined": after.quarantined})]
        entries += self.accounts.gold_reward(
            self.key, worker, sum(int(a) for _, a in rows), self.price, now, job="gold",
            reason=f"{len(rows)} gold results settled together")
        self.gold.release_answers(worker)
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
                gold={"answer": "accept" if real else "reject", "value": nearest},
                shown_job=job_id)

    def _judge(self, res: StoredReplicaResult, job_id: str, accepted: bool,
               observation: float | None, *, source: str, payer: str, amount: int,
               reason: str) -> list[Entry]:
        """Settle one result: update its worker's reputation (when observed), accept or
        reject its replica, pay for it if accepted; return the entries to log."""
        entries = []
        if observation is not None:
            before = self.workers.reputation(res.worker)
            after = observe(before, observation, gold=source == "gold", policy=self.policy)
            self.workers.save_reputation(res.worker, after)
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
        for task, replica in self.results.waiting(worker, settling):
            state = next((r.state for r in self.market.replicas(task) if r.replica == replica),
                         None)
            if state == ReplicaState.SUBMITTED:
                self.market.requeue(task, replica)
