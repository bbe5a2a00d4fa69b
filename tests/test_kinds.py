"""The entry kinds of the network: their schemas accept what they should and refuse the rest."""

from __future__ import annotations

from typing import Any

import pytest

from aiwork.crypto import SigningKey
from aiwork.errors import InvalidBodyError
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log

A, B = SigningKey.generate().did, SigningKey.generate().did

GOOD: dict[str, dict[str, Any]] = {
    "role.granted": {"subject": A, "role": "worker", "granted_by": None},
    "credits.granted": {"to": A, "amount": 1000, "reason": "devnet budget"},
    "reward.accrued": {"to": A, "payer": B, "amount": 5, "job": "j1", "task": "t1",
                       "reason": "accepted result"},
    "reputation.update": {"subject": A, "role": "worker", "insight": "shots",
                          "source": "agreement", "observation": 1, "score": 0.9, "samples": 3,
                          "quarantined": False},
}
BAD: dict[str, list[dict[str, Any]]] = {
    "role.granted": [{"subject": A, "role": "emperor"}, {"subject": "bob", "role": "worker"}],
    "credits.granted": [{"to": A, "amount": 0, "reason": "x"}, {"to": A, "amount": 1.5,
                                                                "reason": "x"}],
    "reward.accrued": [{"to": A, "payer": B, "amount": -5, "job": "j", "task": "t",
                        "reason": "x"}],
    "reputation.update": [{**GOOD["reputation.update"], "score": 1.5},
                          {**GOOD["reputation.update"], "source": "rumour"}],
}


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_kinds_accept_good_bodies_and_refuse_bad_ones(kind: str, log: Log,
                                                      author: SigningKey) -> None:
    assert log.append([sign_entry(author, kind, GOOD[kind])])[0].new
    for body in BAD[kind]:
        with pytest.raises(InvalidBodyError):
            sign_entry(author, kind, body)
