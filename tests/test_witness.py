"""Witnesses: honest growth is cosigned; rollbacks, forks and bad proofs raise alarms."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiwork.api import ServerSettings, create_app
from aiwork.client.coordinator import CoordinatorClient
from aiwork.client.witness import Witness
from aiwork.errors import ConfigError, KeyMismatchError, WitnessAlarm
from aiwork.auth import sign_request
from aiwork.cli import main
from aiwork.config import log_key_path
from aiwork.crypto import SigningKey, read_key_file, write_key_file
from aiwork.ledger import verify
from aiwork.ledger.cosign import WitnessKey, cosign, verify_cosigned_note
from aiwork.ledger.log import Log
from aiwork.ledger.note import Checkpoint, SignedNote, VerifierKey, sign_note

from .conftest import running_coordinator

ORIGIN = "log.test/coordinator"
NAME = "witness.test/w1"


def make_log(tmp_path: Path, name: str, log_key: SigningKey, *, witnesses: tuple[str, ...] = (),
             client_class: type[TestClient] = TestClient, origin: str = ORIGIN) -> TestClient:
    """A coordinator over its own store, its log signed by ``log_key`` as ``origin``."""
    db = tmp_path / name / "coord.db"
    Log.create(db, log_key, origin=origin).close()
    write_key_file(log_key_path(db), log_key)
    settings = ServerSettings(db=db, key=SigningKey.generate(), open_registration=True,
                              witnesses=witnesses)
    return client_class(create_app(settings), base_url=f"http://{name}.test")


def grow(app: TestClient, count: int) -> None:
    """``count`` more entries: each a worker's role grant."""
    for _ in range(count):
        body = json.dumps({"role": "worker"}).encode()
        key = SigningKey.generate()
        reply = app.post("/v1/identities", content=body,
                         headers={**sign_request(key, "POST", "/v1/identities", body),
                                  "content-type": "application/json"})
        assert reply.status_code == 200


def log_client(app: TestClient) -> CoordinatorClient:
    return CoordinatorClient(str(app.base_url), http=app)


def stored_cosignatures(tmp_path: Path, name: str) -> list[tuple[int, str]]:
    with sqlite3.connect(tmp_path / name / "coord.db") as conn:
        return [(int(size), str(line)) for size, line in
                conn.execute("SELECT size, line FROM witness_cosignatures ORDER BY size")]


@pytest.fixture
def log_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def witness_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def vkey(witness_key: SigningKey) -> str:
    return WitnessKey.of(NAME, witness_key).to_text()


def evidence_of(alarm: WitnessAlarm) -> dict[str, Any]:
    value = json.loads(alarm.evidence.read_text())
    assert isinstance(value, dict)
    return value


def test_honest_growth_is_cosigned_and_served(tmp_path: Path, log_key: SigningKey,
                                              witness_key: SigningKey, vkey: str) -> None:
    app = make_log(tmp_path, "honest", log_key, witnesses=(vkey,))
    witness = Witness(witness_key, tmp_path / "witness", NAME)
    grow(app, 2)
    first = witness.step(log_client(app))
    assert (first.action, first.size, first.previous_size) == ("cosigned", 2, None)
    grow(app, 3)
    second = witness.step(log_client(app))
    assert (second.action, second.size, second.previous_size) == ("cosigned", 5, 2)
    assert witness.step(log_client(app)).action == "unchanged"

    note = app.get("/v1/ledger/checkpoint").text
    log_vkey = app.get("/v1/ledger/key").text.strip()
    assert verify.verify_checkpoint(note, log_vkey).size == 5
    cosignature = verify_cosigned_note(note, vkey)
    assert note.endswith(cosignature.to_line()) and cosignature.to_line() == second.cosignature
    assert len(SignedNote.from_text(note).signatures) == 2
    earlier = app.get("/v1/ledger/checkpoint", params={"size": 2}).text
    assert verify.verify_checkpoint(earlier, log_vkey).size == 2
    assert verify_cosigned_note(earlier, vkey).to_line() == first.cosignature
    assert app.get("/v1/ledger/checkpoint", params={"size": 3}).status_code == 404
    assert app.get("/v1/ledger/checkpoint", params={"size": 1 << 70}).status_code == 404
    assert [size for size, _ in stored_cosignatures(tmp_path, "honest")] == [2, 5]
    assert not witness.alarms.exists()


