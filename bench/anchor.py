"""Gas per anchor against the size of the log: it must not grow.

Run it from the repository root::

    .venv/bin/python bench/anchor.py                          # 10, 1,000 and 100,000 entries
    .venv/bin/python bench/anchor.py --rpc http://127.0.0.1:8545 --sizes 10,1000
    .venv/bin/python bench/anchor.py --json bench/out/anchor.json

Without ``--rpc`` it starts anvil from ``.evm/`` (``scripts/anvil`` installs it) on loopback
and stops it at the end. For each size it builds a log of that many signed entries, deploys
nothing new (one contract for all sizes), and anchors, with a fresh funded operator key:

- the log's first checkpoint (the contract's first write for that log id);
- a later checkpoint after the log grew by 10 % (overwriting the log's latest size);
- the same later checkpoint again (accepted, changes nothing).

It prints the gas of each and its ratio to the smallest log's, the baseline. The contract
writes one root and one size per anchor, whatever the number of entries: only the calldata
(the zero bytes of the size and root) makes the figures differ by a few gas.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from web3 import Web3

from aiwork.anchor import EthKey, EvmChain, anchor_artifact, anchor_checkpoint
from aiwork.crypto import SigningKey
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools.devnode import find_anvil, run_anvil  # noqa: E402  (the checkout's tools/)

_BATCH = 10_000
_NOTE = "Shot 12, take 3: exterior, dusk. Checked by a reviewer."


@contextmanager
def node(rpc: str | None) -> Iterator[str]:
    if rpc:
        yield rpc
        return
    binary = find_anvil(ROOT / ".evm")
    if binary is None:
        raise SystemExit("no anvil: run scripts/anvil once (it installs it into .evm/), "
                         "or pass --rpc URL")
    with run_anvil(binary) as url:
        yield url


def grow(log: Log, count: int, author: SigningKey) -> None:
    start = log.size
    for lo in range(start, start + count, _BATCH):
        hi = min(lo + _BATCH, start + count)
        log.append([sign_entry(author, "generic", {"n": i, "note": _NOTE})
                    for i in range(lo, hi)])


def funded_key(url: str) -> EthKey:
    key = EthKey(secrets.token_bytes(32))
    Web3(Web3.HTTPProvider(url)).provider.make_request(  # type: ignore[arg-type]
        "anvil_setBalance", [key.address, hex(10**20)])
    return key


def one_size(chain: EvmChain, key: EthKey, contract: str, n: int,
             workdir: Path) -> dict[str, Any]:
    author = SigningKey(hashlib.sha256(b"aiwork bench anchor author").digest())
    path = workdir / f"log-{n}.db"
    started = time.perf_counter()
    log = Log.create(path, SigningKey.generate(), origin=f"bench.example/anchor-{n}")
    try:
        grow(log, n, author)
        built_s = time.perf_counter() - started
        first = anchor_checkpoint(chain, key, contract, log.checkpoint(), log.verifier_key)
        grow(log, max(1, n // 10), author)
        note = log.checkpoint()
        later = anchor_checkpoint(chain, key, contract, note, log.verifier_key)
        again = anchor_checkpoint(chain, key, contract, note, log.verifier_key)
    finally:
        log.close()
        for leftover in path.parent.glob(path.name + "*"):
            leftover.unlink()
    return {"entries": n, "build_s": round(built_s, 2), "first": first["gas_used"],
            "later_size": later["size"], "later": later["gas_used"],
            "again": again["gas_used"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--rpc", help="an EVM node's JSON-RPC URL (anvil: it funds the key "
                                      "with anvil_setBalance); default: start anvil")
    parser.add_argument("--sizes", default="10,1000,100000",
                        help="comma-separated log sizes; the first is the baseline")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    with node(args.rpc) as url, tempfile.TemporaryDirectory() as tmp:
        chain = EvmChain(url)
        client = chain.w3.client_version
        key = funded_key(url)
        deployed = chain.deploy(key)
        assert deployed.contract_address is not None
        rows = [one_size(chain, key, deployed.contract_address, n, Path(tmp)) for n in sizes]
    base = rows[0]
    print(f"Anchor contract ({anchor_artifact().compiler}) on {client}, chain {chain.chain_id}; "
          f"deployment {deployed.gas_used:,} gas")
    header = (f"{'entries':>9} {'first anchor':>13} {'ratio':>6} {'after +10%':>11} "
              f"{'ratio':>6} {'same again':>11} {'ratio':>6}")
    print(header)
    for row in rows:
        print(f"{row['entries']:>9,} {row['first']:>13,} {row['first'] / base['first']:>6.4f} "
              f"{row['later']:>11,} {row['later'] / base['later']:>6.4f} "
              f"{row['again']:>11,} {row['again'] / base['again']:>6.4f}")
    spread = max(r["first"] for r in rows) - min(r["first"] for r in rows)
    print(f"first anchors differ by at most {spread} gas across "
          f"{sizes[0]:,}..{sizes[-1]:,} entries (calldata zero bytes only)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"client": client, "chain_id": chain.chain_id,
                                         "compiler": anchor_artifact().compiler,
                                         "deploy_gas": deployed.gas_used, "sizes": rows},
                                        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
