"""Entry kinds: named, versioned, each with the schema of its body.

A kind is written in entries as ``name/vN`` (``asset.registered/v1``). Asking for a bare name
resolves to its newest version. New versions are added beside old ones, never changed, so
old entries keep verifying.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiwork.digests import DIGEST_PATTERN
from aiwork.errors import ConfigError, InvalidBodyError, UnknownKindError
from aiwork.model.commitment import Commitment
from aiwork.model.registered import DatasetReleased, ModelPromoted, ModelRegistered

__all__ = ["DECISION_KINDS", "DEFAULT_KINDS", "AiDecision", "AiDecisionV2", "AssetRegistered",
           "AssetSummary", "DatasetReleased", "DerivedFrom", "EntryKind", "KindRegistry",
           "ModelPromoted", "ModelRef", "ModelRegistered"]

#: The versions of ``ai.decision`` a ledger holds (v2 names its upstream decisions).
DECISION_KINDS = ("ai.decision/v1", "ai.decision/v2")


class AssetRegistered(BaseModel):
    """Body of ``asset.registered/v1``: a media file entered into aiwork, known by its digest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    digest: str = Field(pattern=DIGEST_PATTERN, description="sha256 of the file's bytes")
    size: int = Field(ge=0, description="file size in bytes")
    name: str | None = Field(default=None, max_length=1024, description="original file name")
    media_type: str | None = Field(default=None, max_length=255, description="e.g. video/mp4")
    probe: dict[str, Any] = Field(default_factory=dict, description="technical facts (probe)")


class ModelRef(BaseModel):
    """Which model produced a decision: name, version and the digest of the weights loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(max_length=255)
    version: str = Field(max_length=255)
    weights_digest: str | None = Field(
        default=None, pattern=DIGEST_PATTERN,
        description="sha256 over the weight files actually loaded; None for pure algorithms",
    )
    registration: int | None = Field(
        default=None, ge=0,
        description="ledger index of the model.registered entry of these weights, when the "
        "model is a registered version (absent otherwise)",
    )


class DecisionInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    asset: str = Field(pattern=DIGEST_PATTERN)
    start: float = Field(ge=0)
    end: float = Field(ge=0)


class AnalyzerRun(BaseModel):
    """What every decision body says in the open, sealed or not: which analyzer and model
    ran, with which parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    analyzer: str = Field(max_length=64)
    analyzer_version: str = Field(max_length=64)
    insight: str = Field(max_length=64)
    model: ModelRef
    parameters: dict[str, Any] = Field(default_factory=dict)
    parameters_digest: str = Field(pattern=DIGEST_PATTERN)


class AiDecision(AnalyzerRun):
    """Body of ``ai.decision/v1``: one analyzer run over one input range of one asset.

    ``output_digest`` is the sha256 of the canonical JSON of the analyzer's output items
    without their ``decision`` fields (the index is known only once this entry is logged).
    """

    input: DecisionInput
    output_digest: str = Field(pattern=DIGEST_PATTERN)
    output_items: int = Field(ge=0)
    confidence: dict[str, float] = Field(
        default_factory=dict, description="summary over the items: mean, min, max"
    )
    evidence: dict[str, Any] = Field(
        default_factory=dict,
        description="what a reviewer needs: top alternatives with scores, thresholds applied, "
        "keyframe digests",
    )
    task: str | None = Field(default=None, max_length=128)


class DerivedFrom(BaseModel):
    """One upstream decision a decision was computed from: its insight and ledger index."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    insight: str = Field(max_length=64)
    decision: int = Field(ge=0, description="ledger index of the upstream ai.decision")


class DecisionInputV2(DecisionInput):
    derived_from: list[DerivedFrom] = Field(
        max_length=32,
        description="the upstream decisions whose outputs this run read (empty for an "
        "analyzer that reads only the media)",
    )


class AiDecisionV2(AiDecision):
    """Body of ``ai.decision/v2``: as v1, and ``input.derived_from`` names the upstream
    decisions (``{insight, decision}``) whose outputs the analyzer read, so a keyword list
    traces to the transcript it was computed from."""

    input: DecisionInputV2


class SealedDecision(AnalyzerRun):
    """Body of ``ai.decision.sealed/v1``: an ``ai.decision`` about media of a sensitive
    library. Which analyzer and model ran, with which parameters, stays public; the input
    (asset, time range, the decisions it was derived from), the output items (instead of
    their unsalted ``output_digest``), their count, the confidence summary and the evidence
    are commitments (:mod:`aiwork.model.commitment`) that the worker made and signed, and
    whose openings only the library's readers get."""

    input: Commitment
    output: Commitment = Field(description="the output items without their decision fields")
    output_items: Commitment
    confidence: Commitment
    evidence: Commitment
    task: str | None = Field(default=None, max_length=128)


