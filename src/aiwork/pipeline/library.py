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

__all__ = ["InsightState", "VideoSummary", "rebuild_index", "search_library", "videos"]


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

    catalog = Catalog(log.db)
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
    """Rebuild the search index from the stored results; the passages indexed."""
    return Catalog(log.db).reindex()
