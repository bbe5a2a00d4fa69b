"""How far exact (brute-force) semantic search goes: the size up to which it meets the latency
target, measured.

Run it from the repository root::

    .venv/bin/python bench/semantic.py                          # 10k .. 1M passages
    .venv/bin/python bench/semantic.py --sizes 200000 --queries 50

It measures, on this machine, what one semantic query costs in
:class:`aiwork.search.semantic.SemanticSearch`:

- the model: embedding a query (``query: ...``) with multilingual-e5-small, one at a time,
  and passages in batches of 64 (passages/s: what indexing costs);
- the scan: ``nearest()`` over N stored vectors (float32 in memory, unit length) for the whole
  index and for a filter that keeps 10 % of it, p50/p95 over ``--queries`` queries. The
  vectors are random unit vectors: the scan's cost depends on N and the dimension only;
- reading the vectors from a SQLite store into the process's matrix (done once per process
  and again after a write), at the largest size up to ``--load-max``.

The issue's target: hybrid p95 under 150 ms at 200,000 segments on 2 cores, of which the text
ranking takes up to 20 ms; the rest is the query's embedding plus the scan. Speed is measured
here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from aiwork.search.embed import DIM, load_embedder  # noqa: E402
from aiwork.search.index import SearchIndex  # noqa: E402
from aiwork.search.semantic import STORED, SemanticSearch, _Matrix, nearest  # noqa: E402
from aiwork.store import connect  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


@dataclass
class _Text:
    text: str


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,50000,200000,500000,1000000")
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--load-max", type=int, default=200_000)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    embedder = load_embedder()
    print(f"model {embedder.name} {embedder.digest[:19]}…; {os.cpu_count()} cores")

    queries = [f"where do they talk about money troubles number {i}"
               for i in range(args.queries)]
    embedder.query("warm up")
    took = []
    for q in queries:
        start = time.perf_counter()
        embedder.query(q)
        took.append((time.perf_counter() - start) * 1000)
    print(f"query embedding: p50 {statistics.median(took):.1f} ms, "
          f"p95 {percentile(took, 0.95):.1f} ms")
    passages = [f"The council discussed the budget deficit and harvest {i} in the valley."
                for i in range(128)]
    start = time.perf_counter()
    for i in range(0, len(passages), 64):
        embedder.passages(passages[i:i + 64])
    per = (time.perf_counter() - start) / len(passages)
    print(f"passage embedding, batches of 64: {per * 1000:.1f} ms a passage "
          f"({1 / per:.0f}/s; 200,000 distinct passages: {200_000 * per / 3600:.1f} h)")

    print(f"{'passages':>10} {'all p50':>9} {'all p95':>9} {'10% p50':>9} {'10% p95':>9}"
          f" {'MB':>6}")
    for size in (int(s) for s in args.sizes.split(",")):
        matrix = _Matrix(np.arange(1, size + 1, dtype=np.int64), unit(rng, size))
        subset = list(range(1, size + 1, 10))
        vectors = unit(rng, args.queries)
        full, part = [], []
        for vector in vectors:
            start = time.perf_counter()
            nearest(matrix, vector, None, 150)
            full.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            nearest(matrix, vector, subset, 150)
            part.append((time.perf_counter() - start) * 1000)
        print(f"{size:>10} {statistics.median(full):>8.1f}  {percentile(full, 0.95):>8.1f} "
              f" {statistics.median(part):>8.1f}  {percentile(part, 0.95):>8.1f} "
              f" {matrix.vectors.nbytes / 2**20:>5.0f}")
        del matrix

    size = min(args.load_max, max(int(s) for s in args.sizes.split(",")))
    with tempfile.TemporaryDirectory() as folder:
        db = connect(Path(folder) / "bench.db", create=True)
        semantic = SemanticSearch(embedder)
        SearchIndex(db, embedder=semantic)  # the tables
        blobs = unit(rng, size).astype(STORED)
        with db.atomic() as conn:
            conn.executemany("INSERT INTO search_passages (id, video, insight, job, text, ftext,"
                             " config) VALUES (?, 'v', 'transcript', '', 't', 't', 'porter')",
                             ((i + 1,) for i in range(size)))
            conn.executemany("INSERT INTO search_embeddings (model, text_digest, vector)"
                             " VALUES (?, ?, ?)",
                             ((embedder.digest, f"{i:064x}", blobs[i].tobytes())
                              for i in range(size)))
            conn.executemany("INSERT INTO search_vectors (passage, model, text_digest)"
                             " VALUES (?, ?, ?)",
                             ((i + 1, embedder.digest, f"{i:064x}") for i in range(size)))
            conn.execute("INSERT INTO search_meta (key, value) VALUES ('vectors_version', 'b')")
        size_mb = (Path(folder) / "bench.db").stat().st_size / 2**20
        with db.snapshot() as conn:
            start = time.perf_counter()
            semantic._matrix(conn)
            load = time.perf_counter() - start
        print(f"reading {size} vectors from SQLite into memory: {load:.2f} s "
              f"(once per process and after each write); store {size_mb:.0f} MB")
        db.close()


if __name__ == "__main__":
    main()
