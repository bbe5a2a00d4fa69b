"""Benchmark of the library search: indexing, index size, query latency and retrieval quality.

Run it from the repository root::

    .venv/bin/python bench/search.py                       # 10,000 videos, SQLite
    .venv/bin/python bench/search.py --quick               # 100 videos, a small text pool
    .venv/bin/python bench/search.py --postgres URL        # PostgreSQL too (or AIWORK_TEST_POSTGRES)
    .venv/bin/python bench/search.py --json bench/out/search.json

The library is ``bench/search_corpus.py``'s: 10,000 generated videos, each with 20 transcript
segments (200,000 in all, English, French and Spanish sentences with times), 2-4 on-screen
texts, a keywords passage and its file name; no video is decoded. Besides the file names
(which the index does not embed), its texts are drawn from pools of about 3,300 distinct
texts, so the embedding model (~25-35 ms per text on 2 cores) embeds each once through the
index's store of vectors by text digest, while the index holds, and every query searches, all
~250,000 passages. Embedding 200,000 distinct segments would take about 2 hours here.

It builds the index through aiwork's real ``SearchIndex`` (one ``replace`` per insight of each
video, as the store does when it keeps a result) in a SQLite file under ``bench/out/search/``,
kept for the next run while the corpus and ``aiwork.search``'s code are unchanged (``--rebuild``
builds it again), and on PostgreSQL when a URL is given. Then, for text, semantic and hybrid
queries, it prints p50/p95 latency of ``SearchIndex.search`` against a brute-force scan of the
same passages in this process: every passage's folded text matched with regular expressions
built from the same parsed query (text), one numpy product over every passage's vector
(semantic), both fused by reciprocal rank (hybrid), printed as ratios. Latency queries are
generated from the corpus's vocabulary (their own seed), each run once per mode after a
warm-up; a semantic query's time includes embedding the query.

Quality: recall@10 and MRR of each mode on ``bench/search/queries.json``, a labelled set
written once and never tuned on (phrases, words, prefixes, diacritics, paraphrases,
cross-language). Targets on 2 cores, at 200,000 segments: text p95 < 20 ms, hybrid p95 < 150
ms; hybrid recall@10 >= text's. Speed is measured here, never asserted in tests; the load
average is printed with the figures (the machine is shared).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import search_corpus as corpus  # noqa: E402

from aiwork.errors import AiworkError  # noqa: E402
from aiwork.search.index import Hit, SearchIndex, SearchQuery  # noqa: E402
from aiwork.search.passages import Passage  # noqa: E402
from aiwork.search.passages import fold  # noqa: E402
from aiwork.search.query import ParsedQuery, parse_query  # noqa: E402
from aiwork.store import connect  # noqa: E402

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out" / "search"
QUERIES = ROOT / "search" / "queries.json"
Mode = Literal["hybrid", "text", "semantic"]
MODES = ("text", "semantic", "hybrid")
TARGET_P95_MS = {"text": 20.0, "hybrid": 150.0}
LIMIT = 10
RRF_K = 60  # the constant of reciprocal rank fusion in its paper (Cormack et al., 2009)


@dataclass(frozen=True)
class Size:
    videos: int
    pool: int | None       # distractor sentences used (None: all)
    latency_queries: int


FULL = Size(10_000, None, 120)
QUICK = Size(100, 100, 30)


# ---------------------------------------------------------------------------------------------
# The library as passages

@dataclass
class Library:
    names: dict[str, str]              # digest -> file name
    passages: list[Passage]            # every passage, in index order
    needles: dict[tuple[str, str, str], str]   # (digest, insight, item) -> needle id

    def texts(self) -> list[str]:
        return [p.text for p in self.passages]


def library(size: Size) -> Library:
    names: dict[str, str] = {}
    passages: list[Passage] = []
    needles: dict[tuple[str, str, str], str] = {}
    for video in corpus.videos(size.videos, size.pool):
        names[video.digest] = video.name
        decision = video.index * 4
        for offset, doc in enumerate(video.docs):
            insight_decision = decision + ("transcript", "ocr", "keywords").index(doc.insight)
            passages.append(Passage(video.digest, doc.insight, str(doc.item), doc.start, doc.end,
                                    doc.text, insight_decision, doc.language))
            if doc.needle:
                needles[(video.digest, doc.insight, str(doc.item))] = doc.needle
            del offset
        passages.append(Passage(video.digest, "name", None, None, None, video.name,
                                decision + 3, None))
    return Library(names, passages, needles)


def by_insight(lib: Library) -> Iterable[tuple[str, str, list[Passage]]]:
    """(video, insight, its passages) in index order: what ``replace`` takes."""
    current: tuple[str, str] | None = None
    batch: list[Passage] = []
    for passage in lib.passages:
        key = (passage.video, passage.insight)
        if key != current:
            if current is not None:
                yield current[0], current[1], batch
            current, batch = key, []
        batch.append(passage)
    if current is not None:
        yield current[0], current[1], batch


# ---------------------------------------------------------------------------------------------
# Queries

def labelled() -> list[dict[str, Any]]:
    return list(json.loads(QUERIES.read_text())["queries"])


def check_labels(lib: Library, size: Size) -> None:
    """On the full corpus, the file's needle passages are where the generator put them."""
    if size != FULL:
        return
    data = json.loads(QUERIES.read_text())["needles"]
    digests = {name: digest for digest, name in lib.names.items()}
    expected = {(digests[p["video"]], p["insight"], str(p["item"])): nid
                for nid, needle in data.items() for p in needle["passages"]}
    if expected != lib.needles:
        raise SystemExit("bench/search/queries.json's needles do not match the generated corpus")


