"""Assignment: which item an expert is served next (blind, never their own work, gold mixed
in), serving it again, and why there is none."""

from __future__ import annotations

import json
import time
from typing import Any

from aiwork.coordinator.review.consensus import Consensus
from aiwork.coordinator.review.gold import GoldAnswers
from aiwork.coordinator.review.items import ITEM_COLUMNS, Item, item_from_row
from aiwork.coordinator.review.policy import GOLD_REPEAT_WINDOW, REVIEW_PURPOSE
from aiwork.errors import AiworkError, AlreadyAnsweredError, NotAssignedError
from aiwork.model import Entry
from aiwork.quality.reputation import Reputation
from aiwork.quality.review_items import REVIEWABLE, VERDICTS

__all__ = ["HOLDERS", "Assignment"]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None

#: How many experts hold a place on item ``review_items i`` (assigned it, not handed back).
HOLDERS = ("(SELECT COUNT(*) FROM review_assignments a WHERE a.item = i.id AND"
           " a.released IS NULL)")
#: Items ``review_items i`` the expert bound to the ``?`` has not been assigned (nor handed
#: back: a skipped item is not served to them again).
_NOT_MINE = ("NOT EXISTS (SELECT 1 FROM review_assignments a WHERE a.item = i.id AND"
             " a.expert = ?)")


