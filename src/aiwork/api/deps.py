"""Who is calling: the signed caller and the role a route needs, as FastAPI dependencies.

A route names its caller in its signature (``caller: Requester``) and FastAPI runs the
dependency before the route: it checks the signed headers, the role and the declared length,
then reads the body through :class:`aiwork.api.guard.RequestGuard`, then the signature and the
nonce. No route declares a pydantic body parameter, which FastAPI would read and parse before
any dependency ran: a route reads its body from :class:`Signed` and validates it with its
contract model (:func:`body`) only once the caller is known.

The reads of a sensitive library (a job's progress, results, exports, audit bundle; a
library; a blob) are signed only there: :func:`library_reader` and :func:`sensitive_reader`
ask for the signature once the route knows the job is in one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from pydantic import ValidationError

from aiwork.api.guard import MAX_UNUSED_BYTES, Signed, json_object
from aiwork.api.state import MAX_REGISTRATION_BYTES, MAX_RESULT_BYTES, ServerSettings, State
from aiwork.contract.requests import EmptyRequest, RequestModel
from aiwork.coordinator.libraries import ACCESS_ENTRY_HEADER, PURPOSE_PARAMETER
from aiwork.errors import InputError, RoleError, UnsignedRequestError

__all__ = ["Admin", "AnySigner", "GrantAsker", "ExpertCaller", "Expert", "LibraryManager", "LibraryOwner",
           "OptionalCaller", "Requester", "StateDep", "Worker", "WorkerCaller", "WorkerResult",
           "body", "caller", "library_reader", "log_read", "sensitive_reader", "signed_reader",
           "state"]

M = TypeVar("M", bound=RequestModel)

#: Largest body of a media grant's request (a job id and a purpose of 200 characters).
MAX_GRANT_BYTES = 4 << 10


async def state(request: Request) -> State:
    """The running coordinator's state (set by :func:`aiwork.api.app.create_app`)."""
    found: State = request.app.state.aiwork
    return found


StateDep = Annotated[State, Depends(state)]


def body(model: type[M], source: Signed | bytes) -> M:
    """A request's body (a signed one, or bytes read with its limit) as ``model`` (400 naming
    the field when it does not fit)."""
    data = source.body if isinstance(source, Signed) else source
    try:
        return model.model_validate(json_object(data))
    except ValidationError as exc:
        problems = "; ".join(_problem(model, error["loc"], error["msg"])
                             for error in exc.errors()[:5])
        raise InputError(f"request body refused: {problems}") from None


def _problem(model: type[RequestModel], loc: tuple[int | str, ...], message: str) -> str:
    """One field's refusal: its name, what it should be (the model says), and why."""
    name = ".".join(str(part) for part in loc) or "body"
    field = model.model_fields.get(str(loc[0])) if loc else None
    what = f" ({field.description})" if field is not None and field.description else ""
    return f"{name!r}{what}: {message}"


def _json_limit(settings: ServerSettings) -> int:
    return settings.max_json_bytes


def signed_by(*roles: str, limit: Callable[[ServerSettings], int] = _json_limit
              ) -> Callable[[Request], Awaitable[Signed]]:
    """A dependency: the request signed by a holder of one of ``roles`` (any identity when
    none), its body at most ``limit(settings)`` bytes."""
    async def dependency(request: Request) -> Signed:
        found = await state(request)
        return await found.guard.body(request, *roles, limit=limit(found.settings))
    return dependency


def caller_with(*roles: str) -> Callable[[Request], Awaitable[str]]:
    """A dependency: the signed caller of a request whose body is not used: at most
    :data:`MAX_UNUSED_BYTES`, and when there is one, ``{}`` (any JSON object)."""
    async def dependency(request: Request) -> str:
        found = await state(request)
        signed = await found.guard.body(request, *roles, limit=MAX_UNUSED_BYTES)
        if signed.body:
            body(EmptyRequest, signed)
        return signed.did
    return dependency


async def caller(request: Request, *roles: str,
                 allowed: Callable[[str], None] | None = None) -> str:
    """The signed caller of a request whose body is not used (at most 1 KiB)."""
    found = await state(request)
    signed = await found.guard.body(request, *roles, limit=MAX_UNUSED_BYTES, allowed=allowed)
    return signed.did


async def optional_caller(request: Request) -> str | None:
    """The signer of a request that carries aiwork's signed headers, else None."""
    if not any(h.lower().startswith("aiwork-") for h in request.headers):
        return None
    return await caller(request)


