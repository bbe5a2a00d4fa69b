"""Workers: what they run, their leases and their signed results."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from aiwork.api.deps import StateDep, Worker, WorkerCaller, WorkerResult, body
from aiwork.api.openapi import operation
from aiwork.contract import requests as rq

__all__ = ["router"]

router = APIRouter()


@operation(router, "advertise_capabilities")
async def advertise_capabilities(signed: Worker, state: StateDep) -> dict[str, Any]:
    advertised = body(rq.CapabilitiesRequest, signed)
    with state.lock:
        return state.coordinator().advertise(signed.did, advertised.analyzers,
                                             advertised.leases, time.time())


@operation(router, "list_workers")
async def list_workers(state: StateDep) -> list[dict[str, Any]]:
    return state.coordinator().workers()


@operation(router, "lease_task")
async def lease_task(signed: Worker, state: StateDep) -> Response:
    capabilities = set(body(rq.LeaseRequest, signed).capabilities)
    with state.lock:
        coordinator = state.coordinator()
        lease = coordinator.lease(signed.did, capabilities, time.time(),
                                  state.settings.lease_seconds)
        # The accepted results the leased analyzer reads: it computes from these and names
        # their decisions (input.derived_from).
        upstream = coordinator.upstream(lease) if lease is not None else []
    if lease is None:
        return Response(status_code=204)
    library = state.coordinator().libraries.library_of(lease.job_id)
    # A sensitive task's decision is sealed by the worker, and its files are uploaded with
    # ?library=ID.
    return JSONResponse({"lease": lease.id, "job": lease.job_id, "task": lease.task_id,
                         "replica": lease.replica, "analyzer": lease.analyzer,
                         "asset": lease.asset, "expires": lease.expires, "upstream": upstream,
                         "library": None if library is None else library.id,
                         "sensitive": library is not None and library.sensitive})


@operation(router, "heartbeat")
async def heartbeat(lease_id: str, did: WorkerCaller, state: StateDep) -> dict[str, Any]:
    with state.lock:
        lease = state.coordinator().market.heartbeat(lease_id, did, time.time(),
                                                     state.settings.lease_seconds)
    return {"lease": lease.id, "expires": lease.expires}


@operation(router, "submit_result")
async def submit_result(lease_id: str, signed: WorkerResult, state: StateDep) -> dict[str, Any]:
    result = body(rq.ResultRequest, signed)
    with state.lock:
        index = state.coordinator().accept_result(lease_id, signed.did, result.entry.encode(),
                                                  result.output, time.time(), result.openings)
    return {"decision": index}
