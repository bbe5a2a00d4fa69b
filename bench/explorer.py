"""Benchmark of the decision explorer: how long the page takes to verify an entry in the browser.

Run it from the repository root (needs Debian's chromium and the test extra's Playwright)::

    .venv/bin/python bench/explorer.py                     # a log of 100,000 entries
    .venv/bin/python bench/explorer.py --entries 2000 --pages 5

It builds a log of ``--entries`` ai.decision entries in a temporary AIWORK_HOME, starts a real
``aiwork serve`` over it, opens ``/explorer/entry/N`` in chromium for ``--pages`` random
entries (a fixed seed) and prints, per page and as medians: the time from navigation to
``verified``, the time of the page's checks (the four fetches and WebCrypto), and the time of
the inclusion proof's check alone (leaf hash and audit path), as the page measures them.
Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

from aiwork.config import default_db_path
from aiwork.crypto import SigningKey
from aiwork.ledger.entries import sign_entry
from aiwork.pipeline.process import open_store

DIGEST = "sha256:" + "1" * 64


def _body(index: int) -> dict[str, Any]:
    return {"analyzer": "keywords", "analyzer_version": "1", "insight": "keywords",
            "model": {"name": "YAKE", "version": "0.7"}, "parameters_digest": DIGEST,
            "input": {"asset": DIGEST, "start": index, "end": index + 1, "derived_from": []},
            "output_digest": DIGEST, "output_items": 3,
            "confidence": {"mean": 0.8, "min": 0.5, "max": 0.9}}


def build(home: Path, entries: int) -> None:
    log = open_store(default_db_path({"AIWORK_HOME": str(home)}))
    author = SigningKey.generate()
    for start in range(0, entries, 10_000):
        log.append([sign_entry(author, "ai.decision", _body(i))
                    for i in range(start, min(entries, start + 10_000))])
    log.close()


def serve(home: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "aiwork", "serve", "--port", str(port)],
                            env={**os.environ, "AIWORK_HOME": str(home)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/ledger/key", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("aiwork serve did not start")


def measure(url: str, indexes: list[int]) -> list[tuple[int, float, float, float]]:
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page()
        page.goto(f"{url}/explorer/entry/0")  # the first use pins the key; not counted
        page.wait_for_selector("[data-verify-status][data-checks-ms]")
        for index in indexes:
            began = time.perf_counter()
            page.goto(f"{url}/explorer/entry/{index}")
            status = page.wait_for_selector("[data-verify-status][data-checks-ms]")
            total = (time.perf_counter() - began) * 1000
            assert status is not None and status.inner_text().endswith("verified")
            rows.append((index, total, float(status.get_attribute("data-checks-ms") or 0),
                         float(status.get_attribute("data-proof-ms") or 0)))
        browser.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--port", type=int, default=18987)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        home = Path(workdir)
        began = time.perf_counter()
        build(home, args.entries)
        print(f"log of {args.entries} entries built in {time.perf_counter() - began:.1f} s")
        proc = serve(home, args.port)
        try:
            indexes = random.Random(7).sample(range(args.entries), min(args.pages, args.entries))
            rows = measure(f"http://127.0.0.1:{args.port}", indexes)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print("index   to verified ms   checks ms   proof ms")
    for index, total, checks, proof in rows:
        print(f"{index:>7} {total:>16.1f} {checks:>11.1f} {proof:>10.2f}")
    print(f"median  {statistics.median(r[1] for r in rows):>16.1f} "
          f"{statistics.median(r[2] for r in rows):>11.1f} "
          f"{statistics.median(r[3] for r in rows):>10.2f}")


if __name__ == "__main__":
    main()
