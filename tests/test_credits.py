"""Credits: grants, budgets held against what the ledger says a requester has, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiwork.api import ServerSettings, create_app
from aiwork.coordinator.accounts import Accounts
from aiwork.client.coordinator import CoordinatorClient
from aiwork.errors import CoordinatorError
from aiwork.crypto import SigningKey
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.market.credits import balances
from aiwork.model import Entry


def client_for(app: Any, key: SigningKey) -> CoordinatorClient:
    return CoordinatorClient("http://testserver", key, http=TestClient(app))


@pytest.fixture
def network(tmp_path: Path) -> dict[str, Any]:
    admin = SigningKey.generate()
    app = create_app(ServerSettings(db=tmp_path / "coord.db", key=SigningKey.generate(),
                                    open_registration=True, admin=admin.did))
    requester = SigningKey.generate()
    req = client_for(app, requester)
    req.post("/v1/identities", {"role": "requester"})
    asset = req.upload_blob(b"some media")
    return {"app": app, "admin": client_for(app, admin), "req": req, "did": requester.did,
            "asset": asset, "db": tmp_path / "coord.db"}


def job(asset: str, **extra: Any) -> dict[str, Any]:
    return {"asset": asset, "analyzers": ["technical"], **extra}


def log_size(db: Path) -> int:
    with Log.open(db) as log:
        return log.size


def test_a_requester_without_credits_is_refused_and_nothing_is_created(
        network: dict[str, Any]) -> None:
    req, before = network["req"], log_size(network["db"])
    with pytest.raises(CoordinatorError, match="402") as refused:
        req.post("/v1/jobs", job(network["asset"]))
    assert "0 available" in str(refused.value) and "aiwork admin grant" in str(refused.value)
    assert req.get("/v1/jobs").json() == []
    assert log_size(network["db"]) == before


def test_budgets_are_held_against_the_granted_balance(network: dict[str, Any]) -> None:
    req, admin, did, asset = network["req"], network["admin"], network["did"], network["asset"]
    granted = admin.post("/v1/admin/credits", {"to": did, "amount": 5, "reason": "trial"})
    assert (granted["balance"], granted["available"]) == (5, 5)

    req.post("/v1/jobs", job(asset, redundancy=2))  # no budget: its cost, 1 x 1 x 2
    assert req.get(f"/v1/credits/{did}").json() == {"did": did, "balance": 5, "held": 2,
                                                   "available": 3}
    with pytest.raises(CoordinatorError, match="402"):
        req.post("/v1/jobs", job(asset, budget=4))
    req.post("/v1/jobs", job(asset, budget=3))
    with pytest.raises(CoordinatorError, match="402"):
        req.post("/v1/jobs", job(asset))
    assert len(req.get("/v1/jobs").json()) == 2

    with Log.open(network["db"]) as log:
        entries = [Entry.from_bytes(log.get(i)) for i in range(log.size)]
    grants = [e for e in entries if e.kind == "credits.granted/v1"]
    assert [g.body for g in grants] == [{"to": did, "amount": 5, "reason": "trial"}]
    assert balances(entries)[did] == 5


@pytest.mark.parametrize("body, status, words", [
    ({"to": "did:key:nope", "amount": 5}, 400, "did"),
    ({"amount": 5}, 400, "did"),
    ({"to": None, "amount": "5"}, 400, "whole number"),
    ({"to": None, "amount": 0}, 400, "positive"),
    ({"to": None, "amount": -3}, 400, "positive"),
    ({"to": None}, 400, "how many credits"),
])
def test_malformed_grants_are_refused(network: dict[str, Any], body: dict[str, Any],
                                      status: int, words: str) -> None:
    if "to" in body and body["to"] is None:
        body = {**body, "to": network["did"]}
    before = log_size(network["db"])
    with pytest.raises(CoordinatorError, match=str(status)) as refused:
        network["admin"].post("/v1/admin/credits", body)
    assert words in str(refused.value)
    assert log_size(network["db"]) == before


def test_only_an_admin_grants_credits(network: dict[str, Any]) -> None:
    before = log_size(network["db"])
    with pytest.raises(CoordinatorError, match="403"):
        network["req"].post("/v1/admin/credits", {"to": network["did"], "amount": 1000})
    assert network["req"].get(f"/v1/credits/{network['did']}").json()["balance"] == 0
    assert log_size(network["db"]) == before


def test_starting_credits_for_each_new_requester_once(tmp_path: Path) -> None:
    app = create_app(ServerSettings(db=tmp_path / "coord.db", key=SigningKey.generate(),
                                    open_registration=True, starting_credits=50))
    key = SigningKey.generate()
    client = client_for(app, key)
    client.post("/v1/identities", {"role": "requester"})
    client.post("/v1/identities", {"role": "requester"})  # asking again grants nothing more
    client.post("/v1/identities", {"role": "worker"})
    assert client.get(f"/v1/credits/{key.did}").json()["balance"] == 50


def test_accounts_start_from_the_credit_entries_already_in_a_log(tmp_path: Path) -> None:
    issuer, a, b = (SigningKey.generate() for _ in range(3))
    entries = [
        sign_entry(issuer, "credits.granted", {"to": a.did, "amount": 10, "reason": "x"}),
        sign_entry(issuer, "reward.accrued", {"to": b.did, "payer": a.did, "amount": 3,
                                              "job": "j", "task": "t", "reason": "y"}),
    ]
    with Log.create(tmp_path / "old.db", issuer) as log:
        log.append(entries)
        accounts = Accounts(log.db)
        assert accounts.all_balances() == balances(entries) == {a.did: 7, b.did: 3}
        accounts.record([sign_entry(issuer, "credits.granted",
                                    {"to": b.did, "amount": 1, "reason": "z"})])
        assert accounts.account(b.did).balance == 4


def test_only_the_issuers_credit_entries_count_when_it_is_named() -> None:
    issuer, forger, a = (SigningKey.generate() for _ in range(3))
    entries = [
        sign_entry(issuer, "credits.granted", {"to": a.did, "amount": 10, "reason": "x"}),
        sign_entry(forger, "credits.granted", {"to": forger.did, "amount": 10**6,
                                               "reason": "free money"}),
    ]
    assert balances(entries, issuer=issuer.did) == {a.did: 10}
    assert balances(entries)[forger.did] == 10**6


def test_serve_refuses_free_credits_for_every_key_on_a_public_address(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """--open-registration --starting-credits N gives credits to every fresh key: anyone who
    reaches the coordinator could mint credits by making keys. Only loopback (a devnet), or
    with --i-know-this-is-a-devnet."""
    from aiwork.cli import main
    from aiwork.cli.serve import check_free_credits

    monkeypatch.setenv("AIWORK_HOME", str(tmp_path / "home"))
    for host in ("0.0.0.0", "192.0.2.7", "::", "coordinator.example"):
        code = main(["serve", "--host", host, "--open-registration",
                     "--starting-credits", "100"])
        assert code == 2
        assert "--i-know-this-is-a-devnet" in capsys.readouterr().err
    assert not (tmp_path / "home").exists()  # refused before anything was created
    # What stays allowed: loopback, no free credits, approval by an admin, or said out loud.
    for host in ("127.0.0.1", "::1", "[::1]", "localhost"):
        check_free_credits(host, open_registration=True, starting_credits=100,
                           devnet_ok=False)
    check_free_credits("0.0.0.0", open_registration=True, starting_credits=0, devnet_ok=False)
    check_free_credits("0.0.0.0", open_registration=False, starting_credits=100,
                       devnet_ok=False)
    check_free_credits("0.0.0.0", open_registration=True, starting_credits=100,
                       devnet_ok=True)
