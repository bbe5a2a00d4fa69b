"""What a client sends: one named model per request body of the coordinator's API.

The coordinator validates a body with its model only after the request's signature verified
(:mod:`aiwork.api.guard`); a body the model refuses is a 400 naming the field. Fields a model
does not name are ignored, so an older server accepts a newer client's requests. Strict: a
number is not text and ``true`` is not ``1``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aiwork.model.roles import REQUESTABLE_ROLES, ROLES

__all__ = [
    "BlobGrantRequest",
    "CalibrationRequest",
    "CapabilitiesRequest",
    "CosignatureRequest",
    "CreditGrantRequest",
    "EmptyRequest",
    "JobRequest",
    "LeaseRequest",
    "LibraryRequest",
    "LibraryUpdate",
    "OwnedKeysRequest",
    "ReaderRequest",
    "RequestModel",
    "ResultRequest",
    "RoleGrantRequest",
    "RoleRequest",
    "RoutingRulesUpdate",
    "VerdictRequest",
]


class RequestModel(BaseModel):
    """The base of every request body: strict types, unknown fields ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def _either(roles: tuple[str, ...]) -> str:
    """``a, b or c``: the roles as a description says them."""
    return f"{', '.join(roles[:-1])} or {roles[-1]}"


class EmptyRequest(RequestModel):
    """A body the operation does not use (``{}``); it is still covered by the signature."""


class RoleRequest(RequestModel):
    """Ask for a role for the signing identity (granted at once on an open coordinator)."""

    role: str = Field(description=f"{_either(REQUESTABLE_ROLES)} (admin is only granted by "
                                  "an admin)")


class RoleGrantRequest(RequestModel):
    """An admin grants ``role`` to ``did``."""

    did: str = Field(description="the identity's did:key")
    role: str = Field(description=_either(ROLES))


class CreditGrantRequest(RequestModel):
    """An admin grants credits to an account."""

    to: str = Field(description="the account's did:key")
    amount: int = Field(description="how many credits to grant: a whole number, positive")
    reason: str | None = Field(default=None, description="recorded with the grant")


class OwnedKeysRequest(RequestModel):
    """An expert declares the worker keys it controls (it is never given their items)."""

    keys: list[str] = Field(description="the worker did:keys the caller controls")


class JobRequest(RequestModel):
    """Submit a job over uploaded media."""

    asset: str = Field(description="the media's digest (sha256:HEX), uploaded first")
    analyzers: list[str] = Field(description="the analyzers to run")
    redundancy: int = Field(default=1, description="replicas per task (independent workers)")
    budget: int | None = Field(default=None, description="most credits the job may spend")
    deadline: float | None = Field(default=None, allow_inf_nan=False,
                                   description="Unix seconds after which the job expires")
    library: str | None = Field(default=None, description="the library the job belongs to")
    models: dict[str, Annotated[int, Field(ge=0)]] | None = Field(
        default=None, max_length=64,
        description="analyzer -> ledger index of the model.registered entry its results must "
        "be made with (a result of other weights is refused)")


class LibraryRequest(RequestModel):
    """Create a library."""

    name: str
    sensitive: bool = Field(default=False, description="its media and results are read only "
                                                       "by signed, allowed, logged requests")


class LibraryUpdate(RequestModel):
    """Make a library sensitive or not (its owner)."""

    sensitive: bool


class ReaderRequest(RequestModel):
    """Let an identity read a sensitive library (its owner)."""

    did: str = Field(description="the reader's did:key")


class BlobGrantRequest(RequestModel):
    """Ask for a short-lived grant to fetch a sensitive library's blob without signing each
    request (a ``<video>`` element cannot sign): the read is logged first, with its purpose."""

    job: str = Field(max_length=128, description="the job whose video (or keyframe) it is: "
                                                 "the logged read names it")
    purpose: str = Field(max_length=200, description="why it is read (at most 200 "
                                                     "characters), logged in access.read")


class VerdictRequest(RequestModel):
    """An expert's signed ``human.verdict`` entry on the item the URL names."""

    entry: str = Field(description="the signed human.verdict entry, as canonical JSON text")
    openings: dict[str, Any] | None = Field(
        default=None, description="a sensitive library's item: {value: {value, salt}, "
                                  "rationale: {value, salt}} opening the sealed fields")


class RoutingRulesUpdate(RequestModel):
    """The routing rules of one insight to change (the others stay as they are)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    confidence_below: float | None = Field(default=None, ge=0, le=1)
    disagreement: bool | None = None
    audit_share: float | None = Field(default=None, ge=0, le=1)
    gold_share: float | None = Field(default=None, ge=0, le=1)
    experts: int | None = Field(default=None, ge=1, le=50)
    target_accuracy: float | None = Field(
        default=None, ge=0.5, lt=1,
        description="auto-accept only where the model's calibration reaches this accuracy "
                    "(null: back to confidence_below)")
    capacity: int | None = Field(default=None, ge=0, le=100_000,
                                 description="items of one result reviewed at most (null: no cap)")
    sampling: Literal["margin", "entropy"] | None = None


class CalibrationRequest(RequestModel):
    """Fit a model's calibration on an insight from its verified items (admin)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    insight: str = Field(max_length=32, description="a reviewed insight, e.g. shots")
    annotator: str = Field(
        min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
        description="the model whose items were verified: model:NAME@WEIGHTS_DIGEST, as "
                    "GET /v1/review/calibrations lists them under `candidates`")
    target_accuracy: float = Field(
        default=0.95, ge=0.5, lt=1,
        description="the accuracy auto-accepted items must reach on held-out verified items")


class CapabilitiesRequest(RequestModel):
    """What a worker runs: per analyzer its version and model."""

    analyzers: dict[str, Any] = Field(
        description="analyzer name -> {version, model: {name, version, weights_digest}}")
    leases: list[str] | None = Field(
        default=None, description="the leases the worker still holds: its others are released")


class LeaseRequest(RequestModel):
    """Ask for a task replica one of these analyzers can run."""

    capabilities: list[str] = Field(default_factory=list, description="analyzer names")


class ResultRequest(RequestModel):
    """A worker's signed result for its lease."""

    entry: str = Field(description="the signed ai.decision entry, as canonical JSON text")
    output: Any = Field(default=None, description="the analyzer's output the entry commits to")
    openings: dict[str, Any] | None = Field(
        default=None, description="a sensitive task's openings of its sealed fields")


class CosignatureRequest(RequestModel):
    """A configured witness's cosignature of a checkpoint this log signed."""

    size: int = Field(description="the checkpoint's tree size")
    cosignature: str = Field(description="the witness's signature line (C2SP tlog-cosignature)")
    checkpoint: str | None = Field(default=None, description="the cosigned note, if sent")
