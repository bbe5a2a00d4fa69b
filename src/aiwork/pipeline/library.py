"""The embedded store's library: what it holds (``aiwork videos``), search over it
(``aiwork search``) and its search index rebuilt (``aiwork index rebuild``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from aiwork.errors import EntryError, InputError, LedgerError
from aiwork.ledger.log import Log
from aiwork.pipeline.catalog import Catalog, StoredAsset
from aiwork.search.index import Hit, SearchQuery
from aiwork.search.query import parse_insights
from aiwork.search.semantic import default_semantic

__all__ = ["InsightState", "VideoSummary", "rebuild_index", "search_library", "semantic_notice",
           "videos"]


@dataclass(frozen=True)
class InsightState:
    insight: str
    analyzer: str
    decision: int  #: the ledger index of its latest decision
    #: ``current``, or ``stale``: computed from an upstream decision since replaced
    state: Literal["current", "stale"]
    items: int  #: items of its output (segments for a transcript)


@dataclass(frozen=True)
class VideoSummary:
    name: str
    digest: str
    size: int
    duration: float | None  #: seconds, as probed when it was registered
    registered: int  #: the ledger index of its ``asset.registered``
    insights: list[InsightState] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _items(output: Any) -> int:
    if isinstance(output, list):
        return len(output)
    if isinstance(output, dict) and isinstance(output.get("segments"), list):
        return len(output["segments"])
    return 1


def _duration(log: Log, catalog: Catalog, asset: StoredAsset) -> float | None:
    technical = catalog.results(asset.digest).get("technical")
    if technical is not None and isinstance(technical.output, dict):
        value = technical.output.get("duration")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    if asset.registered < 0:
        return None
    try:
        probe = log.entry(asset.registered).body.get("probe")
    except (EntryError, LedgerError):
        return None
    value = probe.get("duration") if isinstance(probe, dict) else None
    return float(value) if isinstance(value, int | float) else None


def videos(log: Log) -> list[VideoSummary]:
    """Every video of the store, oldest first, with its insights and their state."""
    from aiwork.pipeline.process import stale_results

    catalog = Catalog(log.db)
    out = []
    for asset in catalog.assets():
        results = catalog.results(asset.digest)
        stale = {s.insight for s in stale_results(results)}
        states = [InsightState(r.insight, r.analyzer, r.decision,
                               "stale" if r.insight in stale else "current", _items(r.output))
                  for r in sorted(results.values(), key=lambda r: r.insight)]
        out.append(VideoSummary(asset.name, asset.digest, asset.size,
                                _duration(log, catalog, asset), asset.registered, states))
    return out


def search_library(log: Log, text: str, *, insights: str | Iterable[str] | None = None,
                   videos: Iterable[str] = (), mode: Literal["hybrid", "text", "semantic"]
                   = "hybrid", limit: int = 20) -> list[Hit]:
    """Search the store's index. ``videos``: file names, paths or digests (each must name a
    processed video)."""
    from aiwork.pipeline.process import find_asset

    catalog = Catalog(log.db, semantic=None if mode == "text" else default_semantic())
    chosen = parse_insights(insights if insights is None or isinstance(insights, str)
                            else tuple(insights))
    digests: set[str] = set()
    for video in videos:
        try:
            digests.add(find_asset(catalog, video).digest)
        except InputError as exc:
            raise InputError(f"--video {video[:200]}: no such processed video",
                             hint="`aiwork videos` lists them") from exc
    return catalog.search.search(SearchQuery(
        text, insights=chosen, videos=frozenset(digests) if digests else None, mode=mode,
        limit=limit))


def rebuild_index(log: Log) -> int:
    """Rebuild the search index from the stored results, each passage embedded by the
    configured model where it is installed (a text already embedded by it is not embedded
    again); the passages indexed."""
    return Catalog(log.db, semantic=default_semantic()).reindex()


def semantic_notice(log: Log) -> str | None:
    """One line when search by meaning leaves passages out (indexed by another model, or
    without the model): what ``aiwork index rebuild`` would fix; None when all is current
    or the model is not installed."""
    semantic = default_semantic()
    if semantic is None:
        return None
    with log.db.snapshot() as conn:
        if conn.execute("SELECT 1 FROM search_passages LIMIT 1").fetchone() is None:
            return None
        state = semantic.state(conn)
    message: str | None = state.message
    return message
