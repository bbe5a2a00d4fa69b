"""Jobs: submitted, listed, their progress, results, exports and audit bundles.

A job of a sensitive library is read only by a signed request of one who may read it, stating
a purpose (``?purpose=``); each such read is an ``access.read`` entry appended before the data
goes out (:func:`aiwork.api.deps.sensitive_reader`)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from aiwork.api.deps import (OptionalCaller, Requester, StateDep, body, library_reader,
                             log_read, sensitive_reader)
from aiwork.api.openapi import operation
from aiwork.contract import requests as rq
from aiwork.coordinator.libraries import PURPOSE_PARAMETER
from aiwork.export.layout import EXPORTS, export_files
from aiwork.errors import NotFoundError

__all__ = ["router"]

router = APIRouter()

_PURPOSE = Query(None, alias=PURPOSE_PARAMETER,
                 description="why the data is read (a sensitive library's job: required, "
                             "and logged)")


@operation(router, "submit_job")
async def submit_job(signed: Requester, state: StateDep) -> dict[str, Any]:
    job = body(rq.JobRequest, signed)
    with state.lock:
        made = state.coordinator().submit_job(
            signed.did, job.asset, list(job.analyzers),
            redundancy=1 if job.redundancy is None else job.redundancy, budget=job.budget,
            deadline=job.deadline, now=time.time(), library=job.library,
            models=job.models)
    return state.coordinator().progress(made.id)


@operation(router, "list_jobs")
async def list_jobs(did: OptionalCaller, state: StateDep,
                    requester: str | None = Query(None, description="only this requester's")
                    ) -> list[dict[str, Any]]:
    coordinator = state.coordinator()
    roles = state.identities().roles(did) if did else set()
    out = []
    for job in coordinator.market.jobs(requester):
        library = coordinator.libraries.sensitive_library_of(job.id)
        if library is not None and not (did and library.may_read(did, roles)):
            continue  # nothing of a sensitive library for those who may not read it
        out.append(coordinator.progress(job.id))
    return out


@operation(router, "list_analyzers")
async def list_analyzers(state: StateDep) -> list[dict[str, Any]]:
    return state.coordinator().analyzers()


@operation(router, "get_job")
async def get_job(job_id: str, request: Request, state: StateDep) -> dict[str, Any]:
    # A gold job answers as any other (a worker must not tell it from a real one).
    await library_reader(request, job_id)
    return state.coordinator().progress(job_id)


@operation(router, "get_results")
async def get_results(job_id: str, request: Request, response: Response, state: StateDep,
                      purpose: str | None = _PURPOSE) -> dict[str, Any]:
    coordinator = state.coordinator()
    read = await sensitive_reader(request, job_id)
    data = {"job": coordinator.progress(job_id), "results": coordinator.results(job_id),
            "media": coordinator.media(job_id)}
    if read is not None:
        # What the public log holds as commitments, opened for this reader.
        data["openings"] = coordinator.openings(job_id)
    response.headers.update(log_read(state, job_id, read, "results"))
    return data


@operation(router, "get_audit_bundle")
async def get_audit_bundle(job_id: str, request: Request, state: StateDep,
                           insight: str | None = Query(None, description="one insight only"),
                           purpose: str | None = _PURPOSE) -> JSONResponse:
    from aiwork.anchor.service import anchor_receipts
    from aiwork.audit.bundle import build_bundle
    from aiwork.audit.subjects import job_subject

    state.coordinator().market.job(job_id)
    read = await sensitive_reader(request, job_id)
    with state.lock:
        log = state.log()
        bundle = build_bundle(log, job_subject(log, job_id, insight), anchors=anchor_receipts)
    return JSONResponse(bundle, headers=log_read(state, job_id, read, "audit"))


@operation(router, "get_export")
async def get_export(job_id: str, name: str, request: Request, state: StateDep,
                     title: str | None = Query(None, description="the video's name in it"),
                     purpose: str | None = _PURPOSE) -> Response:
    if name not in EXPORTS:
        raise NotFoundError(f"no export {name!r}; one of: {', '.join(EXPORTS)}")
    coordinator = state.coordinator()
    read = await sensitive_reader(request, job_id)
    metadata = coordinator.metadata(job_id, title)
    # URLs under the coordinator's configured public URL, never under the request's Host.
    blobs = f"{state.settings.public_url or ''}/v1/blobs/"
    keyframes = {s.keyframe.digest: blobs + s.keyframe.digest
                 for s in metadata.shots if s.keyframe is not None}
    text = export_files(metadata, caption_formats=("vtt", "srt", "ttml"),
                        content_url=blobs + metadata.asset.digest,
                        keyframe_url=keyframes)[name]
    return Response(text, media_type=EXPORTS[name],
                    headers=log_read(state, job_id, read, f"export/{name}"))
