"""Credit balances recomputed from the ledger alone.

``credits.granted`` adds to an account; ``reward.accrued`` moves credits from its payer (a
requester) to its earner (a worker or expert). Nothing else changes a balance, so anyone
holding the log's entries computes the same balances.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from aiwork.model import Entry

__all__ = ["balances"]


def balances(entries: Iterable[Entry]) -> dict[str, int]:
    """Every account's balance after ``entries`` (in log order)."""
    result: dict[str, int] = defaultdict(int)
    for entry in entries:
        if entry.kind == "credits.granted/v1":
            result[entry.body["to"]] += int(entry.body["amount"])
        elif entry.kind == "reward.accrued/v1":
            result[entry.body["to"]] += int(entry.body["amount"])
            result[entry.body["payer"]] -= int(entry.body["amount"])
    return dict(result)
