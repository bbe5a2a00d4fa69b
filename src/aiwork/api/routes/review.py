"""Human review: experts take items, answer them with signed verdicts; routing rules."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from aiwork.api.deps import (
    Admin,
    Expert,
    ExpertCaller,
    StateDep,
    body,
    caller,
    library_reader,
)
from aiwork.api.openapi import operation
from aiwork.contract import requests as rq
from aiwork.coordinator.review.routing import calibration_view
from aiwork.errors import ReviewRefused, RoleError

__all__ = ["router"]

router = APIRouter()

#: The most verdicts one page of an expert's history holds.
HISTORY_PAGE = 200


def json_item(entry: str) -> str | None:
    """The review item a verdict entry names, if it can be read."""
    try:
        value = json.loads(entry)
        return str(value["body"]["item"])
    except (ValueError, KeyError, TypeError):
        return None


@operation(router, "next_review_item")
async def next_review_item(did: ExpertCaller, state: StateDep) -> Response:
    with state.lock:
        review = state.coordinator().review
        item = review.next_item(did)
        if item is None:  # 204 says "none"; the header says why
            return Response(status_code=204, headers={"aiwork-reason": review.empty_reason(did)})
    return JSONResponse(item)


@operation(router, "get_review_item")
async def get_review_item(item_id: str, did: ExpertCaller, state: StateDep) -> dict[str, Any]:
    with state.lock:
        return state.coordinator().review.serve(item_id, did)


@operation(router, "submit_verdict")
async def submit_verdict(item_id: str, signed: Expert, state: StateDep) -> dict[str, Any]:
    verdict = body(rq.VerdictRequest, signed)
    with state.lock:
        review = state.coordinator().review
        if json_item(verdict.entry) != item_id:
            raise ReviewRefused("the verdict is about another item than the URL names")
        index = review.submit(signed.did, verdict.entry.encode(), verdict.openings)
    return {"verdict": index}


@operation(router, "release_review_item")
async def release_review_item(item_id: str, did: ExpertCaller, state: StateDep
                              ) -> dict[str, Any]:
    with state.lock:
        return state.coordinator().review.release(item_id, did)


@operation(router, "list_expert_verdicts")
async def list_expert_verdicts(
        did: str, request: Request, state: StateDep,
        limit: int = Query(50, ge=1, le=HISTORY_PAGE, description="verdicts per page"),
        before: int | None = Query(None, ge=0, le=2 ** 62,
                                   description="only verdicts with a ledger index under this"),
) -> dict[str, Any]:
    roles = state.identities().roles

    def own_or_admin(who: str) -> None:
        if who != did and "admin" not in roles(who):
            raise RoleError(f"{who} may not read the verdicts of {did}",
                            hint="an expert reads their own verdicts; an admin reads anyone's")
    await caller(request, allowed=own_or_admin)
    with state.lock:
        return state.coordinator().review.verdicts_of(did, limit=limit, before=before)


@operation(router, "get_expert")
async def get_expert(did: str, state: StateDep) -> dict[str, Any]:
    coordinator = state.coordinator()
    return {"did": did,
            "reputation": {k: v.to_json() for k, v in coordinator.review.reputation(did).items()},
            "credits": coordinator.accounts.account(did).to_json()}


@operation(router, "get_review_progress")
async def get_review_progress(job_id: str, request: Request, state: StateDep) -> dict[str, Any]:
    coordinator = state.coordinator()
    coordinator.market.job(job_id)
    await library_reader(request, job_id)
    return coordinator.review.progress(job_id)


@operation(router, "get_review_rules")
async def get_review_rules(state: StateDep) -> dict[str, Any]:
    return state.coordinator().review.all_rules()


@operation(router, "set_review_rules")
async def set_review_rules(insight: str, signed: Admin, state: StateDep) -> dict[str, Any]:
    rules = body(rq.RoutingRulesUpdate, signed)
    with state.lock:
        return state.coordinator().review.set_rules(
            insight, rules.model_dump(exclude_unset=True)).model_dump()


@operation(router, "list_calibrations")
async def list_calibrations(state: StateDep) -> dict[str, Any]:
    with state.lock:
        review = state.coordinator().review
        return {"calibrations": review.calibrations(),
                "candidates": review.calibration_candidates()}


@operation(router, "fit_calibration")
async def fit_calibration(signed: Admin, state: StateDep) -> dict[str, Any]:
    request = body(rq.CalibrationRequest, signed)
    with state.lock:
        review = state.coordinator().review
        fitted = review.fit_calibration(request.insight, request.annotator,
                                        request.target_accuracy)
        return calibration_view(request.insight, request.annotator, fitted,
                                review.calibration_registration(request.insight,
                                                                request.annotator))
