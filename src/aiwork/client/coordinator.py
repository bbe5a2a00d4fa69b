"""A typed client of the coordinator's API: one method per operation.

Each method is named as its operation's ``operationId`` in :mod:`aiwork.contract.operations`,
sends the request model of :mod:`aiwork.contract.requests` and returns the response model of
:mod:`aiwork.contract.responses`; :func:`operation_path` builds every path from the contract's
table (each part percent-encoded), so a route and its method cannot drift apart. The transport
(signing, bounded reads) is :class:`aiwork.client.transport.Transport`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from aiwork.canonical import parse_json
from aiwork.client.transport import MAX_KEYFRAME_BYTES, MAX_REPLY_BYTES, Transport
from aiwork.contract import requests as rq
from aiwork.contract import responses as rs
from aiwork.contract.operations import operation
from aiwork.digests import sha256_bytes, sha256_file
from aiwork.errors import ConfigError, InputError, IntegrityError

__all__ = ["MAX_KEYFRAME_BYTES", "MAX_REPLY_BYTES", "CoordinatorClient", "NoWork", "Route",
           "operation_path", "route"]

Query = Mapping[str, str | int | float | None]
M = TypeVar("M", bound=BaseModel)


def operation_path(operation_id: str, query: Query | None = None, /,
                   **params: str | int) -> str:
    """The path of the operation ``operation_id`` with its ``params`` and ``query`` (``None``
    values left out), each percent-encoded: an id can never reach another route."""
    template = operation(operation_id).path
    path = template.format_map({k: quote(str(v), safe="") for k, v in params.items()})
    pairs = [f"{k}={quote(str(v), safe='')}" for k, v in (query or {}).items() if v is not None]
    return path + ("?" + "&".join(pairs) if pairs else "")


class Route(NamedTuple):
    """One request of an operation: its HTTP method and path."""

    method: str
    path: str


def route(operation_id: str, query: Query | None = None, /, **params: str | int) -> Route:
    """The method and path of a request of ``operation_id`` (see :func:`operation_path`)."""
    return Route(operation(operation_id).method, operation_path(operation_id, query, **params))


def body(model: type[rq.RequestModel], **fields: Any) -> dict[str, Any]:
    """A request body: ``fields`` checked by the operation's request model (a field the model
    refuses is an :class:`InputError` naming it), as JSON values, absent ones left out."""
    try:
        value = model(**fields)
    except ValidationError as exc:
        raise InputError(f"{_first(exc)}", hint=f"see {model.__name__} in "
                                                "aiwork.contract.requests") from None
    return value.model_dump(mode="json", by_alias=True, exclude_none=True)


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "the body"
    return f"{where}: {error['msg']}"


@dataclass(frozen=True)
class NoWork:
    """The coordinator has nothing to hand out now (204), and why when it says."""

    reason: str


class CoordinatorClient(Transport):
    """The coordinator's API as methods; each builds its path with :func:`route`.

    A refusal is a :class:`~aiwork.errors.CoordinatorError` (with the status), an answer that
    is not JSON a :class:`~aiwork.errors.MalformedJSONError`, and one that is not of the
    operation's response model an :class:`~aiwork.errors.IntegrityError`. Reads of a
    sensitive library's job are signed (``signed=True``) and state a ``purpose``, which the
    coordinator logs with the read."""

    def _call(self, to: Route, data: Any = None, *, signed: bool = True,
              limit: int | None = None) -> bytes:
        if signed and self.key is None:
            raise ConfigError("this request must be signed: give --key KEYFILE")
        sent = b"" if data is None else _json_bytes(data)
        return self.exchange(to.method, to.path, sent, signed=signed, limit=limit).body

    def _json(self, to: Route, data: Any = None, *, signed: bool = True) -> Any:
        answer = self._call(to, data, signed=signed)
        return parse_json(answer, what=f"the coordinator's answer to {to.method} {to.path}")

    def _model(self, to: Route, model: type[M], data: Any = None, *,
               signed: bool = True) -> M:
        return _as(model, self._json(to, data, signed=signed), to)

    def _models(self, to: Route, model: type[M], *, signed: bool) -> list[M]:
        value = self._json(to, signed=signed)
        if not isinstance(value, list):
            raise IntegrityError(f"the coordinator answered {to.method} {to.path} with "
                                 f"something that is not a list of {model.__name__}")
        return [_as(model, item, to) for item in value]

    def _text(self, to: Route) -> str:
        return self._call(to, signed=False).decode("utf-8", errors="replace")

    def _offer(self, to: Route, model: type[M], data: Any, limit: int | None = None
               ) -> M | NoWork:
        if self.key is None:
            raise ConfigError("this request must be signed: give --key KEYFILE")
        reply = self.exchange(to.method, to.path, _json_bytes(data), limit=limit)
        if reply.status == 204:
            return NoWork(reply.headers.get("aiwork-reason", ""))
        return _as(model, parse_json(reply.body, what=f"the coordinator's answer to "
                                                     f"{to.method} {to.path}"), to)

    # -- identities and accounts ----------------------------------------------------------

    def request_role(self, role: str) -> rs.RoleStatus:
        """Ask for ``role`` for this key; ``status`` says granted or pending."""
        return self._model(route("request_role"), rs.RoleStatus, body(rq.RoleRequest, role=role))

    def get_identity(self, did: str) -> rs.Identity:
        """An identity's roles and their status."""
        return self._model(route("get_identity", did=did), rs.Identity, signed=False)

    def declare_owned_keys(self, keys: list[str]) -> rs.OwnedKeysReceipt:
        """Declare the worker keys this expert controls (never given their items)."""
        return self._model(route("declare_owned_keys"), rs.OwnedKeysReceipt,
                           body(rq.OwnedKeysRequest, keys=keys))

    def approve_role(self, did: str, role: str) -> rs.RoleStatus:
        """Grant ``role`` to ``did`` (an admin's key)."""
        return self._model(route("approve_role"), rs.RoleStatus,
                           body(rq.RoleGrantRequest, did=did, role=role))

    def grant_credits(self, did: str, amount: int, reason: str | None = None
                      ) -> rs.CreditGrantReceipt:
        """Grant ``amount`` credits to ``did`` (an admin's key); the account after it."""
        return self._model(route("grant_credits"), rs.CreditGrantReceipt,
                           body(rq.CreditGrantRequest, to=did, amount=amount, reason=reason))

    def get_credits(self, did: str) -> rs.Account:
        """An account's balance, held and available credits."""
        return self._model(route("get_credits", did=did), rs.Account, signed=False)

    # -- media ----------------------------------------------------------------------------

    def upload_blob(self, data: bytes, digest: str | None = None, *,
                    library: str | None = None) -> str:
        """Store ``data`` on the coordinator; return its digest. A ``digest`` given is sent as
        it is, for the coordinator to check. With ``library`` the blob belongs to that
        library from its upload on (under the request signature): a sensitive library's
        media is never public."""
        digest = digest or sha256_bytes(data)
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
        def pieces() -> Iterator[bytes]:
            with path.open("rb") as handle:
                while block := handle.read(1 << 20):
                    yield block

        return self.upload_stream(pieces(), sha256_file(path), path.stat().st_size,
                                  library=library)

    def download_blob(self, digest: str, *, signed: bool = False, limit: int | None = None
                      ) -> bytes:
        """The blob ``digest``, at most ``limit`` bytes (a keyframe, a small file)."""
        return self._call(route("download_blob", digest=digest), signed=signed, limit=limit)

    def download(self, digest: str, target: Path) -> Path:
        """:meth:`download_blob` streamed into ``target`` (signed when a key is held) and
        hashed as it comes; the file appears only if its bytes are ``digest``."""
        return self.stream_to(route("download_blob", digest=digest).path, target, digest)

    def grant_blob(self, digest: str, job: str, purpose: str) -> rs.BlobGrant:
        """A short-lived grant to fetch the blob ``digest`` of ``job`` (a sensitive library's)
        without signing: its ``url`` (the blob route with the token) until ``expires``. The
        read is logged, with ``purpose``, before the grant is given."""
        return self._model(route("grant_blob", digest=digest), rs.BlobGrant,
                           body(rq.BlobGrantRequest, job=job, purpose=purpose))

    # -- jobs -----------------------------------------------------------------------------

    def submit_job(self, asset: str, analyzers: list[str], *, redundancy: int = 1,
                   budget: int | None = None, library: str | None = None,
                   deadline: float | None = None, models: dict[str, int] | None = None
                   ) -> rs.JobProgress:
        """Submit a job over the uploaded ``asset``; the job (its ``id``). ``models``: per
        analyzer, the ``model.registered`` entry its results must be made with."""
        return self._model(route("submit_job"), rs.JobProgress, body(
            rq.JobRequest, asset=asset, analyzers=analyzers, redundancy=redundancy,
            budget=budget, library=library, deadline=deadline, models=models))

    def list_jobs(self, requester: str | None = None, *, signed: bool = False
                  ) -> list[rs.JobProgress]:
        """Jobs and their progress (signed: with the sensitive libraries' one may read)."""
        return self._models(route("list_jobs", {"requester": requester}), rs.JobProgress,
                            signed=signed)

    def get_job(self, job_id: str, *, signed: bool = False, purpose: str | None = None
                ) -> rs.JobProgress:
        """A job's progress: ``state`` and ``replicas`` counted by state."""
        to = route("get_job", _purpose(signed, purpose), job_id=job_id)
        return self._model(to, rs.JobProgress, signed=signed)

    def get_results(self, job_id: str, *, signed: bool = False, purpose: str | None = None
                    ) -> rs.JobResults:
        """Accepted results by insight (a sensitive library's: signed, with a purpose)."""
        to = route("get_results", _purpose(signed, purpose), job_id=job_id)
        return self._model(to, rs.JobResults, signed=signed)

    def get_audit_bundle(self, job_id: str, insight: str | None = None, *,
                         signed: bool = False, purpose: str | None = None) -> dict[str, Any]:
        """A finished job's audit bundle (one insight's, with ``insight``), as served: it is
        checked against :class:`~aiwork.contract.responses.AuditBundle` and kept whole."""
        to = route("get_audit_bundle", {"insight": insight, **_purpose(signed, purpose)},
                   job_id=job_id)
        bundle = self._json(to, signed=signed)
        _as(rs.AuditBundle, bundle, to)
        assert isinstance(bundle, dict)
        return bundle

    def get_export(self, job_id: str, name: str, *, title: str | None = None,
                   signed: bool = False, purpose: str | None = None) -> bytes:
        """A job's results in a published format (``metadata.json``, ``captions.vtt``...)."""
        to = route("get_export", {"title": title, **_purpose(signed, purpose)},
                   job_id=job_id, name=name)
        return self._call(to, signed=signed)

    def get_review_progress(self, job_id: str, *, signed: bool = False) -> rs.ReviewProgress:
        """A job's review progress and its human-verified items."""
        return self._model(route("get_review_progress", job_id=job_id), rs.ReviewProgress,
                           signed=signed)

    def search(self, q: str, *, insights: Iterable[str] | None = None,
               video: str | None = None, mode: str | None = None, limit: int | None = None,
               signed: bool = False, purpose: str | None = None) -> rs.SearchResults:
        """The moments of processed videos that match ``q``; signed with a ``purpose``, also
        those of the sensitive libraries this key may read (each such job's read logged)."""
        names = ",".join(insights) if insights is not None else None
        to = route("search", {"q": q, "insight": names or None, "video": video, "mode": mode,
                              "limit": limit, **_purpose(signed, purpose)})
        return self._model(to, rs.SearchResults, signed=signed)

    # -- libraries ------------------------------------------------------------------------

    def create_library(self, name: str, *, sensitive: bool = False) -> rs.LibraryView:
        """Create a library owned by this key."""
        return self._model(route("create_library"), rs.LibraryView,
                           body(rq.LibraryRequest, name=name, sensitive=sensitive))

    def list_libraries(self) -> rs.LibraryList:
        """The libraries this key owns or was made a reader of, newest first."""
        return self._model(route("list_libraries"), rs.LibraryList, signed=True)

    def get_library(self, library_id: str, *, signed: bool = False) -> rs.LibraryView:
        """A library, its readers and its jobs."""
        return self._model(route("get_library", library_id=library_id), rs.LibraryView,
                           signed=signed)

    def update_library(self, library_id: str, *, sensitive: bool) -> rs.LibraryView:
        """Make this key's library sensitive or not."""
        return self._model(route("update_library", library_id=library_id), rs.LibraryView,
                           body(rq.LibraryUpdate, sensitive=sensitive))

    def add_reader(self, library_id: str, did: str) -> rs.LibraryView:
        """Let ``did`` read this key's sensitive library."""
        return self._model(route("add_reader", library_id=library_id), rs.LibraryView,
                           body(rq.ReaderRequest, did=did))

    def get_access_log(self, library_id: str, *, start: int | None = None,
                       size: int | None = None, limit: int | None = None) -> rs.AccessListing:
        """One page of a library's access listing (see :mod:`aiwork.client.access_log`)."""
        to = route("get_access_log", {"from": start, "size": size, "limit": limit},
                   library_id=library_id)
        return self._model(to, rs.AccessListing)

    # -- human review ---------------------------------------------------------------------

    def next_review_item(self) -> rs.ReviewItem | NoWork:
        """Take the next item to review, or :class:`NoWork` (with the coordinator's reason)."""
        return self._offer(route("next_review_item"), rs.ReviewItem, body(rq.EmptyRequest))

    def get_review_item(self, item_id: str) -> rs.ReviewItem:
        """A review item assigned to this key."""
        return self._model(route("get_review_item", item_id=item_id), rs.ReviewItem)

    def submit_verdict(self, item_id: str, entry: bytes,
                       openings: dict[str, Any] | None = None) -> rs.VerdictReceipt:
        """Submit a signed ``human.verdict`` entry (:func:`aiwork.client.review.give_verdict`
        builds it); ``openings`` open a sealed verdict's fields."""
        return self._model(route("submit_verdict", item_id=item_id), rs.VerdictReceipt,
                           body(rq.VerdictRequest, entry=entry.decode(), openings=openings))

    def release_review_item(self, item_id: str) -> rs.ReleaseReceipt:
        """Hand an item assigned to this key back unanswered (skipped)."""
        return self._model(route("release_review_item", item_id=item_id), rs.ReleaseReceipt,
                           body(rq.EmptyRequest))

    def list_expert_verdicts(self, did: str, *, limit: int | None = None,
                             before: int | None = None) -> rs.VerdictHistory:
        """One page of an expert's own verdicts, newest first (this key's, or any as admin)."""
        return self._model(route("list_expert_verdicts", {"limit": limit, "before": before},
                                 did=did), rs.VerdictHistory)

    def get_expert(self, did: str) -> rs.ExpertView:
        """An expert's reputation per insight and credits."""
        return self._model(route("get_expert", did=did), rs.ExpertView, signed=False)

    def get_review_rules(self) -> rs.RulesByInsight:
        """The routing rules, per insight."""
        return self._model(route("get_review_rules"), rs.RulesByInsight, signed=False)

    def set_review_rules(self, insight: str, changes: Mapping[str, Any]) -> rs.RoutingRules:
        """Change ``insight``'s routing rules (an admin's key); the rules after it."""
        return self._model(route("set_review_rules", insight=insight), rs.RoutingRules,
                           body(rq.RoutingRulesUpdate, **changes))

    def list_calibrations(self) -> rs.CalibrationList:
        """The calibrations routing applies, and the models that could be fitted."""
        return self._model(route("list_calibrations"), rs.CalibrationList, signed=False)

    def fit_calibration(self, insight: str, annotator: str, target_accuracy: float = 0.95
                        ) -> rs.CalibrationView:
        """Fit ``annotator``'s calibration on ``insight`` (an admin's key); the fitted one."""
        return self._model(route("fit_calibration"), rs.CalibrationView,
                           body(rq.CalibrationRequest, insight=insight, annotator=annotator,
                                target_accuracy=target_accuracy))

    # -- workers --------------------------------------------------------------------------

    def advertise_capabilities(self, analyzers: dict[str, Any], leases: list[str]
                               ) -> rs.WorkerView:
        """Announce what this worker runs and the leases it still holds."""
        return self._model(route("advertise_capabilities"), rs.WorkerView,
                           body(rq.CapabilitiesRequest, analyzers=analyzers, leases=leases))

    def list_analyzers(self) -> list[rs.AnalyzerView]:
        """The analyzers a job may ask for: what each reads, how many workers run it."""
        return self._models(route("list_analyzers"), rs.AnalyzerView, signed=False)

    def list_workers(self) -> list[rs.WorkerView]:
        """The workers: what they run, and their reputation."""
        return self._models(route("list_workers"), rs.WorkerView, signed=False)

    def lease_task(self, capabilities: list[str], *, limit: int | None = None
                   ) -> rs.LeaseGrant | NoWork:
        """Lease a task replica one of ``capabilities`` runs, or :class:`NoWork`; the
        answer is read up to ``limit`` bytes."""
        return self._offer(route("lease_task"), rs.LeaseGrant,
                           body(rq.LeaseRequest, capabilities=capabilities), limit)

    def heartbeat(self, lease_id: str) -> rs.LeaseExpiry:
        """Extend a live lease; its new expiry."""
        return self._model(route("heartbeat", lease_id=lease_id), rs.LeaseExpiry,
                           body(rq.EmptyRequest))

    def submit_result(self, lease_id: str, entry: str, output: Any,
                      openings: dict[str, Any] | None = None) -> rs.ResultReceipt:
        """Submit a lease's signed result (``openings``: a sealed decision's)."""
        return self._model(route("submit_result", lease_id=lease_id), rs.ResultReceipt,
                           body(rq.ResultRequest, entry=entry, output=output,
                                openings=openings))

    # -- the public log -------------------------------------------------------------------

    def get_checkpoint(self, size: int | None = None) -> str:
        """The latest signed checkpoint with its cosignatures (or the one of ``size``)."""
        return self._text(route("get_checkpoint", {"size": size}))

    def add_cosignature(self, size: int, cosignature: str, checkpoint: str | None = None
                        ) -> rs.CosignatureReceipt:
        """A witness's cosignature (self-authenticating: the request is not signed)."""
        return self._model(route("add_cosignature"), rs.CosignatureReceipt, body(
            rq.CosignatureRequest, size=size, cosignature=cosignature, checkpoint=checkpoint),
            signed=False)

    def get_verifier_key(self) -> str:
        """The log's verifier key (note format), stripped."""
        return self._text(route("get_verifier_key")).strip()

    def get_entry(self, index: int) -> bytes:
        """The entry at ``index``, its bytes exactly as hashed."""
        return self._call(route("get_entry", index=index), signed=False)

    def get_related_entries(self, index: int, after: int = -1, limit: int = 100
                            ) -> rs.RelatedEntries:
        """The verdicts and consensus results about decision ``index``'s items, a page at a
        time (``after`` the previous page's ``next``)."""
        return self._model(route("get_related_entries", {"after": after, "limit": limit},
                                 index=index), rs.RelatedEntries, signed=False)

    def get_lineage(self, index: int) -> rs.Lineage:
        """Which model made decision ``index``, trained on which dataset, validated by whom."""
        return self._model(route("get_lineage", index=index), rs.Lineage, signed=False)

    def list_models(self) -> list[rs.ModelVersion]:
        """The registered model versions, and the one each analyzer uses (``in_use``)."""
        return self._models(route("list_models"), rs.ModelVersion, signed=False)

    def get_anchors(self, covering: int | None = None) -> rs.Anchors:
        """The first anchor whose checkpoint holds entry ``covering``, and the latest."""
        return self._model(route("get_anchors", {"covering": covering}), rs.Anchors,
                           signed=False)

    def get_inclusion_proof(self, index: int, size: int | None = None) -> rs.InclusionProof:
        """An inclusion proof of entry ``index`` (in the tree of ``size``)."""
        return self._model(route("get_inclusion_proof", {"index": index, "size": size}),
                           rs.InclusionProof, signed=False)

    def get_consistency_proof(self, first: int, second: int | None = None) -> str:
        """The consistency proof (a :class:`~aiwork.contract.responses.ConsistencyProof`) as
        the JSON text served: a witness checks it itself and keeps it as evidence."""
        return self._text(route("get_consistency_proof", {"first": first, "second": second}))


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


def _as(model: type[M], value: Any, to: Route) -> M:
    """``value`` read as ``model``: an :class:`IntegrityError` when it is not one."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise IntegrityError(f"the coordinator answered {to.method} {to.path} with something "
                             f"that is not a {model.__name__} ({_first(exc)})") from None


def _purpose(signed: bool, purpose: str | None) -> dict[str, str | None]:
    """The ``purpose`` query of a signed read (a sensitive library's reads are logged)."""
    return {"purpose": purpose if signed else None}
