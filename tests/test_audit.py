"""Audit bundles, the standalone verifier (`aiwork-verify`) and `aiwork explain`."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey as NaclKey

from aiwork.cli import main
from aiwork.verify_bundle import (
    ANCHORED_TOPIC,
    ROOT_OF_SELECTOR,
    BundleError,
    canonical_json,
    verify_bundle,
)

from .conftest import make_two_scene_clip
from .test_anchor import fresh_chain, key_file, operator, rpc  # noqa: F401 - fixtures


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store in which a two-shot clip was processed (technical, shots)."""
    folder = tmp_path_factory.mktemp("audit")
    clip = make_two_scene_clip(folder / "scenes.mp4")
    db = folder / "aiwork.db"
    assert main(["process", str(clip), "--analyzers", "technical,shots", "--db", str(db),
                 "--out", str(folder / "out")]) == 0
    return db


@pytest.fixture
def bundle(store: Path, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "bundle.json"
    assert main(["audit", "scenes.mp4", "--db", str(store), "--out", str(out)]) == 0
    value: dict[str, Any] = json.loads(out.read_text())
    return value


def refused(bundle: Any, **kwargs: Any) -> str:
    with pytest.raises(BundleError) as error:
        verify_bundle(bundle, **kwargs)
    return str(error.value)


def test_the_cli_writes_a_bundle_that_aiwork_verify_accepts(store: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    out = tmp_path / "b.json"
    assert main(["audit", "scenes.mp4", "--db", str(store), "--out", str(out)]) == 0
    assert "2 item(s)" in capsys.readouterr().out
    run = subprocess.run([sys.executable, "-m", "aiwork.verify_bundle", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "signed by the log: ok" in run.stdout
    assert "items: 2 match their decisions (shots, technical)" in run.stdout
    assert "is the checkpoint's last entry, so no later summary" in run.stdout
    assert run.stdout.strip().endswith("OK (self-consistent only: no trusted log key given)")


def test_one_item_by_name_or_by_decision_index(store: Path, tmp_path: Path,
                                               bundle: dict[str, Any]) -> None:
    out = tmp_path / "shots.json"
    assert main(["audit", "scenes.mp4#shots", "--db", str(store), "--out", str(out)]) == 0
    one = json.loads(out.read_text())
    assert [i["insight"] for i in one["items"]] == ["shots"]
    verify_bundle(one)
    decision = one["items"][0]["decision"]
    assert main(["audit", str(decision), "--db", str(store), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["items"] == one["items"]


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _leaves(item, (*path, n))
    else:
        yield path


def _altered(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if value is None:
        return 0
    text = str(value)
    middle = len(text) // 2
    swap = "B" if text[middle] != "B" else "C"
    return text[:middle] + swap + text[middle + 1:]


def test_any_altered_value_fails(bundle: dict[str, Any]) -> None:
    verify_bundle(bundle)
    paths = list(_leaves(bundle))
    assert len(paths) > 40
    for path in paths:
        if path[0] == "anchor":  # none here; anchors have their own tests
            continue
        tampered = copy.deepcopy(bundle)
        holder = tampered
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = _altered(holder[path[-1]])
        with pytest.raises((BundleError, KeyError, TypeError, ValueError)):
            verify_bundle(tampered)


def test_each_kind_of_tampering_is_named(bundle: dict[str, Any]) -> None:
    shots = next(i for i in bundle["items"] if i["insight"] == "shots")
    decision_pos = next(n for n, e in enumerate(bundle["entries"])
                        if e["index"] == shots["decision"])

    entry = copy.deepcopy(bundle)
    data = entry["entries"][decision_pos]["data"]
    entry["entries"][decision_pos]["data"] = data.replace('"shots"', '"ocr"', 1)
    assert "signature does not verify" in refused(entry)
    assert f"entry {shots['decision']}" in refused(entry)

    proof = copy.deepcopy(bundle)
    hashes = proof["entries"][0]["proof"]
    hashes[0] = base64.b64encode(bytes(32)).decode()
    assert "inclusion proof does not lead to the checkpoint root" in refused(proof)

    note = copy.deepcopy(bundle)
    body, sigs = note["checkpoint"].split("\n\n")
    name, sig = sigs.strip().rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig))
    raw[-1] ^= 1
    note["checkpoint"] = f"{body}\n\n{name} {base64.b64encode(bytes(raw)).decode()}\n"
    assert "log signature does not verify" in refused(note)

    value = copy.deepcopy(bundle)
    item = next(i for i in value["items"] if i["insight"] == "shots")
    cut = item["output"][0]["instances"][0]
    cut["end"] = round(cut["end"] + 0.5, 3)  # a cut moved by half a second
    assert "altered value" in refused(value)

    renamed = copy.deepcopy(bundle)
    renamed["asset"]["name"] = "other.mp4"
    assert "differs from the registered" in refused(renamed)


def _verify_cli(path: Path, *args: str, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
    import os

    base = {k: v for k, v in os.environ.items() if k != "AIWORK_LOG_KEY"}
    return subprocess.run([sys.executable, "-m", "aiwork.verify_bundle", str(path), *args],
                          capture_output=True, text=True, env={**base, **(env or {})})


def test_ok_means_signed_by_the_log_key_the_user_trusts(
        store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "b.json"
    assert main(["audit", "scenes.mp4", "--db", str(store), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["ledger", "key", "--db", str(store)]) == 0
    trusted = capsys.readouterr().out.strip()
    other_db = tmp_path / "other.db"
    assert main(["ledger", "init", "--db", str(other_db)]) == 0
    capsys.readouterr()
    assert main(["ledger", "key", "--db", str(other_db)]) == 0
    other = capsys.readouterr().out.strip()

    plain = _verify_cli(out)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines()[-1] == "OK (self-consistent only: no trusted log key given)"

    good = _verify_cli(out, "--log-key", trusted)
    assert good.returncode == 0, good.stderr
    assert good.stdout.splitlines()[-1] == (
        f"OK: {out} verified against the trusted log key {trusted.split('+')[0]}")
    assert _verify_cli(out, env={"AIWORK_LOG_KEY": trusted}).stdout.splitlines()[-1] \
        == good.stdout.splitlines()[-1]

    wrong = _verify_cli(out, "--log-key", other)
    assert wrong.returncode == 1 and wrong.stdout == ""
    assert "not signed by the trusted log key" in wrong.stderr
    assert _verify_cli(out, env={"AIWORK_LOG_KEY": other}).returncode == 1

    # A forgery: the same bundle re-signed, entry for entry, by another log. It is
    # self-consistent, so only the trusted key tells it apart.
    from aiwork.ledger.home import open_ledger

    bundle = json.loads(out.read_text())
    with open_ledger(other_db, signing=True) as log:
        from aiwork.model import Entry

        first = log.size
        for entry in bundle["entries"]:
            log.append([Entry.from_bytes(entry["data"].encode())])
        note = log.checkpoint()
        size = log.size
        for n, entry in enumerate(bundle["entries"]):
            entry["index"] = first + n
            entry["proof"] = log.inclusion_proof(first + n, size).to_json()["hashes"]
        bundle["log_key"] = log.verifier_key.to_text()
    assert first == 0  # a fresh log: the same indexes, so items and summary still agree
    bundle["checkpoint"] = note
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(bundle))
    assert _verify_cli(forged).stdout.splitlines()[-1].startswith("OK (self-consistent only")
    assert "not signed by the trusted log key" in _verify_cli(forged, "--log-key",
                                                              trusted).stderr


def test_a_trusted_witness_is_another_trust_root(bundle: dict[str, Any]) -> None:
    witness = NaclKey.generate()
    _cosign(bundle, witness, "witness.example/w1", int(time.time()))
    mine = bundle["witness_keys"][0]
    assert verify_bundle(bundle).trusted == []
    assert verify_bundle(bundle, witness_keys=[mine]).trusted == [
        "the trusted witness witness.example/w1"]
    stranger = NaclKey.generate()
    public = bytes(stranger.verify_key)
    key_id = hashlib.sha256(b"witness.example/w9\n\x04" + public).digest()[:4]
    theirs = f"witness.example/w9+{key_id.hex()}+" + base64.b64encode(b"\x04" + public).decode()
    assert "no cosignature by the trusted witness witness.example/w9" in refused(
        bundle, witness_keys=[theirs])


def test_leaving_an_insight_out_of_a_bundle_is_detected(bundle: dict[str, Any]) -> None:
    """The attack: drop an insight's items AND its decision (and its author, were it the
    only one); everything left still checks, but the asset's summary names the insight."""
    verify_bundle(bundle)
    cut = copy.deepcopy(bundle)
    [shots] = [i for i in cut["items"] if i["insight"] == "shots"]
    cut["items"].remove(shots)
    cut["entries"] = [e for e in cut["entries"] if e["index"] != shots["decision"]]
    assert "insight shots is missing" in refused(cut)

    # Declaring the cut bundle a part of the asset on purpose does not hide it: the
    # verifier says what is not covered.
    partial = copy.deepcopy(cut)
    partial["insights"] = ["technical"]
    report = verify_bundle(partial)
    assert "this bundle covers 1 of the asset's 2 insights; not covered: shots" \
        in report.warnings

    # Without the summary there is nothing to compare with: refused, not passed.
    bare = copy.deepcopy(cut)
    bare["entries"] = [e for e in bare["entries"] if "asset.summary" not in e["data"]]
    assert "no asset.summary" in refused(bare)


def test_reprocessing_logs_a_new_summary_only_when_a_decision_changes(tmp_path: Path) -> None:
    from aiwork.ledger.home import open_ledger
    from aiwork.ledger.summaries import Summaries
    from aiwork.model import Entry

    clip = make_two_scene_clip(tmp_path / "clip.mp4")
    db = tmp_path / "aiwork.db"
    args = ["--db", str(db), "--out", str(tmp_path / "out")]
    assert main(["process", str(clip), "--analyzers", "technical", *args]) == 0
    assert main(["process", str(clip), "--analyzers", "technical", *args]) == 0
    assert main(["process", str(clip), "--analyzers", "technical,shots", *args]) == 0
    with open_ledger(db) as log:
        kinds = [Entry.from_bytes(log.get(i)) for i in range(log.size)]
        summaries = [(i, e.body) for i, e in enumerate(kinds) if e.kind == "asset.summary/v1"]
        assert [sorted(b["decisions"]) for _, b in summaries] == [["technical"],
                                                                 ["shots", "technical"]]
        assert summaries[1][1]["prev"] == summaries[0][0]
        # Signed by whoever processed the asset: the key that signed its decisions.
        decisions = {e.author for e in kinds if e.kind.startswith("ai.decision/")}
        assert {kinds[i].author for i, _ in summaries} == decisions and len(decisions) == 1
        assert Summaries(log).latest(summaries[0][1]["asset"])[0] == summaries[1][0]


def _cosign(bundle: dict[str, Any], witness: NaclKey, name: str, stamp: int) -> str:
    """A C2SP tlog-cosignature/v1 line, built here from the spec, not by aiwork."""
    public = bytes(witness.verify_key)
    key_id = hashlib.sha256(name.encode() + b"\n" + b"\x04" + public).digest()[:4]
    body = bundle["checkpoint"].split("\n\n")[0] + "\n"
    message = f"cosignature/v1\ntime {stamp}\n".encode() + body.encode()
    signature = witness.sign(message).signature
    line = "\u2014 " + name + " " + base64.b64encode(
        key_id + struct.pack(">Q", stamp) + signature).decode()
    bundle["checkpoint"] = bundle["checkpoint"].rstrip("\n") + "\n" + line + "\n"
    encoded = base64.b64encode(bytes([4]) + public).decode()
    bundle["witness_keys"].append(f"{name}+{key_id.hex()}+{encoded}")
    return line


def test_witness_cosignatures_are_checked(bundle: dict[str, Any]) -> None:
    witness = NaclKey.generate()
    _cosign(bundle, witness, "witness.example/w1", int(time.time()))
    report = verify_bundle(bundle)
    assert any("1 of 1 witnesses: ok" in line for line in report.lines)

    forged = copy.deepcopy(bundle)
    lines = forged["checkpoint"].rstrip("\n").split("\n")
    name, sig = lines[-1].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig))
    raw[20] ^= 1
    lines[-1] = f"{name} {base64.b64encode(bytes(raw)).decode()}"
    forged["checkpoint"] = "\n".join(lines) + "\n"
    assert "cosignature of witness.example/w1 does not verify" in refused(forged)

    missing = copy.deepcopy(bundle)
    missing["witness_keys"].append(bundle["witness_keys"][0].replace("w1", "w2", 1))
    with pytest.raises(BundleError):
        verify_bundle(missing)

    future = copy.deepcopy(bundle)
    future["checkpoint"] = bundle["checkpoint"].rsplit("\u2014 witness", 1)[0]
    future["witness_keys"] = []
    _cosign(future, witness, "witness.example/w1", int(time.time()) + 86400)
    assert "dated in the future" in refused(future)


def _receipt(bundle: dict[str, Any]) -> dict[str, Any]:
    origin, size, root = bundle["checkpoint"].split("\n")[:3]
    return {"chain_id": 31337, "contract": "0x" + "11" * 20, "transaction": "0x" + "22" * 32,
            "block": 7, "block_hash": "0x" + "33" * 32,
            "log_id": hashlib.sha256(origin.encode()).hexdigest(), "origin": origin,
            "size": int(size), "root": base64.b64decode(root).hex()}


def test_an_anchor_receipt_must_name_this_checkpoint(bundle: dict[str, Any]) -> None:
    bundle["anchor"] = _receipt(bundle)
    report = verify_bundle(bundle)
    assert any("consistent with the checkpoint" in line for line in report.lines)
    for field, value in [("root", "00" * 32), ("size", 1), ("log_id", "00" * 32)]:
        tampered = copy.deepcopy(bundle)
        tampered["anchor"][field] = value
        with pytest.raises(BundleError, match="anchor receipt"):
            verify_bundle(tampered)


def test_an_unreachable_chain_is_a_clear_failure(bundle: dict[str, Any]) -> None:
    bundle["anchor"] = _receipt(bundle)
    assert "cannot ask the chain" in refused(bundle, rpc="http://127.0.0.1:9")


def test_the_verifier_constants_are_the_keccak_of_their_signatures() -> None:
    from eth_utils import keccak

    assert ROOT_OF_SELECTOR == "0x" + keccak(text="root_of(bytes32,uint256)")[:4].hex()
    assert ANCHORED_TOPIC == "0x" + keccak(text="Anchored(bytes32,uint256,bytes32)").hex()


def test_the_verifier_imports_nothing_else_from_aiwork() -> None:
    code = ("import sys, aiwork.verify_bundle as v; v.canonical_json([1.5]);"
            "print(sorted(m for m in sys.modules if m.startswith('aiwork')))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert run.stdout.strip() == "['aiwork', 'aiwork.verify_bundle']"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_canonical_json_is_rfc8785(value: Any) -> None:
    assert canonical_json(value).encode() == rfc8785.dumps(value)


@pytest.mark.parametrize("number", [0.1, 1e-7, 1e-6, 1e21, 1e20, 123.0, 5e-324,
                                    1.7976931348623157e308, -2.5e-9, 3.0000000000000004])
def test_canonical_numbers(number: float) -> None:
    assert canonical_json(number).encode() == rfc8785.dumps(number)


def test_bad_bundle_files_are_one_clear_line(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "aiwork.verify_bundle", *args],
                              capture_output=True, text=True)

    garbage = tmp_path / "x.json"
    garbage.write_text("{not json")
    assert run(str(garbage)).stderr.strip() == f"FAIL: {garbage} is not JSON"
    assert "cannot read" in run(str(tmp_path / "none.json")).stderr
    garbage.write_text('{"format": "something else"}')
    result = run(str(garbage))
    assert result.returncode == 1 and "not an aiwork audit bundle" in result.stderr
    assert run().returncode == 2


def test_explain_says_which_model_made_each_item(store: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "scenes.mp4", "--db", str(store)]) == 0
    out = capsys.readouterr().out
    assert "shots:\n  made by PySceneDetect ContentDetector" in out
    assert "technical:" in out and "from seconds 0" in out
    assert "not reviewed by a human expert yet" in out
    assert "proof: included in signed checkpoint" in out
    assert main(["explain", "scenes.mp4#shots", "--db", str(store)]) == 0
    assert "technical:" not in capsys.readouterr().out


def test_auditing_an_unknown_video_is_a_clear_error(store: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "nope.mp4", "--db", str(store), "--out", str(tmp_path / "b")]) == 1
    assert "not processed yet" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()
    assert main(["explain", "scenes.mp4#ocr", "--db", str(store)]) == 1
    assert "has no insight 'ocr'" in capsys.readouterr().err


def test_a_bundle_carries_the_cosignatures_the_coordinator_collected(
        store: Path, tmp_path: Path) -> None:
    import shutil

    from aiwork.coordinator.cosignatures import Cosignatures
    from aiwork.ledger.home import open_ledger
    from aiwork.crypto import SigningKey
    from aiwork.ledger.cosign import WitnessKey, cosign
    from aiwork.ledger.note import Checkpoint

    db = tmp_path / "aiwork.db"
    shutil.copy(store, db)
    shutil.copy(str(store) + ".logkey", str(db) + ".logkey")
    witnesses = [SigningKey.generate() for _ in range(2)]
    with open_ledger(db, signing=True) as log:
        note = log.checkpoint()
        size = Checkpoint.from_note(note, log.verifier_key).size
        keys = [WitnessKey.of(f"witness.example/{n}", k) for n, k in enumerate(witnesses)]
        book = Cosignatures(log, keys)
        for key, signer in zip(keys, witnesses, strict=True):
            book.add(size, cosign(note, key.name, signer, int(time.time())))
    out = tmp_path / "b.json"
    assert main(["audit", "scenes.mp4", "--db", str(db), "--out", str(out)]) == 0
    bundle = json.loads(out.read_text())
    assert sorted(bundle["witness_keys"]) == sorted(k.to_text() for k in keys)
    report = verify_bundle(bundle)
    assert any("2 of 2 witnesses: ok" in line for line in report.lines)


def test_an_anchored_checkpoint_is_checked_on_the_chain(
        store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], rpc: str,  # noqa: F811
        operator: Any, fresh_chain: str) -> None:  # noqa: F811
    import shutil

    db = tmp_path / "aiwork.db"
    shutil.copy(store, db)
    shutil.copy(str(store) + ".logkey", str(db) + ".logkey")
    eth = str(key_file(tmp_path / "eth.key", operator))
    assert main(["anchor", "deploy", "--rpc", rpc, "--eth-key", eth]) == 0
    address = capsys.readouterr().out.strip()
    assert main(["anchor", "--rpc", rpc, "--eth-key", eth, "--contract", address,
                 "--db", str(db)]) == 0
    out = tmp_path / "b.json"
    assert main(["audit", "scenes.mp4", "--db", str(db), "--out", str(out)]) == 0
    assert "anchored" in capsys.readouterr().out
    bundle = json.loads(out.read_text())
    assert bundle["anchor"]["contract"].lower() == address.lower()

    report = verify_bundle(bundle, rpc=rpc)
    assert any("the chain holds this root, emitted by that transaction" in line
               for line in report.lines)
    assert "missing on chain" in refused(bundle, rpc=fresh_chain)
    moved = copy.deepcopy(bundle)
    moved["anchor"]["block"] += 1
    assert "the transaction is in block" in refused(moved, rpc=rpc)

    assert main(["explain", "scenes.mp4", "--db", str(db)]) == 0
    assert "anchored on chain at size" in capsys.readouterr().out


def _new_key(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["keys", "new", "--out", str(path)]) == 0
    return capsys.readouterr().out.strip()


def test_a_job_bundle_is_fetched_from_the_coordinator_and_checked_against_its_log_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import httpx2 as httpx

    from aiwork.client.coordinator import CoordinatorClient
    from aiwork.ledger.home import open_ledger
    from aiwork.model import Entry

    from .conftest import running_coordinator

    clip = make_two_scene_clip(tmp_path / "clip.mp4")
    home = tmp_path / "coordinator"
    requester, worker = tmp_path / "requester.pem", tmp_path / "worker.pem"
    owner_did = _new_key(requester, capsys)
    _new_key(worker, capsys)
    stranger = tmp_path / "stranger.pem"
    _new_key(stranger, capsys)
    with running_coordinator(home, "--open-registration", "--starting-credits", "20") as url:
        at = ["--coordinator", url]
        for key, role in [(requester, "requester"), (worker, "worker"),
                          (stranger, "requester")]:
            assert main(["register", *at, "--key", str(key), "--role", role]) == 0
        assert main(["submit", str(clip), *at, "--key", str(requester),
                     "--analyzers", "technical,shots"]) == 0
        with CoordinatorClient(url) as anyone:
            [job] = anyone.get(f"/v1/jobs?requester={owner_did}").json()
            # Not finished yet: no summary, so no bundle (a reason, not a 500).
            early = httpx.get(f"{url}/v1/jobs/{job['id']}/audit")
            assert early.status_code == 400 and "not finished" in early.json()["message"]
        assert main(["worker", *at, "--key", str(worker), "--once"]) == 0
        capsys.readouterr()

        out = tmp_path / "job.json"
        assert main(["audit", job["id"], *at, "--out", str(out)]) == 0
        assert "2 item(s)" in capsys.readouterr().out
        bundle = json.loads(out.read_text())
        assert bundle["job"] == job["id"] and bundle["asset"] == {"digest": job["asset"]}
        assert httpx.get(f"{url}/v1/jobs/nope/audit").status_code == 404
        one = tmp_path / "shots.json"
        assert main(["audit", f"{job['id']}#shots", *at, "--out", str(one)]) == 0
        assert [i["insight"] for i in json.loads(one.read_text())["items"]] == ["shots"]
        assert main(["audit", f"{job['id']}#ocr", *at, "--out", str(one)]) == 1
        assert "has no insight 'ocr'" in capsys.readouterr().err

        # The log key, as its operator prints it on the coordinator's host.
        assert main(["ledger", "key", "--db", str(home / "aiwork.db")]) == 0
        trusted = capsys.readouterr().out.strip()
        with CoordinatorClient(url) as anyone:
            assert anyone.get("/v1/ledger/key").text.strip() == trusted

        ok = _verify_cli(out, "--log-key", trusted)
        assert ok.returncode == 0, ok.stderr
        assert "items: 2 match their decisions (shots, technical)" in ok.stdout
        assert ok.stdout.splitlines()[-1].startswith(f"OK: {out} verified against the trusted")
        plain = _verify_cli(out)
        assert plain.stdout.splitlines()[-1] == \
            "OK (self-consistent only: no trusted log key given)"
        other_db = tmp_path / "other.db"
        assert main(["ledger", "init", "--db", str(other_db)]) == 0
        with open_ledger(other_db) as other:
            another = other.verifier_key.to_text()
        wrong = _verify_cli(out, "--log-key", another)
        assert wrong.returncode == 1 and "not signed by the trusted log key" in wrong.stderr

        # The summary the coordinator signed names both insights: cutting one out fails.
        [summary] = [json.loads(e["data"]) for e in bundle["entries"]
                     if "asset.summary" in e["data"]]
        assert summary["body"]["job"] == job["id"]
        assert sorted(summary["body"]["decisions"]) == ["shots", "technical"]
        with open_ledger(home / "aiwork.db") as log:
            coordinator_did = Entry.from_bytes(log.get(0)).author
        assert summary["author"] == coordinator_did  # it granted the first role
        cut = copy.deepcopy(bundle)
        [technical] = [i for i in cut["items"] if i["insight"] == "technical"]
        cut["items"].remove(technical)
        cut["entries"] = [e for e in cut["entries"] if e["index"] != technical["decision"]]
        cut["keys"] = sorted({json.loads(e["data"])["author"] for e in cut["entries"]})
        assert "insight technical is missing" in refused(cut)


def test_a_sensitive_job_bundle_goes_only_to_its_readers_and_each_fetch_is_logged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from aiwork.client.coordinator import CoordinatorClient
    from aiwork.ledger.home import open_ledger
    from aiwork.crypto import read_key_file
    from aiwork.model import Entry

    from .conftest import running_coordinator

    clip = tmp_path / "clip.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=green:s=160x90:d=2:r=25", "-c:v", "libx264", "-pix_fmt",
                    "yuv420p", str(clip)], check=True)
    home = tmp_path / "coordinator"
    owner, worker, stranger = (tmp_path / f"{n}.pem" for n in ("owner", "worker", "stranger"))
    owner_did = _new_key(owner, capsys)
    _new_key(worker, capsys)
    _new_key(stranger, capsys)
    with running_coordinator(home, "--open-registration", "--starting-credits", "20") as url:
        at = ["--coordinator", url]
        for key, role in [(owner, "requester"), (worker, "worker"), (stranger, "requester")]:
            assert main(["register", *at, "--key", str(key), "--role", role]) == 0
        capsys.readouterr()
        assert main(["library", "create", "Board", "--sensitive", *at,
                     "--key", str(owner)]) == 0
        library = capsys.readouterr().out.split()[1]
        assert main(["submit", str(clip), *at, "--key", str(owner), "--analyzers",
                     "technical", "--library", library]) == 0
        assert main(["worker", *at, "--key", str(worker), "--once"]) == 0
        with CoordinatorClient(url, None) as anyone:  # a sensitive library's job is unlisted
            assert anyone.get(f"/v1/jobs?requester={owner_did}").json() == []
        with CoordinatorClient(url, read_key_file(owner)) as reader:
            [job] = reader.get(f"/v1/jobs?requester={owner_did}", signed=True).json()
        capsys.readouterr()
        out = tmp_path / "b.json"
        assert main(["audit", job["id"], *at, "--out", str(out)]) == 1
        assert "401" in capsys.readouterr().err and not out.exists()
        assert main(["audit", job["id"], *at, "--key", str(stranger), "--out", str(out)]) == 1
        assert "403" in capsys.readouterr().err and not out.exists()
        assert main(["audit", job["id"], *at, "--key", str(owner), "--purpose",
                     "yearly audit", "--out", str(out)]) == 0
        assert json.loads(out.read_text())["job"] == job["id"]
        with open_ledger(home / "aiwork.db") as log:
            reads = [Entry.from_bytes(log.get(i)).body for i in range(log.size)
                     if Entry.from_bytes(log.get(i)).kind.startswith("access.read/")]
        assert [(r["reader"], r["resource"], r["purpose"]) for r in reads] == [
            (owner_did, "audit", "yearly audit")]