async def library_owner(library_id: str, request: Request) -> Signed:
    """The signed request of the owner of ``library_id`` (404 when there is no such library),
    checked from the headers, before the body is read."""
    found = await state(request)

    def owner(did: str) -> None:
        found.coordinator().libraries.owned(library_id, did)
    return await found.guard.body(request, limit=found.settings.max_json_bytes, allowed=owner)


async def library_manager(library_id: str, request: Request) -> str:
    """The signed caller who may read ``library_id``'s access log: its owner, an auditor or an
    admin (checked from the headers, before the body is read)."""
    found = await state(request)
    libraries = found.coordinator().libraries

    def manager(who: str) -> None:
        libraries.check_manage(library_id, who, found.identities().roles(who))
    return await caller(request, allowed=manager)


Admin = Annotated[Signed, Depends(signed_by("admin"))]
Requester = Annotated[Signed, Depends(signed_by("requester"))]
Expert = Annotated[Signed, Depends(signed_by("expert"))]
Worker = Annotated[Signed, Depends(signed_by("worker"))]
#: A worker's result: up to 8 MiB (or the JSON limit, when that is larger).
WorkerResult = Annotated[Signed, Depends(signed_by(
    "worker", limit=lambda settings: max(settings.max_json_bytes, MAX_RESULT_BYTES)))]
#: Any identity (asking for a role): at most 1 KiB is read before the signature is checked.
AnySigner = Annotated[Signed, Depends(signed_by(limit=lambda _: MAX_REGISTRATION_BYTES))]
#: Any identity asking for a media grant (a reader needs no role): ``{job, purpose}``, 4 KiB.
GrantAsker = Annotated[Signed, Depends(signed_by(limit=lambda _: MAX_GRANT_BYTES))]
ExpertCaller = Annotated[str, Depends(caller_with("expert"))]
#: Any signed identity reading what is theirs (no body).
AnyCaller = Annotated[str, Depends(caller_with())]
WorkerCaller = Annotated[str, Depends(caller_with("worker"))]
OptionalCaller = Annotated[str | None, Depends(optional_caller)]
LibraryOwner = Annotated[Signed, Depends(library_owner)]
LibraryManager = Annotated[str, Depends(library_manager)]


async def signed_reader(request: Request, why: str) -> str:
    """The signed caller of a read that must be signed (a sensitive library's)."""
    try:
        return await caller(request)
    except UnsignedRequestError as exc:
        raise UnsignedRequestError(
            f"{why}: reads are signed requests that state a purpose "
            f"(?{PURPOSE_PARAMETER}=...); {exc}") from exc


async def library_reader(request: Request, job_id: str) -> str | None:
    """For a sensitive library's job: the signed caller, if they may read it (else 401 or
    403); None for any other job."""
    found = await state(request)
    library = found.coordinator().libraries.sensitive_library_of(job_id)
    if library is None:
        return None
    try:
        did = await caller(request)
    except UnsignedRequestError as exc:
        raise UnsignedRequestError(
            f"job {job_id} is in a sensitive library: only a signed request by one who "
            f"may read it sees it; {exc}") from exc
    if not library.may_read(did, found.identities().roles(did)):
        raise RoleError(f"{did} may not read the sensitive library {library.id}",
                        hint="its owner adds readers with POST /v1/libraries/ID/readers")
    return did


async def sensitive_reader(request: Request, job_id: str) -> tuple[str, str] | None:
    """For a job in a sensitive library: the signed, allowed reader and its stated purpose
    (else 401, 403 or 400); ``None`` for any other job, whose reads stay public."""
    found = await state(request)
    libraries = found.coordinator().libraries
    library = libraries.library_of(job_id)
    if library is None or not library.sensitive:
        return None
    did = await signed_reader(request, f"job {job_id} is in a sensitive library")
    purpose = libraries.check_read(library, did, found.identities().roles(did),
                                   request.query_params.get(PURPOSE_PARAMETER))
    return did, purpose


def log_read(found: State, job_id: str, read: tuple[str, str] | None,
             resource: str) -> dict[str, str]:
    """Append the read's access.read entry before its data goes out; the entry's index goes
    back in a header."""
    if read is None:
        return {}
    with found.lock:
        index = found.coordinator().libraries.record_read(job_id, read[0], resource, read[1])
    return {} if index is None else {ACCESS_ENTRY_HEADER: str(index)}
