"""Gold items for experts: answers scored against the known ones, counted in batches
(:data:`~aiwork.coordinator.review.policy.GOLD_BATCH`) so no change can be tied to one."""

from __future__ import annotations

from typing import Any

from aiwork.coordinator.review.base import ReviewBase
from aiwork.coordinator.review.items import Item, category
from aiwork.coordinator.review.policy import GOLD_BATCH
from aiwork.ledger.entries import sign_entry
from aiwork.quality.reputation import Reputation, observe

__all__ = ["GoldAnswers"]


class GoldAnswers(ReviewBase):
    """Experts' answers on gold items, scored and settled in batches."""

    def _score_gold(self, item: Item, expert: str, verdict: str, value: Any,
                    now: float) -> None:
        """Score a gold answer against the known one; it counts later, in a batch."""
        assert item.gold is not None
        right = category(verdict) == item.gold["answer"]
        if right and verdict == "correct" and item.gold.get("value") is not None:
            right = self._close(item.insight, value, item.gold["value"])
        self._conn.execute(
            "INSERT INTO review_gold_pending (expert, insight, item, observation, right_answer,"
            " answered) VALUES (?, ?, ?, ?, ?, ?)",
            (expert, item.insight, item.id, 1.0 if right else 0.0, int(right), now))

    def _pending_gold(self, expert: str, insight: str | None = None) -> int:
        """How many of ``expert``'s gold answers (on ``insight``) wait for their batch."""
        if insight is None:
            row = self._conn.execute("SELECT COUNT(*) FROM review_gold_pending WHERE"
                                     " expert = ?", (expert,)).fetchone()
        else:
            row = self._conn.execute("SELECT COUNT(*) FROM review_gold_pending WHERE"
                                     " expert = ? AND insight = ?", (expert, insight)).fetchone()
        return int(row[0])

    def _settle_gold(self, expert: str, *, at_gold: bool, now: float) -> None:
        """Apply an expert's pending gold answers, all at once, when :data:`GOLD_BATCH` are in
        and this verdict is on a real item (at twice as many for an expert who gets only
        gold): one ``reputation.update`` per insight (the share right, no item named) and one
        ``reward.accrued`` for the right ones, within the daily cap on gold credits."""
        pending = self._pending_gold(expert)
        if pending < (2 * GOLD_BATCH if at_gold else GOLD_BATCH):
            return
        rows = self._conn.execute(
            "SELECT insight, observation, right_answer FROM review_gold_pending WHERE"
            " expert = ? ORDER BY answered", (expert,)).fetchall()
        by_insight: dict[str, list[float]] = {}
        for insight, observation, _ in rows:
            by_insight.setdefault(str(insight), []).append(float(observation))
        entries = []
        for insight, observations in sorted(by_insight.items()):
            before = self.reputation(expert).get(insight, Reputation())
            after = before
            for value in observations:
                after = observe(after, value, gold=True, policy=self.policy)
            self._save_reputation(expert, insight, after)
            entries.append(sign_entry(self.key, "reputation.update", {
                "subject": expert, "role": "expert", "insight": insight, "source": "gold",
                "observation": round(sum(observations) / len(observations), 4),
                "score": round(after.score, 4), "samples": after.samples,
                "quarantined": after.quarantined}))
        entries += self.accounts.gold_reward(
            self.key, expert, sum(int(r) for _, _, r in rows), self.price, now, job="review",
            reason=f"{len(rows)} gold answers settled together")
        self._conn.execute("DELETE FROM review_gold_pending WHERE expert = ?", (expert,))
        self.append(entries)

    @staticmethod
    def _close(insight: str, value: Any, answer: Any) -> bool:
        if insight == "shots":
            return abs(float(value) - float(answer)) <= 0.2
        if isinstance(value, str) and isinstance(answer, str):
            return value.strip().lower() == answer.strip().lower()
        return bool(value == answer)
