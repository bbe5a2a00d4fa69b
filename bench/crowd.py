"""Simulated experts for the improvement benches: signing keys that answer whatever the review
engine serves them, through its real routes (``next_item``, ``verdict_body``, ``submit``),
until nothing is left to serve; then stalled items are decided as a day's wait would."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Sequence
from typing import Any

from aiwork.coordinator.review import ESCALATION_WAIT, Review
from aiwork.crypto import SigningKey
from aiwork.ledger.entries import sign_entry


class Crowd:
    """Experts, each right with its probability (``rights``), keyed from ``name`` and ``seed``
    (the same name and seed: the same experts). :meth:`answer` says what one of them answers
    to an item; a crowd reviewing several rounds keeps its keys and its random state."""

    def __init__(self, name: str, seed: int, rights: Sequence[float]) -> None:
        self.rng = random.Random(seed)
        self.keys = [(SigningKey(hashlib.sha256(f"{name} {seed} {n}".encode()).digest()), p)
                     for n, p in enumerate(rights)]

    def dids(self) -> list[str]:
        """The experts' identities (what a coordinator knows as its expert-role holders)."""
        return [key.did for key, _ in self.keys]

    def answer(self, review: Review, item: dict[str, Any], p: float, truth: Any
               ) -> tuple[str, Any]:
        """The answer (``accept``, ``reject`` or ``correct``) and the corrected value of an
        expert right with probability ``p`` to the served ``item``."""
        raise NotImplementedError

    def work(self, review: Review, truth: Any) -> int:
        """Review every open item; return the verdicts spent."""
        spent, busy = 0, True
        while busy:
            busy = False
            self.rng.shuffle(self.keys)
            for key, p in self.keys:
                item = review.next_item(key.did)
                if item is None:
                    continue
                busy = True
                answer, value = self.answer(review, item, p, truth)
                entry = sign_entry(key, "human.verdict",
                                   review.verdict_body(item["id"], answer, value))
                review.submit(key.did, entry.to_bytes())
                spent += 1
        review.decide_stalled(time.time() + ESCALATION_WAIT + 1)
        return spent
