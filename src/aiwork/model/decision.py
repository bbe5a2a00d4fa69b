"""A decision's output as the ledger records it: every item stamped with the ledger index of
its decision in ``metadata.json``, and digested without those stamps, in the form the
published schema writes it (so anyone can recompute an ``ai.decision``'s output digest)."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter, ValidationError

from aiwork.digests import sha256_json
from aiwork.errors import InputError
from aiwork.model.metadata import Metadata

__all__ = ["normalize", "output_digest", "stamp_decision", "unstamp_decision"]


def stamp_decision(items: Any, decision: int) -> Any:
    """Give every item of an output the ledger index of its decision."""
    if isinstance(items, list):
        return [{**item, "decision": decision} for item in items]
    if isinstance(items, dict) and "segments" in items:
        return {**items, "segments": [{**s, "decision": decision} for s in items["segments"]]}
    return {**items, "decision": decision}


def unstamp_decision(items: Any) -> Any:
    """The items without their ``decision`` fields (the one place they are taken off; the
    standalone ``aiwork-verify`` carries its own copy). What is not an item stays as it is."""
    if isinstance(items, list):
        return [_unstamped(item) for item in items]
    if isinstance(items, dict) and isinstance(items.get("segments"), list):
        return {**items, "segments": [_unstamped(s) for s in items["segments"]]}
    return _unstamped(items)


def _unstamped(item: Any) -> Any:
    return {k: v for k, v in item.items() if k != "decision"} if isinstance(item, dict) else item


@functools.cache
def _adapter(insight: str) -> TypeAdapter[Any]:
    field = Metadata.model_fields.get(insight)
    if field is None or field.annotation is None:
        raise InputError(f"analyzer output for unknown insight {insight!r}")
    return TypeAdapter(field.annotation)


def normalize(insight: str, items: Any) -> Any:
    """The items as the published schema writes them (defaults filled in, types checked),
    so anyone can recompute the output digest from metadata.json."""
    adapter = _adapter(insight)
    try:
        return unstamp_decision(adapter.dump_python(adapter.validate_python(items), mode="json"))
    except ValidationError as exc:
        raise InputError(f"{insight} output does not match the metadata schema: {exc}") from exc


def output_digest(items: Any) -> str:
    """What an ``ai.decision`` entry records of its output: sha256 of the canonical items
    without their ``decision`` fields."""
    return sha256_json(unstamp_decision(items))
