"""bench/search.py keeps working: its quick run builds a real index and prints every figure.

No timing is asserted (speed belongs to the benchmark's own run); what is asserted is that each
figure is there and that text search finds every passage of the labelled exact-phrase queries.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODES = ("text", "semantic", "hybrid")
LATENCY = ("p50_ms", "p95_ms", "baseline_p50_ms", "baseline_p95_ms", "speedup_p50",
           "speedup_p95")


def semantic_available() -> bool:
    from aiwork.errors import AiworkError

    try:
        from aiwork.search.embed import load_embedder
        from aiwork.search.semantic import SemanticSearch

        SemanticSearch(load_embedder())
    except (ImportError, AiworkError):
        return False
    return True


def test_the_quick_search_bench_prints_every_figure(tmp_path: Path) -> None:
    """On SQLite, and on PostgreSQL (a scratch database) when AIWORK_TEST_POSTGRES is set."""
    figures = tmp_path / "search.json"
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "search.py"), "--quick",
                          "--out", str(tmp_path / "out"), "--json", str(figures)],
                         capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(figures.read_text())
    modes = MODES if semantic_available() else ("text",)
    assert tuple(result["modes"]) == modes
    backends = ["sqlite", "postgres"] if os.environ.get("AIWORK_TEST_POSTGRES") else ["sqlite"]
    assert sorted(result["backends"]) == sorted(backends)
    for backend in backends:
        check_figures(result, backend, modes)
    for line in ("indexing:", "index on disk", "text ", "recall@10", "load average"):
        assert line in run.stdout
    if "hybrid" in modes:
        assert "hybrid recall@10 >= text" in run.stdout


def check_figures(result: dict[str, Any], backend: str, modes: tuple[str, ...]) -> None:
    figures = result["backends"][backend]
    assert figures["build"]["passages"] == result["passages"] > result["transcript_segments"] > 0
    assert figures["build"]["indexing_s"] > 0 and figures["build"]["index_bytes"] > 0
    for mode in modes:
        row = figures["latency"][mode]
        assert all(math.isfinite(row[name]) and row[name] > 0 for name in LATENCY), row
        quality = figures["quality"][mode]
        assert 0 <= quality["recall_at_10"] <= 1 and 0 <= quality["mrr"] <= 1
    # Text search finds every passage of each exact phrase of the labelled set.
    phrases = [q["id"] for q in json.loads(
        (ROOT / "bench" / "search" / "queries.json").read_text())["queries"]
        if q["kind"] == "phrase"]
    assert phrases
    text = figures["quality"]["text"]
    assert [text["queries"][q]["recall"] for q in phrases] == [1.0] * len(phrases)
    assert text["by_kind"]["phrase"] == 1.0
