"""Media, by digest: uploads streamed to disk and checked, downloads with HTTP ranges, and
the short-lived grants that let a ``<video>`` element play a sensitive library's media."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from aiwork.api.deps import GrantAsker, OptionalCaller, StateDep, body
from aiwork.api.openapi import operation
from aiwork.api.state import State
from aiwork.contract.requests import BlobGrantRequest
from aiwork.coordinator.grants import GRANT_PARAMETER
from aiwork.errors import NotFoundError

__all__ = ["router"]

router = APIRouter()


@operation(router, "upload_blob")
async def upload_blob(digest: str, request: Request, state: StateDep,
                      library: str | None = Query(None, description="the library the media "
                                                  "belongs to, before it is stored")
                      ) -> dict[str, Any]:
    state.blobs.path(digest)  # the digest's form, before anything else
    # Streamed to a temporary file beside the blobs while hashed; renamed into place only
    # once the signature over the whole body verified and the bytes hash to the digest.
    with state.blobs.incoming() as incoming:
        did = await state.guard.stream(request, incoming.write, "requester", "worker", "admin",
                                       limit=state.settings.max_upload_bytes)
        if library is not None:
            declare_upload(state, digest, did, library)  # restricted before it is in place
        stored = incoming.commit(digest)
    return {"digest": stored, "size": incoming.size}


def declare_upload(state: State, digest: str, did: str, library: str) -> None:
    """``?library=ID`` on an upload: the blob belongs to that library before it is stored,
    so a sensitive library's media is never public, even before a job names it (its owner's
    upload, or a worker's holding a live lease on one of its tasks)."""
    with state.lock:
        coordinator = state.coordinator()
        leasing = ("worker" in state.identities().roles(did)
                   and coordinator.libraries.worker_leasing(did, library, time.time()))
        with coordinator.log.db.atomic():
            coordinator.libraries.declare_upload(digest, library, did, leasing=leasing)


@operation(router, "download_blob")
async def download_blob(digest: str, did: OptionalCaller, state: StateDep,
                        grant: str | None = Query(None, description="a media grant's token "
                                                  "(grant_blob), in place of a signature")
                        ) -> FileResponse:
    # A sensitive library's media and keyframes go only to those who may read it and to
    # workers leasing a task over it; to anyone else the answer is the one for a blob that
    # does not exist, so nobody learns what media a sensitive library holds. A bad signature
    # is 401 for any blob. ``?grant=TOKEN`` (from grant_blob) stands in for the signature:
    # a wrong, expired or other blob's token is 403 and nothing is served.
    if grant is not None:
        state.blobs.path(digest)  # the digest's form
        coordinator = state.coordinator()
        coordinator.grants.check(grant, digest, now=state.settings.clock(),
                                          roles_of=state.identities().roles)
        if not state.blobs.has(digest):
            raise NotFoundError(f"no blob {digest}")
        return _file(state, digest, private=True)
    absent = NotFoundError(f"no blob {digest} (a sensitive library's media is served only "
                           "to a signed request by one who may read it)")
    if not state.blobs.has(digest):
        raise absent
    coordinator = state.coordinator()
    libraries = coordinator.libraries.holding(digest)
    sensitive = any(library.sensitive for library in libraries)
    if sensitive:
        if did is None:
            raise absent
        roles = state.identities().roles(did)
        if not (any(library.may_read(did, roles) for library in libraries)
                or coordinator.market.leases_asset(did, digest, time.time())):
            raise absent
    return _file(state, digest, private=sensitive)


def _file(state: State, digest: str, *, private: bool) -> FileResponse:
    # Streamed from disk, with HTTP Range requests (a video player seeks). A sensitive
    # library's media is kept out of shared caches, and a grant's URL out of any Referer.
    headers = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"} \
        if private else None
    return FileResponse(state.blobs.path(digest), media_type="application/octet-stream",
                        headers=headers)


@operation(router, "grant_blob")
async def grant_blob(digest: str, signed: GrantAsker, state: StateDep) -> dict[str, Any]:
    """A media grant: the reader, the job's library and the purpose checked, the read logged
    as an ``access.read`` entry, then a random token bound to this blob and this reader."""
    state.blobs.path(digest)  # the digest's form
    asked = body(BlobGrantRequest, signed)
    with state.lock:
        coordinator = state.coordinator()
        given = coordinator.grants.give(
            asked.job, digest, signed.did, state.identities().roles(signed.did),
            asked.purpose, now=state.settings.clock(), seconds=state.settings.grant_seconds)
    return {"url": f"/v1/blobs/{digest}?{GRANT_PARAMETER}={given.token}",
            "expires": given.expires, "access_entry": given.entry}