def test_an_anchor_counts_as_a_trust_root_only_on_a_contract_the_user_names(
        store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], rpc: str,  # noqa: F811
        operator: Any) -> None:  # noqa: F811
    import shutil

    db = tmp_path / "aiwork.db"
    shutil.copy(store, db)
    shutil.copy(str(store) + ".logkey", str(db) + ".logkey")
    eth = str(key_file(tmp_path / "eth.key", operator))
    assert main(["anchor", "deploy", "--rpc", rpc, "--eth-key", eth]) == 0
    address = capsys.readouterr().out.strip()
    assert main(["anchor", "deploy", "--rpc", rpc, "--eth-key", eth]) == 0
    elsewhere = capsys.readouterr().out.strip()
    assert main(["anchor", "--rpc", rpc, "--eth-key", eth, "--contract", address,
                 "--db", str(db)]) == 0
    out = tmp_path / "b.json"
    assert main(["audit", "scenes.mp4", "--db", str(db), "--out", str(out)]) == 0
    bundle = json.loads(out.read_text())

    assert verify_bundle(bundle, rpc=rpc).trusted == []  # the receipt's contract is a claim
    report = verify_bundle(bundle, rpc=rpc, contract=address)
    assert report.trusted == [f"the trusted anchor contract {address} on chain 31337"]
    assert "not the trusted contract" in refused(bundle, rpc=rpc, contract=elsewhere)
    assert "give --rpc URL too" in refused(bundle, contract=address)
    run = _verify_cli(out, "--rpc", rpc, "--contract", address)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == (f"OK: {out} verified against the trusted anchor "
                                           f"contract {address} on chain 31337")
    assert _verify_cli(out, "--contract", address).returncode == 2
