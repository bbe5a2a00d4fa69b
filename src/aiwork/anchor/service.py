"""Anchoring the ledger on a chain: sign a checkpoint, anchor it, record it in the log.

:func:`anchor_latest` signs a checkpoint of the current tree (when the tree changed since the
last one), anchors it with :func:`aiwork.anchor.anchor_checkpoint`, and appends an
``anchor/v1`` entry (chain, contract, transaction, block, log id, origin, size, root) signed
by the log's key. The anchor entry itself is covered by the next anchor. The entries' ledger
indices are kept in the table ``ledger_anchors`` (written in the same transaction as the
entry), so finding them never scans the log; their content is always read from the log.

:func:`recheck` reads every recorded anchor back from the log and asks the chain whether it
still holds that root for that size (and checks the log still has that root itself).
:class:`PeriodicAnchoring` is the background thread of ``aiwork serve --anchor-...``
(:func:`serve_anchoring`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiwork.anchor import (
    AnchorCheck,
    AnchorReceipt,
    Chain,
    CheckStatus,
    EthKey,
    anchor_checkpoint,
    check_anchor,
    connect,
    read_eth_key,
)
from aiwork.errors import (
    AiworkError,
    ChainUnreachableError,
    ConfigError,
    InputError,
    IntegrityError,
    LedgerError,
)
from aiwork.ledger.home import open_ledger
from aiwork.crypto import SigningKey
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.store import Migration

__all__ = [
    "ANCHOR_KIND",
    "Anchored",
    "PeriodicAnchoring",
    "Recheck",
    "RecordedAnchor",
    "anchor_latest",
    "anchor_receipts",
    "anchors_for",
    "has_news",
    "recheck",
    "recorded_anchors",
    "serve_anchoring",
]

ANCHOR_KIND = "anchor/v1"


def _tables(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE ledger_anchors (idx INTEGER PRIMARY KEY, chain_id BIGINT NOT NULL,"
        " contract TEXT NOT NULL, size BIGINT NOT NULL)"
    )


MIGRATIONS = [Migration("anchoring-0001-anchors", _tables)]


@dataclass(frozen=True)
class RecordedAnchor:
    """An ``anchor/v1`` entry of the log: its index and what it records."""

    index: int
    receipt: AnchorReceipt

    def describe(self) -> str:
        r = self.receipt
        return (f"entry {self.index}: {r.origin} size {r.size} on chain {r.chain_id} "
                f"contract {r.contract} (tx {r.transaction}, block {r.block})")


@dataclass(frozen=True)
class Anchored:
    """What :func:`anchor_latest` did: the chain's receipt (with gas) and the entry's index."""

    receipt: AnchorReceipt
    index: int

    def describe(self) -> str:
        r = self.receipt
        return (f"anchored {r.origin} size {r.size} root {r.root} on chain {r.chain_id} "
                f"contract {r.contract}: tx {r.transaction}, block {r.block}, gas {r.gas_used}; "
                f"recorded as entry {self.index}")


@dataclass(frozen=True)
class Recheck:
    """One recorded anchor and what the chain (and the log) say about it now."""

    anchor: RecordedAnchor
    check: AnchorCheck

    @property
    def bad(self) -> bool:
        return self.check.status.bad

    def describe(self) -> str:
        head = f"{self.check.status.value}: {self.anchor.describe()}"
        return head if self.check.ok else f"{head}: {self.check.detail}"


def _prepare(log: Log) -> None:
    log.db.migrate(MIGRATIONS)


def recorded_anchors(log: Log) -> list[RecordedAnchor]:
    """Every anchor recorded in the log, oldest first, read from the entries themselves."""
    _prepare(log)
    rows = log.db.conn.execute("SELECT idx FROM ledger_anchors ORDER BY idx").fetchall()
    return [_recorded(log, int(idx)) for (idx,) in rows]


def _recorded(log: Log, index: int) -> RecordedAnchor:
    """The anchor entry at ``index`` (indexed in ``ledger_anchors``), read from the log."""
    entry = log.entry(index)
    if entry.kind != ANCHOR_KIND:
        raise IntegrityError(f"entry {index} is indexed as an anchor but is {entry.kind}",
                             index=index, hint="run `aiwork ledger verify`")
    return RecordedAnchor(index, AnchorReceipt.from_json(entry.body))


def anchor_receipts(log: Log) -> list[dict[str, Any]]:
    """The recorded anchors as receipts (``anchor/v1`` bodies), oldest first: what an audit
    bundle carries for an anchored checkpoint."""
    return [anchor.receipt.to_body() for anchor in recorded_anchors(log)]


def anchors_for(log: Log, index: int | None) -> tuple[RecordedAnchor | None,
                                                     RecordedAnchor | None]:
    """The first recorded anchor whose checkpoint holds entry ``index`` (its size is over
    ``index``; ``None`` when none does yet, or ``index`` is ``None``) and the latest anchor.
    Reads only: a log that was never anchored has neither."""
    if MIGRATIONS[0].name not in log.db.applied_migrations():
        return None, None
    conn = log.db.conn

    def read(row: Any) -> RecordedAnchor | None:
        return None if row is None else _recorded(log, int(row[0]))

    covering = None if index is None else read(conn.execute(
        "SELECT idx FROM ledger_anchors WHERE size > ? ORDER BY size, idx LIMIT 1",
        (index,)).fetchone())
    latest = read(conn.execute(
        "SELECT idx FROM ledger_anchors ORDER BY size DESC, idx DESC LIMIT 1").fetchone())
    return covering, latest


def _last_anchored_size(log: Log, chain_id: int, contract: str) -> int | None:
    row = log.db.conn.execute(
        "SELECT MAX(size) FROM ledger_anchors WHERE chain_id = ? AND contract = ?",
        (chain_id, contract),
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def has_news(log: Log, chain_id: int, contract: str) -> bool:
    """Whether the log holds entries not yet anchored on that contract, other than the
    ``anchor/v1`` entries themselves (which would otherwise call for anchors forever)."""
    _prepare(log)
    size = log.size
    last = _last_anchored_size(log, chain_id, contract)
    if last is None:
        return size > 0
    row = log.db.conn.execute(
        "SELECT COUNT(*) FROM ledger_anchors WHERE idx >= ? AND idx < ?", (last, size)
    ).fetchone()
    return size - last > int(row[0])


def anchor_latest(
    log: Log,
    chain: str | Chain,
    key: EthKey,
    contract: str,
    *,
    author: SigningKey | None = None,
    force: bool = False,
) -> Anchored | None:
    """Anchor a checkpoint of the current tree and record the ``anchor/v1`` entry.

    Returns ``None`` (and does nothing) when nothing but anchor entries was appended since
    the last anchor on that contract, unless ``force``. The log must be open with its key
    (it signs the checkpoint; ``author``, by default the same key, signs the entry).
    """
    if log.signer is None:
        raise ConfigError("anchoring signs a checkpoint: it needs the log's key",
                          hint="open the ledger with its log key (--log-key)")
    target = connect(chain)
    address = target.check_contract(contract)
    if not force and not has_news(log, target.chain_id, address):
        return None
    note = log.checkpoint()
    receipt = AnchorReceipt.from_json(
        anchor_checkpoint(target, key, address, note, log.verifier_key))
    entry = sign_entry(author or log.signer, ANCHOR_KIND, receipt.to_body(), kinds=log.kinds)
    with log.db.atomic() as conn:
        appended = log.append([entry])[0]
        if appended.new:
            conn.execute(
                "INSERT INTO ledger_anchors (idx, chain_id, contract, size) VALUES (?, ?, ?, ?)",
                (appended.index, receipt.chain_id, receipt.contract, receipt.size),
            )
    return Anchored(receipt, appended.index)


def _against_log(log: Log, anchor: RecordedAnchor, check: AnchorCheck) -> AnchorCheck:
    """An anchor the chain confirms must also match the log's own root at that size."""
    receipt = anchor.receipt
    try:
        own = log.root(receipt.size)
    except LedgerError:
        return AnchorCheck(CheckStatus.DIFFERENT,
                           f"the log holds {log.size} entries, fewer than the anchored size "
                           f"{receipt.size}", check.chain_root)
    if own != receipt.root_bytes:
        return AnchorCheck(CheckStatus.DIFFERENT,
                           f"the log's own root at size {receipt.size} is 0x{own.hex()}, not "
                           f"the anchored {receipt.root} (the log was rewritten)",
                           check.chain_root)
    return check


