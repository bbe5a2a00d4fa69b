"""Credit accounts on a coordinator: balances, and the credits open jobs hold.

The ledger is the truth: :func:`aiwork.market.credits.balances` recomputes every balance from
``credits.granted`` and ``reward.accrued`` entries alone. This module keeps that sum as a table
(``accounts_balances``), updated by :meth:`Accounts.record` in the same transaction that
appends the entries, so that checking a budget does not read the whole log.

A job holds its budget while it is open (a done job that reopens, to re-run a quarantined
worker's replicas, holds what is left again); each reward the job's requester pays comes out
of the hold. A requester can submit a job only when its balance less
what its open jobs still hold covers the new job's budget, so the requester can always pay.
"""

from __future__ import annotations

import functools
import sqlite3
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiwork.crypto import SigningKey, public_key_from_did
from aiwork.errors import InputError, InsufficientCreditsError
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.market.credits import balances
from aiwork.market import Market
from aiwork.model import Entry
from aiwork.store import Database, Migration
from aiwork.store.sqlite import in_chunks

__all__ = ["GOLD_CREDITS_PER_DAY", "Account", "Accounts"]


def _tables(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE accounts_balances (did TEXT PRIMARY KEY,"
                 " balance BIGINT NOT NULL)")
    conn.execute("CREATE TABLE accounts_holds (job TEXT PRIMARY KEY, did TEXT NOT NULL,"
                 " amount BIGINT NOT NULL)")
    conn.execute("CREATE INDEX accounts_holds_did ON accounts_holds (did)")
    # A log that already holds credit entries starts from what they add up to.
    rows = conn.execute("SELECT data FROM ledger_entries ORDER BY idx").fetchall()
    totals = balances(Entry.from_bytes(bytes(row[0])) for row in rows)
    conn.executemany("INSERT INTO accounts_balances (did, balance) VALUES (?, ?)",
                     sorted(totals.items()))


def _gold_paid(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE accounts_gold_paid (did TEXT NOT NULL, day BIGINT NOT NULL,"
                 " amount BIGINT NOT NULL, PRIMARY KEY (did, day))")


MIGRATIONS = [Migration("accounts-0001-balances", _tables),
              Migration("accounts-0002-gold-paid", _gold_paid)]

#: The most credits one identity is paid for gold answers (a worker's gold tasks, an expert's
#: gold review items) per UTC day; beyond it gold still scores, and pays nothing.
GOLD_CREDITS_PER_DAY = 20

_CREDIT_KINDS = ("credits.granted/v1", "reward.accrued/v1")


@dataclass(frozen=True)
class Account:
    did: str
    balance: int  # what the ledger's entries add up to
    held: int  # what open jobs' budgets have not paid out yet

    @property
    def available(self) -> int:
        return self.balance - self.held

    def to_json(self) -> dict[str, object]:
        return {"did": self.did, "balance": self.balance, "held": self.held,
                "available": self.available}


class Accounts:
    """Balances and holds in a store (the log's ``Database``); writes join its transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.market = Market(db)  # holds count while their job is open
        db.migrate(MIGRATIONS)

    @property
    def _conn(self) -> sqlite3.Connection:
        return self.db.conn

    def account(self, did: str) -> Account:
        row = self._conn.execute("SELECT balance FROM accounts_balances WHERE did = ?",
                                 (did,)).fetchone()
        # A job's budget is held from its requester: what ``did``'s open jobs hold.
        jobs = self.market.open_jobs(did)
        held = 0
        for chunk, marks in in_chunks(jobs):
            (amount,) = self._conn.execute(
                f"SELECT COALESCE(SUM(amount), 0) FROM accounts_holds WHERE did = ? AND job IN"
                f" ({marks})", (did, *chunk)).fetchone()
            held += int(amount)
        return Account(did, int(row[0]) if row else 0, held)

    def all_balances(self) -> dict[str, int]:
        return {did: int(balance) for did, balance in
                self._conn.execute("SELECT did, balance FROM accounts_balances")}

    def record(self, entries: Iterable[Entry]) -> None:
        """Apply the credit entries among ``entries`` (call inside the transaction that
        appends them)."""
        for entry in entries:
            if entry.kind not in _CREDIT_KINDS:
                continue
            amount = int(entry.body["amount"])
            self._add(str(entry.body["to"]), amount)
            if entry.kind == "reward.accrued/v1":
                payer = str(entry.body["payer"])
                self._add(payer, -amount)
                self._conn.execute(
                    "UPDATE accounts_holds SET amount = CASE WHEN amount > ? THEN amount - ?"
                    " ELSE 0 END WHERE job = ? AND did = ?",
                    (amount, amount, str(entry.body["job"]), payer))

    def append(self, log: Log, entries: list[Entry]) -> list[int]:
        """Append ``entries`` to ``log`` and apply the credits they move, in one
        transaction."""
        with self.db.atomic():
            indexes = [item.index for item in log.append(entries)]
            self.record(entries)
        return indexes

    def appender(self, log: Log) -> Callable[[list[Entry]], list[int]]:
        """:meth:`append` bound to ``log``."""
        return functools.partial(self.append, log)

    def grant(self, log: Log, key: SigningKey, to: str, amount: int, reason: str) -> int:
        """Put ``amount`` credits into ``to``'s account (a ``credits.granted`` entry signed
        by ``key``, appended to ``log``); return the entry's index."""
        public_key_from_did(to)
        if amount <= 0:
            raise InputError(f"a grant must be a positive number of credits, not {amount}")
        return self.append(log, [sign_entry(key, "credits.granted",
                                            {"to": to, "amount": amount, "reason": reason})])[0]

    def hold(self, job: str, did: str, amount: int) -> None:
        """Hold ``amount`` of ``did``'s credits for ``job``, or refuse (call inside the
        transaction that creates the job, so two jobs cannot both pass the check)."""
        account = self.account(did)
        if amount > account.available:
            raise InsufficientCreditsError(
                f"a budget of {amount} credits is more than the {account.available} available"
                f" to {did} (balance {account.balance}, held by open jobs {account.held})",
                hint="lower the budget, wait for open jobs to finish, or ask an admin for"
                     " credits (`aiwork admin grant DID AMOUNT`)")
        self._conn.execute("INSERT INTO accounts_holds (job, did, amount) VALUES (?, ?, ?)",
                           (job, did, amount))

    def gold_allowance(self, did: str, amount: int, now: float,
                       cap: int = GOLD_CREDITS_PER_DAY) -> int:
        """How much of ``amount`` gold credits ``did`` may still be paid on ``now``'s UTC
        day (at most ``cap`` a day), recorded as paid (call inside the transaction that
        appends the reward)."""
        day = int(now // 86400)
        row = self._conn.execute("SELECT amount FROM accounts_gold_paid WHERE did = ? AND"
                                 " day = ?", (did, day)).fetchone()
        allowed = max(0, min(amount, cap - (int(row[0]) if row else 0)))
        if allowed:
            self._conn.execute(
                "INSERT INTO accounts_gold_paid (did, day, amount) VALUES (?, ?, ?) ON CONFLICT"
                " (did, day) DO UPDATE SET amount = accounts_gold_paid.amount +"
                " excluded.amount", (did, day, allowed))
        return allowed

    def gold_reward(self, payer: SigningKey, to: str, right: int, price: int, now: float, *,
                    job: str, reason: str) -> list[Entry]:
        """The ``reward.accrued`` entry paying ``to`` for ``right`` gold answers settled
        together, within the day's gold cap (none once it is spent); its task names no gold
        item. Call inside the transaction that appends it."""
        amount = self.gold_allowance(to, right * price, now) if right else 0
        if not amount:
            return []
        return [sign_entry(payer, "reward.accrued", {
            "to": to, "payer": payer.did, "amount": amount, "job": job,
            "task": "gold-" + uuid.uuid4().hex, "reason": reason})]

    def _add(self, did: str, amount: int) -> None:
        self._conn.execute(
            "INSERT INTO accounts_balances (did, balance) VALUES (?, ?) ON CONFLICT (did)"
            " DO UPDATE SET balance = accounts_balances.balance + excluded.balance",
            (did, amount))
