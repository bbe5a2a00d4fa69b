"""Human review of AI items: routing, blind assignment, signed verdicts, consensus.

When a task's result is accepted, its items are routed to human experts by the insight's
:class:`~aiwork.quality.review_items.RoutingRules` (low confidence, replicas that disagreed,
a random audit share); gold items with known answers are mixed in, unmarked. Each item goes to
``experts`` experts, blind: an expert sees the question, the AI's value and the evidence,
never the other answers nor whether the item is gold, and never an item made by a worker key
they own. A verdict is a ``human.verdict`` entry the expert signs. When an item has all its
verdicts, the verdicts on every item of that insight are combined by truth inference
(:mod:`aiwork.quality.truth`) over the experts alone: the AI model whose output is judged never
votes on its acceptance. When an expert corrected or rejected the item and the posterior of the
inferred outcome is under :data:`ESCALATE_BELOW`, the item goes to :data:`ESCALATION_STEP` more
experts (at most :data:`MAX_ESCALATIONS` times, never beyond :data:`MAX_EXPERTS` nor beyond the
experts who may answer it: when nobody else can, it is decided at once) before a
consensus is recorded, so one careless accept cannot outvote a right correction. The result is
a ``consensus.result`` entry, and it changes the job's published results (a rejected item is
dropped, a corrected one replaced). Experts' reputations per insight follow
gold accuracy and agreement with consensus (``reputation.update``); verdicts that agree earn
credits (``reward.accrued``).

Items of a *sensitive* library go only to experts who may read it (its owner and the readers
it added, holding the expert role), and each serving is an ``access.read`` entry in the
library's access log. Their verdicts and consensus are sealed entries: corrections,
rationales and corrected values are in the public log only as salted commitments
(:mod:`aiwork.model.commitment`), their openings kept for the library's readers.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiwork.coordinator.accounts import Accounts
from aiwork.coordinator.libraries import Libraries, Library
from aiwork.canonical import canonical_bytes
from aiwork.crypto import SigningKey
from aiwork.errors import (
    AlreadyAnsweredError,
    CommitmentError,
    InputError,
    NotAssignedError,
    ReviewRefused,
    UnknownReviewItemError,
)
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.model import Entry
from aiwork.model.commitment import open_fields, seal
from aiwork.quality.reputation import Reputation, ReputationPolicy, observe
from aiwork.quality.review_items import (
    REVIEWABLE,
    Candidate,
    RoutingRules,
    candidates,
    check_correction,
    combine_corrections,
)
from aiwork.store import Migration

__all__ = [
    "EXPERT_POLICY",
    "Review",
    "TRUTH_METHOD",
    "review_changes",
    "review_entries",
    "review_summary",
]

#: The truth-inference method consensus uses (see :mod:`aiwork.quality.truth`).
TRUTH_METHOD = "aiwork"
#: How many of an insight's most recent answered items one consensus infers over (besides the
#: item being decided): annotators' skills come from their recent work, and a decision costs
#: the same on the millionth item as on the thousandth.
TRUTH_WINDOW = 2000

#: Experts answer yes/no questions, where a guess is right half the time: five answers
#: cannot tell a 0.9 expert from a 0.6 one (P(at most 3 of 5 right | 0.9) = 8 %), ten mostly
#: can (1.3 % for at most 6 of 10), so an expert is judged on ten observations at least.
EXPERT_POLICY = ReputationPolicy(min_samples=10)
#: The purpose logged when a sensitive library's item is served to an expert.
REVIEW_PURPOSE = "expert review"

#: An item an expert corrected or rejected is decided only when the inferred outcome's
#: posterior reaches this bar; below it the item is escalated to more experts.
ESCALATE_BELOW = 0.9
#: Experts added by one escalation round (two keep a panel of three odd: 3, 5, 7).
ESCALATION_STEP = 2
#: Escalation rounds an item may have; past them the consensus is recorded as it stands.
MAX_ESCALATIONS = 2
#: No escalation takes an item beyond this many experts.
MAX_EXPERTS = 7
#: An escalated item that has not reached the bar nor its enlarged panel this long after its
#: last escalation (no more experts came) is decided on the verdicts in.
ESCALATION_WAIT = 24 * 3600.0

#: Gold answers are scored in batches: an expert's reputation and credits change only once
#: this many of their gold answers are in, together, at one of their verdicts on a real item
#: (an expert who gets only gold, a newcomer or a quarantined expert, at twice as many), so no
#: change can be tied to one gold verdict. The reputation entry names no item.
GOLD_BATCH = 5
#: An expert is never served the same gold item (the same insight, media and value) twice
#: within this many seconds, however many workers' results made it.
GOLD_REPEAT_WINDOW = 30 * 86400.0


def _tables(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE review_rules (insight TEXT PRIMARY KEY, rules TEXT NOT NULL)")
    conn.execute(
        "CREATE TABLE review_items (id TEXT PRIMARY KEY, seq INTEGER NOT NULL,"
        " job TEXT, insight TEXT NOT NULL, decision INTEGER NOT NULL, item INTEGER NOT NULL,"
        " question TEXT NOT NULL, value TEXT NOT NULL, evidence TEXT NOT NULL,"
        " reason TEXT NOT NULL, gold TEXT, annotator TEXT NOT NULL, producers TEXT NOT NULL,"
        " experts INTEGER NOT NULL, state TEXT NOT NULL)")
    conn.execute("CREATE INDEX review_items_open ON review_items (state, seq)")
    conn.execute("CREATE INDEX review_items_job ON review_items (job)")
    conn.execute(
        "CREATE TABLE review_assignments (item TEXT NOT NULL, expert TEXT NOT NULL,"
        " assigned DOUBLE PRECISION NOT NULL, verdict INTEGER, answer TEXT, value TEXT,"
        " PRIMARY KEY (item, expert))")
    conn.execute(
        "CREATE TABLE review_outcomes (item TEXT PRIMARY KEY, job TEXT, insight TEXT NOT NULL,"
        " item_id INTEGER NOT NULL, outcome TEXT NOT NULL, value TEXT,"
        " consensus INTEGER NOT NULL)")
    conn.execute(
        "CREATE TABLE review_reputation (expert TEXT NOT NULL, insight TEXT NOT NULL,"
        " score DOUBLE PRECISION NOT NULL, weight DOUBLE PRECISION NOT NULL,"
        " samples INTEGER NOT NULL, quarantined INTEGER NOT NULL,"
        " PRIMARY KEY (expert, insight))")
    conn.execute("CREATE TABLE review_owners (key TEXT PRIMARY KEY, owner TEXT NOT NULL)")


def _insight_index(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE INDEX review_items_insight ON review_items (insight, seq)")


def _escalations(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE review_items ADD COLUMN escalations INTEGER NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE review_items ADD COLUMN escalated DOUBLE PRECISION")


def _blind_gold(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE review_items ADD COLUMN fingerprint TEXT")
    conn.execute("CREATE INDEX review_items_fingerprint ON review_items (fingerprint)")
    conn.execute(
        "CREATE TABLE review_gold_pending (expert TEXT NOT NULL, insight TEXT NOT NULL,"
        " item TEXT NOT NULL, observation DOUBLE PRECISION NOT NULL, right_answer INTEGER"
        " NOT NULL, answered DOUBLE PRECISION NOT NULL, PRIMARY KEY (expert, item))")


MIGRATIONS = [Migration("review-0001-tables", _tables),
              Migration("review-0002-insight-index", _insight_index),
              Migration("review-0003-escalations", _escalations),
              Migration("review-0004-blind-gold", _blind_gold)]


def _category(verdict: str) -> str:
    """The categorical answer truth inference combines: a correction rejects the AI value."""
    return "accept" if verdict == "accept" else "reject"


@dataclass(frozen=True)
class _Item:
    id: str
    job: str | None
    insight: str
    decision: int
    item: int
    question: str
    value: Any
    evidence: dict[str, Any]
    reason: str
    gold: dict[str, Any] | None
    annotator: str
    producers: list[str]
    experts: int
    state: str


_ITEM_COLUMNS = ("id, job, insight, decision, item, question, value, evidence, reason, gold,"
                 " annotator, producers, experts, state")


def _item(row: Any) -> _Item:
    return _Item(row[0], row[1], row[2], int(row[3]), int(row[4]), row[5], json.loads(row[6]),
                 json.loads(row[7]), row[8], json.loads(row[9]) if row[9] else None, row[10],
                 json.loads(row[11]), int(row[12]), row[13])


class Review:
    """The review engine over a coordinator's log and store.

    ``append`` appends entries and applies the credits they move in one transaction (the
    coordinator's); ``key`` signs consensus, reputation and reward entries.
    """

    def __init__(self, log: Log, key: SigningKey, append: Callable[[list[Entry]], list[int]],
                 *, policy: ReputationPolicy = EXPERT_POLICY, price: int = 1,
                 truth_window: int = TRUTH_WINDOW, rng: random.Random | None = None,
                 libraries: Libraries | None = None,
                 experts: Callable[[], list[str]] | None = None) -> None:
        if truth_window < 1:
            raise InputError(f"the truth-inference window must be at least 1, not {truth_window}")
        self.truth_window = truth_window
        self.log = log
        self.key = key
        self.append = append
        self.policy = policy
        self.price = price
        self.rng = rng or random.Random()
        self.libraries = libraries
        # The identities holding the expert role (None: not known, escalation is not capped
        # by them).
        self.experts = experts
        self.accounts = Accounts(log.db)
        log.db.migrate(MIGRATIONS)

    @property
    def _conn(self) -> sqlite3.Connection:
        return self.log.db.conn

    # -- rules ------------------------------------------------------------------------------

    def rules(self, insight: str) -> RoutingRules:
        row = self._conn.execute("SELECT rules FROM review_rules WHERE insight = ?",
                                 (insight,)).fetchone()
        return RoutingRules.model_validate_json(row[0]) if row else RoutingRules()

    def all_rules(self) -> dict[str, dict[str, Any]]:
        return {name: self.rules(name).model_dump() for name in REVIEWABLE}

    def set_rules(self, insight: str, values: dict[str, Any]) -> RoutingRules:
        if insight not in REVIEWABLE:
            raise ReviewRefused(f"{insight!r} items are not reviewed",
                                hint=f"one of: {', '.join(REVIEWABLE)}")
        from pydantic import ValidationError

        try:
            rules = RoutingRules.model_validate({**self.rules(insight).model_dump(), **values})
        except ValidationError as exc:
            raise ReviewRefused(f"routing rules refused: {exc.errors()[0]['loc']}: "
                                f"{exc.errors()[0]['msg']}") from exc
        with self.log.db.atomic() as conn:
            conn.execute("INSERT INTO review_rules (insight, rules) VALUES (?, ?) ON CONFLICT"
                         " (insight) DO UPDATE SET rules = excluded.rules",
                         (insight, rules.model_dump_json()))
        return rules

    # -- owners -----------------------------------------------------------------------------

    def set_owner(self, key: str, owner: str) -> None:
        """``owner`` controls ``key`` (a worker key): the owner never reviews its items."""
        with self.log.db.atomic() as conn:
            conn.execute("INSERT INTO review_owners (key, owner) VALUES (?, ?) ON CONFLICT"
                         " (key) DO UPDATE SET owner = excluded.owner", (key, owner))

    def _owner(self, key: str) -> str:
        row = self._conn.execute("SELECT owner FROM review_owners WHERE key = ?",
                                 (key,)).fetchone()
        return str(row[0]) if row else key

    def _conflicted(self, expert: str, producers: list[str]) -> bool:
        mine = self._owner(expert)
        return any(p == expert or self._owner(p) in (expert, mine) for p in producers)

    # -- routing ----------------------------------------------------------------------------

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
                 gold: dict[str, Any] | None = None) -> str:
        """Queue one item for review; ``gold`` (``{"answer": accept|reject, "value": ...}``)
        makes it a hidden gold item."""
        if gold is not None and gold.get("answer") not in ("accept", "reject"):
            raise ReviewRefused("a gold item's answer is accept or reject")
        item_id = uuid.uuid4().hex
        evidence = {"asset": asset, "start": candidate.start, "end": candidate.end,
                    "keyframe": candidate.keyframe, "decision": decision}
        # What makes two gold items the same question to an expert: a second worker's result
        # over the same gold clip makes a new item, not a new question.
        value = round(float(candidate.value), 1) if insight == "shots" else candidate.value
        fingerprint = None if gold is None else hashlib.sha256(canonical_bytes(
            {"insight": insight, "asset": asset, "value": value})).hexdigest()
        with self.log.db.atomic() as conn:
            (seq,) = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM review_items").fetchone()
            conn.execute(
                f"INSERT INTO review_items (seq, {_ITEM_COLUMNS}) VALUES"
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

    # -- experts ----------------------------------------------------------------------------

    def next_item(self, expert: str, now: float | None = None) -> dict[str, Any] | None:
        """Assign the expert an item to review (blind), or None when there is none."""
        now = time.time() if now is None else now
        self.decide_stalled(now)
        with self.log.db.atomic() as conn:
            quarantined = {row[0] for row in conn.execute(
                "SELECT insight FROM review_reputation WHERE expert = ? AND quarantined = 1",
                (expert,))}
            mine = ("NOT EXISTS (SELECT 1 FROM review_assignments a WHERE a.item = i.id AND"
                    " a.expert = ?)")
            # A sensitive library's items go only to its owner and the readers it added.
            hidden, bound = self._hidden(expert)
            rows = conn.execute(
                f"SELECT {_ITEM_COLUMNS} FROM review_items i WHERE i.state = 'open' AND"
                f" i.gold IS NULL AND {mine}{hidden} AND (SELECT COUNT(*) FROM"
                " review_assignments a WHERE a.item = i.id) < i.experts ORDER BY i.seq"
                " LIMIT 200", (expert, *bound)).fetchall()
            # Gold items are never used up: every expert may answer each one once, and never
            # the same question (another item with its fingerprint) within the window.
            rows += conn.execute(
                f"SELECT {_ITEM_COLUMNS} FROM review_items i WHERE i.state = 'open' AND"
                f" i.gold IS NOT NULL AND {mine} AND NOT EXISTS (SELECT 1 FROM"
                " review_assignments a JOIN review_items j ON j.id = a.item WHERE"
                " a.expert = ? AND j.fingerprint = i.fingerprint AND a.assigned > ?)"
                " ORDER BY i.seq LIMIT 200",
                (expert, expert, now - GOLD_REPEAT_WINDOW)).fetchall()
            items = [it for it in map(_item, rows)
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

    def _hidden(self, expert: str) -> tuple[str, tuple[str, ...]]:
        """An SQL condition (and its values) leaving out the items ``review_items i`` of
        sensitive libraries ``expert`` may not read."""
        if self.libraries is None:
            return "", ()
        return f" AND NOT {self.libraries.unreadable_job('i.job')}", (expert, expert)

    def serve(self, item_id: str, expert: str) -> dict[str, Any]:
        """An item assigned to ``expert``, again (a sensitive library's, only while they may
        still read it; logged like the first time)."""
        with self.log.db.atomic():
            item = self._get(item_id)
            if not self.assigned(item_id, expert):
                raise NotAssignedError(f"item {item_id} is not assigned to {expert}")
            return self._serve(item, expert)

    def _sensitive(self, item: _Item) -> Library | None:
        return None if self.libraries is None else self.libraries.sensitive_library_of(item.job)

    def _serve(self, item: _Item, expert: str) -> dict[str, Any]:
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
        hidden, bound = self._hidden(expert)
        (routed,) = conn.execute(f"SELECT COUNT(*) FROM review_items i WHERE i.gold IS NULL"
                                 f"{hidden}", bound).fetchone()
        if int(routed) == 0:
            shares = sorted({self.rules(name).audit_share for name in REVIEWABLE})
            share = (f"{shares[0]:.0%}" if shares[0] == shares[-1]
                     else f"{shares[0]:.0%} to {shares[-1]:.0%}")
            return ("no item to review: no job has items routed to review yet (items go to "
                    "review when a finished task's items are unsure, its replicas disagree, "
                    f"or at random: audit_share {share}; an admin changes it with "
                    "`aiwork review rules INSIGHT --set audit_share=0.5`)")
        rows = conn.execute(
            "SELECT i.id, i.insight, i.producers, i.experts, (SELECT COUNT(*) FROM"
            " review_assignments a WHERE a.item = i.id), EXISTS (SELECT 1 FROM"
            " review_assignments a WHERE a.item = i.id AND a.expert = ?) FROM review_items i"
            f" WHERE i.state = 'open' AND i.gold IS NULL{hidden}", (expert, *bound)).fetchall()
        if not rows:
            return (f"no item to review: all {int(routed)} items routed to review are decided; "
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
            (yours, "already assigned to you or answered by you"),
            (full, "assigned to as many experts as they ask for"),
            (owned, "made by worker keys you own (you never review your own work)"),
            (barred, "of an insight you are quarantined on"),
        ) if n]
        detail = "; ".join(parts) or "none you may review"
        return f"no item to review: of {len(rows)} open items, {detail}"

    @staticmethod
    def public(item: _Item) -> dict[str, Any]:
        """What an expert sees: never other answers, the gold flag or why it was routed. A
        sensitive library's item also says ``sensitive: true``: its verdict is sealed."""
        return {"id": item.id, "insight": item.insight, "question": item.question,
                "value": item.value, "evidence": item.evidence,
                "verdicts": ["accept", "reject", "correct"]}

    def verdict_body(self, item_id: str, verdict: str, value: Any = None,
                     rationale: str | None = None, seconds: float | None = None
                     ) -> dict[str, Any]:
        """The ``human.verdict`` body for an item (what an expert's client signs)."""
        item = self._get(item_id)
        return {"item": item.id, "decision": item.decision, "insight": item.insight,
                "verdict": verdict, "value": value, "rationale": rationale,
                "seconds": seconds}

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
            "SELECT verdict FROM review_assignments WHERE item = ? AND expert = ?",
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
            index = self.append([entry])[0]
            if library is not None:
                assert self.libraries is not None
                self.libraries.keep_openings(
                    index, library.id, {name: openings[name] for name in ("value", "rationale")})
            changed = conn.execute(
                "UPDATE review_assignments SET verdict = ?, answer = ?, value = ? WHERE"
                " item = ? AND expert = ? AND verdict IS NULL",
                (index, verdict, json.dumps(value), item.id, expert)).rowcount
            if changed != 1:
                raise AlreadyAnsweredError(f"{expert} already gave a verdict on item {item.id}")
            now = time.time() if now is None else now
            if item.gold is not None:
                self._score_gold(item, expert, verdict, value, now)
            else:
                self._maybe_decide(item, now=now)
            self._settle_gold(expert, at_gold=item.gold is not None, now=now)
        return index

    # -- gold, consensus, reputation -------------------------------------------------------

    def _score_gold(self, item: _Item, expert: str, verdict: str, value: Any,
                    now: float) -> None:
        """Score a gold answer against the known one; it counts later, in a batch."""
        assert item.gold is not None
        right = _category(verdict) == item.gold["answer"]
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

    def _maybe_decide(self, item: _Item, *, now: float | None = None,
                      stalled: bool = False) -> None:
        """Record the consensus on ``item`` once its panel has answered, or escalate it.

        An item is escalated when an expert corrected or rejected it and the inferred
        outcome's posterior is under :data:`ESCALATE_BELOW`; an escalated item is decided as
        soon as the posterior reaches the bar, when its enlarged panel is in (escalating again
        if rounds are left), or ``stalled``: when no more experts came in time."""
        answers = self._conn.execute(
            "SELECT expert, verdict, answer, value FROM review_assignments WHERE item = ? AND"
            " verdict IS NOT NULL ORDER BY verdict", (item.id,)).fetchall()
        (rounds,) = self._conn.execute("SELECT escalations FROM review_items WHERE id = ?",
                                       (item.id,)).fetchone()
        panel = item.experts
        if self._sensitive(item) is not None:
            # A sensitive library's panel is its readers with the expert role: when all who
            # can answer did, nobody else will come (its owner may hold no expert role).
            panel = min(panel, max(1, self._eligible(item)))
        full = len(answers) >= panel
        if not full and not rounds:
            return
        labels, skills = self._infer(item)
        # Nobody whose verdict counts answered (every one of them quarantined): ask more.
        label, posterior = labels.get(item.id, ("accept", 0.0))
        objected = item.id not in labels or any(
            _category(answer) == "reject" for _, _, answer, _ in answers)
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
        participants = [{"annotator": expert, "answer": _category(answer),
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
            agreed = _category(answer) == label
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

    def _escalate(self, item: _Item, now: float) -> bool:
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

    def _eligible(self, item: _Item) -> int:
        """How many experts could ever answer ``item``: holders of the expert role who may
        read its library (if it is sensitive), own none of the keys that made it, and are not
        quarantined on its insight (:data:`MAX_EXPERTS` when the experts are not known)."""
        if self.experts is None:
            return MAX_EXPERTS
        library = self._sensitive(item)
        quarantined = {row[0] for row in self._conn.execute(
            "SELECT expert FROM review_reputation WHERE insight = ? AND quarantined = 1",
            (item.insight,))}
        return sum(1 for expert in set(self.experts())
                   if (library is None or library.is_reader(expert))
                   and expert not in quarantined
                   and not self._conflicted(expert, item.producers))

    def decide_stalled(self, now: float | None = None) -> int:
        """Decide, on the verdicts in, the escalated items that waited
        :data:`ESCALATION_WAIT` since their last escalation for experts who did not come;
        return how many. (Called as experts ask for items; an escalation never leaves an item
        undecided for good.)"""
        now = time.time() if now is None else now
        rows = self._conn.execute(
            f"SELECT {_ITEM_COLUMNS} FROM review_items WHERE state = 'open' AND"
            " escalations > 0 AND escalated <= ? ORDER BY seq LIMIT 100",
            (now - ESCALATION_WAIT,)).fetchall()
        for item in map(_item, rows):
            self._maybe_decide(item, now=now, stalled=True)
        return len(rows)

    def _infer(self, item: _Item) -> tuple[dict[str, tuple[str, float]], dict[str, float]]:
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
                answers.append((item_id, expert, _category(answer)))
        if not answers:
            return {}, {}
        result = infer_truth(answers, method=TRUTH_METHOD, gold=gold)
        return ({item: (r.label, r.probability) for item, r in result.items.items()},
                {name: skill.accuracy for name, skill in result.annotators.items()})

    def _observe(self, expert: str, item: _Item, value: float, source: str) -> list[Entry]:
        before = self.reputation(expert).get(item.insight, Reputation())
        after = observe(before, value, gold=source == "gold", policy=self.policy)
        self._save_reputation(expert, item.insight, after)
        return [sign_entry(self.key, "reputation.update", {
            "subject": expert, "role": "expert", "insight": item.insight, "source": source,
            "observation": value, "score": round(after.score, 4), "samples": after.samples,
            "quarantined": after.quarantined, "task": item.id})]

    def _save_reputation(self, expert: str, insight: str, after: Reputation) -> None:
        self._conn.execute(
            "INSERT INTO review_reputation (expert, insight, score, weight, samples,"
            " quarantined) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (expert, insight) DO UPDATE"
            " SET score = excluded.score, weight = excluded.weight, samples ="
            " excluded.samples, quarantined = excluded.quarantined",
            (expert, insight, after.score, after.weight, after.samples,
             int(after.quarantined)))

    def _reward(self, expert: str, item: _Item, reason: str) -> Entry:
        return sign_entry(self.key, "reward.accrued", {
            "to": expert, "payer": self.key.did, "amount": self.price,
            "job": item.job or "review", "task": item.id, "reason": reason})

    # -- reading ----------------------------------------------------------------------------

    def assigned(self, item_id: str, expert: str) -> bool:
        return self._conn.execute(
            "SELECT 1 FROM review_assignments WHERE item = ? AND expert = ?",
            (item_id, expert)).fetchone() is not None

    def item(self, item_id: str) -> _Item:
        return self._get(item_id)

    def _get(self, item_id: str) -> _Item:
        row = self._conn.execute(f"SELECT {_ITEM_COLUMNS} FROM review_items WHERE id = ?",
                                 (item_id,)).fetchone()
        if row is None:
            raise UnknownReviewItemError(f"no review item {item_id!r}")
        return _item(row)

    def reputation(self, expert: str) -> dict[str, Reputation]:
        return {insight: Reputation(float(score), float(weight), int(samples), bool(q))
                for insight, score, weight, samples, q in self._conn.execute(
                    "SELECT insight, score, weight, samples, quarantined FROM"
                    " review_reputation WHERE expert = ?", (expert,))}

    def outcomes(self, job: str) -> dict[str, dict[int, tuple[str, Any, int]]]:
        """The human outcomes of a job's items: insight -> item id -> (outcome, value,
        consensus entry)."""
        out: dict[str, dict[int, tuple[str, Any, int]]] = {}
        for insight, item_id, outcome, value, consensus in self._conn.execute(
                "SELECT insight, item_id, outcome, value, consensus FROM review_outcomes"
                " WHERE job = ?", (job,)):
            out.setdefault(insight, {})[int(item_id)] = (outcome, json.loads(value),
                                                         int(consensus))
        return out

    def progress(self, job: str) -> dict[str, Any]:
        """Review progress of a job, for its requester."""
        states = dict(self._conn.execute(
            "SELECT state, COUNT(*) FROM review_items WHERE job = ? GROUP BY state",
            (job,)).fetchall())
        verified = {insight: {str(k): {"outcome": o, "consensus": c}
                              for k, (o, _, c) in items.items()}
                    for insight, items in self.outcomes(job).items()}
        (escalated,) = self._conn.execute(
            "SELECT COUNT(*) FROM review_items WHERE job = ? AND state = 'open' AND"
            " escalations > 0", (job,)).fetchone()
        return {"job": job, "items": sum(states.values()), "open": states.get("open", 0),
                "decided": states.get("decided", 0), "escalated": int(escalated),
                "human_verified": verified}


def review_entries(log: Log, decisions: list[int]) -> list[int]:
    """Ledger indexes of the verdicts and consensus results about items of ``decisions``
    (what an audit bundle carries beside the decisions)."""
    if not decisions:
        return []
    marks = ",".join("?" * len(decisions))
    conn = log.db.conn
    verdicts = conn.execute(
        f"SELECT a.verdict FROM review_assignments a JOIN review_items i ON i.id = a.item"
        f" WHERE i.decision IN ({marks}) AND i.gold IS NULL AND a.verdict IS NOT NULL",
        decisions).fetchall()
    consensus = conn.execute(
        f"SELECT o.consensus FROM review_outcomes o JOIN review_items i ON i.id = o.item"
        f" WHERE i.decision IN ({marks})", decisions).fetchall()
    return sorted(int(row[0]) for row in [*verdicts, *consensus])


def review_changes(log: Log, job: str) -> dict[str, int]:
    """The insights of ``job`` whose published value expert review changed (an item
    corrected or rejected): insight -> the latest such consensus entry's index. What was
    computed from the insight before that entry is stale."""
    return {str(insight): int(consensus) for insight, consensus in log.db.conn.execute(
        "SELECT insight, MAX(consensus) FROM review_outcomes WHERE job = ? AND"
        " outcome IN ('corrected', 'rejected') GROUP BY insight", (job,))}


def review_summary(log: Log, decision: int) -> list[str]:
    """Who checked the items of ``decision`` and how, in words."""
    conn = log.db.conn
    rows = conn.execute(
        "SELECT i.item, i.state, o.outcome, o.consensus, (SELECT COUNT(*) FROM"
        " review_assignments a WHERE a.item = i.id AND a.verdict IS NOT NULL) FROM"
        " review_items i LEFT JOIN review_outcomes o ON o.item = i.id WHERE i.decision = ? AND"
        " i.gold IS NULL ORDER BY i.item", (decision,)).fetchall()
    lines = []
    for item, state, outcome, consensus, verdicts in rows:
        if state == "decided":
            body = Entry.from_bytes(log.get(int(consensus))).body
            experts = [p["annotator"][-8:] for p in body["participants"] if p["verdict"]]
            lines.append(f"item {item}: {outcome} by consensus (entry {consensus}, "
                         f"{body['method']}, label {body['label']} at {body['posterior']:.2f};"
                         f" experts ...{', ...'.join(experts)})")
        else:
            lines.append(f"item {item}: under review ({verdicts} verdict(s) so far)")
    return lines
