"""The coordinator's HTTP API (FastAPI; OpenAPI at ``/openapi.json``).

Every request that changes state carries the signed headers of :mod:`aiwork.auth`; an
unsigned, forged, expired or replayed request gets 401 with its reason, a caller without the
needed role 403, and neither changes anything. Reads of the public log need no signature,
nor does a witness's cosignature of a checkpoint, which authenticates itself.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from aiwork.errors import AiworkError, InputError, ReviewRefused, RoleError, UnsignedRequestError
from aiwork.coordinator.jobs import Coordinator
from aiwork.coordinator.cosignatures import MAX_REQUEST_BYTES as MAX_COSIGNATURE_BYTES
from aiwork.coordinator.cosignatures import Cosignatures, parse_witnesses
from aiwork.coordinator.identities import Identities
from aiwork.ledger.home import open_ledger
from aiwork.coordinator.libraries import (
    ACCESS_ENTRY_HEADER,
    ACCESS_PAGE,
    PURPOSE_PARAMETER,
    Library,
)
from aiwork.export.layout import EXPORTS, export_files
from aiwork.pipeline.process import open_store
from aiwork.api.errors import error_response
from aiwork.api.guard import (MAX_JSON_BYTES, MAX_UNUSED_BYTES, RequestGuard, json_object,
                              read_bounded)
from aiwork.auth import RequestVerifier, SqliteNonceStore
from aiwork.config import blobs_path
from aiwork.crypto import SigningKey, public_key_from_did
from aiwork.quality.reputation import ReputationPolicy
from aiwork.ledger.log import Log
from aiwork.store.blobs import BlobStore

__all__ = ["MAX_JSON_BYTES", "MAX_REGISTRATION_BYTES", "MAX_RESULT_BYTES", "MAX_UPLOAD_BYTES",
           "ServerSettings", "create_app"]

#: Largest upload accepted, in bytes (2 GiB). Override with ServerSettings.max_upload_bytes.
MAX_UPLOAD_BYTES = 2 << 30

#: Largest result a worker submits (8 MiB of JSON: a long video's transcript and shots).
MAX_RESULT_BYTES = 8 << 20

#: Largest request for a role (``{"role": "expert"}``), in bytes: anyone may make a key and
#: ask, so what the coordinator reads for it before the signature is checked stays small.
MAX_REGISTRATION_BYTES = 1 << 10


@dataclass(frozen=True)
class ServerSettings:
    db: Path | str  # a SQLite file or a postgresql:// URL
    key: SigningKey  # the coordinator's own identity: signs role grants
    open_registration: bool = False
    admin: str | None = None  # a did granted admin at start
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_json_bytes: int = MAX_JSON_BYTES  # any other request body
    price: int = 1  # credits a worker earns per accepted task replica
    gold_rate: float = 0.0  # share of leases that first mix in a gold task
    reputation: ReputationPolicy = ReputationPolicy()
    lease_seconds: float = 300.0
    starting_credits: int = 0  # granted to every identity that becomes a requester
    witnesses: tuple[str, ...] = ()  # witness verifier keys whose cosignatures are kept
    #: The coordinator's own public URL (``aiwork serve --public-url``): the exports name
    #: the video and its keyframes under it (``/v1/blobs/DIGEST``). None: root-relative.
    public_url: str | None = None


class _State:
    """One database connection per thread (SQLite connections are not shared)."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self._local = threading.local()
        self.lock = threading.Lock()
        self.witnesses = parse_witnesses(settings.witnesses)
        log = open_store(settings.db)
        identities = Identities(log, settings.key)
        if settings.admin:
            identities.bootstrap_admin(settings.admin)
        Cosignatures(log)  # creates its table before any thread reads it
        log.close()
        self.blobs = BlobStore(blobs_path(settings.db))
        self.blobs.sweep_incoming()  # uploads a crash cut off

    def log(self) -> Log:
        log: Log | None = getattr(self._local, "log", None)
        if log is None:
            log = open_ledger(self.settings.db, signing=True)
            self._local.log = log
        return log

    def identities(self) -> Identities:
        identities: Identities | None = getattr(self._local, "identities", None)
        if identities is None:
            identities = Identities(self.log(), self.settings.key)
            self._local.identities = identities
        return identities

    def cosignatures(self) -> Cosignatures:
        cosignatures: Cosignatures | None = getattr(self._local, "cosignatures", None)
        if cosignatures is None:
            cosignatures = Cosignatures(self.log(), self.witnesses)
            self._local.cosignatures = cosignatures
        return cosignatures

    def coordinator(self) -> Coordinator:
        coordinator: Coordinator | None = getattr(self._local, "coordinator", None)
        if coordinator is None:
            coordinator = Coordinator(self.log(), self.blobs, self.settings.key,
                                      price=self.settings.price,
                                      gold_rate=self.settings.gold_rate,
                                      policy=self.settings.reputation)
            self._local.coordinator = coordinator
        return coordinator

    def verifier(self) -> RequestVerifier:
        verifier: RequestVerifier | None = getattr(self._local, "verifier", None)
        if verifier is None:
            verifier = RequestVerifier(SqliteNonceStore(self.log().db))
            self._local.verifier = verifier
        return verifier


