"""The public log: checkpoints and their cosignatures, entries, proofs (all unsigned reads)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from aiwork.api.deps import StateDep, body
from aiwork.api.guard import read_bounded
from aiwork.api.openapi import operation
from aiwork.contract import requests as rq
from aiwork.coordinator.cosignatures import MAX_REQUEST_BYTES as MAX_COSIGNATURE_BYTES
from aiwork.coordinator.review import RELATED_PAGE
from aiwork.errors import NotFoundError

if TYPE_CHECKING:
    from aiwork.anchor.service import RecordedAnchor

__all__ = ["router"]

router = APIRouter()

#: The most dataset.released entries whose lineage part a server keeps in memory.
LINEAGE_DATASETS = 64

@operation(router, "get_checkpoint")
async def get_checkpoint(state: StateDep,
                         size: int | None = Query(None, description="a stored checkpoint's size")
                         ) -> PlainTextResponse:
    with state.lock:
        return PlainTextResponse(state.cosignatures().checkpoint(size))


@operation(router, "add_cosignature")
async def add_cosignature(request: Request, state: StateDep) -> dict[str, Any]:
    # Self-authenticating: the cosignature line is the witness's signature of the checkpoint.
    data, _ = await read_bounded(request, MAX_COSIGNATURE_BYTES, what="cosignature request")
    request_body = body(rq.CosignatureRequest, data)
    with state.lock:
        cosignature = state.cosignatures().add(request_body.size, request_body.cosignature,
                                               request_body.checkpoint, now=time.time())
    return {"size": request_body.size, "witness": cosignature.name,
            "timestamp": cosignature.timestamp}


@operation(router, "get_verifier_key")
async def get_verifier_key(state: StateDep) -> PlainTextResponse:
    return PlainTextResponse(state.log().verifier_key.to_text() + "\n")


@operation(router, "get_entry")
async def get_entry(index: int, state: StateDep) -> Response:
    return Response(state.log().get(index), media_type="application/json")


@operation(router, "get_related_entries")
async def get_related_entries(
        index: int, state: StateDep,
        after: int = Query(-1, ge=-1, description="list entries after this ledger index"),
        limit: int = Query(100, ge=1, le=RELATED_PAGE, description="at most this many")
) -> dict[str, Any]:
    with state.lock:
        log = state.log()
        if not 0 <= index < log.size:
            raise NotFoundError(f"the log has no entry {index} (it holds {log.size} entries)")
        entries, still_open, after_page = state.coordinator().review.related(index, after, limit)
    return {"decision": index, "open_verdicts": still_open, "next": after_page,
            "entries": [{"index": i, "kind": kind, "item": item} for i, kind, item in entries]}


@operation(router, "get_lineage")
async def get_lineage(index: int, state: StateDep) -> dict[str, Any]:
    from aiwork.ledger.registry import lineage

    with state.lock:
        log = state.log()
        if not 0 <= index < log.size:
            raise NotFoundError(f"the log has no entry {index} (it holds {log.size} entries)")
        # What a dataset entry gives depends on earlier entries only: read once per server.
        if len(state.lineage_datasets) > LINEAGE_DATASETS:
            state.lineage_datasets.clear()
        return lineage(log, index, state.lineage_datasets)


@operation(router, "list_models")
async def list_models(state: StateDep) -> list[dict[str, Any]]:
    with state.lock:
        return [model.to_json() for model in state.model_index.models(state.log())]


@operation(router, "get_anchors")
async def get_anchors(state: StateDep, covering: int | None = Query(
        None, ge=0, description="an entry's index: the first anchor that holds it")
) -> dict[str, Any]:
    from aiwork.anchor.service import anchors_for

    with state.lock:
        first, latest = anchors_for(state.log(), covering)
    return {"covering": _anchor(first), "latest": _anchor(latest)}


def _anchor(anchor: RecordedAnchor | None) -> dict[str, Any] | None:
    return None if anchor is None else {"index": anchor.index, **anchor.receipt.to_body()}


@operation(router, "get_inclusion_proof")
async def get_inclusion_proof(
        state: StateDep, index: int = Query(description="the entry's index"),
        size: int | None = Query(None, description="the tree size")
) -> dict[str, Any]:
    return state.log().inclusion_proof(index, size).to_json()


@operation(router, "get_consistency_proof")
async def get_consistency_proof(
        state: StateDep, first: int = Query(description="the older size"),
        second: int | None = Query(None, description="the newer size")
) -> dict[str, Any]:
    return state.log().consistency_proof(first, second).to_json()
