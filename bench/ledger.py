"""Benchmark of aiwork's append-only RFC 9162 Merkle log, against pymerkle as a baseline.

Run it from the repository root (``scripts/setup test bench`` installs pymerkle)::

    .venv/bin/python bench/ledger.py                      # sizes 100k and 1M (takes a while)
    .venv/bin/python bench/ledger.py --sizes 2000         # a quick run
    .venv/bin/python bench/ledger.py --sizes 100000 --json bench/out/ledger.json

For each log size it measures, on the same entry bytes:

- signed appends/s: ``Log.append`` in batches of ``--batch`` pre-signed entries, each batch
  schema-checked, signature-verified (on every core) and written in one SQLite transaction.
  Entries are signed up front, outside the timing (signing is the client's cost), in
  ``--sign-workers`` processes. pymerkle's ``SqliteTree.append_entries`` and
  ``InmemoryTree.append_entries`` get the same batches (they verify nothing);
- inclusion proofs/s (random leaf, against the full tree) and consistency proofs/s (random
  older size to the full tree), with a fixed seed, each bounded by a count and a time budget;
- ``Log.verify()`` time for the whole log, after one ``Log.checkpoint()``;
- bytes on disk per entry (database plus -wal/-shm after a TRUNCATE checkpoint and close;
  pymerkle's SqliteTree file likewise).

Ratios are aiwork / pymerkle (above 1 means aiwork is faster, or for bytes, bigger).
Speed is measured here, never asserted in tests. Temporary databases go to a temporary
directory (or ``--workdir``) and are removed at the end.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import multiprocessing
import os
import platform
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiwork.crypto import SigningKey
from aiwork.digests import sha256_bytes
from aiwork.ledger import merkle
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.model import Entry

# The ledger issue's targets.
TARGET_APPENDS_PER_S = 8_000
TARGET_INCLUSION_PER_S_AT_1M = 5_000
TARGET_VERIFY_1M_S = 120.0

_AUTHORS = 8  # entries are signed by a few distinct authors, round robin
_TIME_BASE = datetime(2025, 1, 1, tzinfo=UTC)
_NOTE = (
    "Shot 12, take 3: exterior, dusk. Two people cross the square from left to right; "
    "camera pans to follow. Checked by a reviewer."
)


# -- entries ---------------------------------------------------------------------------


def _author(n: int) -> SigningKey:
    return SigningKey(hashlib.sha256(b"aiwork bench author %d" % n).digest())


def _body(i: int) -> dict[str, Any]:
    """A realistic ~200-byte generic body, distinct for every ``i``."""
    return {
        "n": i,
        "asset": sha256_bytes(b"asset %d" % i),
        "note": _NOTE,
    }


def _sign_range(bounds: tuple[int, int]) -> list[Entry]:
    lo, hi = bounds
    keys = [_author(a) for a in range(_AUTHORS)]
    out = []
    for i in range(lo, hi):
        stamp = (_TIME_BASE + timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        out.append(sign_entry(keys[i % _AUTHORS], "generic", _body(i), time=stamp))
    return out


def sign_entries(count: int, workers: int) -> list[Entry]:
    """``count`` distinct signed entries, signed in ``workers`` processes."""
    step = 5_000
    ranges = [(lo, min(lo + step, count)) for lo in range(0, count, step)]
    if workers <= 1 or count <= step:
        return [e for r in ranges for e in _sign_range(r)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return [e for chunk in pool.imap(_sign_range, ranges) for e in chunk]


# -- measuring -------------------------------------------------------------------------


@dataclass
class Rate:
    count: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else float("nan")

    def to_json(self) -> dict[str, float]:
        return {"count": self.count, "seconds": round(self.seconds, 4),
                "per_s": round(self.per_s, 1)}


def bounded(
    call: Callable[[int], object], draws: Sequence[int], max_count: int, max_seconds: float
) -> Rate:
    """Call ``call(draws[k])`` for k = 0, 1, ... until ``max_count`` calls or ``max_seconds``."""
    clock = time.perf_counter
    started = clock()
    deadline = started + max_seconds
    done = 0
    for value in draws[:max_count]:
        call(value)
        done += 1
        if clock() >= deadline:
            break
    return Rate(done, clock() - started)


def timed_batches(append: Callable[[Sequence[Any]], object], items: Sequence[Any],
                  batch: int) -> tuple[Rate, Rate]:
    """Append ``items`` in batches; the overall rate and the rate of the last 10% of batches."""
    times: list[tuple[int, float]] = []
    clock = time.perf_counter
    for lo in range(0, len(items), batch):
        chunk = items[lo : lo + batch]
        started = clock()
        append(chunk)
        times.append((len(chunk), clock() - started))
    tail = times[-max(1, len(times) // 10) :]
    return (Rate(len(items), sum(t for _, t in times)),
            Rate(sum(c for c, _ in tail), sum(t for _, t in tail)))


def disk_bytes(path: Path) -> int:
    return sum(
        p.stat().st_size
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal"))
        if p.exists()
    )


def draws(seed: int, n: int, count: int, lo: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(lo, n) for _ in range(count)]


# -- one size --------------------------------------------------------------------------


def bench_aiwork(
    n: int, entries: Sequence[Entry], workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    path = workdir / f"aiwork-{n}.db"
    log = Log.create(path, _author(10_000))
    try:
        overall, tail = timed_batches(log.append, entries[:n], args.batch)
        root = log.root()
        inc_draws = draws(args.seed, n, args.proofs, 0)
        inclusion = bounded(lambda i: log.inclusion_proof(i, n), inc_draws,
                            args.proofs, args.proof_seconds)
        con_draws = draws(args.seed + 1, n, args.proofs, 1) if n > 1 else []
        consistency = bounded(lambda m: log.consistency_proof(m, n), con_draws,
                              args.proofs, args.proof_seconds)
        # The proofs must be right, not just fast (checked outside the timing).
        for i in inc_draws[:20]:
            proof = log.inclusion_proof(i, n)
            merkle.verify_inclusion(i, n, merkle.leaf_hash(entries[i].to_bytes()),
                                    proof.hashes, root)
        for m in con_draws[:20]:
            merkle.verify_consistency(m, n, log.root(m), root, log.consistency_proof(m, n).hashes)
        log.checkpoint()
        started = time.perf_counter()
        report = log.verify()
        verify_s = time.perf_counter() - started
        if report.size != n or report.root != root:
            raise SystemExit(f"aiwork verify reported size {report.size}, another root")
        log.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        log.close()
    size = disk_bytes(path)
    path.unlink()
    return {
        "append": overall.to_json(), "append_last_10pct": tail.to_json(),
        "inclusion": inclusion.to_json(), "consistency": consistency.to_json(),
        "verify_s": round(verify_s, 3), "disk_bytes": size,
        "bytes_per_entry": round(size / n, 1), "root": root.hex(),
    }


def bench_pymerkle(
    n: int, data: Sequence[bytes], workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    from pymerkle import InmemoryTree, SqliteTree  # type: ignore[import-untyped]

    out: dict[str, Any] = {}
    path = workdir / f"pymerkle-{n}.db"
    inc_draws = draws(args.seed, n, args.proofs, 0)
    con_draws = draws(args.seed + 1, n, args.proofs, 1) if n > 1 else []
    for name, make, count, seconds in (
        ("sqlite", lambda: SqliteTree(str(path)), args.pymerkle_proofs, args.pymerkle_seconds),
        ("inmemory", InmemoryTree, args.proofs, args.proof_seconds),
    ):
        tree = make()
        try:
            overall, tail = timed_batches(tree.append_entries, data, args.batch)
            started = time.perf_counter()
            root = tree.get_root()  # warms pymerkle's subroot cache, as a root query would
            root_s = time.perf_counter() - started
            inclusion = bounded(lambda i: tree.prove_inclusion(i + 1, n), inc_draws,
                                count, seconds)
            consistency = bounded(lambda m: tree.prove_consistency(m, n), con_draws,
                                  count, seconds)
        finally:
            if name == "sqlite":
                tree.close()
        out[name] = {
            "append": overall.to_json(), "append_last_10pct": tail.to_json(),
            "root_s": round(root_s, 3),
            "inclusion": inclusion.to_json(), "consistency": consistency.to_json(),
            "root": root.hex(),
        }
        if name == "sqlite":
            size = disk_bytes(path)
            out[name].update(disk_bytes=size, bytes_per_entry=round(size / n, 1))
            path.unlink()
        del tree
    return out


# -- printing --------------------------------------------------------------------------


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}{unit}"
    return f"{value:,.2f}{unit}"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def _check(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def print_size(n: int, result: dict[str, Any]) -> None:
    a = result["aiwork"]
    p = result.get("pymerkle")
    sq = p["sqlite"] if p else {}
    im = p["inmemory"] if p else {}

    def rate(d: dict[str, Any], key: str) -> float | None:
        return d[key]["per_s"] if d and key in d else None

    print(f"\n=== log size {n:,} ===")
    header = ("", "aiwork", "pm Sqlite", "pm Inmemory", "aiw/Sqlite", "aiw/Inmem", "target")
    widths = (30, 12, 12, 12, 11, 10, 28)
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in
                     enumerate(zip(header, widths, strict=True)))
    print(line)
    print("-" * len(line))

    def row(label: str, av: float | None, sv: float | None, iv: float | None,
            target: str = "", unit: str = "") -> None:
        cells = (label, _fmt(av, unit), _fmt(sv, unit), _fmt(iv, unit), _ratio(av, sv),
                 _ratio(av, iv), target)
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                        enumerate(zip(cells, widths, strict=True))))

    app: float = a["append"]["per_s"]
    row("appends/s (batched)", app, rate(sq, "append"), rate(im, "append"),
        f">= {TARGET_APPENDS_PER_S:,} signed: {_check(app >= TARGET_APPENDS_PER_S)}")
    row("  last 10% of batches", rate(a, "append_last_10pct"),
        rate(sq, "append_last_10pct"), rate(im, "append_last_10pct"))
    inc: float = a["inclusion"]["per_s"]
    target = ""
    if n >= 1_000_000:
        target = (f">= {TARGET_INCLUSION_PER_S_AT_1M:,} at 1M: "
                  f"{_check(inc >= TARGET_INCLUSION_PER_S_AT_1M)}")
    row("inclusion proofs/s", inc, rate(sq, "inclusion"), rate(im, "inclusion"), target)
    row("consistency proofs/s", rate(a, "consistency"), rate(sq, "consistency"),
        rate(im, "consistency"))
    verify_target = ""
    if n >= 1_000_000:
        verify_target = f"< {TARGET_VERIFY_1M_S:.0f} s at 1M: " + _check(
            a["verify_s"] * 1_000_000 / n < TARGET_VERIFY_1M_S)
    row("full verify (s)", a["verify_s"], None, None, verify_target)
    row("  verified entries/s", n / a["verify_s"], None, None)
    row("bytes on disk / entry", a["bytes_per_entry"], sq.get("bytes_per_entry"), None)
    if p:
        row("pymerkle get_root() first (s)", None, sq["root_s"], im["root_s"])
    print(f"(proof counts: aiwork inclusion {a['inclusion']['count']:,} in "
          f"{a['inclusion']['seconds']:.1f} s, consistency {a['consistency']['count']:,} in "
          f"{a['consistency']['seconds']:.1f} s", end="")
    if p:
        print(f"; pm Sqlite {sq['inclusion']['count']:,} / {sq['consistency']['count']:,}, "
              f"pm Inmemory {im['inclusion']['count']:,} / {im['consistency']['count']:,}",
              end="")
    print(")")
    if p:
        same = a["root"] == sq["root"] == im["root"]
        print(f"roots agree (aiwork, pm Sqlite, pm Inmemory): {'yes' if same else 'NO'} "
              f"({a['root'][:16]}...)")
    else:
        print(f"pymerkle baseline skipped at this size: {result['pymerkle_skipped']}")


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                model = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import nacl
    import pymerkle

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "nproc": affinity or os.cpu_count(), "cpu_count": os.cpu_count(), "cpu": model,
        "python": sys.version.split()[0], "implementation": platform.python_implementation(),
        "platform": platform.platform(), "sqlite": sqlite3.sqlite_version,
        "pynacl": nacl.__version__, "pymerkle": pymerkle.__version__,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


# -- main ------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000",
                        help="comma-separated log sizes (default 100000,1000000)")
    parser.add_argument("--batch", type=int, default=10_000, help="entries per append batch")
    parser.add_argument("--proofs", type=int, default=20_000,
                        help="most proofs per measurement (aiwork, pymerkle InmemoryTree)")
    parser.add_argument("--proof-seconds", type=float, default=10.0,
                        help="time budget per proof measurement")
    parser.add_argument("--pymerkle-proofs", type=int, default=200,
                        help="most proofs per measurement for pymerkle's SqliteTree")
    parser.add_argument("--pymerkle-seconds", type=float, default=10.0,
                        help="time budget per SqliteTree proof measurement")
    parser.add_argument("--pymerkle-max-size", type=int, default=1_000_000,
                        help="skip the pymerkle baseline above this log size")
    parser.add_argument("--sign-workers", type=int, default=os.cpu_count() or 1,
                        help="processes that sign the entries up front")
    parser.add_argument("--seed", type=int, default=9162)
    parser.add_argument("--workdir", type=Path, help="where the temporary databases go")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = parser.parse_args(argv)
    try:
        args.sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s})
    except ValueError:
        parser.error("--sizes takes comma-separated integers")
    if not args.sizes or min(args.sizes) < 2:
        parser.error("--sizes: every size must be at least 2")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress shows up in a log file
    info = machine_info()
    print("aiwork ledger benchmark")
    print(f"machine: nproc {info['nproc']} ({info['cpu'] or 'cpu unknown'}), "
          f"Python {info['python']}, SQLite {info['sqlite']}, PyNaCl {info['pynacl']}, "
          f"pymerkle {info['pymerkle']}; {info['platform']}")
    print(f"sizes {', '.join(f'{n:,}' for n in args.sizes)}; batches of {args.batch:,}; "
          f"proofs: {args.proofs:,} or {args.proof_seconds:g} s (pymerkle SqliteTree "
          f"{args.pymerkle_proofs:,} or {args.pymerkle_seconds:g} s); seed {args.seed}")
    print(f"targets: >= {TARGET_APPENDS_PER_S:,} signed appends/s with verification; "
          f">= {TARGET_INCLUSION_PER_S_AT_1M:,} inclusion proofs/s at 1M; "
          f"full verify of 1M < {TARGET_VERIFY_1M_S:.0f} s")

    total_started = time.perf_counter()
    largest = max(args.sizes)
    started = time.perf_counter()
    entries = sign_entries(largest, args.sign_workers)
    sign_s = time.perf_counter() - started
    data = [e.to_bytes() for e in entries]
    # The pre-signed entries are the client's, not the log's: keep the cyclic GC from
    # walking them again and again during the measurements.
    gc.collect()
    gc.freeze()
    if len(set(data)) != len(data):
        raise SystemExit("the signed entries are not distinct")
    body_bytes = sum(len(json.dumps(e.body, separators=(",", ":"))) for e in entries[:1000])
    body_avg = body_bytes / min(1000, len(entries))
    entry_avg = sum(map(len, data)) / len(data)
    print(f"signed {largest:,} entries in {sign_s:.1f} s with {args.sign_workers} processes "
          f"(client cost, untimed below); body ~{body_avg:.0f} B, entry ~{entry_avg:.0f} B")

    results: dict[str, Any] = {"machine": info, "config": {
        "sizes": args.sizes, "batch": args.batch, "proofs": args.proofs,
        "proof_seconds": args.proof_seconds, "pymerkle_proofs": args.pymerkle_proofs,
        "pymerkle_seconds": args.pymerkle_seconds, "pymerkle_max_size": args.pymerkle_max_size,
        "seed": args.seed, "sign_workers": args.sign_workers,
        "body_bytes_avg": round(body_avg, 1), "entry_bytes_avg": round(entry_avg, 1),
        "sign_seconds": round(sign_s, 2),
    }, "targets": {
        "appends_per_s": TARGET_APPENDS_PER_S,
        "inclusion_per_s_at_1m": TARGET_INCLUSION_PER_S_AT_1M,
        "verify_1m_s": TARGET_VERIFY_1M_S,
    }, "sizes": {}}

    made = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="aiwork-bench-")) if made else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        for n in args.sizes:
            size_started = time.perf_counter()
            result: dict[str, Any] = {"aiwork": bench_aiwork(n, entries, workdir, args)}
            if n <= args.pymerkle_max_size:
                result["pymerkle"] = bench_pymerkle(n, data[:n], workdir, args)
            else:
                result["pymerkle_skipped"] = (
                    f"{n:,} entries is above --pymerkle-max-size {args.pymerkle_max_size:,}")
            result["seconds"] = round(time.perf_counter() - size_started, 1)
            results["sizes"][str(n)] = result
            print_size(n, result)
            print(f"(size {n:,} took {result['seconds']:.0f} s)", flush=True)
    finally:
        if made:
            shutil.rmtree(workdir, ignore_errors=True)

    results["total_seconds"] = round(time.perf_counter() - total_started, 1)
    print(f"\ntotal {results['total_seconds']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