def json_item(entry: str) -> str | None:
    """The review item a verdict entry names, if it can be read."""
    try:
        value = json.loads(entry)
        return str(value["body"]["item"])
    except (ValueError, KeyError, TypeError):
        return None


def _whole(data: dict[str, Any], name: str, default: int | None) -> int | None:
    value = data.get(name, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(f"{name!r} must be a whole number, not {value!r}")
    return value


def _time(data: dict[str, Any], name: str) -> float | None:
    """An optional point in time: Unix seconds, a finite number, or absent / null."""
    value = data.get(name)
    if value is None:
        return None
    if (not isinstance(value, int | float) or isinstance(value, bool)
            or not math.isfinite(value)):
        raise InputError(f"{name!r} must be a time in Unix seconds (a number), not {value!r}")
    return float(value)


def _query_whole(request: Request, name: str, default: int | None) -> int | None:
    """A whole-number query parameter (0 or more), or ``default`` when absent."""
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or len(text) > 18:
        raise InputError(f"query parameter {name!r} must be a whole number, not {text!r}")
    return int(text)


def create_app(settings: ServerSettings) -> FastAPI:
    state = _State(settings)
    app = FastAPI(title="aiwork coordinator", version="1",
                  description="Video metadata network: identities, media, ledger.")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # A route or a path nobody serves: the same {error, message} shape as every refusal.
        reason = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http")
        return JSONResponse({"error": reason, "message": str(exc.detail)},
                            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # A path or query parameter of the wrong type (/v1/ledger/entries/abc) is a 400 with
        # the parameter named, like any other bad input.
        problems = "; ".join(f"{'.'.join(str(p) for p in error.get('loc', ()))}: "
                             f"{error.get('msg', 'invalid')}" for error in exc.errors()[:5])
        return JSONResponse({"error": "bad-request", "message": problems or "invalid request"},
                            status_code=400)

    @app.exception_handler(AiworkError)
    async def _refused(_: Request, exc: AiworkError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        # Anything else is a fault of the coordinator, not of the request: the caller gets a
        # JSON reason, never a bare 500, and the server still logs the traceback (Starlette
        # re-raises the exception to the server after this answer).
        return JSONResponse({"error": "internal",
                             "message": f"the coordinator failed on this request "
                                        f"({type(exc).__name__}); its log has the details"},
                            status_code=500)

    def require(did: str, roles: tuple[str, ...]) -> None:
        state.identities().require(did, *roles)

    # Every signed route reads its request through the guard: headers, role and declared
    # length are checked before the body is read (see aiwork.api.guard).
    guard = RequestGuard(state.verifier, require)
    json_limit = settings.max_json_bytes

    async def signed_json(request: Request, *roles: str,
                          allowed: Callable[[str], None] | None = None
                          ) -> tuple[str, dict[str, Any]]:
        return await guard.json(request, *roles, limit=json_limit, allowed=allowed)

    async def caller(request: Request, *roles: str,
                     allowed: Callable[[str], None] | None = None) -> str:
        """The signed caller of a request whose body (if any) is not used: at most
        :data:`MAX_UNUSED_BYTES`."""
        return (await guard.body(request, *roles, limit=MAX_UNUSED_BYTES, allowed=allowed)).did

    def owner_of(library_id: str) -> Callable[[str], None]:
        """Lets through only the owner of ``library_id`` (404 when there is no such library):
        checked from the headers, before the body is read."""
        def check(did: str) -> None:
            state.coordinator().libraries.owned(library_id, did)
        return check

    # -- identities -----------------------------------------------------------------------

    @app.post("/v1/identities", summary="Ask for a role for the signing identity")
    async def register(request: Request) -> dict[str, Any]:
        did, data = await guard.json(request, limit=MAX_REGISTRATION_BYTES)
        role = str(data.get("role", ""))
        with state.lock:
            before = state.identities().status(did).get(role)
            status = state.identities().request(did, role,
                                                open_registration=settings.open_registration)
            if before != "granted":
                welcome(did, role, status)
        return {"did": did, "role": role, "status": status}

    def welcome(did: str, role: str, status: str) -> None:
        if role == "requester" and status == "granted" and settings.starting_credits > 0:
            state.coordinator().grant_credits(did, settings.starting_credits,
                                              "starting credits for a new requester")

    @app.post("/v1/admin/approve", summary="Grant a role (admin only)")
    async def approve(request: Request) -> dict[str, Any]:
        admin, data = await signed_json(request, "admin")
        did, role = str(data.get("did", "")), str(data.get("role", ""))
        with state.lock:
            before = state.identities().status(did).get(role)
            state.identities().approve(admin, did, role)
            if before != "granted":
                welcome(did, role, "granted")
        return {"did": did, "role": role, "status": "granted"}

    @app.post("/v1/admin/credits", summary="Grant credits to an account (admin only)")
    async def grant(request: Request) -> dict[str, Any]:
        admin, data = await signed_json(request, "admin")
        amount = _whole(data, "amount", None)
        if amount is None:
            raise InputError("'amount' is missing: how many credits to grant")
        reason = str(data.get("reason") or f"granted by {admin}")
        with state.lock:
            index = state.coordinator().grant_credits(str(data.get("to", "")), amount, reason)
            account = state.coordinator().accounts.account(str(data.get("to", "")))
        return {"entry": index, **account.to_json()}

    @app.get("/v1/credits/{did}", summary="An account's balance, held and available credits")
    async def credits(did: str) -> dict[str, Any]:
        return state.coordinator().accounts.account(did).to_json()

    @app.get("/v1/identities/{did}", summary="Roles of an identity")
    async def identity(did: str) -> dict[str, Any]:
        return {"did": did, "roles": state.identities().status(did)}

    # -- media ----------------------------------------------------------------------------

    @app.put("/v1/blobs/{digest}", summary="Upload media by its sha256 (requester or worker)")
    async def upload(digest: str, request: Request) -> dict[str, Any]:
        state.blobs.path(digest)  # the digest's form, before anything else
        # Streamed to a temporary file beside the blobs while hashed; renamed into place only
        # once the signature over the whole body verified and the bytes hash to the digest.
        with state.blobs.incoming() as incoming:
            did = await guard.stream(request, incoming.write, "requester", "worker", "admin",
                                     limit=settings.max_upload_bytes)
            declare_upload(request, digest, did)  # restricted before it is in place
            stored = incoming.commit(digest)
        return {"digest": stored, "size": incoming.size}

    def declare_upload(request: Request, digest: str, did: str) -> None:
        """``?library=ID`` on an upload: the blob belongs to that library before it is
        stored, so a sensitive library's media is never public, even before a job names it
        (its owner's upload, or a worker's holding a live lease on one of its tasks)."""
        library = request.query_params.get("library")
        if library is None:
            return
        with state.lock:
            coordinator = state.coordinator()
            leasing = ("worker" in state.identities().roles(did)
                       and coordinator.libraries.worker_leasing(did, library, time.time()))
            with coordinator.log.db.atomic():
                coordinator.libraries.declare_upload(digest, library, did, leasing=leasing)

    @app.get("/v1/blobs/{digest}", summary="Download media by digest (signed for media of a "
             "sensitive library)")
    async def download(digest: str, request: Request) -> Response:
        # A sensitive library's media and keyframes go only to those who may read it and to
        # workers leasing a task over it; to anyone else the answer is the one for a blob
        # that does not exist, so nobody learns what media a sensitive library holds.
        absent = HTTPException(404, f"no blob {digest} (a sensitive library's media is served "
                                    "only to a signed request by one who may read it)")
        signed = any(h.lower().startswith("aiwork-") for h in request.headers)
        did = await caller(request) if signed else None  # a bad signature is 401 for any blob
        if not state.blobs.has(digest):
            raise absent
        coordinator = state.coordinator()
        libraries = coordinator.libraries.holding(digest)
        if any(library.sensitive for library in libraries):
            if did is None:
                raise absent
            roles = state.identities().roles(did)
            if not (any(library.may_read(did, roles) for library in libraries)
                    or coordinator.market.leases_asset(did, digest, time.time())):
                raise absent
        # Streamed from disk, with HTTP Range requests (a video player seeks).
        return FileResponse(state.blobs.path(digest), media_type="application/octet-stream")

    # -- jobs -------------------------------------------------------------------------------

    @app.post("/v1/jobs", summary="Submit a job over uploaded media (requester)")
    async def submit_job(request: Request) -> dict[str, Any]:
        did, data = await signed_json(request, "requester")
        analyzers = data.get("analyzers")
        if not isinstance(analyzers, list) or not all(isinstance(a, str) for a in analyzers):
            raise InputError("'analyzers' must be a list of analyzer names")
        library = data.get("library")
        if library is not None and not isinstance(library, str):
            raise InputError("'library' must be a library id")
        with state.lock:
            job = state.coordinator().submit_job(
                did, str(data.get("asset", "")), analyzers,
                redundancy=_whole(data, "redundancy", 1) or 0, budget=_whole(data, "budget", None),
                deadline=_time(data, "deadline"), now=time.time(), library=library)
        return state.coordinator().progress(job.id)

    @app.get("/v1/jobs", summary="List jobs and their progress (a sensitive library's only "
             "to a signed request by one who may read it)")
    async def list_jobs(request: Request, requester: str | None = None) -> list[dict[str, Any]]:
        coordinator = state.coordinator()
        did = await optional_caller(request)
        roles = state.identities().roles(did) if did else set()
        out = []
        for job in coordinator.market.jobs(requester):
            library = coordinator.libraries.sensitive_library_of(job.id)
            if library is not None and not (did and library.may_read(did, roles)):
                continue  # nothing of a sensitive library for those who may not read it
            out.append(coordinator.progress(job.id))
        return out

    @app.get("/v1/jobs/{job_id}", summary="A job's progress (signed by one who may read it, "
             "for a sensitive library's job)")
    async def job_progress(job_id: str, request: Request) -> dict[str, Any]:
        # A gold job answers as any other (a worker must not tell it from a real one).
        await library_reader(request, job_id)
        return state.coordinator().progress(job_id)

    async def optional_caller(request: Request) -> str | None:
        """The signer of a request that carries aiwork's signed headers, else None."""
        if not any(h.lower().startswith("aiwork-") for h in request.headers):
            return None
        return await caller(request)

    async def library_reader(request: Request, job_id: str) -> str | None:
        """For a sensitive library's job: the signed caller, if they may read it (else 401
        or 403); None for any other job."""
        libraries = state.coordinator().libraries
        library = libraries.sensitive_library_of(job_id)
        if library is None:
            return None
        try:
            did = await caller(request)
        except UnsignedRequestError as exc:
            raise UnsignedRequestError(
                f"job {job_id} is in a sensitive library: only a signed request by one who "
                f"may read it sees it; {exc}") from exc
        if not library.may_read(did, state.identities().roles(did)):
            raise RoleError(f"{did} may not read the sensitive library {library.id}",
                            hint="its owner adds readers with POST /v1/libraries/ID/readers")
        return did

    async def sensitive_reader(request: Request, job_id: str) -> tuple[str, str] | None:
        """For a job in a sensitive library: the signed, allowed reader and its stated purpose
        (else 401, 403 or 400); ``None`` for any other job, whose reads stay public."""
        libraries = state.coordinator().libraries
        library = libraries.library_of(job_id)
        if library is None or not library.sensitive:
            return None
        did = await signed_reader(request, f"job {job_id} is in a sensitive library")
        purpose = libraries.check_read(library, did, state.identities().roles(did),
                                       request.query_params.get(PURPOSE_PARAMETER))
        return did, purpose

    async def signed_reader(request: Request, why: str) -> str:
        try:
            return await caller(request)
        except UnsignedRequestError as exc:
            raise UnsignedRequestError(
                f"{why}: reads are signed requests that state a purpose "
                f"(?{PURPOSE_PARAMETER}=...); {exc}") from exc

    def log_read(job_id: str, read: tuple[str, str] | None, resource: str) -> dict[str, str]:
        """Append the read's access.read entry before its data goes out; the entry's index
        goes back in a header."""
        if read is None:
            return {}
        with state.lock:
            index = state.coordinator().libraries.record_read(job_id, read[0], resource, read[1])
        return {} if index is None else {ACCESS_ENTRY_HEADER: str(index)}

    @app.get("/v1/jobs/{job_id}/results", summary="Accepted results by insight (signed, with "
             "?purpose=..., for a job in a sensitive library: each read is logged first)")
    async def job_results(job_id: str, request: Request, response: Response) -> dict[str, Any]:
        coordinator = state.coordinator()
        read = await sensitive_reader(request, job_id)
        data = {"job": coordinator.progress(job_id), "results": coordinator.results(job_id)}
        if read is not None:
            # What the public log holds as commitments, opened for this reader.
            data["openings"] = coordinator.openings(job_id)
        response.headers.update(log_read(job_id, read, "results"))
        return data

    @app.get("/v1/jobs/{job_id}/audit",
             summary="A finished job's audit bundle, for `aiwork-verify` (`?insight=NAME` for "
                     "one insight; signed, with ?purpose=..., for a job in a sensitive "
                     "library: each read is logged first)")
    async def job_audit(job_id: str, request: Request,
                        insight: str | None = None) -> JSONResponse:
        from aiwork.anchor.service import anchor_receipts
        from aiwork.audit.bundle import build_bundle, job_subject

        coordinator = state.coordinator()
        coordinator.market.job(job_id)
        read = await sensitive_reader(request, job_id)
        with state.lock:
            log = state.log()
            bundle = build_bundle(log, job_subject(log, job_id, insight),
                                  anchors=anchor_receipts)
        return JSONResponse(bundle, headers=log_read(job_id, read, "audit"))

    @app.get("/v1/jobs/{job_id}/export/{name}",
             summary="A job's results in a published format (metadata.json, metadata.jsonld, "
                     "captions.vtt, captions.srt, captions.ttml, chapters.vtt)")
    async def job_export(job_id: str, name: str, request: Request,
                         title: str | None = None) -> Response:
        if name not in EXPORTS:
            raise HTTPException(404, f"no export {name!r}; one of: {', '.join(EXPORTS)}")
        coordinator = state.coordinator()
        read = await sensitive_reader(request, job_id)
        metadata = coordinator.metadata(job_id, title)
        # URLs under the coordinator's configured public URL, never under the request's Host.
        blobs = f"{settings.public_url or ''}/v1/blobs/"
        keyframes = {s.keyframe.digest: blobs + s.keyframe.digest
                     for s in metadata.shots if s.keyframe is not None}
        text = export_files(metadata, caption_formats=("vtt", "srt", "ttml"),
                            content_url=blobs + metadata.asset.digest,
                            keyframe_url=keyframes)[name]
        return Response(text, media_type=EXPORTS[name],
                        headers=log_read(job_id, read, f"export/{name}"))

    # -- libraries --------------------------------------------------------------------------

    def library_json(library: Library) -> dict[str, Any]:
        return {**library.to_json(), "jobs": state.coordinator().libraries.jobs(library.id)}

    @app.post("/v1/libraries", summary="Create a library: {name, sensitive} (requester)")
    async def create_library(request: Request) -> dict[str, Any]:
        did, data = await signed_json(request, "requester")
        name, sensitive = data.get("name"), data.get("sensitive", False)
        if not isinstance(name, str) or not isinstance(sensitive, bool):
            raise InputError("give 'name' (text) and 'sensitive' (true or false)")
        with state.lock:
            return library_json(state.coordinator().libraries.create(did, name,
                                                                     sensitive=sensitive))

    @app.get("/v1/libraries/{library_id}",
             summary="A library and its jobs (signed by a reader, if it is sensitive)")
    async def get_library(library_id: str, request: Request) -> dict[str, Any]:
        library = state.coordinator().libraries.get(library_id)
        if library.sensitive:
            did = await signed_reader(request, f"library {library_id} is sensitive")
            if not library.may_read(did, state.identities().roles(did)):
                raise RoleError(f"{did} may not read the sensitive library {library_id}")
        return library_json(library)

    @app.patch("/v1/libraries/{library_id}",
               summary="Make a library sensitive or not: {sensitive} (its owner)")
    async def update_library(library_id: str, request: Request) -> dict[str, Any]:
        did, data = await signed_json(request, allowed=owner_of(library_id))
        sensitive = data.get("sensitive")
        if not isinstance(sensitive, bool):
            raise InputError("'sensitive' must be true or false")
        with state.lock:
            return library_json(state.coordinator().libraries.set_sensitive(library_id, did,
                                                                            sensitive))

    @app.post("/v1/libraries/{library_id}/readers",
              summary="Let an identity read a sensitive library: {did} (its owner)")
    async def add_reader(library_id: str, request: Request) -> dict[str, Any]:
        did, data = await signed_json(request, allowed=owner_of(library_id))
        reader = data.get("did")
        if not isinstance(reader, str):
            raise InputError("'did' must be the reader's did:key")
        with state.lock:
            return library_json(state.coordinator().libraries.add_reader(library_id, did,
                                                                         reader))

    @app.get("/v1/libraries/{library_id}/access",
             summary="Who read what of a library, with inclusion proofs to a signed "
                     "checkpoint (signed by its owner, an auditor or an admin); paged by "
                     "`from` (a read's seq), `limit` and `size` (the first page's checkpoint)")
    async def library_access(library_id: str, request: Request) -> dict[str, Any]:
        libraries = state.coordinator().libraries

        def manager(who: str) -> None:
            libraries.check_manage(library_id, who, state.identities().roles(who))
        did = await caller(request, allowed=manager)
        start = _query_whole(request, "from", 0) or 0
        limit = _query_whole(request, "limit", ACCESS_PAGE) or 0
        size = _query_whole(request, "size", None)
        with state.lock:
            return libraries.access_listing(library_id, start=start, limit=limit, size=size)

    # -- workers ----------------------------------------------------------------------------

    # -- human review -----------------------------------------------------------------------

    @app.post("/v1/review/next", summary="Take the next review item (expert)")
    async def review_next(request: Request) -> Response:
        did = await caller(request, "expert")
        with state.lock:
            review = state.coordinator().review
            item = review.next_item(did)
            if item is None:  # 204 says "none"; the header says why
                return Response(status_code=204,
                                headers={"aiwork-reason": review.empty_reason(did)})
        return JSONResponse(item)

    @app.get("/v1/review/items/{item_id}", summary="A review item assigned to you (expert)")
    async def review_item(item_id: str, request: Request) -> dict[str, Any]:
        did = await caller(request, "expert")
        with state.lock:
            return state.coordinator().review.serve(item_id, did)

    @app.post("/v1/review/items/{item_id}/verdict",
              summary="Submit a signed human.verdict on an item assigned to you (expert)")
    async def review_verdict(item_id: str, request: Request) -> dict[str, Any]:
        did, data = await signed_json(request, "expert")
        entry = data.get("entry")
        if not isinstance(entry, str):
            raise InputError("'entry' must be the signed human.verdict entry, as a string")
        with state.lock:
            review = state.coordinator().review
            if json_item(entry) != item_id:
                raise ReviewRefused("the verdict is about another item than the URL names")
            index = review.submit(did, entry.encode(), data.get("openings"))
        return {"verdict": index}

    @app.post("/v1/identities/owned", summary="Declare worker keys you control (expert)")
    async def declare_owned(request: Request) -> dict[str, Any]:
        did, data = await signed_json(request, "expert")
        keys = data.get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise InputError("'keys' must be a list of the worker dids you control")
        for key in keys:
            public_key_from_did(key)
        with state.lock:
            for key in keys:
                # Only the caller can say what it owns: a worker cannot name an expert as its
                # owner to keep that expert away from its items.
                state.coordinator().review.set_owner(key, did)
        return {"did": did, "owns": keys}

    @app.get("/v1/experts/{did}", summary="An expert's reputation per insight and credits")
    async def expert(did: str) -> dict[str, Any]:
        coordinator = state.coordinator()
        return {"did": did,
                "reputation": {k: v.to_json()
                               for k, v in coordinator.review.reputation(did).items()},
                "credits": coordinator.accounts.account(did).to_json()}

    @app.get("/v1/jobs/{job_id}/review", summary="Review progress and human-verified items")
    async def job_review(job_id: str, request: Request) -> dict[str, Any]:
        coordinator = state.coordinator()
        coordinator.market.job(job_id)
        await library_reader(request, job_id)
        return coordinator.review.progress(job_id)

    @app.get("/v1/review/rules", summary="Routing rules per insight")
    async def review_rules() -> dict[str, Any]:
        return state.coordinator().review.all_rules()

    @app.put("/v1/review/rules/{insight}", summary="Change an insight's routing rules (admin)")
    async def set_review_rules(insight: str, request: Request) -> dict[str, Any]:
        _, data = await signed_json(request, "admin")
        with state.lock:
            return state.coordinator().review.set_rules(insight, data).model_dump()

    @app.post("/v1/workers/capabilities",
              summary="Advertise the analyzers, models and weight digests a worker runs; "
                      "with `leases`, the leases it still holds (its others are released)")
    async def advertise(request: Request) -> dict[str, Any]:
        did, data = await signed_json(request, "worker")
        with state.lock:
            return state.coordinator().advertise(did, data.get("analyzers"),
                                                 data.get("leases"), time.time())

    @app.get("/v1/workers", summary="Workers: what they run, and their reputation")
    async def workers() -> list[dict[str, Any]]:
        return state.coordinator().workers()

    @app.post("/v1/tasks/lease", summary="Lease a task replica (worker)")
    async def lease_task(request: Request) -> Response:
        did, data = await signed_json(request, "worker")
        capabilities = data.get("capabilities", [])
        if not isinstance(capabilities, list):
            raise InputError("'capabilities' must be a list of analyzer names")
        with state.lock:
            lease = state.coordinator().lease(did, {str(c) for c in capabilities}, time.time(),
                                              settings.lease_seconds)
            # The accepted results the leased analyzer reads: it computes from these and
            # names their decisions (input.derived_from).
            upstream = state.coordinator().upstream(lease) if lease is not None else []
        if lease is None:
            return Response(status_code=204)
        library = state.coordinator().libraries.library_of(lease.job_id)
        # A sensitive task's decision is sealed by the worker, and its files are uploaded
        # with ?library=ID.
        return JSONResponse({"lease": lease.id, "job": lease.job_id, "task": lease.task_id,
                             "replica": lease.replica, "analyzer": lease.analyzer,
                             "asset": lease.asset, "expires": lease.expires,
                             "upstream": upstream,
                             "library": None if library is None else library.id,
                             "sensitive": library is not None and library.sensitive})

    @app.post("/v1/leases/{lease_id}/heartbeat", summary="Extend a live lease (worker)")
    async def heartbeat(lease_id: str, request: Request) -> dict[str, Any]:
        did = await caller(request, "worker")
        with state.lock:
            lease = state.coordinator().market.heartbeat(lease_id, did, time.time(),
                                                         settings.lease_seconds)
        return {"lease": lease.id, "expires": lease.expires}

    @app.post("/v1/leases/{lease_id}/result", summary="Submit a signed result (worker)")
    async def submit_result(lease_id: str, request: Request) -> dict[str, Any]:
        did, data = await guard.json(request, "worker",
                                     limit=max(json_limit, MAX_RESULT_BYTES))
        entry = data.get("entry")
        if not isinstance(entry, str):
            raise InputError("'entry' must be the signed ai.decision entry, as a string")
        with state.lock:
            index = state.coordinator().accept_result(lease_id, did, entry.encode(),
                                                      data.get("output"), time.time(),
                                                      data.get("openings"))
        return {"decision": index}

    # -- the public log -------------------------------------------------------------------

    @app.get("/v1/ledger/checkpoint", response_class=PlainTextResponse,
             summary="The latest signed checkpoint (C2SP signed note) with its witnesses' "
                     "cosignatures, or the stored one of tree size `size`")
    async def checkpoint(size: int | None = None) -> str:
        with state.lock:
            return state.cosignatures().checkpoint(size)

    @app.post("/v1/ledger/cosignatures",
              summary="Add a configured witness's cosignature of a checkpoint this log signed "
                      "(self-authenticating: no request signature)")
    async def add_cosignature(request: Request) -> dict[str, Any]:
        body, _ = await read_bounded(request, MAX_COSIGNATURE_BYTES, what="cosignature request")
        data = json_object(body)
        size, line = _whole(data, "size", None), data.get("cosignature")
        note = data.get("checkpoint")
        if size is None or not isinstance(line, str) or not isinstance(note, str | None):
            raise InputError("give 'size' (a whole number), 'cosignature' (the signature line) "
                             "and optionally 'checkpoint' (the note), as strings")
        with state.lock:
            cosignature = state.cosignatures().add(size, line, note, now=time.time())
        return {"size": size, "witness": cosignature.name, "timestamp": cosignature.timestamp}

    @app.get("/v1/ledger/key", response_class=PlainTextResponse, summary="The log's verifier key")
    async def verifier_key() -> str:
        return state.log().verifier_key.to_text() + "\n"

    @app.get("/v1/ledger/entries/{index}", summary="An entry's bytes exactly as hashed")
    async def entry(index: int) -> Response:
        return Response(state.log().get(index), media_type="application/json")

    @app.get("/v1/ledger/proof/inclusion", summary="Inclusion proof")
    async def inclusion(index: int, size: int | None = None) -> dict[str, Any]:
        return state.log().inclusion_proof(index, size).to_json()

    @app.get("/v1/ledger/proof/consistency", summary="Consistency proof")
    async def consistency(first: int, second: int | None = None) -> dict[str, Any]:
        return state.log().consistency_proof(first, second).to_json()

    return app