def test_a_fork_at_the_same_size_raises_an_alarm_with_both_checkpoints(
        tmp_path: Path, log_key: SigningKey, witness_key: SigningKey, vkey: str) -> None:
    honest = make_log(tmp_path, "honest", log_key, witnesses=(vkey,))
    forked = make_log(tmp_path, "forked", log_key, witnesses=(vkey,))  # same key and origin
    grow(honest, 3)
    grow(forked, 3)  # other entries: another root for size 3
    witness = Witness(witness_key, tmp_path / "witness", NAME)
    witness.step(log_client(honest))
    cosigned = witness.last_cosigned(ORIGIN)
    state = witness.state_file.read_bytes()
    with pytest.raises(WitnessAlarm) as raised:
        witness.step(log_client(forked))
    assert raised.value.reason == "fork"
    evidence = evidence_of(raised.value)
    assert evidence["reason"] == "fork" and evidence["cosigned_checkpoint"] == cosigned
    served = evidence["served_checkpoint"]
    assert Checkpoint.from_body(SignedNote.from_text(served).body).size == 3
    assert served != cosigned and evidence["time"] and evidence["proof"] is None
    assert witness.state_file.read_bytes() == state
    assert stored_cosignatures(tmp_path, "forked") == []  # never cosigned


def test_a_rollback_raises_an_alarm_and_survives_a_restart(
        tmp_path: Path, log_key: SigningKey, witness_key: SigningKey, vkey: str) -> None:
    honest = make_log(tmp_path, "honest", log_key, witnesses=(vkey,))
    grow(honest, 4)
    Witness(witness_key, tmp_path / "witness", NAME).step(log_client(honest))
    restarted = Witness(witness_key, tmp_path / "witness", NAME)
    assert restarted.step(log_client(honest)).action == "unchanged"  # remembers size 4
    smaller = make_log(tmp_path, "smaller", log_key, witnesses=(vkey,))
    grow(smaller, 2)
    with pytest.raises(WitnessAlarm) as raised:
        restarted.step(log_client(smaller))
    assert raised.value.reason == "rollback"
    evidence = evidence_of(raised.value)
    assert "from size 4 to 2" in evidence["message"]
    assert evidence["cosigned_checkpoint"] == restarted.last_cosigned(ORIGIN)
    assert Checkpoint.from_body(SignedNote.from_text(
        evidence["served_checkpoint"]).body).size == 2
    grow(honest, 1)  # the honest log goes on, and is still cosigned
    assert restarted.step(log_client(honest)).previous_size == 4


def test_a_longer_fork_fails_its_consistency_proof(tmp_path: Path, log_key: SigningKey,
                                                   witness_key: SigningKey, vkey: str) -> None:
    honest = make_log(tmp_path, "honest", log_key, witnesses=(vkey,))
    forked = make_log(tmp_path, "forked", log_key, witnesses=(vkey,))
    grow(honest, 3)
    grow(forked, 6)
    witness = Witness(witness_key, tmp_path / "witness", NAME)
    witness.step(log_client(honest))
    with pytest.raises(WitnessAlarm) as raised:
        witness.step(log_client(forked))
    assert raised.value.reason == "inconsistent"
    evidence = evidence_of(raised.value)
    assert evidence["proof"]["size1"] == 3 and evidence["proof"]["size2"] == 6
    assert witness.last_cosigned(ORIGIN) == evidence["cosigned_checkpoint"]
    assert stored_cosignatures(tmp_path, "forked") == []


class TamperedProofs(TestClient):
    """Serves the log honestly, but every consistency proof with one hash altered."""

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        reply = super().send(request, *args, **kwargs)
        if "/v1/ledger/proof/consistency" not in str(request.url):
            return reply
        reply.read()
        proof = reply.json()
        proof["hashes"][0] = base64.b64encode(bytes(32)).decode()
        return type(reply)(200, json=proof, request=request)


def test_a_bad_proof_from_the_honest_log_is_refused_with_evidence(
        tmp_path: Path, log_key: SigningKey, witness_key: SigningKey, vkey: str) -> None:
    app = make_log(tmp_path, "honest", log_key, witnesses=(vkey,), client_class=TamperedProofs)
    grow(app, 3)
    witness = Witness(witness_key, tmp_path / "witness", NAME)
    witness.step(log_client(app))
    grow(app, 2)
    with pytest.raises(WitnessAlarm) as raised:
        witness.step(log_client(app))
    evidence = evidence_of(raised.value)
    assert evidence["reason"] == "inconsistent" and evidence["proof"]["hashes"][0] == \
        base64.b64encode(bytes(32)).decode()
    assert [size for size, _ in stored_cosignatures(tmp_path, "honest")] == [3]
    assert verify.verify_checkpoint(witness.last_cosigned(ORIGIN) or "",
                                    app.get("/v1/ledger/key").text).size == 3


