"""Every operation of the coordinator's HTTP API, in one table.

An :class:`Operation` names its method and path, its ``operation_id`` (the OpenAPI
``operationId``, and the name of the typed client's method that calls it), the model of its
JSON request body, the model (or media type) of its answer, whether it is signed, and the
error statuses it may answer with (each with an :class:`~aiwork.contract.responses.ErrorBody`).
The API registers its routes from this table and the typed client calls them by it, so the
two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from aiwork.contract import requests as rq
from aiwork.contract import responses as rs
from aiwork.export.layout import EXPORTS

__all__ = ["AUTH_HEADERS", "EXPORT_MEDIA_TYPES", "OPERATIONS", "Auth", "Operation", "operation"]

#: The headers of a signed request (:mod:`aiwork.auth`).
AUTH_HEADERS = ("Aiwork-Key", "Aiwork-Timestamp", "Aiwork-Nonce", "Aiwork-Signature")

#: The media types of a job's exports (what ``/v1/jobs/{job_id}/export/{name}`` serves).
EXPORT_MEDIA_TYPES = tuple(dict.fromkeys(EXPORTS.values()))

#: ``signed``: the request must carry a valid signature. ``optional``: unsigned is answered
#: (public data), a signed one is checked (and may see more). ``none``: never signed.
Auth = Literal["signed", "optional", "none"]

_SIGNED = (400, 401, 403, 413)
_READ = (400, 401, 403, 404, 413)  # a read that is signed for a sensitive library


@dataclass(frozen=True)
class Operation:
    id: str  # operationId: the typed client's method
    method: str
    path: str
    summary: str
    tag: str
    auth: Auth = "none"
    request: type[rq.RequestModel] | None = None  # a JSON request body
    body: str | None = None  # a raw request body's media type (an upload)
    response: type[BaseModel] | None = None  # a JSON answer (a list of them when `many`)
    many: bool = False
    media: tuple[str, ...] = ()  # a file or text answer's media types
    empty: bool = False  # 204 when there is nothing (no task, no review item)
    errors: tuple[int, ...] = ()


OPERATIONS: tuple[Operation, ...] = (
    # -- identities and accounts
    Operation("request_role", "POST", "/v1/identities", "Ask for a role for the signing identity",
        "identities", auth="signed", request=rq.RoleRequest, response=rs.RoleStatus,
        errors=_SIGNED),
    Operation("approve_role", "POST", "/v1/admin/approve", "Grant a role (admin only)", "identities",
        auth="signed", request=rq.RoleGrantRequest, response=rs.RoleStatus, errors=_SIGNED),
    Operation("grant_credits", "POST", "/v1/admin/credits",
        "Grant credits to an account (admin only)", "identities", auth="signed",
        request=rq.CreditGrantRequest, response=rs.CreditGrantReceipt, errors=_SIGNED),
    Operation("get_credits", "GET", "/v1/credits/{did}",
        "An account's balance, held and available credits", "identities",
        response=rs.Account, errors=(400,)),
    Operation("get_identity", "GET", "/v1/identities/{did}", "Roles of an identity", "identities",
        response=rs.Identity, errors=(400,)),
    Operation("declare_owned_keys", "POST", "/v1/identities/owned",
        "Declare worker keys you control (expert)", "identities", auth="signed",
        request=rq.OwnedKeysRequest, response=rs.OwnedKeysReceipt, errors=_SIGNED),
    # -- media
    Operation("upload_blob", "PUT", "/v1/blobs/{digest}",
        "Upload media by its sha256 (requester or worker); `?library=ID` puts it in a "
        "library before it is stored", "blobs", auth="signed",
        body="application/octet-stream", response=rs.BlobReceipt, errors=_READ),
    Operation("download_blob", "GET", "/v1/blobs/{digest}",
        "Download media by digest (signed, or `?grant=TOKEN` from grant_blob, for media of a "
        "sensitive library)", "blobs",
        auth="optional", media=("application/octet-stream",),
        errors=(400, 401, 403, 404, 413)),
    Operation("grant_blob", "POST", "/v1/blobs/{digest}/grant",
        "A short-lived grant to fetch a sensitive library's blob without signed headers (a "
        "<video> element): {job, purpose}, by one who may read the job's library; the read is "
        "logged (access.read) before the grant is given", "blobs", auth="signed",
        request=rq.BlobGrantRequest, response=rs.BlobGrant, errors=_READ),
    # -- jobs
    Operation("submit_job", "POST", "/v1/jobs", "Submit a job over uploaded media (requester)",
        "jobs", auth="signed", request=rq.JobRequest, response=rs.JobProgress,
        errors=(400, 401, 402, 403, 404, 413)),
    Operation("list_jobs", "GET", "/v1/jobs", "List jobs and their progress (a sensitive "
        "library's only to a signed request by one who may read it)", "jobs",
        auth="optional", response=rs.JobProgress, many=True, errors=(400, 401, 413)),
    Operation("list_analyzers", "GET", "/v1/analyzers", "The analyzers a job may ask for, what "
        "each reads and how many workers run it", "jobs", response=rs.AnalyzerView, many=True),
    Operation("get_job", "GET", "/v1/jobs/{job_id}", "A job's progress (signed by one who may read "
        "it, for a sensitive library's job)", "jobs", auth="optional",
        response=rs.JobProgress, errors=_READ),
    Operation("get_results", "GET", "/v1/jobs/{job_id}/results", "Accepted results by insight "
        "(signed, with ?purpose=..., for a job in a sensitive library: each read is logged "
        "first)", "jobs", auth="optional", response=rs.JobResults, errors=_READ),
    Operation("get_audit_bundle", "GET", "/v1/jobs/{job_id}/audit",
        "A finished job's audit bundle, for `aiwork-verify` (`?insight=NAME` for one "
        "insight; signed, with ?purpose=..., for a job in a sensitive library: each read is "
        "logged first)", "jobs", auth="optional", response=rs.AuditBundle,
        errors=(400, 401, 403, 404, 409, 413)),
    Operation("get_export", "GET", "/v1/jobs/{job_id}/export/{name}",
        "A job's results in a published format (metadata.json, metadata.jsonld, "
        "captions.vtt, captions.srt, captions.ttml, chapters.vtt)", "jobs", auth="optional",
        media=EXPORT_MEDIA_TYPES, errors=_READ),
    Operation("get_review_progress", "GET", "/v1/jobs/{job_id}/review",
        "Review progress and human-verified items", "review", auth="optional",
        response=rs.ReviewProgress, errors=_READ),
    Operation("search", "GET", "/v1/search",
        "Find the moments of processed videos that say or show something: `q` (words, "
        "\"a phrase\", prefix*), `insight` (names, comma-separated), `video` (a digest), "
        "`mode` (text, semantic, hybrid), `limit` (1-100). Unsigned: public libraries' "
        "results only; signed with `?purpose=...`: also the sensitive libraries the caller "
        "may read, each job of theirs a hit comes from logged (access.read) before the "
        "answer", "jobs", auth="optional", response=rs.SearchResults,
        errors=(400, 401, 413)),
    # -- libraries
    Operation("create_library", "POST", "/v1/libraries",
        "Create a library: {name, sensitive} (requester)", "libraries", auth="signed",
        request=rq.LibraryRequest, response=rs.LibraryView, errors=_SIGNED),
    Operation("list_libraries", "GET", "/v1/libraries",
        "The libraries the signer owns or was made a reader of, newest first", "libraries",
        auth="signed", response=rs.LibraryList, errors=_SIGNED),
    Operation("get_library", "GET", "/v1/libraries/{library_id}",
        "A library and its jobs (signed by a reader, if it is sensitive)", "libraries",
        auth="optional", response=rs.LibraryView, errors=_READ),
    Operation("update_library", "PATCH", "/v1/libraries/{library_id}",
        "Make a library sensitive or not: {sensitive} (its owner)", "libraries",
        auth="signed", request=rq.LibraryUpdate, response=rs.LibraryView, errors=_READ),
    Operation("add_reader", "POST", "/v1/libraries/{library_id}/readers",
        "Let an identity read a sensitive library: {did} (its owner)", "libraries",
        auth="signed", request=rq.ReaderRequest, response=rs.LibraryView, errors=_READ),
    Operation("get_access_log", "GET", "/v1/libraries/{library_id}/access",
        "Who read what of a library, with inclusion proofs to a signed checkpoint (signed by "
        "its owner, an auditor or an admin); paged by `from` (a read's seq), `limit` and "
        "`size` (the first page's checkpoint)", "libraries", auth="signed",
        response=rs.AccessListing, errors=_READ),
    # -- human review
    Operation("next_review_item", "POST", "/v1/review/next", "Take the next review item (expert); "
        "204 when there is none, with the reason in the aiwork-reason header", "review",
        auth="signed", request=rq.EmptyRequest, response=rs.ReviewItem, empty=True,
        errors=_SIGNED),
    Operation("get_review_item", "GET", "/v1/review/items/{item_id}",
        "A review item assigned to you (expert)", "review", auth="signed",
        response=rs.ReviewItem, errors=_READ),
    Operation("submit_verdict", "POST", "/v1/review/items/{item_id}/verdict",
        "Submit a signed human.verdict on an item assigned to you (expert)", "review",
        auth="signed", request=rq.VerdictRequest, response=rs.VerdictReceipt,
        errors=(400, 401, 403, 404, 409, 413)),
    Operation("release_review_item", "POST", "/v1/review/items/{item_id}/release",
        "Hand an item assigned to you back unanswered (expert, e.g. when you skip it): "
        "another expert may take it; you are not served it again, and may still answer it "
        "while it has room", "review", auth="signed", request=rq.EmptyRequest,
        response=rs.ReleaseReceipt, errors=(400, 401, 403, 404, 409, 413)),
    Operation("list_expert_verdicts", "GET", "/v1/experts/{did}/verdicts",
        "An expert's own verdicts, newest first, each with its item's outcome once decided "
        "(signed by that expert or an admin); paged by `before` (a verdict's ledger index) "
        "and `limit`", "review", auth="signed", response=rs.VerdictHistory, errors=_READ),
    Operation("get_expert", "GET", "/v1/experts/{did}",
        "An expert's reputation per insight and credits", "review", response=rs.ExpertView,
        errors=(400,)),
    Operation("get_review_rules", "GET", "/v1/review/rules", "Routing rules per insight", "review",
        response=rs.RulesByInsight),
    Operation("set_review_rules", "PUT", "/v1/review/rules/{insight}",
        "Change an insight's routing rules (admin)", "review", auth="signed",
        request=rq.RoutingRulesUpdate, response=rs.RoutingRules, errors=_SIGNED),
    Operation("list_calibrations", "GET", "/v1/review/calibrations",
        "The calibrations routing applies (per insight and model, with their held-out "
        "expected calibration error, threshold and model.registered entry), and the models "
        "whose verified items could be fitted (`candidates`)", "review",
        response=rs.CalibrationList),
    Operation("fit_calibration", "POST", "/v1/review/calibrations",
        "Fit a model's calibration on an insight from its verified items and the routing "
        "threshold for `target_accuracy` (admin): registered as a model version "
        "(model.registered, analyzer calibration.INSIGHT), applied by routing from then on",
        "review", auth="signed", request=rq.CalibrationRequest,
        response=rs.CalibrationView, errors=_SIGNED),
    # -- workers
    Operation("advertise_capabilities", "POST", "/v1/workers/capabilities",
        "Advertise the analyzers, models and weight digests a worker runs; with `leases`, "
        "the leases it still holds (its others are released)", "workers", auth="signed",
        request=rq.CapabilitiesRequest, response=rs.WorkerView, errors=_SIGNED),
    Operation("list_workers", "GET", "/v1/workers", "Workers: what they run, and their reputation",
        "workers", response=rs.WorkerView, many=True),
    Operation("lease_task", "POST", "/v1/tasks/lease", "Lease a task replica (worker); 204 when "
        "there is none", "workers", auth="signed", request=rq.LeaseRequest,
        response=rs.LeaseGrant, empty=True, errors=_SIGNED),
    Operation("heartbeat", "POST", "/v1/leases/{lease_id}/heartbeat",
        "Extend a live lease (worker)", "workers", auth="signed", request=rq.EmptyRequest,
        response=rs.LeaseExpiry, errors=(400, 401, 403, 404, 409, 413)),
    Operation("submit_result", "POST", "/v1/leases/{lease_id}/result",
        "Submit a signed result (worker)", "workers", auth="signed", request=rq.ResultRequest,
        response=rs.ResultReceipt, errors=(400, 401, 403, 404, 409, 413)),
    # -- the public log
    Operation("get_checkpoint", "GET", "/v1/ledger/checkpoint",
        "The latest signed checkpoint (C2SP signed note) with its witnesses' cosignatures, "
        "or the stored one of tree size `size`", "ledger", media=("text/plain",),
        errors=(400, 404)),
    Operation("add_cosignature", "POST", "/v1/ledger/cosignatures",
        "Add a configured witness's cosignature of a checkpoint this log signed "
        "(self-authenticating: no request signature)", "ledger",
        request=rq.CosignatureRequest, response=rs.CosignatureReceipt,
        errors=(400, 403, 404, 409, 413)),
    Operation("get_verifier_key", "GET", "/v1/ledger/key", "The log's verifier key", "ledger",
        media=("text/plain",)),
    Operation("get_entry", "GET", "/v1/ledger/entries/{index}",
        "An entry's bytes exactly as hashed", "ledger", media=("application/json",),
        errors=(400, 404)),
    Operation("get_related_entries", "GET", "/v1/ledger/entries/{index}/related",
        "The verdicts and consensus results about a decision's items (experts' answers on "
        "items still open are only counted); paged by `after` (a ledger index) and `limit`",
        "ledger", response=rs.RelatedEntries, errors=(400, 404)),
    Operation("get_lineage", "GET", "/v1/ledger/entries/{index}/lineage",
        "Which model made the ai.decision at `index` (its model.registered entry and parents), "
        "trained on which dataset.released entry, validated by which experts: from the log "
        "alone, checked (a chain that does not hold is refused with the reason)", "ledger",
        response=rs.Lineage, errors=(400, 404)),
    Operation("list_models", "GET", "/v1/models",
        "The registered model versions (model.registered entries) with their held-out "
        "metrics, and the one each analyzer uses (`in_use`: its latest model.promoted entry); "
        "a worker runs the promoted ones", "ledger", response=rs.ModelVersion, many=True),
    Operation("get_anchors", "GET", "/v1/ledger/anchors",
        "The first anchor whose checkpoint holds entry `covering`, and the latest anchor",
        "ledger", response=rs.Anchors, errors=(400, 404)),
    Operation("get_inclusion_proof", "GET", "/v1/ledger/proof/inclusion", "Inclusion proof",
        "ledger", response=rs.InclusionProof, errors=(400, 404)),
    Operation("get_consistency_proof", "GET", "/v1/ledger/proof/consistency", "Consistency proof",
        "ledger", response=rs.ConsistencyProof, errors=(400, 404)),
)

_BY_ID = {op.id: op for op in OPERATIONS}


def operation(operation_id: str) -> Operation:
    """The operation named ``operation_id`` (a KeyError names an unknown one)."""
    return _BY_ID[operation_id]