class Assignment(Consensus, GoldAnswers):
    """Serving items to experts: blind, never their own work, gold mixed in."""

    def next_item(self, expert: str, now: float | None = None) -> dict[str, Any] | None:
        """Assign the expert an item to review (blind), or None when there is none."""
        now = time.time() if now is None else now
        self.decide_stalled(now)
        with self.log.db.atomic() as conn:
            quarantined = {row[0] for row in conn.execute(
                "SELECT insight FROM review_reputation WHERE expert = ? AND quarantined = 1",
                (expert,))}
            rows = self._open_items(expert)
            # Gold items are never used up: every expert may answer each one once, and never
            # the same question (another item with its fingerprint) within the window.
            rows += conn.execute(
                f"SELECT {ITEM_COLUMNS} FROM review_items i WHERE i.state = 'open' AND"
                f" i.gold IS NOT NULL AND {_NOT_MINE} AND NOT EXISTS (SELECT 1 FROM"
                " review_assignments a JOIN review_items j ON j.id = a.item WHERE"
                " a.expert = ? AND j.fingerprint = i.fingerprint AND a.assigned > ?)"
                " ORDER BY i.seq LIMIT 200",
                (expert, expert, now - GOLD_REPEAT_WINDOW)).fetchall()
            items = [it for it in map(item_from_row, rows)
                     if (it.insight not in quarantined or it.gold is not None)
                     and not self._conflicted(expert, it.producers)]
            if not items:
                return None
            gold = [it for it in items if it.gold is not None]
            plain = [it for it in items if it.gold is None]
            insight = (plain or gold)[0].insight
            share = self.rules(insight).gold_share
            # Newcomers qualify first: an expert's first verdicts on an insight are on gold
            # items, so their reputation rests on answers nobody can game before their
            # verdicts weigh in any consensus.
            known = (self.reputation(expert).get(insight, Reputation()).samples
                     + self._pending_gold(expert, insight))
            qualifying = known < self.policy.min_samples
            pick = (self.rng.choice(gold)
                    if gold and (not plain or qualifying or self.rng.random() < share)
                    else plain[0])
            conn.execute("INSERT INTO review_assignments (item, expert, assigned) VALUES"
                         " (?, ?, ?)", (pick.id, expert, now))
            return self._serve(pick, expert)

    def _open_items(self, expert: str, limit: int = 200) -> list[Any]:
        """The first ``limit`` rows of the open, not gold items ``expert`` has not taken that
        still want experts; a sensitive library's only if ``expert`` is its owner or one of
        the readers it added."""
        rows: list[Any] = []
        after = 0
        while len(rows) < limit:
            page = self._conn.execute(
                f"SELECT i.seq, {ITEM_COLUMNS} FROM review_items i WHERE i.state = 'open' AND"
                f" i.gold IS NULL AND {_NOT_MINE} AND {HOLDERS} < i.experts AND i.seq > ? ORDER BY"
                " i.seq LIMIT ?",
                (expert, after, limit)).fetchall()
            if not page:
                break
            after = int(page[-1][0])
            hidden = self._hidden_jobs(expert, [row[2] for row in page])
            rows += [row[1:] for row in page if row[2] not in hidden]
        return rows[:limit]

    def _hidden_jobs(self, expert: str, jobs: list[str | None]) -> set[str]:
        """Those of ``jobs`` in sensitive libraries ``expert`` may not review."""
        if self.libraries is None:
            return set()
        return self.libraries.hidden_jobs(expert, [job for job in jobs if job is not None])

    def serve(self, item_id: str, expert: str) -> dict[str, Any]:
        """An item assigned to ``expert``, again (a sensitive library's, only while they may
        still read it; logged like the first time)."""
        with self.log.db.atomic():
            item = self._get(item_id)
            if not self.assigned(item_id, expert):
                raise NotAssignedError(f"item {item_id} is not assigned to {expert}")
            return self._serve(item, expert)

    def release(self, item_id: str, expert: str, now: float | None = None) -> dict[str, Any]:
        """Hand an unanswered item back to the queue: it no longer holds a place among its
        experts, so another expert may take it; ``expert`` is not served it again, and may
        still answer it while it has room (:meth:`submit` takes the place back)."""
        now = time.time() if now is None else now
        with self.log.db.atomic() as conn:
            item = self._get(item_id)
            row = conn.execute("SELECT verdict FROM review_assignments WHERE item = ? AND"
                               " expert = ?", (item.id, expert)).fetchone()
            if row is None:
                raise NotAssignedError(f"item {item.id} is not assigned to {expert}")
            if row[0] is not None:
                raise AlreadyAnsweredError(f"{expert} already gave a verdict on item {item.id}"
                                           f" (entry {row[0]}): it cannot be handed back")
            conn.execute("UPDATE review_assignments SET released = COALESCE(released, ?)"
                         " WHERE item = ? AND expert = ?", (now, item.id, expert))
        return {"item": item.id, "released": True}

    def _serve(self, item: Item, expert: str) -> dict[str, Any]:
        """The item as ``expert`` sees it; a sensitive library's item only if they may read
        it, and only once its ``access.read`` entry is in the log."""
        library = self._sensitive(item)
        if library is None:
            return self.public(item)
        if not library.is_reader(expert):
            raise NotAssignedError(f"{expert} may not read the sensitive library {library.id}")
        assert self.libraries is not None and item.job is not None
        access = self.libraries.record_read(item.job, expert, f"review/{item.id}",
                                            REVIEW_PURPOSE)
        return {**self.public(item), "sensitive": True, "access_entry": access}

    def empty_reason(self, expert: str) -> str:
        """Why :meth:`next_item` has nothing for ``expert``, in words an expert can act on."""
        conn = self._conn
        # A sensitive library's items are not counted for those who may not read it.
        counts = conn.execute("SELECT job, COUNT(*) FROM review_items WHERE gold IS NULL"
                              " GROUP BY job").fetchall()
        hidden = self._hidden_jobs(expert, [job for job, _ in counts])
        routed = sum(int(n) for job, n in counts if job not in hidden)
        if routed == 0:
            shares = sorted({self.rules(name).audit_share for name in REVIEWABLE})
            share = (f"{shares[0]:.0%}" if shares[0] == shares[-1]
                     else f"{shares[0]:.0%} to {shares[-1]:.0%}")
            return ("no item to review: no job has items routed to review yet (items go to "
                    "review when a finished task's items are unsure, its replicas disagree, "
                    f"or at random: audit_share {share}; an admin changes it with "
                    "`aiwork review rules INSIGHT --set audit_share=0.5`)")
        rows = conn.execute(
            f"SELECT i.id, i.insight, i.producers, i.experts, {HOLDERS}, EXISTS (SELECT 1 FROM"
            " review_assignments a WHERE a.item = i.id AND a.expert = ?), i.job FROM"
            " review_items i WHERE i.state = 'open' AND i.gold IS NULL", (expert,)).fetchall()
        rows = [row for row in rows if row[6] not in hidden]
        if not rows:
            return (f"no item to review: all {routed} items routed to review are decided; "
                    "new ones come with new jobs")
        quarantined = {row[0] for row in conn.execute(
            "SELECT insight FROM review_reputation WHERE expert = ? AND quarantined = 1",
            (expert,))}
        yours = sum(1 for r in rows if r[5])
        full = sum(1 for r in rows if not r[5] and int(r[4]) >= int(r[3]))
        owned = sum(1 for r in rows if not r[5] and int(r[4]) < int(r[3])
                    and self._conflicted(expert, json.loads(r[2])))
        barred = sum(1 for r in rows if not r[5] and int(r[4]) < int(r[3])
                     and r[1] in quarantined)
        parts = [f"{n} {what}" for n, what in (
            (yours, "already assigned to you, skipped or answered by you"),
            (full, "assigned to as many experts as they ask for"),
            (owned, "made by worker keys you own (you never review your own work)"),
            (barred, "of an insight you are quarantined on"),
        ) if n]
        detail = "; ".join(parts) or "none you may review"
        return f"no item to review: of {len(rows)} open items, {detail}"

    def public(self, item: Item) -> dict[str, Any]:
        """What an expert sees (the contract's ``ReviewItem``): the question, the AI's value,
        where it is in which video, and what produced it (read from its ``ai.decision`` in the
        log); never other answers, the gold flag or why it was routed. A sensitive library's
        item also says ``sensitive: true``: its verdict is sealed."""
        evidence = item.evidence
        job = evidence.get("job", item.job) if item.gold is not None else item.job
        return {"id": item.id, "insight": item.insight, "question": item.question,
                "value": item.value, "evidence": evidence,
                "verdicts": list(VERDICTS), "job": job, "decision": item.decision, "item": item.item,
                "asset": _text(evidence.get("asset")), "start": _number(evidence.get("start")),
                "end": _number(evidence.get("end")),
                "keyframe": _text(evidence.get("keyframe")),
                "confidence": _number(evidence.get("confidence")),
                **self._produced_by(item)}

    def _produced_by(self, item: Item) -> dict[str, Any]:
        """The analyzer and model of the item's decision, what it was derived from and the
        alternatives it recorded for this item; empty values when the decision is not an
        ``ai.decision`` in this log, or when they are sealed (a sensitive library's)."""
        facts: dict[str, Any] = {"alternatives": [], "derived_from": [], "analyzer": None,
                                 "analyzer_version": None, "model": None}
        try:
            entry = Entry.from_bytes(self.log.get(item.decision))
        except AiworkError:
            return facts
        if not entry.kind.startswith("ai.decision"):
            return facts
        body = entry.body
        model = body.get("model")
        if isinstance(model, dict) and {"name", "version"} <= set(model):
            facts["model"] = {"name": str(model["name"]), "version": str(model["version"]),
                              "weights_digest": _text(model.get("weights_digest"))}
        facts["analyzer"] = _text(body.get("analyzer"))
        facts["analyzer_version"] = _text(body.get("analyzer_version"))
        given = body.get("input")
        upstream = given.get("derived_from") if isinstance(given, dict) else None
        if isinstance(upstream, list):
            facts["derived_from"] = [{"insight": str(u["insight"]), "decision": int(u["decision"])}
                                     for u in upstream if isinstance(u, dict)
                                     and "insight" in u and isinstance(u.get("decision"), int)]
        recorded = body.get("evidence")
        others = recorded.get("alternatives") if isinstance(recorded, dict) else None
        if isinstance(others, list):  # an item's alternatives name its id (OCR's spellings)
            facts["alternatives"] = [
                {k: v for k, v in other.items() if k != "id"} for other in others
                if isinstance(other, dict) and other.get("id") == item.item][:20]
        return facts
