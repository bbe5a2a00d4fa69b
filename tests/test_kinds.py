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
    "anchor": {"chain_id": 31337, "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
               "transaction": "0x" + "ab" * 32, "block": 7, "block_hash": "0x" + "cd" * 32,
               "log_id": "0x" + "01" * 32, "origin": "test.example/log", "size": 21,
               "root": "0x" + "ef" * 32},
    "ai.decision": {"analyzer": "keywords", "analyzer_version": "1", "insight": "keywords",
                    "model": {"name": "YAKE", "version": "0.7"},
                    "parameters_digest": "sha256:" + "0" * 64,
                    "input": {"asset": "sha256:" + "1" * 64, "start": 0, "end": 9,
                              "derived_from": [{"insight": "transcript", "decision": 83}]},
                    "output_digest": "sha256:" + "2" * 64, "output_items": 3},
}
BAD: dict[str, list[dict[str, Any]]] = {
    "role.granted": [{"subject": A, "role": "emperor"}, {"subject": "bob", "role": "worker"}],
    "credits.granted": [{"to": A, "amount": 0, "reason": "x"}, {"to": A, "amount": 1.5,
                                                                "reason": "x"}],
    "reward.accrued": [{"to": A, "payer": B, "amount": -5, "job": "j", "task": "t",
                        "reason": "x"}],
    "reputation.update": [{**GOOD["reputation.update"], "score": 1.5},
                          {**GOOD["reputation.update"], "source": "rumour"}],
    "anchor": [{**GOOD["anchor"], "root": "0x" + "EF" * 32},
               {**GOOD["anchor"], "contract": "0x1234"},
               {**GOOD["anchor"], "size": -1},
               {**GOOD["anchor"], "gas_used": 70845}],
    # ai.decision/v2 names its upstream decisions: the list is required, each entry exact.
    "ai.decision": [{**GOOD["ai.decision"], "input": {**GOOD["ai.decision"]["input"],
                                                      "derived_from": derived}}
                    for derived in ([{"insight": "transcript", "decision": -1}],
                                    [{"insight": "transcript", "decision": "83"}],
                                    [{"insight": "transcript", "decision": 83, "model": "x"}],
                                    [{"decision": 83}], None)]
                   + [{**GOOD["ai.decision"], "input": {"asset": "sha256:" + "1" * 64,
                                                        "start": 0, "end": 9}}],
}


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_kinds_accept_good_bodies_and_refuse_bad_ones(kind: str, log: Log,
                                                      author: SigningKey) -> None:
    assert log.append([sign_entry(author, kind, GOOD[kind])])[0].new
    for body in BAD[kind]:
        with pytest.raises(InvalidBodyError):
            sign_entry(author, kind, body)
