"""The library search: ``GET /v1/search``, the moments of processed videos that match.

Its reach is decided before it runs: an unsigned search, or a signed one without a stated
purpose, covers the libraries that are not sensitive; a signed search with ``?purpose=...``
also covers the sensitive libraries its caller may read (owner, readers, auditors, admins).
Every other sensitive job is left out of the search itself, so its hits are neither returned
nor counted nor ranked. Each job of a sensitive library the answer holds hits of is first
logged as an ``access.read`` entry (resource ``search``), whose indexes the answer names.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Response

from aiwork.api.deps import OptionalCaller, StateDep
from aiwork.api.openapi import operation
from aiwork.coordinator.libraries import ACCESS_ENTRY_HEADER, PURPOSE_PARAMETER, check_purpose
from aiwork.digests import is_digest
from aiwork.errors import SearchQueryError
from aiwork.search.index import RRF_K, Hit, SearchQuery
from aiwork.search.query import parse_insights, parse_query

__all__ = ["MAX_LIMIT", "MODES", "router"]

router = APIRouter()

#: The most hits one search returns, and how many when ``limit`` is not given.
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
#: How a search matches: words (BM25), meaning (sentence embeddings), or both, fused.
MODES: tuple[Literal["hybrid", "text", "semantic"], ...] = ("hybrid", "text", "semantic")


@operation(router, "search")
async def search(did: OptionalCaller, state: StateDep, response: Response,
                 q: str = Query(..., description="what to find: words, \"a phrase\", prefix*"),
                 insight: str | None = Query(None, description="insight names, comma-separated"),
                 video: str | None = Query(None, description="one video's digest"),
                 mode: str = Query("hybrid", description="text (words, BM25), semantic "
                                   "(meaning) or hybrid (both, fused; words alone where no "
                                   "model is installed)"),
                 limit: str | None = Query(None, description=f"1 to {MAX_LIMIT} hits"),
                 purpose: str | None = Query(
                     None, alias=PURPOSE_PARAMETER,
                     description="why (signed): also searches the sensitive libraries the "
                                 "caller may read, each such read logged")
                 ) -> dict[str, Any]:
    parse_query(q)  # a clear 400 for an empty, oversized or syntax-only query
    insights = parse_insights(insight)
    chosen = next((m for m in MODES if m == mode), None)
    if chosen is None:
        raise SearchQueryError(f"unknown search mode {mode[:40]!r}; one of: {', '.join(MODES)}")
    if video is not None and not is_digest(video):
        raise SearchQueryError(f"video {video[:80]!r} is not a video's digest (sha256:<64 hex>)")
    count = _limit(limit)
    stated = check_purpose(purpose) if purpose is not None and did is not None else None
    coordinator = state.coordinator()
    roles = state.identities().roles(did) if did else set()
    jobs = coordinator.search.readable_jobs(did, roles, stated is not None)
    hits = coordinator.search.search(SearchQuery(
        q, insights=insights, videos=None if video is None else frozenset({video}),
        jobs=jobs, mode=chosen, limit=count))
    with state.lock:
        kept, entries = coordinator.search.log_reads(hits, did, roles, stated)
    if entries:
        response.headers[ACCESS_ENTRY_HEADER] = ",".join(map(str, entries))
    answer = [_hit(hit) for hit in kept]
    if jobs is not None:
        # A search narrowed to what the caller may read scores by rank alone: BM25's weights
        # are computed over the whole index, sensitive passages included.
        for n, hit in enumerate(answer, 1):
            hit["score"] = 1.0 / (RRF_K + n)
    return {"query": q, "mode": chosen, "hits": answer, "access_entries": entries}


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise SearchQueryError(f"limit {value[:20]!r} is not a whole number from 1 to "
                               f"{MAX_LIMIT}")
    return int(value)


def _hit(hit: Hit) -> dict[str, Any]:
    passage = hit.passage
    return {"video": {"name": hit.video_name or passage.video, "digest": passage.video},
            "job": passage.job, "insight": passage.insight, "item": passage.item,
            "start": passage.start, "end": passage.end, "moment": hit.moment,
            "text": passage.text,
            "highlights": [list(span) for span in hit.highlights], "score": hit.score,
            "text_rank": hit.text_rank, "semantic_rank": hit.semantic_rank,
            "decision": passage.decision, "language": passage.language}
