"""Consensus: truth inference over an item's verdicts, escalation to more experts, and the
``consensus.result`` entry with the reputation updates and rewards it brings."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from aiwork.coordinator.review.base import ReviewBase
from aiwork.coordinator.review.items import ITEM_COLUMNS, Item, category, item_from_row
from aiwork.coordinator.review.policy import (
    ESCALATE_BELOW,
    ESCALATION_STEP,
    ESCALATION_WAIT,
    MAX_ESCALATIONS,
    MAX_EXPERTS,
    TRUTH_METHOD,
)
from aiwork.ledger.entries import sign_entry
from aiwork.model import Entry
from aiwork.model.commitment import seal
from aiwork.quality.reputation import Reputation, observe
from aiwork.quality.review_items import combine_corrections

if TYPE_CHECKING:
    from aiwork.coordinator.review import Review

__all__ = ["Consensus"]


class Consensus(ReviewBase):
    """Deciding an item once its panel answered, or escalating it."""

    def _maybe_decide(self, item: Item, *, now: float | None = None,
                      stalled: bool = False) -> None:
        """Record the consensus on ``item`` once its panel has answered, or escalate it.

        An item is escalated when an expert corrected or rejected it and the inferred
        outcome's posterior is under :data:`ESCALATE_BELOW`; an escalated item is decided as
        soon as the posterior reaches the bar, when its enlarged panel is in (escalating again
        if rounds are left), or ``stalled``: when no more experts came in time."""
        answers = self._conn.execute(
            "SELECT expert, verdict, answer, value FROM review_assignments WHERE item = ? AND"
            " verdict IS NOT NULL ORDER BY verdict", (item.id,)).fetchall()
        (rounds, state) = self._conn.execute(
            "SELECT escalations, state FROM review_items WHERE id = ?", (item.id,)).fetchone()
        if state != "open":
            return
        full = len(answers) >= self._panel(item, answers)
        if not full and not rounds:
            return
        labels, skills = self._infer(item)
        # Nobody whose verdict counts answered (every one of them quarantined): ask more.
        label, posterior = labels.get(item.id, ("accept", 0.0))
        objected = item.id not in labels or any(
            category(answer) == "reject" for _, _, answer, _ in answers)
        unsure = objected and posterior < ESCALATE_BELOW
        if unsure and not stalled:
            if not full or self._escalate(item, time.time() if now is None else now):
                return
        corrections = [json.loads(v) for _, _, answer, v in answers if answer == "correct"]
        if label == "accept":
            outcome, value = "accepted", None
        elif corrections:
            outcome, value = "corrected", combine_corrections(item.insight, corrections)
        else:
            outcome, value = "rejected", None
        participants = [{"annotator": expert, "answer": category(answer),
                          "weight": round(skills.get(expert, 0.5), 4), "verdict": int(index)}
                         for expert, index, answer, _ in answers]
        body = {
            "item": item.id, "decision": item.decision, "insight": item.insight,
            "method": TRUTH_METHOD, "items": len(labels), "participants": participants,
            "label": label,
            "posterior": round(posterior, 4), "outcome": outcome, "value": value}
        library = self._sensitive(item)
        openings = None
        if library is None:
            consensus = sign_entry(self.key, "consensus.result", body)
        else:
            sealed, openings = seal(body, {"value": value})
            consensus = sign_entry(self.key, "consensus.result.sealed", sealed)
        entries = [consensus]
        for expert, _, answer, _ in answers:
            agreed = category(answer) == label
            entries += self._observe(expert, item, 1.0 if agreed else 0.0, "consensus")
            if agreed:
                entries.append(self._reward(expert, item, "verdict agreed with consensus"))
        with self.log.db.atomic() as conn:
            index = self.append(entries)[0]
            if library is not None and openings is not None:
                assert self.libraries is not None
                self.libraries.keep_openings(index, library.id, openings)
            conn.execute("UPDATE review_items SET state = 'decided' WHERE id = ?", (item.id,))
            conn.execute(
                "INSERT INTO review_outcomes (item, job, insight, item_id, outcome, value,"
                " consensus) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (item.id, item.job, item.insight, item.item, outcome, json.dumps(value), index))
            if self.on_outcome is not None and item.job is not None and outcome != "accepted":
                self.on_outcome(item.job, item.insight, cast("Review", self))

    def _panel(self, item: Item, answers: Sequence[Sequence[Any]]) -> int:
        """How many verdicts ``item`` waits for now, its ``answers`` (expert first) in."""
        panel = item.experts
        missing = panel - len(answers)
        if self._sensitive(item) is not None:
            # A sensitive library's panel is its readers with the expert role: when all who
            # can answer did, nobody else will come (its owner may hold no expert role).
            return min(panel, max(1, self._eligible(item)))
        if missing > 0 and answers:
            # Experts quarantined on the insight can no longer answer (only gold answers
            # release them): when they alone keep the panel from filling, it is those who
            # answered and those who still may. (Too few experts registered yet is waited for:
            # more may join.)
            free = self._eligible(item, besides=answers, enough=missing)
            if free < missing and free + self._eligible(
                    item, besides=answers, enough=missing - free, barred=True) >= missing:
                return len(answers) + free
        return panel

    def _escalate(self, item: Item, now: float) -> bool:
        """Ask :data:`ESCALATION_STEP` more experts about ``item``, unless it had its
        :data:`MAX_ESCALATIONS` rounds or :data:`MAX_EXPERTS` experts, or nobody else can
        answer it (every eligible expert is on its panel already); say whether it did."""
        cap = min(MAX_EXPERTS, self._eligible(item))
        with self.log.db.atomic() as conn:
            changed = conn.execute(
                "UPDATE review_items SET experts = CASE WHEN experts + ? > ? THEN ? ELSE"
                " experts + ? END, escalations = escalations + 1, escalated = ? WHERE id = ?"
                " AND escalations < ? AND experts < ?",
                (ESCALATION_STEP, cap, cap, ESCALATION_STEP, now, item.id,
                 MAX_ESCALATIONS, cap)).rowcount
        return changed == 1

    def _eligible(self, item: Item, besides: Sequence[Sequence[Any]] = (),
                  enough: int | None = None, barred: bool = False) -> int:
        """How many experts could ever answer ``item``: holders of the expert role who may
        read its library (if it is sensitive), own none of the keys that made it, and are not
        quarantined on its insight (:data:`MAX_EXPERTS` when the experts are not known);
        ``besides``: answers (expert first) whose experts are not counted; ``enough``: stop
        counting there (a verdict then costs a few lookups, however many experts there are);
        ``barred``: count those who could but for their quarantine instead."""
        if self.experts is None:
            return 0 if barred else MAX_EXPERTS
        library = self._sensitive(item)
        quarantined = {row[0] for row in self._conn.execute(
            "SELECT expert FROM review_reputation WHERE insight = ? AND quarantined = 1",
            (item.insight,))}
        answered = {str(answer[0]) for answer in besides}
        experts = set(self.experts()) - answered
        count = 0
        for expert in sorted(experts & quarantined if barred else experts - quarantined):
            if (library is None or library.is_reader(expert)) \
                    and not self._conflicted(expert, item.producers):
                count += 1
                if enough is not None and count >= enough:
                    break
        return count

    def settle_shrunk_panels(self, now: float | None = None) -> None:
        """After experts were quarantined on an insight: decide its open items that every
        expert who can still answer them has answered (they would wait for good otherwise;
        at most 200 items an insight per call, the oldest first)."""
        while self._shrunk:
            insight = self._shrunk.pop()
            rows = self._conn.execute(
                f"SELECT {ITEM_COLUMNS} FROM review_items i WHERE i.state = 'open' AND"
                " i.gold IS NULL AND i.insight = ? AND EXISTS (SELECT 1 FROM"
                " review_assignments a WHERE a.item = i.id AND a.verdict IS NOT NULL)"
                " ORDER BY i.seq LIMIT 200", (insight,)).fetchall()
            for item in map(item_from_row, rows):
                self._maybe_decide(item, now=now)

    def decide_stalled(self, now: float | None = None) -> int:
        """Decide, on the verdicts in, the escalated items that waited
        :data:`ESCALATION_WAIT` since their last escalation for experts who did not come;
        return how many. (Called as experts ask for items; an escalation never leaves an item
        undecided for good.)"""
        now = time.time() if now is None else now
        rows = self._conn.execute(
            f"SELECT {ITEM_COLUMNS} FROM review_items WHERE state = 'open' AND"
            " escalations > 0 AND escalated <= ? ORDER BY seq LIMIT 100",
            (now - ESCALATION_WAIT,)).fetchall()
        for item in map(item_from_row, rows):
            self._maybe_decide(item, now=now, stalled=True)
        return len(rows)

    def _infer(self, item: Item) -> tuple[dict[str, tuple[str, float]], dict[str, float]]:
        """Truth inference over ``item`` and the latest ``truth_window`` answered items of its
        insight: gold items anchor the annotators' skills, quarantined experts do not count,
        and the AI model never votes on the acceptance of its own output (it would always
        answer "accept", and outvote a right correction)."""
        from aiwork.quality.truth import infer_truth

        insight = item.insight
        answered = ("EXISTS (SELECT 1 FROM review_assignments a WHERE a.item = i.id AND"
                    " a.verdict IS NOT NULL)")
        edge = self._conn.execute(
            f"SELECT i.seq FROM review_items i WHERE i.insight = ? AND {answered}"
            " ORDER BY i.seq DESC LIMIT 1 OFFSET ?", (insight, self.truth_window - 1)).fetchone()
        rows = self._conn.execute(
            "SELECT i.id, i.annotator, i.gold, a.expert, a.answer FROM review_items i JOIN"
            " review_assignments a ON a.item = i.id WHERE i.insight = ? AND a.verdict IS NOT"
            " NULL AND (i.seq >= ? OR i.id = ?)",
            (insight, 0 if edge is None else int(edge[0]), item.id)).fetchall()
        excluded = {row[0] for row in self._conn.execute(
            "SELECT expert FROM review_reputation WHERE insight = ? AND quarantined = 1",
            (insight,))}
        answers: list[tuple[str, str, str]] = []
        gold: dict[str, str] = {}
        seen: set[str] = set()
        for item_id, annotator, gold_json, expert, answer in rows:
            if item_id not in seen:
                seen.add(item_id)
                if gold_json:
                    gold[item_id] = json.loads(gold_json)["answer"]
            if expert not in excluded:
                answers.append((item_id, expert, category(answer)))
        if not answers:
            return {}, {}
        result = infer_truth(answers, method=TRUTH_METHOD, gold=gold)
        return ({item: (r.label, r.probability) for item, r in result.items.items()},
                {name: skill.accuracy for name, skill in result.annotators.items()})

    def _observe(self, expert: str, item: Item, value: float, source: str) -> list[Entry]:
        before = self.reputation(expert).get(item.insight, Reputation())
        after = observe(before, value, gold=source == "gold", policy=self.policy)
        self._save_reputation(expert, item.insight, after)
        return [sign_entry(self.key, "reputation.update", {
            "subject": expert, "role": "expert", "insight": item.insight, "source": source,
            "observation": value, "score": round(after.score, 4), "samples": after.samples,
            "quarantined": after.quarantined, "task": item.id})]

    def _reward(self, expert: str, item: Item, reason: str) -> Entry:
        return sign_entry(self.key, "reward.accrued", {
            "to": expert, "payer": self.key.did, "amount": self.price,
            "job": item.job or "review", "task": item.id, "reason": reason})