def test_a_changed_log_key_is_an_alarm(tmp_path: Path, log_key: SigningKey,
                                       witness_key: SigningKey, vkey: str) -> None:
    first = make_log(tmp_path, "same", log_key, witnesses=(vkey,))
    grow(first, 1)
    witness = Witness(witness_key, tmp_path / "witness", NAME)
    witness.step(log_client(first))
    rekeyed = make_log(tmp_path / "again", "same", SigningKey.generate(), witnesses=(vkey,))
    grow(rekeyed, 2)
    with pytest.raises(WitnessAlarm) as raised:
        Witness(witness_key, tmp_path / "witness", NAME).step(log_client(rekeyed))
    assert raised.value.reason == "key-changed"
    assert evidence_of(raised.value)["pinned_key"] == first.get("/v1/ledger/key").text.strip()
    # A new key under a new origin, at the URL where the old log was: also a key change.
    renamed = make_log(tmp_path / "third", "same", SigningKey.generate(), witnesses=(vkey,),
                       origin="log.test/other")
    grow(renamed, 1)
    with pytest.raises(WitnessAlarm, match="key-changed"):
        witness.step(log_client(renamed))
    assert witness.last_cosigned("log.test/other") is None


def test_a_witness_given_the_log_key_refuses_another_from_first_contact(
        tmp_path: Path, log_key: SigningKey, witness_key: SigningKey, vkey: str) -> None:
    right = make_log(tmp_path, "right", log_key, witnesses=(vkey,))
    impostor = make_log(tmp_path, "impostor", SigningKey.generate(), witnesses=(vkey,))
    grow(right, 1)
    grow(impostor, 1)
    pinned = right.get("/v1/ledger/key").text
    witness = Witness(witness_key, tmp_path / "witness", NAME, log_key=pinned)
    with pytest.raises(KeyMismatchError, match="not the key this witness was given"):
        witness.step(log_client(impostor))
    assert witness.last_cosigned(ORIGIN) is None and not witness.alarms.exists()
    assert stored_cosignatures(tmp_path, "impostor") == []
    assert witness.step(log_client(right)).action == "cosigned"
    with pytest.raises(ConfigError, match="not a verifier key"):
        Witness(witness_key, tmp_path / "other", NAME, log_key="log.test/coordinator+zz+AA")


def test_a_damaged_state_is_refused_not_reset(tmp_path: Path, witness_key: SigningKey) -> None:
    folder = tmp_path / "witness"
    folder.mkdir()
    (folder / "witness.json").write_text('{"version": 1, "logs": {"x": {}}}')
    with pytest.raises(ConfigError, match="damaged"):
        Witness(witness_key, folder, NAME)


def test_the_coordinator_refuses_unknown_forged_and_unissued_cosignatures(
        tmp_path: Path, log_key: SigningKey, witness_key: SigningKey, vkey: str) -> None:
    app = make_log(tmp_path, "coord", log_key, witnesses=(vkey,))
    grow(app, 2)
    note = app.get("/v1/ledger/checkpoint").text
    now = int(time.time())

    def post(value: Any, raw: bytes | None = None) -> Any:
        return app.post("/v1/ledger/cosignatures",
                        content=raw if raw is not None else json.dumps(value).encode())

    stranger = SigningKey.generate()
    reply = post({"size": 2, "cosignature": cosign(note, NAME, stranger, now)})
    assert reply.status_code == 403 and reply.json()["error"] == "unknown-witness"
    reply = post({"size": 2, "cosignature": cosign(note, "other.test/w", stranger, now)})
    assert reply.status_code == 403
    good = cosign(note, NAME, witness_key, now)
    forged = good.replace(good.split(" ")[2][20:40], "A" * 20)
    reply = post({"size": 2, "cosignature": forged})
    assert reply.status_code == 400 and reply.json()["error"] == "bad-cosignature"
    fake_body = Checkpoint(ORIGIN, 2, bytes(32)).to_body()  # never signed by the log
    reply = post({"size": 2, "cosignature": cosign(fake_body, NAME, witness_key, now)})
    assert reply.status_code == 400 and "does not verify" in reply.json()["message"]
    reply = post({"size": 2, "cosignature": good, "checkpoint": fake_body})
    assert reply.status_code == 409 and reply.json()["error"] == "checkpoint-mismatch"
    reply = post({"size": 7, "cosignature": good})
    assert reply.status_code == 404 and reply.json()["error"] == "unknown-checkpoint"
    assert post({"size": 1 << 70, "cosignature": good}).status_code == 404
    future = cosign(note, NAME, witness_key, now + 86_400)
    assert post({"size": 2, "cosignature": future}).status_code == 400
    assert post({"size": 2, "cosignature": "x" * 20_000}).status_code == 413
    assert post({}, raw=b"{not json").status_code == 400
    assert post({"size": "2", "cosignature": good}).status_code == 400
    assert post({"size": 2, "cosignature": "\u2014 " + NAME + " AAAA"}).status_code == 400
    assert stored_cosignatures(tmp_path, "coord") == []
    assert len(SignedNote.from_text(app.get("/v1/ledger/checkpoint").text).signatures) == 1

    assert post({"size": 2, "cosignature": good, "checkpoint": note}).status_code == 200
    older = cosign(note, NAME, witness_key, now - 60)
    assert post({"size": 2, "cosignature": older}).status_code == 200  # kept: the newer one
    assert stored_cosignatures(tmp_path, "coord") == [(2, good)]
    served = app.get("/v1/ledger/checkpoint").text
    assert served == note + good


