"""Routing: the review items an accepted result calls for, by the insight's rules."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from aiwork.canonical import canonical_bytes
from aiwork.coordinator.review.base import ReviewBase
from aiwork.coordinator.review.items import ITEM_COLUMNS
from aiwork.errors import ConflictError, InputError, ReviewRefused
from aiwork.ledger.registry import register_model, registration_for
from aiwork.quality.calibration import (Calibration, fit_calibration, most_at_risk,
                                        select_for_review)
from aiwork.quality.review_items import REVIEWABLE, Candidate, RoutingRules, candidates

__all__ = ["CANDIDATE_WINDOW", "Routing", "calibration_view"]

#: How many of the most recently queued decided items the public list of calibration
#: candidates counts over (a bounded read, whatever the review history holds).
CANDIDATE_WINDOW = 10_000


def calibration_view(insight: str, annotator: str, calibration: Calibration,
                     registration: int | None) -> dict[str, Any]:
    """A fitted calibration as the API shows it (the contract's ``CalibrationView``)."""
    return {"insight": insight, "annotator": annotator, "method": calibration.method,
            "digest": calibration.digest, "registration": registration,
            "target_accuracy": calibration.target_accuracy, "threshold": calibration.threshold,
            "samples": calibration.samples, "held_out": calibration.held_out,
            "ece_before": calibration.ece_before, "ece_after": calibration.ece_after,
            "knots_x": list(calibration.knots_x), "knots_y": list(calibration.knots_y)}


class Routing(ReviewBase):
    """Queuing the items an accepted result calls for."""

    def route(self, *, job: str | None, insight: str, decision: int, output: Any,
              producers: list[str], annotator: str, asset: str, disagreed: bool = False,
              shots: list[dict[str, Any]] | None = None) -> list[str]:
        """Create the review items an accepted result calls for; return their ids."""
        rules = self.rules(insight)
        items = candidates(insight, output, shots)
        calibration = self.calibration(insight, annotator)
        if rules.capacity is None:
            picked = [(c, self._reason(rules, c, disagreed, calibration)) for c in items]
        else:
            picked = self._pick(rules, items, disagreed, calibration)
        return [self.add_item(job=job, insight=insight, decision=decision, candidate=c,
                              reason=reason, asset=asset, producers=producers,
                              annotator=annotator)
                for c, reason in picked if reason is not None]

    def _pick(self, rules: RoutingRules, items: list[Candidate], disagreed: bool,
              calibration: Calibration | None) -> list[tuple[Candidate, str | None]]:
        """With a review capacity: the items the rules call for, the most likely wrong first
        (an item left out is accepted as it is), then, in place of random audits, the audit
        share of the others, the most uncertain first (``sampling``: what a verdict would
        teach most); ``capacity`` in all."""
        assert rules.capacity is not None
        called = [(c, self._reason(rules, c, disagreed, calibration, audit=False))
                  for c in items]
        must = [(c, r) for c, r in called if r is not None]
        rest = [c for c, r in called if r is None]

        def chance(c: Candidate) -> float | None:
            if c.confidence is None:
                return None
            return calibration.apply(c.confidence) if calibration else float(c.confidence)

        chosen: list[tuple[Candidate, str | None]] = [
            must[n] for n in most_at_risk([chance(c) for c, _ in must], rules.capacity)]
        # In place of random audits, the audit share of the others, the most uncertain.
        room = min(rules.capacity - len(chosen), round(rules.audit_share * len(rest)))
        if room > 0:
            chosen += [(rest[n], "uncertain") for n in select_for_review(
                [chance(c) for c in rest], room, rules.sampling)]
        return chosen

    def _reason(self, rules: RoutingRules, candidate: Candidate, disagreed: bool,
                calibration: Calibration | None = None, audit: bool = True) -> str | None:
        if candidate.confidence is not None and self._unsure(rules, candidate.confidence,
                                                             calibration):
            return "low-confidence"
        if disagreed and rules.disagreement:
            return "disagreement"
        if audit and self.rng.random() < rules.audit_share:
            return "audit"
        return None

    @staticmethod
    def _unsure(rules: RoutingRules, confidence: float, calibration: Calibration | None
                ) -> bool:
        """Whether an item with this raw confidence goes to humans as not sure enough: under
        ``confidence_below``; with a ``target_accuracy``, unless the model's calibration
        (fitted for that target) auto-accepts it, or (fitted for another) says it is right at
        least that often; without a calibration, a raw confidence under the target."""
        target = rules.target_accuracy
        if target is None:
            return confidence < rules.confidence_below
        if calibration is None:
            return confidence < target
        if calibration.target_accuracy == target:
            return not calibration.accepts(confidence)
        return calibration.apply(confidence) < target

    # -- calibration ------------------------------------------------------------------------

    def verified(self, insight: str, annotator: str) -> list[tuple[float, bool]]:
        """The decided (non-gold) items of one model with a confidence: (confidence, whether
        consensus accepted its value), oldest first."""
        rows = self._conn.execute(
            "SELECT i.evidence, o.outcome FROM review_outcomes o JOIN review_items i ON"
            " i.id = o.item WHERE i.insight = ? AND i.annotator = ? AND i.gold IS NULL"
            " ORDER BY i.seq", (insight, annotator)).fetchall()
        out = []
        for evidence, outcome in rows:
            confidence = json.loads(evidence).get("confidence")
            if isinstance(confidence, int | float) and 0.0 <= confidence <= 1.0:
                out.append((float(confidence), outcome == "accepted"))
        return out

    def fit_calibration(self, insight: str, annotator: str, target_accuracy: float = 0.95,
                        *, seed: int = 0) -> Calibration:
        """Fit and keep a calibration of ``annotator``'s confidences on ``insight`` from its
        verified items; routing applies it from then on. It is registered as a model version
        (a ``model.registered`` entry whose weights digest is the calibration's ``digest``).
        Returns it."""
        if insight not in REVIEWABLE:
            raise ReviewRefused(f"{insight!r} items are not reviewed",
                                hint=f"one of: {', '.join(REVIEWABLE)}")
        pairs = self.verified(insight, annotator)
        if not pairs:
            known = [c for c in self.calibration_candidates() if c["insight"] == insight]
            raise ReviewRefused(
                f"{annotator!r} has no verified {insight} items with a confidence",
                hint="models with verified items: " + ", ".join(
                    f"{c['annotator']} ({c['verified']})" for c in known[:5])
                if known else f"no {insight} item has been decided by experts yet")
        analyzer, _, version = annotator.partition("@")
        try:
            calibration = fit_calibration([c for c, _ in pairs], [r for _, r in pairs],
                                          analyzer=analyzer or annotator, version=version,
                                          target_accuracy=target_accuracy, seed=seed)
        except InputError as exc:
            raise ReviewRefused(f"{insight} calibration of {annotator}: {exc}") from exc
        registered = self._register(insight, calibration)
        with self.log.db.atomic() as conn:
            conn.execute(
                "INSERT INTO review_calibrations (insight, annotator, calibration, digest,"
                " registration) VALUES (?, ?, ?, ?, ?) ON CONFLICT (insight, annotator) DO"
                " UPDATE SET calibration = excluded.calibration, digest = excluded.digest,"
                " registration = excluded.registration",
                (insight, annotator, json.dumps(calibration.to_json()), calibration.digest,
                 registered))
        return calibration

    def _register(self, insight: str, calibration: Calibration) -> int:
        """The calibration's ``model.registered`` entry (analyzer ``calibration.INSIGHT``, the
        calibration's digest as its weights, its held-out metrics), appended once."""
        analyzer = f"calibration.{insight}"
        metrics = {"ece_before": calibration.ece_before, "ece_after": calibration.ece_after,
                   "target_accuracy": calibration.target_accuracy,
                   "threshold": -1.0 if calibration.threshold is None else calibration.threshold,
                   "samples": float(calibration.samples),
                   "held_out": float(calibration.held_out)}
        name = calibration.analyzer.removeprefix("model:")[:24]
        version = f"{name}@{calibration.version.removeprefix('sha256:')[:12]}"[:64]
        try:
            return register_model(self.log, self.key, analyzer=analyzer, version=version,
                                  weights_digest=calibration.digest, metrics=metrics)
        except ConflictError:
            existing = registration_for(self.log, analyzer, calibration.digest)
            assert existing is not None
            return existing

    def calibration_registration(self, insight: str, annotator: str) -> int | None:
        """The ledger index of the ``model.registered`` entry of the calibration in use."""
        row = self._conn.execute(
            "SELECT registration FROM review_calibrations WHERE insight = ? AND annotator = ?",
            (insight, annotator)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def calibrations(self) -> list[dict[str, Any]]:
        """Every calibration routing applies (the contract's ``CalibrationView``), by insight
        and model."""
        rows = self._conn.execute(
            "SELECT insight, annotator, calibration, registration FROM review_calibrations"
            " ORDER BY insight, annotator").fetchall()
        return [calibration_view(str(insight), str(annotator),
                                 Calibration.from_json(json.loads(data)),
                                 None if registration is None else int(registration))
                for insight, annotator, data, registration in rows]

    def calibration_candidates(self, limit: int = 100,
                               window: int = CANDIDATE_WINDOW) -> list[dict[str, Any]]:
        """The models among the ``window`` most recently queued decided (non-gold) items, by
        insight, the most decided first (at most ``limit``), each with how many of those
        items it made. The list is public: one bounded indexed query, never the items'
        evidence (items without a confidence are left out when fitting)."""
        rows = self._conn.execute(
            "SELECT insight, annotator, COUNT(*) FROM (SELECT i.insight AS insight,"
            " i.annotator AS annotator FROM review_items i WHERE i.state = 'decided' AND"
            " i.gold IS NULL ORDER BY i.seq DESC LIMIT ?) recent GROUP BY insight, annotator"
            " ORDER BY COUNT(*) DESC, insight, annotator LIMIT ?", (window, limit)).fetchall()
        return [{"insight": str(insight), "annotator": str(annotator), "verified": int(count)}
                for insight, annotator, count in rows]

    def calibration(self, insight: str, annotator: str) -> Calibration | None:
        """The calibration fitted for ``annotator`` on ``insight``, if any."""
        row = self._conn.execute(
            "SELECT calibration FROM review_calibrations WHERE insight = ? AND annotator = ?",
            (insight, annotator)).fetchone()
        return None if row is None else Calibration.from_json(json.loads(row[0]))

    def add_item(self, *, job: str | None, insight: str, decision: int, candidate: Candidate,
                 reason: str, asset: str, producers: list[str], annotator: str,
                 gold: dict[str, Any] | None = None, shown_job: str | None = None) -> str:
        """Queue one item for review; ``gold`` (``{"answer": accept|reject, "value": ...}``)
        makes it a hidden gold item. A gold item belongs to no requester's job (it counts in
        none), but experts are shown ``shown_job`` (the gold job it came from), so it names a
        job like every other item."""
        if gold is not None and gold.get("answer") not in ("accept", "reject"):
            raise ReviewRefused("a gold item's answer is accept or reject")
        item_id = uuid.uuid4().hex
        evidence = {"asset": asset, "start": candidate.start, "end": candidate.end,
                    "keyframe": candidate.keyframe, "decision": decision,
                    "confidence": candidate.confidence,
                    "job": job if gold is None else shown_job}
        # What makes two gold items the same question to an expert: a second worker's result
        # over the same gold clip makes a new item, not a new question.
        value = round(float(candidate.value), 1) if insight == "shots" else candidate.value
        fingerprint = None if gold is None else hashlib.sha256(canonical_bytes(
            {"insight": insight, "asset": asset, "value": value})).hexdigest()
        with self.log.db.atomic() as conn:
            (seq,) = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM review_items").fetchone()
            conn.execute(
                f"INSERT INTO review_items (seq, {ITEM_COLUMNS}) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open')",
                (int(seq), item_id, job, insight, decision, candidate.item_id,
                 candidate.question, json.dumps(candidate.value), json.dumps(evidence),
                 "gold" if gold else reason, json.dumps(gold) if gold else None, annotator,
                 json.dumps(producers), self._experts(insight, job)))
            if fingerprint is not None:
                conn.execute("UPDATE review_items SET fingerprint = ? WHERE id = ?",
                             (fingerprint, item_id))
        return item_id

    def _experts(self, insight: str, job: str | None) -> int:
        """How many verdicts an item asks for: the insight's rule, but never more than a
        sensitive library has people who may review it (its owner and readers)."""
        wanted = self.rules(insight).experts
        library = None if self.libraries is None else self.libraries.sensitive_library_of(job)
        return wanted if library is None else min(wanted, 1 + len(library.readers))