_DID = r"^did:key:z[1-9A-HJ-NP-Za-km-z]+$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoleGranted(_Body):
    """Body of ``role.granted/v1``: an identity holds a role on this coordinator."""

    subject: str = Field(pattern=_DID)
    role: str = Field(pattern=r"^(requester|worker|expert|auditor|admin)$")
    granted_by: str | None = Field(default=None, description="admin did; None: open registration")


class CreditsGranted(_Body):
    """Body of ``credits.granted/v1``: credits put into an account (a requester's budget)."""

    to: str = Field(pattern=_DID)
    amount: int = Field(gt=0)
    reason: str = Field(max_length=255)


class RewardAccrued(_Body):
    """Body of ``reward.accrued/v1``: credits moved from a payer to an earner for work done.

    Balances are the sum of grants and rewards received minus rewards paid: the ledger alone
    recomputes them.
    """

    to: str = Field(pattern=_DID)
    payer: str = Field(pattern=_DID)
    amount: int = Field(gt=0)
    job: str = Field(max_length=128)
    task: str = Field(max_length=128)
    reason: str = Field(max_length=255)


class ReputationUpdate(_Body):
    """Body of ``reputation.update/v1``: one observation and the reputation after it."""

    subject: str = Field(pattern=_DID)
    role: str = Field(pattern=r"^(worker|expert)$")
    insight: str | None = Field(default=None, max_length=64)
    source: str = Field(pattern=r"^(agreement|gold|consensus)$")
    observation: float = Field(ge=0, le=1)
    score: float = Field(ge=0, le=1)
    samples: int = Field(ge=0)
    quarantined: bool
    task: str | None = Field(default=None, max_length=128)


class HumanVerdict(_Body):
    """Body of ``human.verdict/v1``: an expert's answer on one review item, signed by the
    expert. ``value`` is the correction when ``verdict`` is ``correct``."""

    item: str = Field(pattern=r"^[0-9a-f]{32}$", description="the review item")
    decision: int = Field(ge=0, description="ledger index of the AI decision reviewed")
    insight: str = Field(max_length=64)
    verdict: str = Field(pattern=r"^(accept|reject|correct)$")
    value: Any = None
    rationale: str | None = Field(default=None, max_length=2000)
    seconds: float | None = Field(default=None, ge=0, le=86400,
                                  description="time the expert spent on it")


class SealedVerdict(_Body):
    """Body of ``human.verdict.sealed/v1``: a verdict on an item of a sensitive library. The
    expert's client commits to the correction and the rationale (always, even when empty),
    so the public log shows who answered accept, reject or correct, never what they wrote."""

    item: str = Field(pattern=r"^[0-9a-f]{32}$", description="the review item")
    decision: int = Field(ge=0, description="ledger index of the AI decision reviewed")
    insight: str = Field(max_length=64)
    verdict: str = Field(pattern=r"^(accept|reject|correct)$")
    value: Commitment
    rationale: Commitment
    seconds: float | None = Field(default=None, ge=0, le=86400)


class ConsensusParticipant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    annotator: str = Field(max_length=256, description="an expert's did, or model:<name>")
    answer: str = Field(pattern=r"^(accept|reject)$")
    weight: float = Field(ge=0, le=1, description="learned skill on this insight")
    verdict: int | None = Field(default=None, description="ledger index of the verdict")


class ConsensusResult(_Body):
    """Body of ``consensus.result/v1``: the verdicts on one item combined by truth inference.
    The participants are the experts (entries made before escalation existed also list the AI
    model, as one more annotator that voted accept on its own output)."""

    item: str = Field(pattern=r"^[0-9a-f]{32}$")
    decision: int = Field(ge=0)
    insight: str = Field(max_length=64)
    method: str = Field(max_length=64)
    items: int | None = Field(default=None, ge=1,
                              description="how many items the inference ran over")
    participants: list[ConsensusParticipant]
    label: str = Field(pattern=r"^(accept|reject)$")
    posterior: float = Field(ge=0, le=1)
    outcome: str = Field(pattern=r"^(accepted|rejected|corrected)$")
    value: Any = None


class SealedConsensus(_Body):
    """Body of ``consensus.result.sealed/v1``: a consensus on an item of a sensitive library;
    the corrected value is a commitment."""

    item: str = Field(pattern=r"^[0-9a-f]{32}$")
    decision: int = Field(ge=0)
    insight: str = Field(max_length=64)
    method: str = Field(max_length=64)
    items: int | None = Field(default=None, ge=1)
    participants: list[ConsensusParticipant]
    label: str = Field(pattern=r"^(accept|reject)$")
    posterior: float = Field(ge=0, le=1)
    outcome: str = Field(pattern=r"^(accepted|rejected|corrected)$")
    value: Commitment


