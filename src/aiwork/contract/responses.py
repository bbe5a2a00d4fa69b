"""What the coordinator answers: one named model per JSON response of its API.

The models describe the answers (the OpenAPI document and the typed client read them); the
coordinator builds the same shapes from its services. Where a value is open-ended (an
analyzer's output, an audit bundle), the model names the fields every answer has and allows
more.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, RootModel

from aiwork.contract.answer import ResponseModel
from aiwork.contract.registry import (
    Lineage,
    LineageDataset,
    LineageExpert,
    LineageModel,
    LineageWeights,
    ModelVersion,
)
from aiwork.quality.review_items import RoutingRules

__all__ = [
    "AccessListing",
    "Account",
    "AnalyzerView",
    "AnchorView",
    "Anchors",
    "AuditBundle",
    "BlobGrant",
    "BlobReceipt",
    "CalibrationCandidate",
    "CalibrationList",
    "CalibrationView",
    "ConsistencyProof",
    "CosignatureReceipt",
    "CreditGrantReceipt",
    "ErrorBody",
    "ExpertView",
    "Identity",
    "InclusionProof",
    "JobProgress",
    "JobResults",
    "LeaseExpiry",
    "LeaseGrant",
    "LibraryView",
    "Lineage",
    "LineageDataset",
    "LineageExpert",
    "LineageModel",
    "ModelVersion",
    "LineageWeights",
    "MediaFacts",
    "OwnedKeysReceipt",
    "PastVerdict",
    "ProducerModel",
    "ProvenEntry",
    "RelatedEntries",
    "RelatedEntry",
    "ReleaseReceipt",
    "ResponseModel",
    "ResultReceipt",
    "ReviewItem",
    "ReviewProgress",
    "ReputationView",
    "RoleStatus",
    "RoutingRules",
    "RulesByInsight",
    "SearchHit",
    "SearchResults",
    "SearchVideo",
    "Upstream",
    "VerdictHistory",
    "VerdictReceipt",
    "WorkerReputation",
    "WorkerView",
]


class ErrorBody(ResponseModel):
    """Every refusal: a short stable code and a message that says what to do."""

    error: str = Field(description="e.g. unauthenticated, replayed, forbidden, not-found, "
                                   "conflict, too-large, insufficient-credits, bad-request")
    message: str


class RoleStatus(ResponseModel):
    did: str
    role: str
    status: str = Field(description="granted or pending")


class Identity(ResponseModel):
    did: str
    roles: dict[str, str] = Field(description="role -> granted or pending")


class OwnedKeysReceipt(ResponseModel):
    did: str
    owns: list[str]


class Account(ResponseModel):
    did: str
    balance: int
    held: int = Field(description="held for open jobs")
    available: int


class CreditGrantReceipt(Account):
    entry: int = Field(description="the ledger index of the grant")


class BlobReceipt(ResponseModel):
    digest: str
    size: int


class BlobGrant(ResponseModel):
    """A media grant: ``url`` (a same-origin path, ``/v1/blobs/DIGEST?grant=TOKEN``) serves
    that one blob, with HTTP ranges, to anyone holding it until ``expires``."""

    url: str = Field(description="the blob route with the grant's token; keep it secret")
    expires: float = Field(description="Unix seconds after which the grant is refused")
    access_entry: int = Field(description="the ledger index of the read's access.read entry")


class JobProgress(ResponseModel):
    id: str
    state: str
    asset: str
    analyzers: list[str]
    redundancy: int
    replicas: dict[str, int] = Field(description="replica state -> count")
    library: str | None


class MediaFacts(ResponseModel):
    """A job's video as its container header gives it (nothing decoded): what a player needs
    to step frame by frame."""

    frame_rate: float | None = Field(description="frames per second as the file gives it "
                                     "(30000/1001 as 29.97002997...); none when unknown")
    duration: float = Field(description="seconds")
    width: int | None
    height: int | None


class JobResults(ResponseModel):
    job: JobProgress
    media: MediaFacts | None = Field(
        default=None, description="the video's frame rate, duration and size, from its "
        "container header; none when it is not a video the coordinator reads")
    results: dict[str, Any] = Field(description="insight -> its accepted output (with its "
                                                "decision); 'stale' lists outdated ones")
    openings: dict[str, Any] | None = Field(
        default=None, description="a sensitive job's openings, by ledger index")


class AuditBundle(ResponseModel):
    """An audit bundle for ``aiwork-verify`` (see aiwork.audit.bundle)."""

    format: str
    asset: dict[str, Any] = Field(description="the media: its digest and summary")


class LibraryView(ResponseModel):
    id: str
    name: str
    owner: str
    sensitive: bool
    entry: int = Field(description="the library.created entry's ledger index")
    readers: list[str]
    jobs: list[str]


class LibraryList(ResponseModel):
    libraries: list[LibraryView] = Field(description="the caller's own libraries and those "
                                                     "they were made a reader of, newest "
                                                     "first")


class InclusionProof(ResponseModel):
    leaf_index: int
    tree_size: int
    hashes: list[str] = Field(description="base64")


class RelatedEntry(ResponseModel):
    index: int = Field(description="the entry's ledger index")
    kind: str = Field(description="verdict (a human.verdict) or consensus (a consensus.result)")
    item: int = Field(description="the id of the metadata item it is about, within the "
                                  "decision's output")


class RelatedEntries(ResponseModel):
    """The verdicts and consensus results about one decision's items, oldest first, a page
    at a time. Verdicts on items still being answered are only counted, so experts still
    answering stay blind."""

    decision: int
    entries: list[RelatedEntry]
    open_verdicts: int = Field(description="verdicts on items not decided yet (not listed)")
    next: int | None = Field(description="the next page's `after`, or null on the last page")


class AnchorView(ResponseModel):
    """An ``anchor/v1`` entry of the log: where the checkpoint of ``size`` entries and
    ``root`` was anchored."""

    index: int = Field(description="the anchor/v1 entry's ledger index")
    chain_id: int
    contract: str
    transaction: str
    block: int
    block_hash: str
    log_id: str
    origin: str
    size: int
    root: str


class Anchors(ResponseModel):
    covering: AnchorView | None = Field(
        description="the first anchor whose checkpoint holds entry `covering` (null when none "
                    "does yet, or no `covering` was asked)")
    latest: AnchorView | None = Field(description="the latest anchor (null when none)")


class ConsistencyProof(ResponseModel):
    size1: int
    size2: int
    hashes: list[str] = Field(description="base64")


class ProvenEntry(ResponseModel):
    index: int
    entry: str
    proof: InclusionProof


class AccessListing(ResponseModel):
    library: dict[str, Any]
    checkpoint: str = Field(description="the signed checkpoint the proofs lead to")
    size: int
    reads: int
    from_: int = Field(alias="from")
    next: int | None
    entries: list[ProvenEntry]
    changes: list[ProvenEntry]


class SearchVideo(ResponseModel):
    name: str = Field(description="the video's name (its digest when none is known)")
    digest: str


class SearchHit(ResponseModel):
    """One moment of one video that matches a search: the passage's text with the matches'
    places in it, and the decision it came from (its proof: /explorer/entry/{decision})."""

    video: SearchVideo
    job: str | None = Field(description="the job whose accepted result holds it")
    insight: str = Field(description="transcript, ocr, keywords, chapters, tags, ...")
    item: str | None = Field(description="the item's id within the decision's output (as "
                                         "/explorer/item names it)")
    start: float | None = Field(description="seconds into the video (none: the whole video)")
    end: float | None
    moment: float | None = Field(
        default=None, description="where the match is heard: the start of the first matched "
        "transcript word when words are timed, else `start`")
    text: str = Field(description="the passage as published (experts' corrections applied)")
    highlights: list[tuple[int, int]] = Field(
        description="[start, end) of each match in `text`, in Unicode code points")
    score: float = Field(description="higher is better; comparable within one answer only")
    text_rank: int | None = Field(default=None, description="1-based rank by the words "
                                  "(BM25 / ts_rank_cd); none: not found by them")
    semantic_rank: int | None = Field(default=None, description="1-based rank by meaning; "
                                      "none: not found by it")
    decision: int | None = Field(
        description="the ledger index of the ai.decision it came from (its proof)")
    language: str | None = None


class SearchResults(ResponseModel):
    query: str
    mode: str = Field(description="text, semantic or hybrid")
    hits: list[SearchHit]
    access_entries: list[int] = Field(
        description="the access.read entries this search appended (one per job of a "
                    "sensitive library it returned hits of), before answering")


class ProducerModel(ResponseModel):
    """The model that produced a decision: name, version, the digest of its weights."""

    name: str
    version: str
    weights_digest: str | None = None


class Upstream(ResponseModel):
    """An upstream decision a decision was derived from: its insight and ledger index."""

    insight: str
    decision: int = Field(description="the upstream ai.decision's ledger index")


class ReviewItem(ResponseModel):
    """An item as its expert sees it: the question, the AI's value and what it rests on.
    Never other experts' answers, nor whether the item is gold, nor why it was routed."""

    id: str
    insight: str
    question: str
    value: Any = Field(description="the AI's value (what a correction replaces)")
    evidence: Any
    verdicts: list[str]
    job: str | None = Field(default=None, description="the job the item is from")
    decision: int = Field(description="the ledger index of the ai.decision the item is about")
    item: int | None = Field(default=None, description="the item's id among that decision's "
                                                       "output items (a lane item's id)")
    asset: str | None = Field(default=None, description="the video's digest (sha256:HEX)")
    start: float | None = Field(default=None, description="where the item starts (seconds)")
    end: float | None = Field(default=None, description="where it ends (seconds)")
    keyframe: str | None = Field(default=None, description="the nearest keyframe's digest")
    confidence: float | None = Field(default=None, description="the AI's confidence in it")
    alternatives: list[Any] = Field(default_factory=list,
                                    description="what else the analyzer considered for it")
    derived_from: list[Upstream] = Field(
        default_factory=list, description="the decisions its decision was derived from")
    analyzer: str | None = Field(default=None, description="the analyzer that produced it")
    analyzer_version: str | None = None
    model: ProducerModel | None = None
    sensitive: bool | None = None
    access_entry: int | None = None


