"""Provenance: the upstream decisions a decision was derived from, and which of a subject's
insights are stale."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiwork.audit.subjects import AuditSubject
from aiwork.coordinator.libraries import opened_body
from aiwork.coordinator.results import stale_results
from aiwork.coordinator.review import kept_in as reviews_kept_in
from aiwork.coordinator.review import review_changes
from aiwork.ledger.log import Log
from aiwork.model import Entry
from aiwork.model.metadata import StaleInsight

__all__ = ["Anchors", "chain", "derived_from", "subject_stale", "upstream_decisions"]

#: Where anchor receipts come from: ``anchors(log) -> [receipt, ...]`` (each with ``size``).
Anchors = Callable[[Log], list[dict[str, Any]]]


def derived_from(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A decision body's ``input.derived_from`` (``None`` for ``ai.decision/v1``)."""
    value = (body.get("input") or {}).get("derived_from")
    return list(value) if isinstance(value, list) else None


def upstream_decisions(log: Log, decisions: list[int]) -> set[int]:
    """Every decision the given ones were derived from, transitively."""
    seen: set[int] = set()
    todo = list(decisions)
    while todo:
        _, body = opened_body(log, todo.pop())  # a sealed decision's, from its opening
        for ref in derived_from(body) or []:
            index = int(ref["decision"])
            if index not in seen and index < log.size:
                seen.add(index)
                todo.append(index)
    return seen


def chain(log: Log, name: str, decision: int) -> str:
    """``keywords (decision 22) from transcript (decision 83, Whisper base), ...``."""
    refs = derived_from(opened_body(log, decision)[1])
    if refs is None:
        return f"{name} (decision {decision}): its upstream decisions are not named" \
               " (an ai.decision/v1 entry)"
    if not refs:
        return f"{name} (decision {decision}) from the media only"
    parts = []
    for ref in refs:
        index = int(ref["decision"])
        model = (Entry.from_bytes(log.get(index)).body.get("model") or {}
                 if index < log.size else {})
        label = f"{model.get('name')} {model.get('version')}" if model else "not in this log"
        parts.append(f"{ref['insight']} (decision {index}, {label})")
    return f"{name} (decision {decision}) from " + ", ".join(parts)


def subject_stale(log: Log, subject: AuditSubject) -> dict[str, StaleInsight]:
    """The subject's insights whose upstream value changed after they were computed."""
    corrected = (review_changes(log, subject.job)
                 if subject.job is not None and reviews_kept_in(log.db) else {})
    found = stale_results(log, {name: decision for name, (decision, _)
                                in subject.results.items()}, corrected)
    return {item.insight: item for item in found}