def recheck(log: Log, rpc: str | Chain) -> list[Recheck]:
    """Check every recorded anchor against the chain at ``rpc``: ``ok``, ``missing``,
    ``different`` (root), ``unreachable`` or ``other-chain`` (made on another chain)."""
    anchors = recorded_anchors(log)
    if not anchors:
        return []
    try:
        chain = connect(rpc)
    except ChainUnreachableError as exc:
        down = AnchorCheck(CheckStatus.UNREACHABLE, str(exc))
        return [Recheck(anchor, down) for anchor in anchors]
    results = []
    for anchor in anchors:
        check = check_anchor(chain, anchor.receipt)
        if check.ok:
            check = _against_log(log, anchor, check)
        results.append(Recheck(anchor, check))
    return results


class PeriodicAnchoring:
    """A background thread that anchors the latest checkpoint every ``every`` seconds when
    the log has grown; the first round runs at once. It opens its own connection to the
    store; failures are reported (``report``) and retried at the next round."""

    def __init__(self, db: Path | str, rpc: str | Chain, key: EthKey, contract: str,
                 every: float, report: Callable[[str], None], *,
                 log_key: Path | None = None) -> None:
        if every <= 0:
            raise InputError(f"the anchoring period must be positive, not {every}")
        self.db, self.rpc, self.key, self.contract = db, rpc, key, contract
        self.every, self.report, self.log_key = every, report, log_key
        self.anchored: list[Anchored] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aiwork-anchoring", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        log: Log | None = None
        chain: Chain | None = None
        try:
            while not self._stop.is_set():
                try:
                    if log is None:
                        log = open_ledger(self.db, signing=True, log_key=self.log_key)
                    if chain is None:
                        chain = connect(self.rpc)
                    done = anchor_latest(log, chain, self.key, self.contract)
                    if done is not None:
                        self.anchored.append(done)
                        self.report(done.describe())
                except ChainUnreachableError as exc:
                    chain = None
                    self.report(f"warning: anchoring failed: {exc.diagnostics()}")
                except AiworkError as exc:
                    self.report(f"warning: anchoring failed: {exc.diagnostics()}")
                self._stop.wait(self.every)
        finally:
            if log is not None:
                log.close()