def latency_queries(count: int) -> dict[str, list[str]]:
    """Queries for timing only, drawn from the corpus's vocabulary with their own seed: text
    queries of one or two words (common and rare), a phrase or a prefix; semantic and hybrid
    ones are two or three words running in a sentence (what one types in a search box)."""
    rng = random.Random(corpus.SEED + 9)
    words = sorted({w for _, _, text in corpus.SENTENCES for w in text.split() if len(w) > 3})
    text: list[str] = []
    semantic: list[str] = []
    for i in range(count):
        sentence = corpus.SENTENCES[rng.randrange(len(corpus.SENTENCES))][2].split()
        kind = i % 4
        if kind == 0:
            text.append(rng.choice(words))
        elif kind == 1:
            text.append(f"{rng.choice(words)} {rng.choice(words)}")
        elif kind == 2:
            at = rng.randrange(len(sentence) - 1)
            text.append(f'"{sentence[at]} {sentence[at + 1]}"')
        else:
            word = rng.choice([w for w in words if len(w) >= 5])
            text.append(word[:4] + "*")
        at = rng.randrange(len(sentence) - 2)
        semantic.append(" ".join(sentence[at:at + rng.randrange(2, 4)]))
    return {"text": text, "semantic": semantic, "hybrid": semantic}


# ---------------------------------------------------------------------------------------------
# Brute force: the baseline, in this process over the same passages

_TERM_CACHE: dict[str, ParsedQuery] = {}


def _term_pattern(words: tuple[str, ...], prefix: bool) -> str:
    body = r"[\W_]+".join(re.escape(w) for w in words)
    tail = r"[^\W_]*" if prefix else ""
    return r"(?<![^\W_])" + body + tail + r"(?![^\W_])"


