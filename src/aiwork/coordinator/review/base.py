"""The review engine's state: its store, routing rules, key owners, experts' reputations
and the items themselves; what every part of the engine reads."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiwork.coordinator.accounts import Accounts
from aiwork.coordinator.libraries import Libraries, Library
from aiwork.coordinator.review.items import ITEM_COLUMNS, MIGRATIONS, Item, item_from_row
from aiwork.coordinator.review.policy import EXPERT_POLICY, TRUTH_WINDOW
from aiwork.crypto import SigningKey
from aiwork.errors import InputError, ReviewRefused, UnknownReviewItemError
from aiwork.ledger.log import Log
from aiwork.model import Entry
from aiwork.quality.reputation import Reputation, ReputationPolicy
from aiwork.quality.review_items import REVIEWABLE, RoutingRules

if TYPE_CHECKING:
    from aiwork.coordinator.review import Review

__all__ = ["OutcomeHook", "ReviewBase"]

#: Called inside the transaction that records a consensus which changes a job's published
#: value (an item corrected or rejected): the job, the insight, and the review engine.
OutcomeHook = Callable[[str, str, "Review"], None]


class ReviewBase:
    """The review engine over a coordinator's log and store.

    ``append`` appends entries and applies the credits they move in one transaction (the
    coordinator's); ``key`` signs consensus, reputation and reward entries.
    """

    def __init__(self, log: Log, key: SigningKey, append: Callable[[list[Entry]], list[int]],
                 *, policy: ReputationPolicy = EXPERT_POLICY, price: int = 1,
                 truth_window: int = TRUTH_WINDOW, rng: random.Random | None = None,
                 libraries: Libraries | None = None,
                 experts: Callable[[], list[str]] | None = None,
                 on_outcome: OutcomeHook | None = None) -> None:
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
        # What else follows the published results (the library search's index).
        self.on_outcome = on_outcome
        self.accounts = Accounts(log.db)
        # Insights on which an expert was just quarantined: their open items may now have
        # every expert who can still answer them in (see Consensus.settle_shrunk_panels).
        self._shrunk: set[str] = set()
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

    # -- items and reputations ----------------------------------------------------------------

    def assigned(self, item_id: str, expert: str) -> bool:
        return self._conn.execute(
            "SELECT 1 FROM review_assignments WHERE item = ? AND expert = ?",
            (item_id, expert)).fetchone() is not None

    def item(self, item_id: str) -> Item:
        return self._get(item_id)

    def _get(self, item_id: str) -> Item:
        row = self._conn.execute(f"SELECT {ITEM_COLUMNS} FROM review_items WHERE id = ?",
                                 (item_id,)).fetchone()
        if row is None:
            raise UnknownReviewItemError(f"no review item {item_id!r}")
        return item_from_row(row)

    def _sensitive(self, item: Item) -> Library | None:
        return None if self.libraries is None else self.libraries.sensitive_library_of(item.job)

    def reputation(self, expert: str) -> dict[str, Reputation]:
        return {insight: Reputation(float(score), float(weight), int(samples), bool(q))
                for insight, score, weight, samples, q in self._conn.execute(
                    "SELECT insight, score, weight, samples, quarantined FROM"
                    " review_reputation WHERE expert = ?", (expert,))}

    def _save_reputation(self, expert: str, insight: str, after: Reputation) -> None:
        if after.quarantined and not self.reputation(expert).get(
                insight, Reputation()).quarantined:
            self._shrunk.add(insight)
        self._conn.execute(
            "INSERT INTO review_reputation (expert, insight, score, weight, samples,"
            " quarantined) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (expert, insight) DO UPDATE"
            " SET score = excluded.score, weight = excluded.weight, samples ="
            " excluded.samples, quarantined = excluded.quarantined",
            (expert, insight, after.score, after.weight, after.samples,
             int(after.quarantined)))
