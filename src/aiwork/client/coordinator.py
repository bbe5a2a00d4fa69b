"""A typed client of the coordinator's API: one method per operation.

:data:`OPERATIONS` names every operation of the API (its OpenAPI ``operationId``, which is
also the name of its method here), its HTTP method and its path; :func:`operation_path` is the
one place a path is built (every part percent-encoded). A test checks the table against the
app's OpenAPI document, so a route and its method cannot drift apart. The transport (signing,
bounded reads) is :class:`aiwork.client.transport.Transport`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from aiwork.canonical import parse_json
from aiwork.client.transport import MAX_KEYFRAME_BYTES, MAX_REPLY_BYTES, Transport
from aiwork.errors import ConfigError, IntegrityError

__all__ = ["MAX_KEYFRAME_BYTES", "MAX_REPLY_BYTES", "OPERATIONS", "CoordinatorClient",
           "NoWork", "operation_path"]

#: Every operation: name (operationId and method name) -> (HTTP method, path template).
OPERATIONS: dict[str, tuple[str, str]] = {
    # identities and accounts
    "request_role": ("POST", "/v1/identities"),
    "get_identity": ("GET", "/v1/identities/{did}"),
    "declare_owned_keys": ("POST", "/v1/identities/owned"),
    "approve_role": ("POST", "/v1/admin/approve"),
    "grant_credits": ("POST", "/v1/admin/credits"),
    "get_credits": ("GET", "/v1/credits/{did}"),
    # media
    "upload_blob": ("PUT", "/v1/blobs/{digest}"),
    "get_blob": ("GET", "/v1/blobs/{digest}"),
    # jobs
    "submit_job": ("POST", "/v1/jobs"),
    "list_jobs": ("GET", "/v1/jobs"),
    "get_job": ("GET", "/v1/jobs/{job_id}"),
    "get_job_results": ("GET", "/v1/jobs/{job_id}/results"),
    "get_job_audit": ("GET", "/v1/jobs/{job_id}/audit"),
    "get_job_export": ("GET", "/v1/jobs/{job_id}/export/{name}"),
    "get_job_review": ("GET", "/v1/jobs/{job_id}/review"),
    # libraries
    "create_library": ("POST", "/v1/libraries"),
    "get_library": ("GET", "/v1/libraries/{library_id}"),
    "update_library": ("PATCH", "/v1/libraries/{library_id}"),
    "add_library_reader": ("POST", "/v1/libraries/{library_id}/readers"),
    "get_library_access": ("GET", "/v1/libraries/{library_id}/access"),
    # human review
    "next_review_item": ("POST", "/v1/review/next"),
    "get_review_item": ("GET", "/v1/review/items/{item_id}"),
    "submit_verdict": ("POST", "/v1/review/items/{item_id}/verdict"),
    "get_expert": ("GET", "/v1/experts/{did}"),
    "get_review_rules": ("GET", "/v1/review/rules"),
    "set_review_rules": ("PUT", "/v1/review/rules/{insight}"),
    # workers
    "advertise_capabilities": ("POST", "/v1/workers/capabilities"),
    "list_workers": ("GET", "/v1/workers"),
    "lease_task": ("POST", "/v1/tasks/lease"),
    "heartbeat": ("POST", "/v1/leases/{lease_id}/heartbeat"),
    "submit_result": ("POST", "/v1/leases/{lease_id}/result"),
    # the public log
    "get_checkpoint": ("GET", "/v1/ledger/checkpoint"),
    "add_cosignature": ("POST", "/v1/ledger/cosignatures"),
    "get_verifier_key": ("GET", "/v1/ledger/key"),
    "get_entry": ("GET", "/v1/ledger/entries/{index}"),
    "get_inclusion_proof": ("GET", "/v1/ledger/proof/inclusion"),
    "get_consistency_proof": ("GET", "/v1/ledger/proof/consistency"),
}

Query = Mapping[str, str | int | float | None]


def operation_path(name: str, query: Query | None = None, /, **params: str | int) -> str:
    """The path of operation ``name`` with its ``params`` and ``query`` (``None`` values
    left out), each percent-encoded: an id can never reach another route."""
    template = OPERATIONS[name][1]
    path = template.format_map({k: quote(str(v), safe="") for k, v in params.items()})
    pairs = [f"{k}={quote(str(v), safe='')}" for k, v in (query or {}).items() if v is not None]
    return path + ("?" + "&".join(pairs) if pairs else "")


class Route(NamedTuple):
    """One request of an operation: its HTTP method and path."""

    method: str
    path: str


def route(name: str, query: Query | None = None, /, **params: str | int) -> Route:
    """Operation ``name``'s method and path (see :func:`operation_path`)."""
    return Route(OPERATIONS[name][0], operation_path(name, query, **params))


