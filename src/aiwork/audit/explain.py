"""Explanations (``aiwork explain``): for each insight, which model made it from what input,
how sure it was, who checked it, and where its proof stands."""

from __future__ import annotations

from typing import Any

from aiwork.audit.provenance import Anchors, chain, subject_stale
from aiwork.audit.subjects import AuditSubject
from aiwork.coordinator.libraries import opened_body
from aiwork.coordinator.review import kept_in as reviews_kept_in
from aiwork.coordinator.review import review_summary
from aiwork.ledger.log import Log
from aiwork.ledger.note import Checkpoint
from aiwork.model import Entry

__all__ = ["explain"]


def explain(log: Log, subject: AuditSubject, *, anchors: Anchors | None = None
            ) -> list[str]:
    """For each insight: which model made it from what input, how sure it was, who checked
    it, and where its proof stands; as lines of text."""
    checkpoint = log.latest_checkpoint()
    proven_size = Checkpoint.from_note(checkpoint, log.verifier_key).size if checkpoint else 0
    anchored = max((int(r["size"]) for r in anchors(log)), default=0) if anchors else 0
    reviewed = reviews_kept_in(log.db)
    stale = subject_stale(log, subject)
    lines = [f"{subject.name} ({subject.digest})"]
    for name in subject.chosen:
        decision = subject.results[name][0]
        entry = Entry.from_bytes(log.get(decision))
        body = opened_body(log, decision)[1]
        model = body.get("model", {})
        span = body.get("input", {})
        conf = body.get("confidence") or {}
        lines.append(f"{name}:")
        weights = model.get("weights_digest") or "no weights file"
        lines.append(f"  made by {model.get('name')} {model.get('version')} ({weights}), "
                     f"analyzer {body.get('analyzer')} v{body.get('analyzer_version')}")
        lines.append(f"  from seconds {span.get('start')} to {span.get('end')} of the video; "
                     f"{body.get('output_items')} item(s)")
        lines.append(f"  chain: {chain(log, name, decision)}")
        if name in stale:
            lines.append(f"  STALE: {stale[name].reason}; it still describes the value of "
                         f"decision {stale[name].used} until it is computed again")
        if conf:
            lines.append(f"  confidence mean {conf.get('mean')}, min {conf.get('min')}, "
                         f"max {conf.get('max')}")
        alternatives = _alternatives(body.get("evidence") or {})
        if alternatives:
            lines.append(f"  alternatives considered: {alternatives}")
        lines.append(f"  decision entry {decision}, signed by {entry.author} at {entry.time}")
        checked = review_summary(log, decision) if reviewed else []
        lines.extend(f"  {line}" for line in checked or ["not reviewed by a human expert yet"])
        if decision < proven_size:
            status = f"included in signed checkpoint of size {proven_size}"
            status += (f"; anchored on chain at size {anchored}" if anchored > decision
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
