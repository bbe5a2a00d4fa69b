"""Audit bundles of a video's metadata (processed here, or a coordinator job's).

A bundle (``aiwork audit``) holds everything an outsider needs to check a video's metadata
without the operator's help: the metadata items, every ledger entry behind them (with the
asset's latest ``asset.summary``, which lists every insight's decision), an inclusion
proof of each to one signed checkpoint, the checkpoint (with any witness cosignatures), the
anchor receipt when that checkpoint is anchored on a chain, and the keys. ``aiwork-verify``
(:mod:`aiwork.verify_bundle`) checks it with the standard library and PyNaCl alone.
"""

from __future__ import annotations

from typing import Any

from aiwork.audit.provenance import Anchors, upstream_decisions
from aiwork.audit.subjects import AuditSubject
from aiwork.coordinator.cosignatures import Cosignatures
from aiwork.coordinator.libraries import keeps_openings, stored_openings
from aiwork.coordinator.review import kept_in as reviews_kept_in
from aiwork.coordinator.review import review_entries
from aiwork.ledger.log import Log
from aiwork.ledger.registry import lineage_entries
from aiwork.ledger.note import Checkpoint
from aiwork.ledger.summaries import Summaries
from aiwork.errors import InputError
from aiwork.model import Entry

__all__ = ["BUNDLE_FORMAT", "build_bundle"]

BUNDLE_FORMAT = "aiwork audit bundle v1"  # aiwork.verify_bundle checks the same string


def _openings(log: Log, indexes: list[int]) -> dict[int, dict[str, Any]]:
    """The kept openings of the sealed entries among ``indexes`` (a sensitive library's)."""
    return stored_openings(log, indexes) if keeps_openings(log.db) else {}


def build_bundle(log: Log, subject: AuditSubject, *, anchors: Anchors | None = None
                 ) -> dict[str, Any]:
    """The audit bundle for ``subject`` (``log`` must be able to sign checkpoints)."""
    insights = subject.chosen
    items = [{"insight": name, "decision": subject.results[name][0],
              "output": subject.results[name][1]} for name in insights]
    decisions = [subject.results[name][0] for name in insights]
    summary = _summary(log, subject)
    # The upstream decisions the chosen ones were derived from travel with them (their
    # entries, not their items), so a checker sees what each value was computed from.
    indexes = set(decisions) | {summary} | upstream_decisions(log, decisions)
    if subject.registered is not None:
        indexes.add(subject.registered)
    # The registered models the decisions name, their parents and training datasets travel
    # with them, so a checker follows which model made each value and on what it was trained.
    indexes |= lineage_entries(log, decisions)
    if reviews_kept_in(log.db):
        indexes.update(review_entries(log, decisions))

    # A sensitive library's entries are sealed: the bundle carries the openings of their
    # commitments, so its reader can check the values against the public entries.
    openings = _openings(log, sorted(indexes))
    book = Cosignatures(log)
    size, receipt = _checkpoint_for(log, book, max(indexes) + 1, anchors)
    cosignatures = book.stored(size)
    note = log.stored_checkpoint(size) or log.checkpoint()
    scope: dict[str, Any] = {}
    if subject.job is not None:
        scope["job"] = subject.job
    if subject.insights is not None:
        scope["insights"] = list(insights)  # a part of the asset's insights, on purpose
    return {
        "format": BUNDLE_FORMAT,
        "asset": subject.asset,
        **scope,
        "log_key": log.verifier_key.to_text(),
        "checkpoint": note + "".join(line for _, line in cosignatures),
        "witness_keys": [witness for witness, _ in cosignatures],
        "anchor": receipt,
        "entries": [{"index": i, "data": log.get(i).decode(),
                     "proof": log.inclusion_proof(i, size).to_json()["hashes"]}
                    for i in sorted(indexes)],
        "items": items,
        "keys": sorted({Entry.from_bytes(log.get(i)).author for i in indexes}),
        **({"openings": {str(i): value for i, value in sorted(openings.items())}}
           if openings else {}),
    }


def _summary(log: Log, subject: AuditSubject) -> int:
    """The index of the subject's latest ``asset.summary``, checked against what the bundle
    will carry."""
    latest = Summaries(log).latest(subject.digest, subject.job)
    if latest is None:
        if subject.job is not None:
            raise InputError(f"job {subject.job} is not finished: its asset.summary is logged "
                             "once every task is settled",
                             hint="wait for the job (aiwork submit --wait), then audit it")
        raise InputError(f"{subject.name} has no asset.summary in the log (processed before "
                         "aiwork kept one)",
                         hint=f"run `aiwork process` on it again: it logs one without "
                              f"re-running the analyzers")
    index, body = latest
    listed = body.get("decisions", {})
    current = {name: subject.results[name][0] for name in subject.chosen}
    if subject.insights is None:
        current.update({name: None for name in listed if name not in current})
    for name, decision in sorted(current.items()):
        if listed.get(name) != decision:
            raise InputError(f"{subject.name}: {name} is decision {decision}, but the latest "
                             f"asset.summary ({index}) lists {listed.get(name)}",
                             hint="wait until the job is finished again (a task is being "
                                  "re-run), then audit it" if subject.job is not None else
                                  "run `aiwork process` on it again to log a current summary")
    return index


def _checkpoint_for(log: Log, book: Cosignatures, needed: int, anchors: Anchors | None
                    ) -> tuple[int, dict[str, Any] | None]:
    """The checkpoint a bundle proves against, and its anchor receipt: among the signed
    checkpoints that cover ``needed`` entries, an anchored one first, then the one most
    witnesses cosigned, then the newest; a fresh one when none covers them."""
    receipts = {int(r["size"]): r for r in (anchors(log) if anchors else [])}
    cosigned = book.cosigned_sizes()
    covering = [size for size, _ in log.checkpoints() if size >= needed]
    if not covering:
        note = log.checkpoint()
        return Checkpoint.from_note(note, log.verifier_key).size, None
    best = max(covering, key=lambda size: (size in receipts, cosigned.get(size, 0), size))
    return best, receipts.get(best)
