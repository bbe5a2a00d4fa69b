"""Anchoring checkpoints on an EVM chain, against a real local node (anvil) on loopback.

The node is ``AIWORK_TEST_EVM_RPC`` when set (scripts/test starts one with scripts/anvil),
else an anvil binary found under ``.evm/`` started for this session. Every operator key is
fresh and funded with anvil's ``anvil_setBalance``, so test runs sharing a node never race
for an account's nonces.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from aiwork.anchor import (
    AnchorReceipt,
    CheckStatus,
    EthKey,
    EvmChain,
    MemoryChain,
    anchor_artifact,
    anchor_checkpoint,
    check_anchor,
    deploy,
    log_id_of,
    read_eth_key,
)
from aiwork.errors import (
    AnchorRefusedError,
    ChainUnreachableError,
    ContractError,
    EthKeyError,
    ReceiptError,
)
from aiwork.anchor.service import (
    ANCHOR_KIND,
    PeriodicAnchoring,
    anchor_latest,
    has_news,
    recheck,
    recorded_anchors,
    serve_anchoring,
)
from aiwork.cli import main
from aiwork.crypto import SigningKey
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from tests.conftest import missing, require
from tools.devnode import ANVIL_KEYS, find_anvil, run_anvil

ROOT = Path(__file__).resolve().parents[1]
UNREACHABLE = "http://127.0.0.1:1"
ANCHORED_TOPIC = Web3.keccak(text="Anchored(bytes32,uint256,bytes32)")


# -- the node and the keys -------------------------------------------------------------


def _anvil_binary() -> Path:
    binary = find_anvil(ROOT / ".evm")
    if binary is None:
        missing("no anvil binary (scripts/anvil installs it into .evm/)")
    return binary


@pytest.fixture(scope="session")
def rpc() -> Iterator[str]:
    url = os.environ.get("AIWORK_TEST_EVM_RPC")
    if url:
        yield url
        return
    with run_anvil(_anvil_binary()) as started:
        yield started


@pytest.fixture
def fresh_chain() -> Iterator[str]:
    """A second, empty anvil chain (same chain id): what a node reset or another chain is."""
    with run_anvil(_anvil_binary()) as url:
        yield url


def fund(url: str, address: str) -> None:
    w3 = Web3(Web3.HTTPProvider(url))
    w3.provider.make_request("anvil_setBalance", [address, hex(10**20)])  # type: ignore[arg-type]


def new_key(url: str) -> EthKey:
    key = EthKey(secrets.token_bytes(32))
    fund(url, key.address)
    return key


@pytest.fixture
def operator(rpc: str) -> EthKey:
    return new_key(rpc)


@pytest.fixture
def contract(rpc: str, operator: EthKey) -> str:
    return deploy(rpc, operator)


def key_file(path: Path, key: EthKey | str, *, prefix: str = "0x") -> Path:
    secret = key if isinstance(key, str) else key.account.key.hex().removeprefix("0x")
    path.write_text(f"  {prefix}{secret.removeprefix('0x')}\n")
    path.chmod(0o600)
    return path


# -- logs ------------------------------------------------------------------------------


def make_log(path: Path, entries: int, *, origin: str, signer: SigningKey | None = None,
             seed: str = "") -> Log:
    log = Log.create(path, signer or SigningKey.generate(), origin=origin)
    grow(log, entries, seed=seed)
    return log


def grow(log: Log, entries: int, *, seed: str = "") -> None:
    author = SigningKey(hashlib.sha256(b"test author").digest())
    start = log.size
    for lo in range(start, start + entries, 1000):
        hi = min(lo + 1000, start + entries)
        log.append([sign_entry(author, "generic", {"n": i, "seed": seed})
                    for i in range(lo, hi)])


def origin() -> str:
    return f"test.example/anchor-{secrets.token_hex(6)}"


# -- the artifact ----------------------------------------------------------------------


def test_committed_artifact_is_the_compiled_source() -> None:
    require("vyper")
    from tools.contract import SOURCE_PATH, VYPER_VERSION, compile_anchor

    committed = anchor_artifact()
    built = compile_anchor()
    assert committed.compiler == f"vyper {VYPER_VERSION}"
    assert committed.source_sha256 == hashlib.sha256(SOURCE_PATH.read_bytes()).hexdigest()
    assert built.bytecode == committed.bytecode
    assert built.runtime_bytecode == committed.runtime_bytecode
    assert built.to_text() == (ROOT / "src/aiwork/anchor/Anchor.json").read_text()


def test_the_contract_has_the_interface_verifiers_call() -> None:
    w3 = Web3()
    abi = anchor_artifact().abi
    signatures = {
        item["name"]: f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
        for item in abi if item["type"] in ("function", "event")
    }
    assert signatures == {
        "anchor": "anchor(bytes32,uint256,bytes32)", "root_of": "root_of(bytes32,uint256)",
        "latest_size": "latest_size(bytes32)", "owner": "owner()",
        "Anchored": "Anchored(bytes32,uint256,bytes32)",
    }
    outputs = {item["name"]: [o["type"] for o in item["outputs"]]
               for item in abi if item["type"] == "function"}
    assert outputs == {"anchor": [], "root_of": ["bytes32"], "latest_size": ["uint256"],
                       "owner": ["address"]}
    event = next(item for item in abi if item["type"] == "event")
    assert [i["indexed"] for i in event["inputs"]] == [True, False, False]
    assert w3.keccak(text="root_of(bytes32,uint256)")[:4].hex() in anchor_artifact().bytecode


def test_public_surface_and_error_tree() -> None:
    import aiwork.anchor as anchor
    import aiwork.errors as errors
    from aiwork.errors import AiworkError, AnchorError

    assert sorted(anchor.__all__) == sorted(
        name for name in vars(anchor) if not name.startswith("_")
        and not isinstance(vars(anchor)[name], type(anchor)))
    # Anchoring's errors live in the one tree, under AnchorError, and nowhere else.
    found = [value for value in vars(errors).values()
             if isinstance(value, type) and issubclass(value, AnchorError)]
    assert len(found) == 7 and issubclass(AnchorError, AiworkError)
    assert not any(isinstance(value, type) and issubclass(value, BaseException)
                   for value in vars(anchor).values())


# -- the contract on a real node -------------------------------------------------------


def test_deploy_anchor_and_reanchor(tmp_path: Path, rpc: str, operator: EthKey,
                                    contract: str) -> None:
    chain = EvmChain(rpc)
    assert chain.owner(contract) == operator.address
    with make_log(tmp_path / "a.db", 10, origin=origin()) as log:
        note = log.checkpoint()
        receipt = anchor_checkpoint(rpc, operator, contract, note, log.verifier_key.to_text())
        assert set(receipt) == {"chain_id", "contract", "transaction", "block", "block_hash",
                                "log_id", "origin", "size", "root", "gas_used"}
        assert receipt["chain_id"] == chain.chain_id and receipt["contract"] == contract
        assert receipt["origin"] == log.origin and receipt["size"] == 10
        assert receipt["root"] == "0x" + log.root().hex()
        assert receipt["log_id"] == "0x" + hashlib.sha256(log.origin.encode()).hexdigest()
        log_id = log_id_of(log.origin)
        assert chain.root_of(contract, log_id, 10) == log.root()
        assert chain.root_of(contract, log_id, 9) == bytes(32)
        assert chain.latest_size(contract, log_id) == 10
        # The event, with the log id as its indexed topic.
        logs = chain.w3.eth.get_transaction_receipt(receipt["transaction"])["logs"]
        assert len(logs) == 1 and bytes(logs[0]["topics"][0]) == ANCHORED_TOPIC
        assert bytes(logs[0]["topics"][1]) == log_id
        assert bytes(logs[0]["data"]) == (10).to_bytes(32, "big") + log.root()
        assert check_anchor(rpc, receipt).status is CheckStatus.OK
        # The same checkpoint again: accepted, nothing changes, the event again (so that
        # every anchoring transaction proves itself).
        again = anchor_checkpoint(rpc, operator, contract, note, log.verifier_key)
        assert again["transaction"] != receipt["transaction"]
        assert again["gas_used"] < receipt["gas_used"]
        logs_again = chain.w3.eth.get_transaction_receipt(again["transaction"])["logs"]
        assert [bytes(t) for t in logs_again[0]["topics"]] == [ANCHORED_TOPIC, log_id]
        assert chain.latest_size(contract, log_id) == 10
        assert chain.root_of(contract, log_id, 10) == log.root()


def test_the_contract_refuses_smaller_forked_and_foreign_anchors(
        tmp_path: Path, rpc: str, operator: EthKey, contract: str) -> None:
    chain = EvmChain(rpc)
    name, log_key = origin(), SigningKey.generate()
    with make_log(tmp_path / "a.db", 20, origin=name, signer=log_key) as log:
        small = log.checkpoint()
        grow(log, 10)
        big = log.checkpoint()
        vkey = log.verifier_key
        anchor_checkpoint(chain, operator, contract, big, vkey)
        with pytest.raises(AnchorRefusedError, match="size below the latest") as refused:
            anchor_checkpoint(chain, operator, contract, small, vkey)
        assert refused.value.reason == "anchor: size below the latest anchored"
        assert "newer checkpoint" in refused.value.diagnostics()
        root30 = log.root()
    # A fork: the same log key and origin, other entries, the same size.
    with make_log(tmp_path / "fork.db", 30, origin=name, signer=log_key, seed="fork") as fork:
        forked = fork.checkpoint()
        assert fork.root() != root30
        with pytest.raises(AnchorRefusedError, match="different root") as refused:
            anchor_checkpoint(chain, operator, contract, forked, vkey)
        assert "forked" in refused.value.diagnostics()
    # Anyone but the owner: anvil's second default account.
    stranger = EthKey.from_hex(ANVIL_KEYS[1])
    with pytest.raises(AnchorRefusedError, match="not the owner"):
        anchor_checkpoint(chain, stranger, contract, big, vkey)
    log_id = log_id_of(name)
    assert chain.root_of(contract, log_id, 30) == root30
    assert chain.root_of(contract, log_id, 20) == bytes(32)
    assert chain.latest_size(contract, log_id) == 30


def test_gas_per_anchor_does_not_grow_with_the_log(tmp_path: Path, rpc: str, operator: EthKey,
                                                   contract: str) -> None:
    first: list[int] = []
    later: list[int] = []
    for n in (10, 2000):
        with make_log(tmp_path / f"{n}.db", n, origin=origin()) as log:
            first.append(anchor_checkpoint(rpc, operator, contract, log.checkpoint(),
                                           log.verifier_key)["gas_used"])
            grow(log, n)
            later.append(anchor_checkpoint(rpc, operator, contract, log.checkpoint(),
                                           log.verifier_key)["gas_used"])
    # Only the calldata differs (a zero byte costs 4 gas, another 16).
    assert abs(first[0] - first[1]) <= 200, first
    assert abs(later[0] - later[1]) <= 200, later
    assert max(first + later) < 100_000


def test_wrong_contract_unreachable_node_and_bad_receipts(tmp_path: Path, rpc: str,
                                                          operator: EthKey) -> None:
    with make_log(tmp_path / "a.db", 3, origin=origin()) as log:
        note, vkey = log.checkpoint(), log.verifier_key
    with pytest.raises(ContractError, match="not an Ethereum address"):
        anchor_checkpoint(rpc, operator, "0x1234", note, vkey)
    with pytest.raises(ContractError, match="no contract at"):
        anchor_checkpoint(rpc, operator, "0x" + "11" * 20, note, vkey)
    with pytest.raises(ContractError, match="not an aiwork Anchor contract"):
        # An account with code that is not the Anchor contract.
        w3 = Web3(Web3.HTTPProvider(rpc))
        other = "0x" + secrets.token_hex(20)
        w3.provider.make_request("anvil_setCode", [other, "0x6000"])  # type: ignore[arg-type]
        anchor_checkpoint(rpc, operator, other, note, vkey)
    # The code vanishes (a chain reset) under a connection that has seen it: nothing is sent.
    chain = EvmChain(rpc)
    vanishing = deploy(chain, operator)
    anchor_checkpoint(chain, operator, vanishing, note, vkey)
    Web3(Web3.HTTPProvider(rpc)).provider.make_request(
        "anvil_setCode", [vanishing, "0x"])  # type: ignore[arg-type]
    with pytest.raises(ContractError, match="no contract at"):
        anchor_checkpoint(chain, operator, vanishing, note, vkey)
    with pytest.raises(ChainUnreachableError, match="no Ethereum JSON-RPC node") as down:
        anchor_checkpoint(UNREACHABLE, operator, "0x" + "11" * 20, note, vkey)
    assert "scripts/anvil" in down.value.diagnostics()
    good = {"chain_id": 1, "contract": "0x" + "11" * 20, "transaction": "0x" + "22" * 32,
            "block": 1, "block_hash": "0x" + "33" * 32, "log_id": "0x" + log_id_of("x").hex(),
            "origin": "x", "size": 1, "root": "0x" + "44" * 32}
    assert AnchorReceipt.from_json(good).to_body() == good
    for bad in ({**good, "log_id": "0x" + "55" * 32}, {**good, "size": "1"},
                {k: v for k, v in good.items() if k != "root"}, {**good, "root": "44" * 32}):
        with pytest.raises(ReceiptError):
            check_anchor(rpc, bad)
    assert check_anchor(UNREACHABLE, good).status is CheckStatus.UNREACHABLE


def test_eth_key_files(tmp_path: Path) -> None:
    key = EthKey(secrets.token_bytes(32))
    assert read_eth_key(key_file(tmp_path / "a", key)).address == key.address
    assert read_eth_key(key_file(tmp_path / "b", key, prefix="")).address == key.address
    assert key.account.key.hex() not in repr(key)
    (tmp_path / "open").write_text(ANVIL_KEYS[0])
    (tmp_path / "open").chmod(0o644)
    problems = [
        ("does not exist", tmp_path / "nope"),
        ("accessible by other users", tmp_path / "open"),
        ("does not hold a hex", key_file(tmp_path / "short", "abcd")),
        ("out of range", key_file(tmp_path / "zero", "00" * 32)),
        ("does not hold a hex", key_file(tmp_path / "pem", "-----BEGIN PRIVATE KEY-----")),
        ("is not a regular file", tmp_path),
    ]
    for message, path in problems:
        with pytest.raises(EthKeyError, match=message) as error:
            read_eth_key(path)
        hint = error.value.diagnostics()
        assert "64 hex digits" in hint or "chmod 600" in hint, hint


# -- the ledger side -------------------------------------------------------------------


def test_anchor_entry_lands_in_the_log_and_survives_a_restart(
        tmp_path: Path, rpc: str, operator: EthKey, contract: str, fresh_chain: str) -> None:
    db = tmp_path / "ledger.db"
    log_key = SigningKey.generate()
    with make_log(db, 12, origin=origin(), signer=log_key) as log:
        chain = EvmChain(rpc)
        done = anchor_latest(log, chain, operator, contract)
        assert done is not None and done.index == 12 and done.receipt.size == 12
        entry = log.entry(12)
        assert entry.kind == ANCHOR_KIND and entry.author == log_key.did
        assert entry.body == done.receipt.to_body()
        assert log.verify().size == 13
        # Only the anchor entry is new: nothing to anchor.
        assert not has_news(log, chain.chain_id, contract)
        assert anchor_latest(log, chain, operator, contract) is None
        grow(log, 5)
        again = anchor_latest(log, chain, operator, contract)
        assert again is not None and again.receipt.size == 18 and again.index == 18
        # Another contract has seen nothing of this log.
        assert has_news(log, chain.chain_id, deploy(chain, operator))
        assert log.verify().checkpoints == 2
    # A new process opens the log: every anchor is still on the chain.
    with Log.open(db) as reopened:
        assert [a.index for a in recorded_anchors(reopened)] == [12, 18]
        results = recheck(reopened, rpc)
        assert [r.check.status for r in results] == [CheckStatus.OK] * 2, results
        # A fresh chain: no contract at that address.
        gone = recheck(reopened, fresh_chain)
        assert [r.check.status for r in gone] == [CheckStatus.MISSING] * 2
        assert "no contract at" in gone[0].describe()
        # The same contract deployed anew there (same deployer, same nonce, same address),
        # holding nothing, then another root for one size: missing, and different.
        fund(fresh_chain, operator.address)
        assert deploy(fresh_chain, operator) == contract
        assert [r.check.status for r in recheck(reopened, fresh_chain)] == [
            CheckStatus.MISSING] * 2
        receipt = recorded_anchors(reopened)[0].receipt
        EvmChain(fresh_chain).anchor(operator, contract, receipt.log_id_bytes, 12,
                                     hashlib.sha256(b"forged").digest())
        statuses = [r.check.status for r in recheck(reopened, fresh_chain)]
        assert statuses == [CheckStatus.DIFFERENT, CheckStatus.MISSING]
        assert {r.check.status for r in recheck(reopened, UNREACHABLE)} == {
            CheckStatus.UNREACHABLE}


def test_recheck_notices_a_log_rewritten_under_its_anchor(tmp_path: Path) -> None:
    chain, key = MemoryChain(), EthKey(secrets.token_bytes(32))
    contract = deploy(chain, key)
    db = tmp_path / "ledger.db"
    with make_log(db, 4, origin=origin()) as log:
        done = anchor_latest(log, chain, key, contract)
        assert done is not None
        # Rewrite history below the anchor (what `aiwork ledger verify` also catches): the
        # stored hash of the complete subtree over entries 0..3 (level 2, index 0).
        log.db.conn.execute("UPDATE ledger_tree SET hash = ? WHERE id = ?", (bytes(32), 2 << 56))
        log.db.conn.commit()
        (result,) = recheck(log, chain)
        assert result.check.status is CheckStatus.DIFFERENT
        assert "rewritten" in result.check.detail


def test_memory_chain_follows_the_contract_rules(tmp_path: Path) -> None:
    chain, owner = MemoryChain(), EthKey(secrets.token_bytes(32))
    contract = deploy(chain, owner)
    with make_log(tmp_path / "a.db", 5, origin=origin()) as log:
        five = log.checkpoint()
        grow(log, 5)
        ten = log.checkpoint()
        receipt = anchor_checkpoint(chain, owner, contract, ten, log.verifier_key)
        anchor_checkpoint(chain, owner, contract, ten, log.verifier_key)
        assert check_anchor(chain, receipt).ok
        with pytest.raises(AnchorRefusedError, match="size below"):
            anchor_checkpoint(chain, owner, contract, five, log.verifier_key)
        with pytest.raises(AnchorRefusedError, match="not the owner"):
            anchor_checkpoint(chain, EthKey(secrets.token_bytes(32)), contract, ten,
                              log.verifier_key)
    assert check_anchor(MemoryChain(chain_id=5), receipt).status is CheckStatus.OTHER_CHAIN


def test_periodic_anchoring_anchors_when_the_log_grows(tmp_path: Path, rpc: str,
                                                       operator: EthKey, contract: str) -> None:
    db = tmp_path / "ledger.db"
    assert main(["ledger", "init", "--db", str(db)]) == 0
    reports: list[str] = []
    periodic = PeriodicAnchoring(db, rpc, operator, contract, 0.1, reports.append)
    with Log.open(db) as log:
        grow(log, 3)
        periodic.start()
        try:
            _wait(lambda: len(periodic.anchored) == 1, reports)
            time.sleep(0.5)  # rounds pass; the anchor entry alone calls for no new anchor
            assert len(periodic.anchored) == 1
            grow(log, 2)
            _wait(lambda: len(periodic.anchored) == 2, reports)
        finally:
            periodic.stop()
        assert [a.receipt.size for a in periodic.anchored] == [3, 6]
        assert [a.index for a in recorded_anchors(log)] == [3, 6]
    assert all(line.startswith("anchored ") for line in reports), reports


def test_serve_rechecks_at_start_and_warns_of_bad_anchors(
        tmp_path: Path, rpc: str, operator: EthKey, contract: str, fresh_chain: str) -> None:
    db = tmp_path / "ledger.db"
    assert main(["ledger", "init", "--db", str(db)]) == 0
    with Log.open(db) as log:
        grow(log, 2)
    keyfile = key_file(tmp_path / "eth.key", operator)
    lines: list[str] = []
    with serve_anchoring(db, rpc=rpc, key_file=keyfile, contract=contract, every=0.1,
                         report=lines.append) as periodic:
        assert periodic is not None
        _wait(lambda: len(periodic.anchored) == 1, lines)
    lines.clear()
    with serve_anchoring(db, rpc=rpc, key_file=None, contract=None, every=1,
                         report=lines.append) as periodic:
        assert periodic is None
    assert lines == ["anchors re-checked: 1 of 1 ok"]
    lines.clear()
    with serve_anchoring(db, rpc=fresh_chain, key_file=None, contract=None, every=1,
                         report=lines.append):
        pass
    assert lines[0].startswith("warning: anchor missing: entry 2: ")
    assert lines[-1] == "anchors re-checked: 0 of 1 ok"


def _wait(condition: Any, reports: list[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; reports: {reports}")
        time.sleep(0.05)


# -- the command line ------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_deploy_anchor_check(tmp_path: Path, rpc: str, operator: EthKey, fresh_chain: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    db, eth = str(tmp_path / "ledger.db"), str(key_file(tmp_path / "eth.key", operator))
    assert run(capsys, "ledger", "init", "--db", db)[0] == 0
    bodies = tmp_path / "bodies.jsonl"
    bodies.write_text("".join(f'{{"n": {i}}}\n' for i in range(7)))
    author = tmp_path / "me.pem"
    assert run(capsys, "keys", "new", "--out", str(author))[0] == 0
    assert run(capsys, "ledger", "append", "--db", db, "--kind", "generic", "--key", str(author),
               "--jsonl", str(bodies))[0] == 0

    code, out, err = run(capsys, "anchor", "deploy", "--rpc", rpc, "--eth-key", eth)
    assert code == 0, err
    address = out.strip()
    assert Web3.is_checksum_address(address) and "deployed Anchor (vyper" in err

    code, out, err = run(capsys, "anchor", "--rpc", rpc, "--eth-key", eth, "--contract", address,
                         "--db", db)
    assert code == 0, err
    assert out.startswith("anchored ") and " size 7 " in out and "recorded as entry 7" in out
    assert "gas " in out and "tx 0x" in out and "block " in out
    code, out, _ = run(capsys, "anchor", "--rpc", rpc, "--eth-key", eth, "--contract", address,
                       "--db", db)
    assert code == 0 and out.startswith("nothing new to anchor")
    assert run(capsys, "ledger", "verify", "--db", db)[1].startswith("ok: 8 entries")

    # The check, in this process and in a new one.
    code, out, _ = run(capsys, "anchor", "check", "--rpc", rpc, "--db", db)
    assert code == 0 and out.startswith("ok: entry 7: ")
    fresh = subprocess.run([sys.executable, "-m", "aiwork", "anchor", "check", "--rpc", rpc,
                            "--db", db], capture_output=True, text=True, timeout=120)
    assert fresh.returncode == 0 and fresh.stdout.startswith("ok: entry 7: "), fresh.stderr
    # Against a chain that never saw it: reported, exit 1.
    code, out, err = run(capsys, "anchor", "check", "--rpc", fresh_chain, "--db", db)
    assert code == 1 and out.startswith("missing: entry 7: ")
    assert err.startswith("error: 1 of 1 anchors are not confirmed") and err.count("\n") == 1


def test_cli_errors_are_one_line(tmp_path: Path, rpc: str, operator: EthKey,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "ledger.db")
    assert run(capsys, "ledger", "init", "--db", db)[0] == 0
    bad = tmp_path / "bad.key"
    bad.write_text("not a key\n")
    bad.chmod(0o600)
    good = str(key_file(tmp_path / "eth.key", operator))
    cases = [
        (["anchor", "deploy", "--rpc", rpc, "--eth-key", str(bad)], "does not hold a hex"),
        (["anchor", "deploy", "--rpc", rpc, "--eth-key", str(tmp_path / "none")],
         "does not exist"),
        (["anchor", "deploy", "--rpc", UNREACHABLE, "--eth-key", good],
         "no Ethereum JSON-RPC node answers"),
        (["anchor", "--rpc", rpc, "--eth-key", good, "--contract", "0x" + "11" * 20,
          "--db", db], "no contract at"),
        (["anchor", "--rpc", rpc, "--eth-key", good, "--contract", "nope", "--db", db],
         "not an Ethereum address"),
        (["anchor", "check", "--rpc", UNREACHABLE, "--db", str(tmp_path / "absent.db")],
         "no ledger at"),
    ]
    for args, message in cases:
        code, out, err = run(capsys, *args)
        assert code == 1, (args, out, err)
        assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    code, _, err = run(capsys, "anchor", "--rpc", rpc, "--db", db)
    assert code == 2 and "missing --eth-key, --contract" in err
    # Group options reach the subcommands too.
    code, out, _ = run(capsys, "anchor", "--rpc", rpc, "check", "--db", db)
    assert code == 0 and out.strip() == "no anchors recorded"


def test_serve_anchors_and_after_a_restart_warns_of_a_missing_anchor(
        tmp_path: Path, rpc: str, operator: EthKey, contract: str, fresh_chain: str) -> None:
    db = tmp_path / "ledger.db"
    assert main(["ledger", "init", "--db", str(db)]) == 0
    with Log.open(db) as log:
        grow(log, 4)
    eth = str(key_file(tmp_path / "eth.key", operator))
    env = {**os.environ, "AIWORK_HOME": str(tmp_path / "home")}

    def serve(*extra: str, until: str) -> list[str]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "aiwork", "serve", "--db", str(db), "--port", str(port),
             *extra], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        guard = threading.Timer(120, proc.kill)  # never hang the suite on a stuck server
        guard.start()
        try:
            assert proc.stderr is not None
            for line in proc.stderr:
                lines.append(line.rstrip("\n"))
                if until in line:
                    break
        finally:
            guard.cancel()
            proc.terminate()
            proc.wait(timeout=30)
            if proc.stderr is not None:
                proc.stderr.close()
        assert any(until in line for line in lines), lines
        return lines

    lines = serve("--anchor-rpc", rpc, "--anchor-key", eth, "--anchor-contract", contract,
                  "--anchor-every", "1", until="anchored ")
    assert any("size 4 " in line and "recorded as entry 4" in line for line in lines), lines
    lines = serve("--anchor-rpc", rpc, until="anchors re-checked")
    assert "anchors re-checked: 1 of 1 ok" in lines
    lines = serve("--anchor-rpc", fresh_chain, until="anchors re-checked")
    assert any(line.startswith("warning: anchor missing: entry 4: ") for line in lines), lines
    assert "anchors re-checked: 0 of 1 ok" in lines


def test_anchoring_bookkeeping_on_both_stores(log: Log) -> None:
    """The anchor index table works on SQLite and PostgreSQL alike."""
    chain, key = MemoryChain(), EthKey(secrets.token_bytes(32))
    contract = deploy(chain, key)
    assert anchor_latest(log, chain, key, contract) is None  # an empty log
    grow(log, 3)
    first = anchor_latest(log, chain, key, contract)
    assert first is not None and first.index == 3
    assert anchor_latest(log, chain, key, contract) is None
    grow(log, 1)
    second = anchor_latest(log, chain, key, contract)
    assert second is not None and (second.receipt.size, second.index) == (5, 5)
    assert [r.check.status for r in recheck(log, chain)] == [CheckStatus.OK] * 2
    chain.reachable = False
    assert {r.check.status for r in recheck(log, chain)} == {CheckStatus.UNREACHABLE}