class BruteForce:
    """Scans every passage for each query (no index)."""

    def __init__(self, lib: Library, vectors: np.ndarray | None,
                 embed_query: Callable[[str], np.ndarray] | None) -> None:
        self.passages = lib.passages
        self.folded = [fold(p.text).lower() for p in lib.passages]
        self.vectors = vectors
        self.embed_query = embed_query
        self.skip: np.ndarray | None = None  # passages the index does not embed

    def text(self, query: str, insights: list[str] | None = None) -> list[int]:
        """Passages holding every term (the parsed query's), ranked by matches per length."""
        parsed = parse_query(query)
        checks = [(t.words[0], re.compile(_term_pattern(t.words, t.prefix)))
                  for t in parsed.terms]
        scored = []
        for index, text in enumerate(self.folded):
            if not all(word in text and pattern.search(text) for word, pattern in checks):
                continue
            if insights and self.passages[index].insight not in insights:
                continue
            matches = sum(len(pattern.findall(text)) for _, pattern in checks)
            scored.append((-matches / (1 + len(text) / 60), index))
        scored.sort()
        return [index for _, index in scored[:LIMIT]]

    def semantic(self, query: str, insights: list[str] | None = None) -> list[int]:
        assert self.vectors is not None and self.embed_query is not None
        scores = self.vectors @ self.embed_query(query)
        if self.skip is None:
            from aiwork.search.semantic import NOT_EMBEDDED

            self.skip = np.array([p.insight in NOT_EMBEDDED for p in self.passages])
        scores[self.skip] = -np.inf
        if insights:
            mask = np.array([p.insight in insights for p in self.passages])
            scores = np.where(mask, scores, -np.inf)
        top = np.argpartition(-scores, LIMIT)[:LIMIT]
        return [int(i) for i in top[np.argsort(-scores[top])]]

    def hybrid(self, query: str, insights: list[str] | None = None) -> list[int]:
        fused: dict[int, float] = {}
        try:
            lexical = self.text(query, insights)
        except AiworkError:  # a query the text parser refuses: semantic alone
            lexical = []
        for ranking in (lexical, self.semantic(query, insights)):
            for rank, index in enumerate(ranking):
                fused[index] = fused.get(index, 0.0) + 1.0 / (RRF_K + rank + 1)
        return sorted(fused, key=lambda i: -fused[i])[:LIMIT]


# ---------------------------------------------------------------------------------------------
# aiwork's index

def source_digest(size: Size) -> str:
    """What a cached index was built from: the corpus's and aiwork.search's code."""
    import aiwork.search

    digest = hashlib.sha256(repr(size).encode())
    files = [ROOT / "search_corpus.py", *sorted(Path(aiwork.search.__file__).parent.rglob("*.py"))]
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def make_semantic() -> tuple[Any, str]:
    """aiwork's semantic part (the packaged embedding model), or (None, why not)."""
    try:
        from aiwork.search.embed import load_embedder
        from aiwork.search.semantic import SemanticSearch

        return SemanticSearch(load_embedder()), ""
    except (ImportError, AiworkError) as error:  # the model package is optional
        return None, f"{type(error).__name__}: {error}"


def open_index(target: str | Path, semantic: Any) -> tuple[Any, SearchIndex]:
    db = connect(target, create=True)
    return db, SearchIndex(db, embedder=semantic)


def embeddings_file(semantic: Any) -> Path:
    return OUT / f"embeddings-{semantic.model.removeprefix('sha256:')[:16]}.npz"


def seed_embeddings(db: Any, semantic: Any) -> int:
    """Put the vectors a previous build made (kept in bench/out/ per model) into a new index's
    embedding store, so a rebuild measures the index, not the model once more."""
    path = embeddings_file(semantic)
    if not path.exists():
        return 0
    saved = np.load(path)
    rows = [(semantic.model, str(d), bytes(v)) for d, v in zip(saved["digests"], saved["vectors"],
                                                               strict=True)]
    with db.atomic() as conn:
        conn.executemany("INSERT INTO search_embeddings (model, text_digest, vector)"
                         " VALUES (?, ?, ?) ON CONFLICT (model, text_digest) DO NOTHING", rows)
    return len(rows)


def keep_embeddings(db: Any, semantic: Any) -> None:
    with db.atomic() as conn:
        rows = conn.execute("SELECT text_digest, vector FROM search_embeddings WHERE model = ?",
                            (semantic.model,)).fetchall()
    if rows:
        np.savez(embeddings_file(semantic), digests=np.array([str(r[0]) for r in rows]),
                 vectors=np.stack([np.frombuffer(bytes(r[1]), dtype=np.uint8) for r in rows]))


def build(target: str | Path, lib: Library, semantic: Any) -> dict[str, float]:
    """Index every passage through ``SearchIndex.replace``, one call per insight of a video."""
    db, index = open_index(target, semantic)
    figures: dict[str, float] = {"embedded": 0, "embed_s": 0.0, "seeded": 0}
    if semantic is not None:
        figures["seeded"] = seed_embeddings(db, semantic)
        model = semantic.embedder
        passages = model.passages

        def timed_passages(texts: Any) -> Any:  # what the model itself costs
            began = time.perf_counter()
            try:
                return passages(texts)
            finally:
                figures["embed_s"] += time.perf_counter() - began
                figures["embedded"] += len(texts)

        model.passages = timed_passages
    began = time.perf_counter()
    count = 0
    for video, insight, batch in by_insight(lib):
        index.replace(video, insight, batch)
        count += len(batch)
    seconds = time.perf_counter() - began
    if semantic is not None:
        del semantic.embedder.passages
        keep_embeddings(db, semantic)
        if figures["seeded"]:  # what a build from nothing would not hold
            with db.atomic() as conn:
                semantic.prune(conn)
    db.close()
    return {**figures, "indexing_s": seconds, "passages": count,
            "passages_per_s": count / seconds, "load_average": os.getloadavg()[0]}


