"""Routing: the review items an accepted result calls for, by the insight's rules."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from aiwork.canonical import canonical_bytes
from aiwork.coordinator.review.base import ReviewBase
from aiwork.coordinator.review.items import ITEM_COLUMNS
from aiwork.errors import ReviewRefused
from aiwork.quality.review_items import Candidate, RoutingRules, candidates

__all__ = ["Routing"]


class Routing(ReviewBase):
    """Queuing the items an accepted result calls for."""

    def route(self, *, job: str | None, insight: str, decision: int, output: Any,
              producers: list[str], annotator: str, asset: str, disagreed: bool = False,
              shots: list[dict[str, Any]] | None = None) -> list[str]:
        """Create the review items an accepted result calls for; return their ids."""
        rules = self.rules(insight)
        made = []
        for candidate in candidates(insight, output, shots):
            reason = self._reason(rules, candidate, disagreed)
            if reason is not None:
                made.append(self.add_item(job=job, insight=insight, decision=decision,
                                          candidate=candidate, reason=reason, asset=asset,
                                          producers=producers, annotator=annotator))
        return made

    def _reason(self, rules: RoutingRules, candidate: Candidate, disagreed: bool) -> str | None:
        if candidate.confidence is not None and candidate.confidence < rules.confidence_below:
            return "low-confidence"
        if disagreed and rules.disagreement:
            return "disagreement"
        if self.rng.random() < rules.audit_share:
            return "audit"
        return None

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