@dataclass(frozen=True)
class NoWork:
    """The coordinator has nothing to hand out now (204), and why when it says."""

    reason: str


class CoordinatorClient(Transport):
    """The coordinator's API as methods; each builds its path with :func:`operation_path`.

    A refusal is a :class:`~aiwork.errors.CoordinatorError` (with the status), an answer not
    of the operation's shape an :class:`~aiwork.errors.IntegrityError`.

    Reads of a sensitive library's job are signed (``signed=True``) and state a ``purpose``,
    which the coordinator logs with the read."""

    def _call(self, to: Route, body: Any = None, *, signed: bool = True,
              limit: int | None = None) -> bytes:
        if signed and self.key is None:
            raise ConfigError("this request must be signed: give --key KEYFILE")
        data = b"" if body is None else json.dumps(body).encode()
        return self.exchange(to.method, to.path, data, signed=signed, limit=limit).body

    def _json(self, to: Route, body: Any = None, *, signed: bool = True) -> Any:
        data = self._call(to, body, signed=signed)
        return parse_json(data, what=f"the coordinator's answer to {to.method} {to.path}")

    def _object(self, to: Route, body: Any = None, *, signed: bool = True,
                what: str = "a JSON object") -> dict[str, Any]:
        value = self._json(to, body, signed=signed)
        if not isinstance(value, dict):
            raise IntegrityError(f"the coordinator answered {to.method} {to.path} with "
                                 f"something that is not {what}")
        return value

    def _list(self, to: Route, *, signed: bool, what: str) -> list[dict[str, Any]]:
        value = self._json(to, signed=signed)
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise IntegrityError(f"the coordinator answered {to.method} {to.path} with "
                                 f"something that is not {what}")
        return value

    def _text(self, to: Route) -> str:
        return self._call(to, signed=False).decode("utf-8", errors="replace")

    def _offer(self, to: Route, body: Any, limit: int | None = None) -> dict[str, Any] | NoWork:
        if self.key is None:
            raise ConfigError("this request must be signed: give --key KEYFILE")
        reply = self.exchange(to.method, to.path, json.dumps(body).encode(), limit=limit)
        if reply.status == 204:
            return NoWork(reply.headers.get("aiwork-reason", ""))
        offer = parse_json(reply.body, what=f"the coordinator's answer to {to.method} {to.path}")
        if not isinstance(offer, dict):
            raise IntegrityError(f"the coordinator answered {to.method} {to.path} with "
                                 "something that is not a JSON object")
        return offer

    # -- identities and accounts ----------------------------------------------------------

    def request_role(self, role: str) -> dict[str, Any]:
        """Ask for ``role`` for this key; ``status`` says granted or pending."""
        return self._object(route("request_role"), {"role": role})

    def get_identity(self, did: str) -> dict[str, Any]:
        """An identity's roles and their status."""
        return self._object(route("get_identity", did=did), signed=False)

    def declare_owned_keys(self, keys: list[str]) -> dict[str, Any]:
        """Declare the worker keys this expert controls (never given their items)."""
        return self._object(route("declare_owned_keys"), {"keys": keys})

    def approve_role(self, did: str, role: str) -> dict[str, Any]:
        """Grant ``role`` to ``did`` (an admin's key)."""
        return self._object(route("approve_role"), {"did": did, "role": role})

    def grant_credits(self, did: str, amount: int, reason: str | None = None
                      ) -> dict[str, Any]:
        """Grant ``amount`` credits to ``did`` (an admin's key); the account after it."""
        return self._object(route("grant_credits"),
                            {"to": did, "amount": amount, "reason": reason})

    def get_credits(self, did: str) -> dict[str, Any]:
        """An account's balance, held and available credits."""
        return self._object(route("get_credits", did=did), signed=False)

    # -- media ----------------------------------------------------------------------------

    def upload_blob(self, data: bytes, digest: str | None = None, *,
                    library: str | None = None) -> str:
        """Store ``data`` on the coordinator; return its digest. A ``digest`` given is sent as
        it is, for the coordinator to check. With ``library`` the blob belongs to that
        library from its upload on (under the request signature): a sensitive library's
        media is never public."""
        digest = digest or "sha256:" + hashlib.sha256(data).hexdigest()
        to = route("upload_blob", {"library": library}, digest=digest)
        self.request(to.method, to.path, data, content_type="application/octet-stream")
        return digest

    def upload_stream(self, chunks: Iterable[bytes], digest: str, size: int, *,
                      library: str | None = None) -> str:
        """:meth:`upload_blob` of ``size`` bytes given in pieces, whose sha256 is ``digest``
        (computed beforehand: the signature covers it); never all held in memory."""
        to = route("upload_blob", {"library": library}, digest=digest)
        self.put_stream(to.path, chunks, digest, size)
        return digest

    def upload_file(self, path: Path, *, library: str | None = None) -> str:
        """:meth:`upload_blob` of the file at ``path`` (hashed, then streamed)."""
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)

        def pieces() -> Iterator[bytes]:
            with path.open("rb") as handle:
                while block := handle.read(1 << 20):
                    yield block

        return self.upload_stream(pieces(), "sha256:" + digest.hexdigest(),
                                  path.stat().st_size, library=library)

    def get_blob(self, digest: str, *, signed: bool = False, limit: int | None = None
                 ) -> bytes:
        """The blob ``digest``, at most ``limit`` bytes (a keyframe, a small file)."""
        return self._call(route("get_blob", digest=digest), signed=signed, limit=limit)

    def download(self, digest: str, target: Path) -> Path:
        """:meth:`get_blob` streamed into ``target`` (signed when a key is held) and hashed
        as it comes; the file appears only if its bytes are ``digest``."""
        return self.stream_to(route("get_blob", digest=digest).path, target, digest)

    # -- jobs -----------------------------------------------------------------------------

    def submit_job(self, asset: str, analyzers: list[str], *, redundancy: int = 1,
                   budget: int | None = None, library: str | None = None,
                   deadline: float | None = None) -> dict[str, Any]:
        """Submit a job over the uploaded ``asset``; the job (its ``id``)."""
        body: dict[str, Any] = {"asset": asset, "analyzers": analyzers,
                                "redundancy": redundancy, "budget": budget, "library": library}
        if deadline is not None:
            body["deadline"] = deadline
        return self._object(route("submit_job"), body)

    def list_jobs(self, requester: str | None = None, *, signed: bool = False
                  ) -> list[dict[str, Any]]:
        """Jobs and their progress (signed: with the sensitive libraries' one may read)."""
        return self._list(route("list_jobs", {"requester": requester}), signed=signed,
                          what="a list of jobs")

    def get_job(self, job_id: str, *, signed: bool = False, purpose: str | None = None
                ) -> dict[str, Any]:
        """A job's progress: ``state`` and ``replicas`` counted by state."""
        to = route("get_job", _purpose(signed, purpose), job_id=job_id)
        return self._object(to, signed=signed, what="a job's progress")

    def get_job_results(self, job_id: str, *, signed: bool = False,
                        purpose: str | None = None) -> dict[str, Any]:
        """Accepted results by insight (a sensitive library's: signed, with a purpose)."""
        to = route("get_job_results", _purpose(signed, purpose), job_id=job_id)
        return self._object(to, signed=signed, what="a job's results")

    def get_job_audit(self, job_id: str, insight: str | None = None, *, signed: bool = False,
                      purpose: str | None = None) -> dict[str, Any]:
        """A finished job's audit bundle (one insight's, with ``insight``)."""
        to = route("get_job_audit", {"insight": insight, **_purpose(signed, purpose)},
                   job_id=job_id)
        return self._object(to, signed=signed, what="an audit bundle")

    def get_job_export(self, job_id: str, name: str, *, title: str | None = None,
                       signed: bool = False, purpose: str | None = None) -> bytes:
        """A job's results in a published format (``metadata.json``, ``captions.vtt``...)."""
        to = route("get_job_export", {"title": title, **_purpose(signed, purpose)},
                   job_id=job_id, name=name)
        return self._call(to, signed=signed)

    def get_job_review(self, job_id: str, *, signed: bool = False) -> dict[str, Any]:
        """A job's review progress and its human-verified items."""
        return self._object(route("get_job_review", job_id=job_id), signed=signed,
                            what="a job's review progress")

    # -- libraries ------------------------------------------------------------------------

    def create_library(self, name: str, *, sensitive: bool = False) -> dict[str, Any]:
        """Create a library owned by this key."""
        return self._object(route("create_library"), {"name": name, "sensitive": sensitive})

    def get_library(self, library_id: str, *, signed: bool = False) -> dict[str, Any]:
        """A library, its readers and its jobs."""
        return self._object(route("get_library", library_id=library_id), signed=signed)

    def update_library(self, library_id: str, *, sensitive: bool) -> dict[str, Any]:
        """Make this key's library sensitive or not."""
        return self._object(route("update_library", library_id=library_id),
                            {"sensitive": sensitive})

    def add_library_reader(self, library_id: str, did: str) -> dict[str, Any]:
        """Let ``did`` read this key's sensitive library."""
        return self._object(route("add_library_reader", library_id=library_id), {"did": did})

    def get_library_access(self, library_id: str, *, start: int | None = None,
                           size: int | None = None, limit: int | None = None
                           ) -> dict[str, Any]:
        """One page of a library's access listing (see :mod:`aiwork.client.access_log`)."""
        to = route("get_library_access", {"from": start, "size": size, "limit": limit},
                   library_id=library_id)
        return self._object(to, what="an access listing")

    # -- human review ---------------------------------------------------------------------

    def next_review_item(self) -> dict[str, Any] | NoWork:
        """Take the next item to review, or :class:`NoWork` (with the coordinator's reason)."""
        return self._offer(route("next_review_item"), {})

    def get_review_item(self, item_id: str) -> dict[str, Any]:
        """A review item assigned to this key."""
        return self._object(route("get_review_item", item_id=item_id), what="a review item")

    def submit_verdict(self, item_id: str, entry: bytes,
                       openings: dict[str, Any] | None = None) -> dict[str, Any]:
        """Submit a signed ``human.verdict`` entry (:func:`aiwork.client.review.give_verdict`
        builds it); ``openings`` open a sealed verdict's fields."""
        body: dict[str, Any] = {"entry": entry.decode()}
        if openings is not None:
            body["openings"] = openings
        return self._object(route("submit_verdict", item_id=item_id), body)

    def get_expert(self, did: str) -> dict[str, Any]:
        """An expert's reputation per insight and credits."""
        return self._object(route("get_expert", did=did), signed=False)

    def get_review_rules(self) -> dict[str, Any]:
        """The routing rules, per insight."""
        return self._object(route("get_review_rules"), signed=False)

    def set_review_rules(self, insight: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change ``insight``'s routing rules (an admin's key); the rules after it."""
        return self._object(route("set_review_rules", insight=insight), dict(changes))

    # -- workers --------------------------------------------------------------------------

    def advertise_capabilities(self, analyzers: dict[str, Any], leases: list[str]
                               ) -> dict[str, Any]:
        """Announce what this worker runs and the leases it still holds."""
        return self._object(route("advertise_capabilities"),
                            {"analyzers": analyzers, "leases": leases})

    def list_workers(self) -> list[dict[str, Any]]:
        """The workers: what they run, and their reputation."""
        return self._list(route("list_workers"), signed=False, what="a list of workers")

    def lease_task(self, capabilities: list[str], *, limit: int | None = None
                   ) -> dict[str, Any] | NoWork:
        """Lease a task replica one of ``capabilities`` runs, or :class:`NoWork`; the
        answer is read up to ``limit`` bytes."""
        return self._offer(route("lease_task"), {"capabilities": capabilities}, limit)

    def heartbeat(self, lease_id: str) -> dict[str, Any]:
        """Extend a live lease; its new expiry."""
        return self._object(route("heartbeat", lease_id=lease_id), {})

    def submit_result(self, lease_id: str, entry: str, output: Any,
                      openings: Any = None) -> dict[str, Any]:
        """Submit a lease's signed result (``openings``: a sealed decision's)."""
        body: dict[str, Any] = {"entry": entry, "output": output}
        if openings is not None:
            body["openings"] = openings
        return self._object(route("submit_result", lease_id=lease_id), body)

    # -- the public log -------------------------------------------------------------------

    def get_checkpoint(self, size: int | None = None) -> str:
        """The latest signed checkpoint with its cosignatures (or the one of ``size``)."""
        return self._text(route("get_checkpoint", {"size": size}))

    def add_cosignature(self, size: int, cosignature: str, checkpoint: str | None = None
                        ) -> dict[str, Any]:
        """A witness's cosignature (self-authenticating: the request is not signed)."""
        return self._object(route("add_cosignature"), {
            "size": size, "cosignature": cosignature, "checkpoint": checkpoint}, signed=False)

    def get_verifier_key(self) -> str:
        """The log's verifier key (note format), stripped."""
        return self._text(route("get_verifier_key")).strip()

    def get_entry(self, index: int) -> bytes:
        """The entry at ``index``, its bytes exactly as hashed."""
        return self._call(route("get_entry", index=index), signed=False)

    def get_inclusion_proof(self, index: int, size: int | None = None) -> dict[str, Any]:
        """An inclusion proof of entry ``index`` (in the tree of ``size``)."""
        return self._object(route("get_inclusion_proof", {"index": index, "size": size}),
                            signed=False)

    def get_consistency_proof(self, first: int, second: int | None = None) -> str:
        """The consistency proof's JSON text as served (a witness keeps it as evidence)."""
        return self._text(route("get_consistency_proof", {"first": first, "second": second}))


def _purpose(signed: bool, purpose: str | None) -> dict[str, str | None]:
    """The ``purpose`` query of a signed read (a sensitive library's reads are logged)."""
    return {"purpose": purpose if signed else None}
