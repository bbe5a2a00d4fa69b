"""A simulated crowd of experts reviewing a generated job, through the real review engine.

The job is a set of AI items (shot boundaries) made by AI models of known accuracy: each item
is right with its model's probability, so its true label (accept or reject) is known to the
simulation only. Hidden gold items are mixed in at the routing rules' share. Simulated experts
take items with ``next_item`` and sign ``human.verdict`` entries like real ones:

- accurate experts answer right with probability 0.9, careless ones 0.65;
- spammers answer accept or reject at random;
- a colluding group gives one shared answer per item, agreeing with each other and not with
  the truth.

Everything goes through a real ledger on a SQLite file: consensus entries, escalations,
reputation updates (gold catches the colluders), quarantine, rewards. At the end the same
verdicts are combined by each truth-inference method (the AI models' implicit accepts counted
as answers, a benchmark of the methods; the engine's own decisions never count them), and the
report gives each method's accuracy on the (non-gold) items,
the number of human verdicts spent, each expert kind's learned weight, the share of wrong AI
outputs that the engine's consensus ended correcting (or rejecting), and how many items were
escalated and the verdicts that cost beyond the first panel.
"""

from __future__ import annotations

import hashlib
import random
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiwork.coordinator.accounts import Accounts
from aiwork.coordinator.review import ESCALATION_STEP, ESCALATION_WAIT, TRUTH_WINDOW, Review
from aiwork.crypto import SigningKey
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.quality.review_items import Candidate
from aiwork.quality.truth import infer_truth

__all__ = ["CrowdSpec", "SimulationReport", "simulate"]

INSIGHT = "shots"


@dataclass(frozen=True)
class CrowdSpec:
    accurate: int = 4
    careless: int = 2
    spammers: int = 2
    colluders: int = 3
    #: AI models and the share of their items that are right.
    models: tuple[tuple[str, float], ...] = (("detector-a", 0.8), ("detector-b", 0.6))
    accurate_p: float = 0.9
    careless_p: float = 0.65


@dataclass
class SimulationReport:
    items: int
    gold: int
    verdicts: int
    accuracy: dict[str, float]  # method -> share of non-gold items labelled right
    weights: dict[str, float]  # expert kind -> mean learned weight (aiwork method)
    quarantined: dict[str, int]  # expert kind -> how many were quarantined
    seconds: float
    kinds: dict[str, str] = field(default_factory=dict)  # expert did -> kind
    wrong: int = 0  # non-gold items whose AI value was wrong
    corrected: int = 0  # ... of them, how many the engine's consensus rejected or corrected
    escalated: int = 0  # non-gold items sent to more experts at least once
    extra_verdicts: int = 0  # verdicts beyond each escalated item's first panel

    @property
    def corrected_share(self) -> float:
        """Share of wrong AI outputs that ended corrected (or rejected) by consensus."""
        return round(self.corrected / self.wrong, 4) if self.wrong else 1.0

    def lines(self) -> list[str]:
        out = [f"simulated job: {self.items} items ({self.gold} of them hidden gold), "
               f"{self.verdicts} human verdicts spent, {self.seconds:.1f} s"]
        out.append("accuracy on the job's items, by method:")
        for method, value in sorted(self.accuracy.items(), key=lambda kv: -kv[1]):
            out.append(f"  {method:<16} {value:.3f}")
        out.append("learned weight (aiwork) and quarantine, by expert kind:")
        for kind in ("accurate", "careless", "spammer", "colluder"):
            if kind in self.weights:
                out.append(f"  {kind:<10} weight {self.weights[kind]:.2f}, quarantined "
                           f"{self.quarantined.get(kind, 0)}")
        out.append(f"wrong AI outputs corrected by review: {self.corrected_share:.1%} "
                   f"({self.corrected} of {self.wrong})")
        out.append(f"escalation: {self.escalated} items sent to more experts, "
                   f"{self.extra_verdicts} extra verdicts "
                   f"({self.extra_verdicts / max(self.verdicts, 1):.1%} of all verdicts)")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"items": self.items, "gold": self.gold, "verdicts": self.verdicts,
                "accuracy": self.accuracy, "weights": self.weights,
                "quarantined": self.quarantined, "seconds": round(self.seconds, 2),
                "wrong_ai_outputs": self.wrong, "corrected": self.corrected,
                "corrected_share": self.corrected_share, "escalated": self.escalated,
                "extra_verdicts": self.extra_verdicts}


def _answer(kind: str, truth: str, item: Any, rng: random.Random, spec: CrowdSpec) -> str:
    wrong = "reject" if truth == "accept" else "accept"
    if kind == "accurate":
        return truth if rng.random() < spec.accurate_p else wrong
    if kind == "careless":
        return truth if rng.random() < spec.careless_p else wrong
    if kind == "spammer":
        return rng.choice(("accept", "reject"))
    # colluders: one answer per item, shared by the group, unrelated to the truth
    return "accept" if hashlib.sha256(repr(item).encode()).digest()[0] & 1 else "reject"