_LIBRARY = r"^[0-9a-f]{32}$"


class LibraryCreated(_Body):
    """Body of ``library.created/v1``: a requester's collection of media, and whether reads
    of its metadata are logged (``sensitive``)."""

    library: str = Field(pattern=_LIBRARY)
    owner: str = Field(pattern=_DID)
    sensitive: bool


class LibraryUpdated(_Body):
    """Body of ``library.updated/v1``: the owner changed sensitivity or added a reader.

    ``prev`` is the ledger index of the library's previous ``library.*`` entry and ``reads``
    the number of its ``access.read`` entries before this one, so no change and no read
    before it can be left out of the library's history unnoticed.
    """

    library: str = Field(pattern=_LIBRARY)
    by: str = Field(pattern=_DID)
    sensitive: bool = Field(description="sensitivity after this change")
    reader: str | None = Field(default=None, pattern=_DID, description="a reader added")
    reads: int = Field(ge=0)
    prev: int = Field(ge=0)


class AccessRead(_Body):
    """Body of ``access.read/v1``: who read what of a sensitive library, and why.

    ``seq`` counts the library's earlier ``access.read`` entries; ``prev`` is the ledger index
    of the one before (``None`` for the first) and ``prev_leaf`` its RFC 9162 leaf hash (hex):
    the library's reads form a hash-linked chain inside the log.
    """

    reader: str = Field(pattern=_DID)
    library: str = Field(pattern=_LIBRARY)
    job: str = Field(max_length=128)
    resource: str = Field(max_length=255, description="what was read: results, export/NAME, audit")
    purpose: str = Field(min_length=1, max_length=200)
    seq: int = Field(ge=0)
    prev: int | None = Field(default=None, ge=0)
    prev_leaf: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class AssetSummary(_Body):
    """Body of ``asset.summary/v1``: every insight of an asset (or of a coordinator job over
    it) and the ledger index of its latest ``ai.decision``, signed by whoever processed it
    (the local pipeline's key; the coordinator for a job whose results it accepted).

    Appended when processing finishes and again whenever a decision is added or replaced;
    ``prev`` is the index of the previous summary of the same asset (and job), so the
    summaries form a chain. An audit bundle carries the latest, so an insight left out of
    the bundle shows.
    """

    asset: str = Field(pattern=DIGEST_PATTERN)
    job: str | None = Field(default=None, max_length=128)
    decisions: dict[Annotated[str, Field(min_length=1, max_length=64)],
                    Annotated[int, Field(ge=0)]] = Field(max_length=256)
    prev: int | None = Field(default=None, ge=0)


class SealedAssetSummary(_Body):
    """Body of ``asset.summary.sealed/v1``: the ``asset.summary`` of a sensitive library's
    job, its asset digest a commitment (the job and its decisions' indexes stay public)."""

    asset: Commitment
    job: str = Field(max_length=128)
    decisions: dict[Annotated[str, Field(min_length=1, max_length=64)],
                    Annotated[int, Field(ge=0)]] = Field(max_length=256)
    prev: int | None = Field(default=None, ge=0)


_HASH32 = r"^0x[0-9a-f]{64}$"


class AnchorRecorded(_Body):
    """Body of ``anchor/v1``: a signed checkpoint of this log anchored on an EVM chain.

    Where: ``chain_id``, ``contract`` and the ``transaction`` mined in ``block``
    (``block_hash``). What: the contract's ``log_id`` (SHA-256 of the checkpoint's
    ``origin`` line), the tree ``size`` and its ``root``. Hashes are 0x-prefixed lowercase hex.
    """

    chain_id: int = Field(ge=1)
    contract: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    transaction: str = Field(pattern=_HASH32)
    block: int = Field(ge=0)
    block_hash: str = Field(pattern=_HASH32)
    log_id: str = Field(pattern=_HASH32)
    origin: str = Field(min_length=1, max_length=1024)
    size: int = Field(ge=0)
    root: str = Field(pattern=_HASH32)


