"""Audit bundles and explanations of a processed video's metadata.

A bundle (``aiwork audit``) holds everything an outsider needs to check a video's metadata
without the operator's help: the metadata items, every ledger entry behind them, an inclusion
proof of each to one signed checkpoint, the checkpoint (with any witness cosignatures), the
anchor receipt when that checkpoint is anchored on a chain, and the keys. ``aiwork-verify``
(:mod:`aiwork.verify_bundle`) checks it with the standard library and PyNaCl alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiwork.app.catalog import Catalog, StoredAsset
from aiwork.app.cosignatures import Cosignatures
from aiwork.app.process import find_asset, stored_metadata
from aiwork.errors import InputError
from aiwork.ledger.log import Log
from aiwork.ledger.note import Checkpoint
from aiwork.model import Entry

__all__ = ["BUNDLE_FORMAT", "AuditSubject", "build_bundle", "explain", "resolve"]

BUNDLE_FORMAT = "aiwork audit bundle v1"  # aiwork.verify_bundle checks the same string

#: Where anchor receipts come from: ``anchors(log) -> [receipt, ...]`` (each with ``size``).
Anchors = Callable[[Log], list[dict[str, Any]]]
#: Entries about decisions beyond the decisions themselves (human verdicts, consensus):
#: ``related(log, decision indexes) -> entry indexes``.
Related = Callable[[Log, list[int]], list[int]]


@dataclass(frozen=True)
class AuditSubject:
    """What an audit is about: a processed video, or one insight of it."""

    asset: StoredAsset
    insights: tuple[str, ...] | None = None  # None: every insight


def resolve(catalog: Catalog, log: Log, video_or_item: str) -> AuditSubject:
    """``VIDEO`` (path, file name or digest), ``VIDEO#INSIGHT``, or a decision's ledger
    index."""
    if video_or_item.isdigit():
        index = int(video_or_item)
        entry = Entry.from_bytes(log.get(index))
        if entry.kind != "ai.decision/v1":
            raise InputError(f"entry {index} is a {entry.kind}, not an ai.decision",
                             hint="give a video, VIDEO#INSIGHT or a decision's index")
        asset = find_asset(catalog, str(entry.body["input"]["asset"]))
        return AuditSubject(asset, (str(entry.body["insight"]),))
    video, _, insight = video_or_item.partition("#")
    asset = find_asset(catalog, video)
    if insight:
        known = {r.insight for r in catalog.results(asset.digest).values()}
        if insight not in known:
            raise InputError(f"{asset.name} has no insight {insight!r}",
                             hint=f"one of: {', '.join(sorted(known))}")
        return AuditSubject(asset, (insight,))
    return AuditSubject(asset)


def build_bundle(log: Log, catalog: Catalog, subject: AuditSubject, *,
                 anchors: Anchors | None = None, related: Iterable[Related] = ()
                 ) -> dict[str, Any]:
    """The audit bundle for ``subject`` (``log`` must be able to sign checkpoints)."""
    metadata = stored_metadata(catalog, subject.asset).model_dump(mode="json")
    results = {r.insight: r for r in catalog.results(subject.asset.digest).values()}
    insights = sorted(subject.insights or results)
    items = [{"insight": name, "decision": results[name].decision, "output": metadata[name]}
             for name in insights]
    decisions = [results[name].decision for name in insights]
    indexes = set(decisions)
    if subject.asset.registered >= 0:
        indexes.add(subject.asset.registered)
    for source in related:
        indexes.update(source(log, decisions))

    size, receipt = _checkpoint_for(log, max(indexes) + 1, anchors)
    cosignatures = Cosignatures(log).stored(size)
    note = log.stored_checkpoint(size) or log.checkpoint()
    return {
        "format": BUNDLE_FORMAT,
        "asset": {"digest": subject.asset.digest, "name": subject.asset.name,
                  "size": subject.asset.size, "media_type": subject.asset.media_type},
        "log_key": log.verifier_key.to_text(),
        "checkpoint": note + "".join(line for _, line in cosignatures),
        "witness_keys": [witness for witness, _ in cosignatures],
        "anchor": receipt,
        "entries": [{"index": i, "data": log.get(i).decode(),
                     "proof": log.inclusion_proof(i, size).to_json()["hashes"]}
                    for i in sorted(indexes)],
        "items": items,
        "keys": sorted({Entry.from_bytes(log.get(i)).author for i in indexes}),
    }


def _checkpoint_for(log: Log, needed: int, anchors: Anchors | None
                    ) -> tuple[int, dict[str, Any] | None]:
    """The checkpoint a bundle proves against, and its anchor receipt: among the signed
    checkpoints that cover ``needed`` entries, an anchored one first, then the one most
    witnesses cosigned, then the newest; a fresh one when none covers them."""
    receipts = {int(r["size"]): r for r in (anchors(log) if anchors else [])}
    cosigned = Cosignatures(log).cosigned_sizes()
    covering = [size for size, _ in log.checkpoints() if size >= needed]
    if not covering:
        note = log.checkpoint()
        return Checkpoint.from_note(note, log.verifier_key).size, None
    best = max(covering, key=lambda size: (size in receipts, cosigned.get(size, 0), size))
    return best, receipts.get(best)


# -- explain --------------------------------------------------------------------------------


def explain(log: Log, catalog: Catalog, subject: AuditSubject, *,
            anchors: Anchors | None = None,
            reviews: Callable[[Log, int], list[str]] | None = None) -> list[str]:
    """For each insight: which model made it from what input, how sure it was, who checked
    it, and where its proof stands; as lines of text."""
    results = {r.insight: r for r in catalog.results(subject.asset.digest).values()}
    insights = sorted(subject.insights or results)
    checkpoint = log.latest_checkpoint()
    proven_size = Checkpoint.from_note(checkpoint, log.verifier_key).size if checkpoint else 0
    anchored = max((int(r["size"]) for r in anchors(log)), default=0) if anchors else 0
    lines = [f"{subject.asset.name} ({subject.asset.digest})"]
    for name in insights:
        result = results[name]
        entry = Entry.from_bytes(log.get(result.decision))
        body = entry.body
        model = body.get("model", {})
        span = body.get("input", {})
        conf = body.get("confidence") or {}
        lines.append(f"{name}:")
        weights = model.get("weights_digest") or "no weights file"
        lines.append(f"  made by {model.get('name')} {model.get('version')} ({weights}), "
                     f"analyzer {body.get('analyzer')} v{body.get('analyzer_version')}")
        lines.append(f"  from seconds {span.get('start')} to {span.get('end')} of the video; "
                     f"{body.get('output_items')} item(s)")
        if conf:
            lines.append(f"  confidence mean {conf.get('mean')}, min {conf.get('min')}, "
                         f"max {conf.get('max')}")
        alternatives = _alternatives(body.get("evidence") or {})
        if alternatives:
            lines.append(f"  alternatives considered: {alternatives}")
        lines.append(f"  decision entry {result.decision}, signed by {entry.author} at "
                     f"{entry.time}")
        checked = reviews(log, result.decision) if reviews else []
        lines.extend(f"  {line}" for line in checked or ["not reviewed by a human expert yet"])
        if result.decision < proven_size:
            status = f"included in signed checkpoint of size {proven_size}"
            status += (f"; anchored on chain at size {anchored}" if anchored > result.decision
                       else "; not anchored on a chain yet")
        else:
            status = "not yet covered by a signed checkpoint (run `aiwork ledger checkpoint`)"
        lines.append(f"  proof: {status}")
    return lines


def _alternatives(evidence: dict[str, Any]) -> str:
    for key in ("alternatives", "candidates", "below_threshold", "rejected"):
        value = evidence.get(key)
        if value:
            text = str(value)
            return text if len(text) <= 160 else text[:157] + "..."
    return ""