@contextmanager
def serve_anchoring(
    db: Path | str,
    *,
    rpc: str | None,
    key_file: Path | None,
    contract: str | None,
    every: float,
    report: Callable[[str], None],
) -> Iterator[PeriodicAnchoring | None]:
    """What ``aiwork serve`` does with its ``--anchor-*`` options, for as long as it runs:
    re-check the anchors recorded earlier (one warning line per bad one), then, given a key
    and a contract, run :class:`PeriodicAnchoring`. Nothing without ``rpc``."""
    if rpc is None:
        if key_file is not None or contract is not None:
            raise InputError("--anchor-key and --anchor-contract need --anchor-rpc")
        yield None
        return
    if (key_file is None) != (contract is None):
        raise InputError("give both --anchor-key and --anchor-contract to anchor "
                         "(or neither, to only re-check the anchors recorded)")
    key = read_eth_key(key_file) if key_file is not None else None
    if Log.is_ledger(db):
        with open_ledger(db) as log:
            results = recheck(log, rpc)
        for result in results:
            if result.bad:
                report(f"warning: anchor {result.describe()}")
        good = sum(1 for result in results if result.check.ok)
        report(f"anchors re-checked: {good} of {len(results)} ok")
    if key is None or contract is None:
        yield None
        return
    periodic = PeriodicAnchoring(db, rpc, key, contract, every, report)
    periodic.start()
    try:
        yield periodic
    finally:
        periodic.stop()