def simulate(*, items: int = 300, experts_per_item: int = 3, gold_share: float = 0.1,
             spec: CrowdSpec = CrowdSpec(), seed: int = 7,
             methods: tuple[str, ...] = ("aiwork", "dawid_skene", "majority_vote"),
             folder: Path | None = None, truth_window: int = TRUTH_WINDOW) -> SimulationReport:
    """Run one simulated review of a generated job; see the module docstring."""
    started = time.perf_counter()
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="aiwork-sim-") as tmp:
        db = (folder or Path(tmp)) / "simulation.db"
        coordinator = SigningKey(hashlib.sha256(f"coordinator {seed}".encode()).digest())
        log = Log.create(db, coordinator, origin="simulation.aiwork/log")
        try:
            review = Review(log, coordinator, Accounts(log.db).appender(log),
                            truth_window=truth_window, rng=random.Random(seed + 1))
            review.set_rules(INSIGHT, {"experts": experts_per_item, "gold_share": gold_share,
                                       "audit_share": 1.0})
            truth = _make_items(review, items, gold_share, spec, rng)
            kinds = _make_experts(spec, seed)
            verdicts = _review(review, kinds, truth, spec, rng)
            # A day passes: escalated items no further expert came for are decided.
            review.decide_stalled(time.time() + ESCALATION_WAIT + 1)
            report = _score(review, truth, kinds, verdicts, methods)
        finally:
            log.close()
    report.seconds = time.perf_counter() - started
    return report


def _make_items(review: Review, items: int, gold_share: float, spec: CrowdSpec,
                rng: random.Random) -> dict[str, tuple[str, bool]]:
    """Queue the job's items and the gold items; return item id -> (true label, is gold)."""
    truth: dict[str, tuple[str, bool]] = {}
    n_gold = round(items * gold_share)
    for n in range(items + n_gold):
        name, accuracy = spec.models[n % len(spec.models)]
        right = rng.random() < accuracy
        label = "accept" if right else "reject"
        at = round(2.0 + n * 0.5, 2)
        gold = {"answer": label, "value": at if right else at + 0.7} if n >= items else None
        item_id = review.add_item(
            job=None if gold else "simulated-job", insight=INSIGHT, decision=0,
            candidate=Candidate(n + 1, f"Is there a real shot boundary at {at:.2f} s?", at,
                                at - 1.0, at + 1.0, None, None),
            reason="audit", asset="sha256:" + "0" * 64, producers=[],
            annotator=f"model:{name}@simulated", gold=gold)
        truth[item_id] = (label, gold is not None)
    return truth


def _make_experts(spec: CrowdSpec, seed: int) -> dict[SigningKey, str]:
    kinds: dict[SigningKey, str] = {}
    counts = [("accurate", spec.accurate), ("careless", spec.careless),
              ("spammer", spec.spammers), ("colluder", spec.colluders)]
    for kind, count in counts:
        for n in range(count):
            secret = hashlib.sha256(f"{seed} {kind} {n}".encode()).digest()
            kinds[SigningKey(secret)] = kind
    return kinds


def _review(review: Review, kinds: dict[SigningKey, str], truth: dict[str, tuple[str, bool]],
            spec: CrowdSpec, rng: random.Random) -> int:
    """Experts take turns taking items and signing verdicts until nobody gets one."""
    verdicts = 0
    experts = list(kinds)
    busy = True
    while busy:
        busy = False
        rng.shuffle(experts)
        for key in experts:
            item = review.next_item(key.did)
            if item is None:
                continue
            busy = True
            answer = _answer(kinds[key], truth[item["id"]][0], item["value"], rng, spec)
            entry = sign_entry(key, "human.verdict", review.verdict_body(item["id"], answer))
            review.submit(key.did, entry.to_bytes())
            verdicts += 1
    return verdicts


def _score(review: Review, truth: dict[str, tuple[str, bool]],
           kinds: dict[SigningKey, str], verdicts: int, methods: tuple[str, ...]
           ) -> SimulationReport:
    rows = review.answers()
    by_did = {key.did: kind for key, kind in kinds.items()}
    # The methods are compared on the answers of everyone, the AI models' implicit accepts
    # included (a benchmark of inference methods); the engine's own decisions, "review
    # (online)", never count a model's vote on its own output.
    answers: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for item, expert, answer, annotator in rows:
        if item not in seen:
            seen.add(item)
            answers.append((item, annotator, "accept"))
        answers.append((item, expert, "accept" if answer == "accept" else "reject"))
    gold = {item: label for item, (label, is_gold) in truth.items() if is_gold}
    scored = [item for item, (_, is_gold) in truth.items() if not is_gold and item in seen]
    accuracy: dict[str, float] = {}
    weights: dict[str, list[float]] = defaultdict(list)
    for method in methods:
        result = infer_truth(answers, method=method, gold=gold if method != "majority_vote"
                             else None)
        right = sum(result.items[i].label == truth[i][0] for i in scored if i in result.items)
        accuracy[method] = round(right / len(scored), 4) if scored else 0.0
        if method == "aiwork":
            for did, skill in result.annotators.items():
                if did in by_did:
                    weights[by_did[did]].append(skill.weight)
    online = review.decided()
    decided = [i for i in scored if i in online]
    if decided:
        accuracy["review (online)"] = round(
            sum((online[i] == "accepted") == (truth[i][0] == "accept") for i in decided)
            / len(decided), 4)
    wrong = [i for i, (label, is_gold) in truth.items() if not is_gold and label == "reject"]
    corrected = sum(1 for i in wrong if online.get(i) in ("rejected", "corrected"))
    escalated, extra = 0, 0
    for _, experts, rounds, answered in review.escalations():
        escalated += 1
        first_panel = experts - ESCALATION_STEP * rounds
        extra += max(0, answered - first_panel)
    quarantined: dict[str, int] = defaultdict(int)
    for key, kind in kinds.items():
        if any(rep.quarantined for rep in review.reputation(key.did).values()):
            quarantined[kind] += 1
    return SimulationReport(
        items=sum(1 for _, g in truth.values() if not g), gold=len(gold), verdicts=verdicts,
        accuracy=accuracy,
        weights={kind: round(sum(ws) / len(ws), 3) for kind, ws in weights.items()},
        quarantined=dict(quarantined), seconds=0.0, wrong=len(wrong), corrected=corrected,
        escalated=escalated, extra_verdicts=extra)