def disk_size(target: str | Path) -> int:
    """Bytes the SQLite file uses (its pages less the free ones)."""
    if not isinstance(target, Path):
        return 0
    import sqlite3

    conn = sqlite3.connect(target)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, free, size = (int(conn.execute(f"PRAGMA {name}").fetchone()[0])
                             for name in ("page_count", "freelist_count", "page_size"))
    finally:
        conn.close()
    return (pages - free) * size


def hit_key(hit: Hit) -> tuple[str, str, str]:
    return (hit.passage.video, hit.passage.insight, str(hit.passage.item))


# ---------------------------------------------------------------------------------------------
# Measuring

def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = call()
    return (time.perf_counter() - began) * 1000, result


TEXT_KINDS = ("word", "two words", "phrase", "prefix")  # latency_queries' text queries, in turn


def latency(index: SearchIndex, brute: BruteForce, queries: dict[str, list[str]],
            modes: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for mode in modes:
        ours: list[float] = []
        base: list[float] = []
        scan = getattr(brute, mode)
        for query in queries[mode][:3]:  # warm the caches up, not counted
            index.search(SearchQuery(text=query, mode=cast(Mode, mode), limit=LIMIT))
            scan(query)
        for query in queries[mode]:
            request = SearchQuery(text=query, mode=cast(Mode, mode), limit=LIMIT)
            ms, _ = timed(lambda: index.search(request))  # noqa: B023
            ms_base, _ = timed(lambda: scan(query))  # noqa: B023
            ours.append(ms)
            base.append(ms_base)
        p50, p95 = percentile(ours, 50), percentile(ours, 95)
        b50, b95 = percentile(base, 50), percentile(base, 95)
        out[mode] = {"queries": len(ours), "p50_ms": p50, "p95_ms": p95,
                     "baseline_p50_ms": b50, "baseline_p95_ms": b95,
                     "speedup_p50": b50 / p50, "speedup_p95": b95 / p95}
        if mode == "semantic" and brute.embed_query is not None:
            embed_query = brute.embed_query
            model = [timed(lambda: embed_query(q))[0] for q in queries[mode]]  # noqa: B023
            out[mode]["query_embedding_p50_ms"] = percentile(model, 50)
            out[mode]["query_embedding_p95_ms"] = percentile(model, 95)
        if mode == "text":
            out[mode]["p95_ms_by_kind"] = {
                kind: percentile(ours[n::len(TEXT_KINDS)], 95)
                for n, kind in enumerate(TEXT_KINDS)}
    return out


def quality(index: SearchIndex, lib: Library, modes: list[str]) -> dict[str, Any]:
    relevant_of: dict[str, set[tuple[str, str, str]]] = {}
    for key, needle in lib.needles.items():
        relevant_of.setdefault(needle, set()).add(key)
    queries = labelled()
    out: dict[str, Any] = {}
    for mode in modes:
        per_query = {}
        for q in queries:
            relevant = set().union(*(relevant_of[n] for n in q["relevant"]))
            insights = frozenset(q["insights"]) if "insights" in q else None
            try:
                hits = index.search(SearchQuery(text=q["query"], insights=insights,
                                                mode=cast(Mode, mode), limit=LIMIT))
            except AiworkError as error:  # a query text mode refuses: nothing found
                per_query[q["id"]] = {"recall": 0.0, "rr": 0.0, "error": str(error)}
                continue
            keys = [hit_key(h) for h in hits]
            found = [k for k in keys if k in relevant]
            first = next((rank for rank, k in enumerate(keys, 1) if k in relevant), None)
            per_query[q["id"]] = {"recall": len(set(found)) / len(relevant),
                                  "rr": 1.0 / first if first else 0.0}
        kinds: dict[str, list[str]] = {}
        for q in queries:
            kinds.setdefault(q["kind"], []).append(q["id"])
        out[mode] = {
            "recall_at_10": float(np.mean([r["recall"] for r in per_query.values()])),
            "mrr": float(np.mean([r["rr"] for r in per_query.values()])),
            "by_kind": {kind: float(np.mean([per_query[i]["recall"] for i in ids]))
                        for kind, ids in kinds.items()},
            "queries": per_query,
        }
    return out


# ---------------------------------------------------------------------------------------------

def backend_run(name: str, target: str | Path, lib: Library, size: Size, semantic: Any,
                brute: BruteForce, modes: list[str], rebuild: bool) -> dict[str, Any]:
    print(f"\n== {name}")
    marker = OUT / f"{name}-{size.videos}.json"
    key = source_digest(size) + (semantic.model if semantic is not None else "text only")
    cached = None
    if isinstance(target, Path) and not rebuild and marker.exists() and target.exists():
        saved = json.loads(marker.read_text())
        if saved.get("key") == key:
            cached = saved["build"]
    if cached is None:
        if isinstance(target, Path):
            for stale in target.parent.glob(target.name + "*"):
                stale.unlink()
        print(f"indexing {len(lib.passages):,} passages ...", flush=True)
        figures = build(target, lib, semantic)
        figures["index_bytes"] = disk_size(target)
        if isinstance(target, Path):
            marker.write_text(json.dumps({"key": key, "build": figures}))
    else:
        figures = {**cached, "cached": True}
        print("index reused from a previous run (same corpus and code; --rebuild to build again)")
    db, index = open_index(target, semantic)
    if semantic is not None and brute.vectors is None:
        brute.vectors = passage_vectors(db, lib, semantic)
    if not isinstance(target, Path):
        figures["index_bytes"] = postgres_size(db)
    print(f"indexing: {figures['indexing_s']:.1f} s ({figures['passages_per_s']:,.0f} passages/s)"
          f"{' (from the cached build)' if cached else ''}; index on disk "
          f"{figures['index_bytes'] / 2**20:,.1f} MiB "
          f"({figures['index_bytes'] / figures['passages']:,.0f} bytes/passage)")
    if figures.get("embedded"):
        print(f"  of which the model embedding {figures['embedded']:,.0f} distinct texts:"
              f" {figures['embed_s']:.1f} s ({figures['embed_s'] / figures['embedded'] * 1000:.0f}"
              f" ms/text, load average {figures['load_average']:.1f})")
    elif figures.get("seeded"):
        print(f"  every text's vector known from an earlier build ({figures['seeded']:,.0f}"
              " reused); the model embedded nothing")
    lat = latency(index, brute, latency_queries(size.latency_queries), modes)
    qual = quality(index, lib, modes)
    db.close()
    print_figures(lat, qual)
    return {"build": figures, "latency": lat, "quality": qual}


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the server of ``admin_url``, dropped afterwards."""
    import psycopg

    name = "aiwork_searchbench_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{admin_url.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def postgres_size(db: Any) -> int:
    with db.atomic() as conn:
        rows = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')"
            " AND c.relname LIKE ?", ("search%",)).fetchall()
    return int(rows[0][0])


def print_figures(lat: dict[str, dict[str, Any]], qual: dict[str, Any]) -> None:
    print(f"{'mode':<9} {'p50 ms':>8} {'p95 ms':>8} {'scan p50':>9} {'scan p95':>9}"
          f" {'x p50':>7} {'x p95':>7}  target p95")
    for mode, row in lat.items():
        target = TARGET_P95_MS.get(mode)
        verdict = (f"< {target:.0f} ms {'met' if row['p95_ms'] < target else 'NOT MET'}"
                   if target else "")
        print(f"{mode:<9} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} {row['baseline_p50_ms']:>9.1f}"
              f" {row['baseline_p95_ms']:>9.1f} {row['speedup_p50']:>6.1f}x"
              f" {row['speedup_p95']:>6.1f}x  {verdict}")
        if "query_embedding_p50_ms" in row:
            print(f"          of which embedding the query (the model alone):"
                  f" p50 {row['query_embedding_p50_ms']:.1f} ms,"
                  f" p95 {row['query_embedding_p95_ms']:.1f} ms")
        if "p95_ms_by_kind" in row:
            print("          text p95 by query: " + ", ".join(
                f"{kind} {ms:.1f} ms" for kind, ms in row["p95_ms_by_kind"].items()))
    kinds = list(next(iter(qual.values()))["by_kind"]) if qual else []
    print(f"\n{'quality':<9} {'recall@10':>9} {'MRR':>6}  " + "  ".join(kinds))
    for mode, row in qual.items():
        print(f"{mode:<9} {row['recall_at_10']:>9.3f} {row['mrr']:>6.3f}  "
              + "  ".join(f"{row['by_kind'][k]:.2f}".rjust(len(k)) for k in kinds))
    if "text" in qual and "hybrid" in qual:
        ok = qual["hybrid"]["recall_at_10"] >= qual["text"]["recall_at_10"]
        print(f"hybrid recall@10 >= text: {'met' if ok else 'NOT MET'}")


def passage_vectors(db: Any, lib: Library, semantic: Any) -> np.ndarray:
    """Every passage's vector for the brute-force scan: the ones the index stored (each
    distinct text's, read back through the semantic part's cache by text digest); zero for
    the insights the index does not embed (file names), which the scan leaves out."""
    from aiwork.search.semantic import NOT_EMBEDDED, STORED, text_digest

    distinct = sorted({p.text for p in lib.passages if p.insight not in NOT_EMBEDDED})
    with db.atomic() as conn:
        stored = semantic.embed(conn, distinct)
    table = {text: np.frombuffer(stored[text_digest(text)], dtype=STORED) for text in distinct}
    zero = np.zeros(table[distinct[0]].shape, dtype=STORED)
    return np.ascontiguousarray(np.stack([
        zero if p.insight in NOT_EMBEDDED else table[p.text] for p in lib.passages
    ]).astype(np.float32))


def main() -> None:
    global OUT
    # A terminated run still drops its scratch PostgreSQL database (the finally clauses run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 videos, a small text pool")
    parser.add_argument("--postgres", help="also on this PostgreSQL URL (default:"
                        " AIWORK_TEST_POSTGRES when set)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only, even with"
                        " AIWORK_TEST_POSTGRES set")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--text-only", action="store_true", help="skip semantic and hybrid")
    parser.add_argument("--rebuild", action="store_true", help="build the cached index again")
    parser.add_argument("--out", type=Path, default=OUT, help="where the index is kept")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    OUT = args.out
    OUT.mkdir(parents=True, exist_ok=True)
    size = QUICK if args.quick else FULL
    load_before = os.getloadavg()
    began = time.perf_counter()
    lib = library(size)
    check_labels(lib, size)
    transcript = sum(p.insight == "transcript" for p in lib.passages)
    print(f"library: {size.videos:,} videos, {len(lib.passages):,} passages ({transcript:,}"
          f" transcript segments), {len(set(lib.texts())):,} distinct texts"
          f" ({len({p.text for p in lib.passages if p.insight != 'name'}):,} without file names)")
    semantic, why = (None, "--text-only") if args.text_only else make_semantic()
    modes = ["text"] if semantic is None else list(MODES)
    if semantic is None:
        print(f"semantic and hybrid not measured: {why}")
    else:
        print(f"model: {semantic.embedder.name} ({semantic.embedder.digest[:19]}...)")
    brute = BruteForce(lib, None, semantic.embedder.query if semantic is not None else None)
    results: dict[str, Any] = {}
    if not args.no_sqlite:
        results["sqlite"] = backend_run("sqlite", OUT / f"index-{size.videos}.db", lib, size,
                                        semantic, brute, modes, args.rebuild)
    url = None if args.no_postgres else args.postgres or os.environ.get("AIWORK_TEST_POSTGRES")
    if url:
        with scratch_database(url) as target:
            results["postgres"] = backend_run("postgres", target, lib, size, semantic, brute,
                                              modes, True)
    load_after = os.getloadavg()
    print(f"\nload average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
          f" ({os.cpu_count()} cores); {time.perf_counter() - began:.0f} s in all")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(), "cores": os.cpu_count(),
            "load_average": {"before": load_before, "after": load_after},
            "videos": size.videos, "passages": len(lib.passages),
            "transcript_segments": transcript, "distinct_texts": len(set(lib.texts())),
            "modes": modes, "backends": results,
        }, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
