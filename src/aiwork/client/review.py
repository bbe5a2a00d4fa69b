"""An expert's verdict, signed by the expert's client."""

from __future__ import annotations

from typing import Any

from aiwork.client.coordinator import CoordinatorClient
from aiwork.errors import ConfigError
from aiwork.ledger.entries import sign_entry
from aiwork.model.commitment import seal
from aiwork.quality.review_items import verdict_body

__all__ = ["give_verdict"]


def give_verdict(client: CoordinatorClient, item_id: str, verdict: str, value: Any = None,
                 rationale: str | None = None, seconds: float | None = None) -> int:
    """Sign a verdict on the review item ``item_id`` (assigned to the client's key) and submit
    it; return its ledger index. On a sensitive library's item the entry is a
    ``human.verdict.sealed`` one: the log gets commitments to the value and rationale, the
    coordinator their openings (kept for the library's readers)."""
    if client.key is None:
        raise ConfigError("a verdict is signed: give --key KEYFILE")
    item = client.get_review_item(item_id)
    body = verdict_body(item_id, item.evidence["decision"], item.insight, verdict, value,
                        rationale, seconds)
    openings: dict[str, Any] | None = None
    if item.sensitive:
        body, openings = seal(body, {"value": value, "rationale": rationale})
        entry = sign_entry(client.key, "human.verdict.sealed", body)
    else:
        entry = sign_entry(client.key, "human.verdict", body)
    return client.submit_verdict(item_id, entry.to_bytes(), openings).verdict
