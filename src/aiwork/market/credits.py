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


def balances(entries: Iterable[Entry], *, issuer: str | None = None) -> dict[str, int]:
    """Every account's balance after ``entries`` (in log order).

    With ``issuer`` (the coordinator's did), only credit entries it signed count: anyone can
    sign a ``credits.granted`` body, only the coordinator's moves money.
    """
    result: dict[str, int] = defaultdict(int)
    for entry in entries:
        if issuer is not None and entry.author != issuer:
            continue
        if entry.kind == "credits.granted/v1":
            result[entry.body["to"]] += int(entry.body["amount"])
        elif entry.kind == "reward.accrued/v1":
            result[entry.body["to"]] += int(entry.body["amount"])
            result[entry.body["payer"]] -= int(entry.body["amount"])
    return dict(result)