class ReleaseReceipt(ResponseModel):
    item: str
    released: bool = Field(description="the item no longer holds a place for you: another "
                                       "expert may take it; you may still answer it while it "
                                       "has room")


class PastVerdict(ResponseModel):
    """One of an expert's own verdicts, and the item's outcome once decided."""

    item: str
    insight: str
    question: str
    verdict: str = Field(description="accept, reject or correct")
    value: Any = Field(default=None, description="the corrected value, for a correction")
    index: int = Field(description="the human.verdict's ledger index")
    time: str = Field(description="when it was signed (RFC 3339, UTC)")
    seconds: float | None = Field(default=None, description="the time spent on the item")
    outcome: str | None = Field(default=None, description="accepted, corrected or rejected "
                                "once the item is decided; null while it is open")
    consensus: int | None = Field(default=None,
                                  description="the consensus.result's ledger index")


class VerdictHistory(ResponseModel):
    did: str
    verdicts: list[PastVerdict] = Field(description="newest first")
    next: int | None = Field(description="`before` for the next page; null on the last")


class VerdictReceipt(ResponseModel):
    verdict: int = Field(description="the verdict's ledger index")


class ReputationView(ResponseModel):
    score: float
    weight: float
    samples: int
    quarantined: bool


class ExpertView(ResponseModel):
    did: str
    reputation: dict[str, ReputationView] = Field(description="per insight")
    credits: Account