def test_a_bad_witness_key_is_a_configuration_error(tmp_path: Path, log_key: SigningKey) -> None:
    log_vkey = "log.test+12345678+" + base64.b64encode(b"\x01" + log_key.public_key).decode()
    with pytest.raises(ConfigError, match="--witness"):
        make_log(tmp_path, "coord", log_key, witnesses=(log_vkey,))


# -- the command line against a real server -----------------------------------------------


@pytest.fixture
def served_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[str, str]]:
    """``aiwork serve --witness VKEY`` on loopback; yields its URL and the witness key file."""
    keyfile = tmp_path / "witness.pem"
    assert main(["keys", "new", "--out", str(keyfile)]) == 0
    assert main(["witness", "key", "--key", str(keyfile), "--name", NAME]) == 0
    vkey = capsys.readouterr().out.splitlines()[-1]
    assert vkey == WitnessKey.of(NAME, read_key_file(keyfile)).to_text()
    with running_coordinator(tmp_path / "coordinator", "--open-registration",
                             "--witness", vkey) as url:
        yield url, str(keyfile)


def test_the_witness_command_cosigns_then_raises_an_alarm_on_a_fork(
        tmp_path: Path, served_log: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    url, keyfile = served_log
    witness = ["witness", "--log", url, "--key", keyfile, "--name", NAME, "--once",
               "--state", str(tmp_path / "state")]
    for _ in range(3):
        with CoordinatorClient(url, SigningKey.generate()) as client:
            client.post("/v1/identities", {"role": "worker"})
    assert main(witness) == 0
    assert capsys.readouterr().out.strip().endswith("size 3 (first contact)")
    with CoordinatorClient(url) as client:
        note = client.get("/v1/ledger/checkpoint").text
        log_vkey = client.get("/v1/ledger/key").text
    verify.verify_checkpoint(note, log_vkey)
    verify_cosigned_note(note, WitnessKey.of(NAME, read_key_file(keyfile)))
    assert main(witness) == 0
    assert capsys.readouterr().out.startswith("unchanged")

    # Someone with the log key signs another root for size 3 and serves it.
    db = tmp_path / "coordinator" / "aiwork.db"
    forged = sign_note(Checkpoint(Checkpoint.from_body(SignedNote.from_text(note).body).origin,
                                  3, bytes(32)).to_body(),
                       SignedNote.from_text(note).signatures[0].name,
                       read_key_file(log_key_path(db))).to_text()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE ledger_checkpoints SET note = ? WHERE size = 3", (forged,))
    assert main(witness) == 3
    err = capsys.readouterr().err
    assert "WITNESS ALARM (fork)" in err and "evidence in" in err
    [evidence] = (tmp_path / "state" / "alarms").glob("*.json")
    value = json.loads(evidence.read_text())
    assert value["reason"] == "fork" and value["served_checkpoint"].startswith(forged)
    assert main(["witness", "--key", keyfile]) == 2  # no --log: a usage error
    other = VerifierKey(VerifierKey.from_text(log_vkey).name, SigningKey.generate().public_key)
    assert main([*witness, "--log-key", other.to_text()]) == 1
    assert "not the key this witness was given" in capsys.readouterr().err


def test_cosignatures_are_kept_in_either_store(log: Log) -> None:
    from aiwork.coordinator.cosignatures import Cosignatures
    from aiwork.errors import CosignatureRefused
    from aiwork.ledger.entries import sign_entry

    author = SigningKey.generate()
    log.append([sign_entry(author, "generic", {"n": n}) for n in range(3)])
    witness = SigningKey.generate()
    cosignatures = Cosignatures(log, [WitnessKey.of(NAME, witness)])
    note = cosignatures.checkpoint()
    now = int(time.time())
    line = cosign(note, NAME, witness, now)
    assert cosignatures.add(3, line, note).timestamp == now
    cosignatures.add(3, cosign(note, NAME, witness, now - 5))  # older: the newer one stays
    assert cosignatures.checkpoint() == note + line == cosignatures.checkpoint(3)
    newer = cosign(note, NAME, witness, now + 1)
    cosignatures.add(3, newer)
    assert cosignatures.lines(3) == [newer]
    with pytest.raises(CosignatureRefused, match="never signed"):
        cosignatures.add(2, line)
    assert Cosignatures(log).checkpoint() == note  # a witness no longer configured: not served