@dataclass(frozen=True)
class EntryKind:
    """One version of one kind. ``body_model`` ``None`` means any JSON object."""

    name: str
    version: int
    description: str
    body_model: type[BaseModel] | None = None

    @property
    def id(self) -> str:
        return f"{self.name}/v{self.version}"

    def validate_body(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise InvalidBodyError(f"{self.id} body must be a JSON object")
        if self.body_model is None:
            return
        try:
            self.body_model.model_validate(body, strict=True)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise InvalidBodyError(
                f"{self.id} body is invalid at {where!r}: {first['msg']}"
                + (f" ({exc.error_count() - 1} more problems)" if exc.error_count() > 1 else "")
            ) from exc

    def json_schema(self) -> dict[str, Any]:
        if self.body_model is None:
            return {"type": "object"}
        return self.body_model.model_json_schema()


class KindRegistry:
    """The kinds a ledger accepts, by ``name/vN``."""

    def __init__(self, kinds: Iterable[EntryKind] = ()) -> None:
        self._kinds: dict[str, EntryKind] = {}
        for kind in kinds:
            self.register(kind)

    def register(self, kind: EntryKind) -> None:
        if kind.id in self._kinds:
            raise ConfigError(f"kind {kind.id} is already registered")
        self._kinds[kind.id] = kind

    def get(self, kind_id: str) -> EntryKind:
        """The kind exactly as written in an entry (``name/vN``)."""
        try:
            return self._kinds[kind_id]
        except (KeyError, TypeError):
            raise UnknownKindError(
                f"unknown entry kind {kind_id!r}",
                hint=f"known kinds: {', '.join(sorted(self._kinds))}",
            ) from None

    def resolve(self, name: str) -> EntryKind:
        """``name/vN`` exactly, or a bare ``name`` as its newest version."""
        if "/" in name:
            return self.get(name)
        versions = [kind for kind in self._kinds.values() if kind.name == name]
        if not versions:
            raise UnknownKindError(
                f"unknown entry kind {name!r}", hint=f"known kinds: {', '.join(sorted(self._kinds))}"
            )
        return max(versions, key=lambda kind: kind.version)

    def __iter__(self) -> Iterator[EntryKind]:
        return iter(sorted(self._kinds.values(), key=lambda kind: kind.id))

    def __contains__(self, kind_id: object) -> bool:
        return kind_id in self._kinds


DEFAULT_KINDS = KindRegistry(
    [
        EntryKind("generic", 1, "any JSON object"),
        EntryKind("asset.registered", 1, "a media file known by its sha256", AssetRegistered),
        EntryKind("ai.decision", 1, "one analyzer run: model, input, output digest, evidence",
                  AiDecision),
        EntryKind("ai.decision", 2, "one analyzer run, naming the upstream decisions it read",
                  AiDecisionV2),
        EntryKind("role.granted", 1, "an identity holds a role", RoleGranted),
        EntryKind("credits.granted", 1, "credits put into an account", CreditsGranted),
        EntryKind("reward.accrued", 1, "credits moved from a payer to an earner",
                  RewardAccrued),
        EntryKind("reputation.update", 1, "one quality observation and the reputation after it",
                  ReputationUpdate),
        EntryKind("human.verdict", 1, "an expert's accept, reject or correction of an AI item",
                  HumanVerdict),
        EntryKind("consensus.result", 1, "verdicts on one item combined by truth inference",
                  ConsensusResult),
        EntryKind("ai.decision.sealed", 1, "an ai.decision about a sensitive library's media,"
                  " its input, output and evidence as salted commitments", SealedDecision),
        EntryKind("human.verdict.sealed", 1, "a verdict on a sensitive library's item, its"
                  " correction and rationale as salted commitments", SealedVerdict),
        EntryKind("consensus.result.sealed", 1, "a consensus on a sensitive library's item,"
                  " its corrected value as a salted commitment", SealedConsensus),
        EntryKind("asset.summary.sealed", 1, "a sensitive library's asset.summary, its asset"
                  " digest as a salted commitment", SealedAssetSummary),
        EntryKind("library.created", 1, "a requester's library, sensitive or not",
                  LibraryCreated),
        EntryKind("library.updated", 1, "a library's sensitivity or readers changed",
                  LibraryUpdated),
        EntryKind("access.read", 1, "a read of a sensitive library's metadata: who, what, why",
                  AccessRead),
        EntryKind("anchor", 1, "a checkpoint anchored on an EVM chain: where, size and root",
                  AnchorRecorded),
        EntryKind("asset.summary", 1, "an asset's insights and the latest decision of each",
                  AssetSummary),
        EntryKind("model.registered", 1, "a model version: weights digest, parent, training"
                  " dataset, held-out metrics, approver", ModelRegistered),
        EntryKind("model.promoted", 1, "the registered model version an analyzer uses",
                  ModelPromoted),
        EntryKind("dataset.released", 1, "a dataset of validated items: its files' digests and"
                  " the consensus entries it covers", DatasetReleased),
    ]
)