class ReviewProgress(ResponseModel):
    job: str
    items: int
    open: int
    decided: int
    escalated: int
    human_verified: dict[str, Any]


class CalibrationView(ResponseModel):
    """A fitted calibration of one model on one insight: a model version of its own."""

    insight: str
    annotator: str = Field(description="the model calibrated: model:NAME@WEIGHTS_DIGEST")
    method: str = Field(description="isotonic")
    digest: str = Field(description="sha256 of the calibration's canonical JSON: its weights "
                                    "digest in the registry")
    registration: int | None = Field(description="the ledger index of its model.registered "
                                                 "entry (analyzer calibration.INSIGHT)")
    target_accuracy: float
    threshold: float | None = Field(description="the calibrated confidence auto-accepted at and "
                                                "above (null: every item goes to humans)")
    samples: int = Field(description="verified items it was fitted on")
    held_out: int = Field(description="verified items the metrics and threshold were measured on")
    ece_before: float = Field(description="expected calibration error of the raw confidence, "
                                          "held out")
    ece_after: float = Field(description="expected calibration error once calibrated, held out")
    knots_x: list[float] = Field(description="raw confidences of the isotonic map")
    knots_y: list[float] = Field(description="the probabilities of being right they map to")


class CalibrationCandidate(ResponseModel):
    insight: str
    annotator: str
    verified: int = Field(description="its items among the 10,000 most recently queued decided "
                                      "ones (a fit reads all of them, and needs at least 20 "
                                      "with a confidence)")


class CalibrationList(ResponseModel):
    """The calibrations routing applies, and the models whose verified items could be fitted."""

    calibrations: list[CalibrationView]
    candidates: list[CalibrationCandidate]


class WorkerReputation(ResponseModel):
    score: float
    samples: int
    quarantined: bool


class AnalyzerView(ResponseModel):
    name: str = Field(description="what a job's 'analyzers' names")
    reads: list[str] = Field(description="analyzers whose results it reads (a job asking for it "
                                         "runs them too)")
    workers: int = Field(description="workers that advertise it (0: a job over it waits for one)")
    promoted: int | None = Field(default=None, description="the model.registered entry of the "
                                 "version workers run (aiwork models promote), if any")
    hint: str | None = Field(default=None, description="when no worker advertises it: what "
                             "makes one able to (custom_tags needs a model)")


class WorkerView(ResponseModel):
    did: str
    analyzers: dict[str, Any]
    reputation: WorkerReputation
    released: int | None = Field(default=None, description="leases released (with 'leases')")


class LeaseGrant(ResponseModel):
    lease: str
    job: str
    task: str
    replica: int
    analyzer: str
    asset: str
    expires: float
    upstream: list[Any]
    library: str | None
    sensitive: bool


class LeaseExpiry(ResponseModel):
    lease: str
    expires: float


class ResultReceipt(ResponseModel):
    decision: int = Field(description="the decision's ledger index")


class CosignatureReceipt(ResponseModel):
    size: int
    witness: str
    timestamp: int


class RulesByInsight(RootModel[dict[str, RoutingRules]]):
    """The routing rules of every reviewed insight, by insight."""
