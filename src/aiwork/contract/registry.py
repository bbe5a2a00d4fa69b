"""The model registry's answers: the registered versions (``GET /v1/models``) and a
decision's lineage (``GET /v1/ledger/entries/{index}/lineage``). Re-exported by
:mod:`aiwork.contract.responses`, where every answer is named."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from aiwork.contract.answer import ResponseModel

__all__ = ["Lineage", "LineageDataset", "LineageExpert", "LineageModel", "LineageWeights",
           "ModelVersion"]


class LineageWeights(ResponseModel):
    name: str | None
    version: str | None
    weights_digest: str | None


class LineageExpert(ResponseModel):
    did: str
    verdicts: list[int] = Field(description="the ledger indices of their verdicts the "
                                            "dataset's consensus entries combined")


class LineageDataset(ResponseModel):
    """The ``dataset.released`` entry a model was trained on, checked against its digest."""

    index: int
    name: str | None
    version: str | None
    digest: str | None
    author: str
    consensus: list[int] = Field(description="the consensus.result entries it covers (of "
                                             "public libraries' items)")
    sealed_consensus: dict[str, str] | None = Field(
        default=None, description="{commitment}: a salted commitment to the consensus entries "
                                  "of sensitive libraries' items it covers (null: none)")
    outcomes: dict[str, int] = Field(description="how many were accepted, corrected, rejected")
    experts: list[LineageExpert]


class ModelVersion(ResponseModel):
    """A registered model version (a ``model.registered`` entry) and whether it is the one its
    analyzer uses (the latest ``model.promoted`` entry chooses it)."""

    index: int = Field(description="the model.registered entry")
    analyzer: str
    version: str
    weights_digest: str = Field(description="as the analyzer computes it over the files it "
                                            "loads; the worker's model store keeps them by it")
    code_version: str | None = None
    parent: int | None = None
    dataset: dict[str, Any] | None = Field(
        default=None, description="{entry, digest}: the dataset.released entry it was trained on")
    metrics: dict[str, float] = Field(description="held-out metrics")
    approved_by: str
    author: str
    time: str
    in_use: bool = Field(description="the version its analyzer uses (promoted)")
    promoted_at: int | None = Field(description="the model.promoted entry, when in use")


class LineageModel(ResponseModel):
    """One ``model.registered`` entry of the chain (the decision's model, then its parents)."""

    index: int
    analyzer: str
    version: str
    weights_digest: str
    code_version: str | None
    metrics: dict[str, float] = Field(description="held-out metrics")
    approved_by: str
    author: str
    parent: int | None
    dataset: LineageDataset | None


class Lineage(ResponseModel):
    """Which model made a decision, trained on which dataset, validated by which experts, read
    from the ledger alone (what ``aiwork lineage INDEX`` prints)."""

    decision: int
    kind: str
    analyzer: str
    insight: str | None
    author: str
    model: LineageWeights
    registration_named: bool = Field(description="the decision names its model.registered "
                                                 "entry (else found by its weights digest)")
    models: list[LineageModel] = Field(description="its registration, then each parent; empty "
                                                   "when its weights are not registered")
