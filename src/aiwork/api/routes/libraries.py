"""Libraries: who owns a set of jobs, who may read a sensitive one, and who read what."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from aiwork.api.deps import (
    AnyCaller,
    LibraryManager,
    LibraryOwner,
    Requester,
    StateDep,
    body,
    signed_reader,
)
from aiwork.api.openapi import operation
from aiwork.api.state import State
from aiwork.contract import requests as rq
from aiwork.coordinator.libraries import ACCESS_PAGE, Library
from aiwork.errors import RoleError

__all__ = ["router"]

router = APIRouter()

#: Largest number a paging parameter takes (beyond it no page exists).
_MOST = (1 << 62)


def library_json(state: State, library: Library) -> dict[str, Any]:
    return {**library.to_json(), "jobs": state.coordinator().libraries.jobs(library.id)}


@operation(router, "create_library")
async def create_library(signed: Requester, state: StateDep) -> dict[str, Any]:
    made = body(rq.LibraryRequest, signed)
    with state.lock:
        library = state.coordinator().libraries.create(signed.did, made.name,
                                                       sensitive=made.sensitive)
        return library_json(state, library)


@operation(router, "list_libraries")
async def list_libraries(did: AnyCaller, state: StateDep) -> dict[str, Any]:
    libraries = state.coordinator().libraries.of(did)
    return {"libraries": [library_json(state, library) for library in libraries]}


@operation(router, "get_library")
async def get_library(library_id: str, request: Request, state: StateDep) -> dict[str, Any]:
    library = state.coordinator().libraries.get(library_id)
    if library.sensitive:
        did = await signed_reader(request, f"library {library_id} is sensitive")
        if not library.may_read(did, state.identities().roles(did)):
            raise RoleError(f"{did} may not read the sensitive library {library_id}")
    return library_json(state, library)


@operation(router, "update_library")
async def update_library(library_id: str, signed: LibraryOwner,
                         state: StateDep) -> dict[str, Any]:
    sensitive = body(rq.LibraryUpdate, signed).sensitive
    with state.lock:
        library = state.coordinator().libraries.set_sensitive(library_id, signed.did, sensitive)
        return library_json(state, library)


@operation(router, "add_reader")
async def add_reader(library_id: str, signed: LibraryOwner, state: StateDep) -> dict[str, Any]:
    reader = body(rq.ReaderRequest, signed).did
    with state.lock:
        library = state.coordinator().libraries.add_reader(library_id, signed.did, reader)
        return library_json(state, library)


@operation(router, "get_access_log")
async def get_access_log(
        library_id: str, did: LibraryManager, state: StateDep,
        start: int = Query(0, alias="from", ge=0, le=_MOST, description="a read's seq"),
        limit: int = Query(ACCESS_PAGE, ge=0, le=_MOST, description="reads per page"),
        size: int | None = Query(None, ge=0, le=_MOST,
                                 description="the tree size of the first page's checkpoint"),
) -> dict[str, Any]:
    with state.lock:
        return state.coordinator().libraries.access_listing(library_id, start=start,
                                                             limit=limit, size=size)
