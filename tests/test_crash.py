"""A writer killed with SIGKILL mid-batch leaves a log that verifies, each batch whole or absent."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from aiwork.crypto import SigningKey
from aiwork.ledger.log import Log

BATCH = 1500

WRITER = textwrap.dedent(
    """
    import sys
    from aiwork.crypto import SigningKey
    from aiwork.ledger.entries import sign_entry
    from aiwork.ledger.log import Log

    db, run, batches, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    author = SigningKey.generate()
    with Log.open(db) as log:
        for b in range(batches):
            entries = [sign_entry(author, "generic", {"run": run, "batch": b, "i": i,
                                                      "of": size, "pad": "x" * 200})
                       for i in range(size)]
            log.append(entries)
            print(b, flush=True)
    """
)


def start_writer(db: Path, run: str, batches: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), run, str(batches), str(BATCH)],
        stdout=subprocess.PIPE, text=True,
    )


def kill_mid_batch(proc: subprocess.Popen[str], after_batches: int, delay: float) -> None:
    assert proc.stdout is not None
    for _ in range(after_batches):
        assert proc.stdout.readline(), "writer died before it was killed"
    time.sleep(delay)  # somewhere inside the next batch: signing, verifying or committing
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL


def batches_in(log: Log) -> collections.Counter[tuple[str, int]]:
    counts: collections.Counter[tuple[str, int]] = collections.Counter()
    for index in range(log.size):
        body = log.entry(index).body
        counts[(body["run"], body["batch"])] += 1
    return counts


def test_sigkill_mid_batch_never_leaves_a_partial_batch(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    Log.create(db, SigningKey.generate()).close()
    for run, delay in enumerate([0.05, 0.15, 0.3]):
        kill_mid_batch(start_writer(db, f"r{run}", batches=100), after_batches=2, delay=delay)
        with Log.open(db) as log:
            report = log.verify()
            counts = batches_in(log)
        assert report.size == sum(counts.values())
        assert set(counts.values()) == {BATCH}, counts  # every batch whole
        assert {b for r, b in counts if r == f"r{run}"} >= {0, 1}

    # The next run continues from there.
    proc = start_writer(db, "final", batches=2)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and out.split() == ["0", "1"]
    with Log.open(db) as log:
        before = report.size
        assert log.verify().size == before + 2 * BATCH
        assert log.entry(before).body["run"] == "final"
