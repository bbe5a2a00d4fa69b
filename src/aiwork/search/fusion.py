"""Hybrid ranking: reciprocal rank fusion (RRF) of the full-text and semantic rankings.

Cormack, Clarke and Büttcher, "Reciprocal Rank Fusion outperforms Condorcet and individual
rank learning methods" (SIGIR 2009): a passage's fused score is the sum, over the rankings
that hold it, of ``1 / (k + rank)`` with ranks counted from 1 and ``k = 60`` (the paper's
constant, also the default of Elasticsearch, OpenSearch and Azure AI Search). Only ranks
count, never the raw scores, so BM25 values and cosines need no common scale; ``k`` keeps one
ranking's first place from outweighing agreement between both: a passage 3rd in both
(2/63 = 0.0317) beats one that is 1st in one only (1/61 = 0.0164).

Ties (equal fused scores) go to the passage with the better best rank, then to the one met
first in the rankings as given (text first for hybrid search), so the order is deterministic.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from aiwork.errors import InputError

__all__ = ["RRF_K", "Fused", "reciprocal_rank_fusion"]

#: The RRF constant (Cormack et al. 2009).
RRF_K = 60

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Fused(Generic[K]):
    """One fused result: its key, its fused score and its rank (from 1) in each input ranking,
    None where that ranking does not hold it."""

    key: K
    score: float
    ranks: tuple[int | None, ...]


def reciprocal_rank_fusion(rankings: Sequence[Sequence[K]], k: int = RRF_K,
                           limit: int | None = None) -> list[Fused[K]]:
    """The keys of ``rankings`` (each best first; a key repeated within one ranking counts at
    its first place) ordered by ``sum 1 / (k + rank)``, best first, at most ``limit``."""
    if k < 0:
        raise InputError(f"the RRF constant k must be 0 or more, not {k}")
    ranks: dict[K, list[int | None]] = {}
    for which, ranking in enumerate(rankings):
        for place, key in enumerate(ranking, start=1):
            held = ranks.setdefault(key, [None] * len(rankings))
            if held[which] is None:
                held[which] = place
    fused = [Fused(key, sum(1.0 / (k + r) for r in held if r is not None), tuple(held))
             for key, held in ranks.items()]  # dict order: first met first
    order = sorted(range(len(fused)), key=lambda i: (
        -fused[i].score, min(r for r in fused[i].ranks if r is not None), i))
    result = [fused[i] for i in order]
    return result if limit is None else result[:max(limit, 0)]
