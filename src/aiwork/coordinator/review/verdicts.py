"""Verdicts: an expert's signed ``human.verdict`` (sealed on a sensitive library's item),
checked and recorded, then scored (gold) or counted towards consensus."""

from __future__ import annotations

import json
import time
from typing import Any

from aiwork.coordinator.review.consensus import Consensus
from aiwork.coordinator.review.gold import GoldAnswers
from aiwork.errors import (
    AlreadyAnsweredError,
    CommitmentError,
    NotAssignedError,
    ReviewRefused,
)
from aiwork.coordinator.review.items import Item
from aiwork.model import Entry
from aiwork.model.commitment import open_fields
from aiwork.quality.review_items import check_correction, verdict_body

__all__ = ["Verdicts"]


class Verdicts(Consensus, GoldAnswers):
    """Recording experts' signed verdicts."""

    def verdict_body(self, item_id: str, verdict: str, value: Any = None,
                     rationale: str | None = None, seconds: float | None = None
                     ) -> dict[str, Any]:
        """The ``human.verdict`` body for an item (what an expert's client signs)."""
        item = self._get(item_id)
        return verdict_body(item.id, item.decision, item.insight, verdict, value, rationale,
                            seconds)

    def submit(self, expert: str, entry_bytes: bytes, openings: Any = None,
               now: float | None = None) -> int:
        """Record an expert's signed verdict; return its ledger index. Refused (nothing
        recorded) unless the item is assigned to the signer, unanswered, and the verdict is
        well formed. On a sensitive library's item the verdict is a sealed entry, and
        ``openings`` (``{"value": {value, salt}, "rationale": {value, salt}}``) open its
        commitments; they are kept for the library's readers."""
        entry = Entry.from_bytes(entry_bytes)
        if entry.kind not in ("human.verdict/v1", "human.verdict.sealed/v1"):
            raise ReviewRefused(f"a verdict is a human.verdict entry, not {entry.kind}")
        if entry.author != expert:
            raise NotAssignedError(f"the verdict is signed by {entry.author}, not by {expert}")
        body = entry.body
        item = self._get(str(body.get("item")))
        library = self._sensitive(item)
        sealed = entry.kind == "human.verdict.sealed/v1"
        if library is not None and not sealed:
            raise ReviewRefused(
                f"item {item.id} is in a sensitive library: its verdict must be a"
                " human.verdict.sealed entry, committing to the value and the rationale",
                hint="`aiwork review submit` seals it by itself")
        if library is None and sealed:
            raise ReviewRefused(f"item {item.id} is not in a sensitive library: give a plain"
                                " human.verdict")
        if sealed:
            try:
                body = {**body, **open_fields(entry.kind, body, openings, "the verdict's")}
            except CommitmentError as exc:
                raise ReviewRefused(str(exc)) from exc
            rationale = body.get("rationale")
            if rationale is not None and (not isinstance(rationale, str)
                                          or len(rationale) > 2000):
                raise ReviewRefused("a rationale is text of at most 2,000 characters")
        if body.get("decision") != item.decision or body.get("insight") != item.insight:
            raise ReviewRefused("the verdict names another decision or insight than its item")
        row = self._conn.execute(
            "SELECT verdict, released FROM review_assignments WHERE item = ? AND expert = ?",
            (item.id, expert)).fetchone()
        if row is None:
            raise NotAssignedError(f"item {item.id} is not assigned to {expert}",
                                hint="ask for an item with `aiwork review next`")
        if row[0] is not None:
            raise AlreadyAnsweredError(f"{expert} already gave a verdict on item {item.id} "
                                       f"(entry {row[0]})")
        verdict = str(body.get("verdict"))
        value = None
        if verdict == "correct":
            if body.get("value") is None:
                raise ReviewRefused("a correction needs the corrected value (--value JSON)")
            value = check_correction(item.insight, body["value"])
        elif body.get("value") is not None:
            raise ReviewRefused(f"a verdict of {verdict} carries no value")
        with self.log.db.atomic() as conn:
            if row[1] is not None:
                self._take_back(item, expert)
            index = self.append([entry])[0]
            if library is not None:
                assert self.libraries is not None
                self.libraries.keep_openings(
                    index, library.id, {name: openings[name] for name in ("value", "rationale")})
            changed = conn.execute(
                "UPDATE review_assignments SET verdict = ?, answer = ?, value = ?, released ="
                " NULL WHERE item = ? AND expert = ? AND verdict IS NULL",
                (index, verdict, json.dumps(value), item.id, expert)).rowcount
            if changed != 1:
                raise AlreadyAnsweredError(f"{expert} already gave a verdict on item {item.id}")
            now = time.time() if now is None else now
            if item.gold is not None:
                self._score_gold(item, expert, verdict, value, now)
            else:
                self._maybe_decide(item, now=now)
            self._settle_gold(expert, at_gold=item.gold is not None, now=now)
            self.settle_shrunk_panels(now)
        return index

    def _take_back(self, item: Item, expert: str) -> None:
        """An item ``expert`` handed back, answered after all: it must still be open and
        have a place among its experts (a gold item always has)."""
        (holders,) = self._conn.execute(
            "SELECT COUNT(*) FROM review_assignments WHERE item = ? AND released IS NULL",
            (item.id,)).fetchone()
        if item.state != "open" or (item.gold is None and int(holders) >= item.experts):
            raise NotAssignedError(
                f"item {item.id} went to other experts after you skipped it",
                hint="take the next item")
