"""Bodies of the model registry's entries: ``model.registered/v1`` (a model version, its
weights digest, parent, training dataset, held-out metrics and approver),
``model.promoted/v1`` (the version an analyzer uses) and ``dataset.released/v1`` (the dataset
a registration names as its training data)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from aiwork.digests import DIGEST_PATTERN
from aiwork.model.commitment import Commitment

__all__ = ["DatasetFile", "DatasetReleased", "ModelPromoted", "ModelRegistered", "TrainingDataset"]

_DID = r"^did:key:z[1-9A-HJ-NP-Za-km-z]+$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainingDataset(_Body):
    """The ``dataset.released`` entry a model was trained on: its ledger index and digest."""

    entry: int = Field(ge=0, description="ledger index of the dataset.released entry")
    digest: str = Field(pattern=DIGEST_PATTERN, description="the dataset's digest")


_METRIC = r"^[A-Za-z0-9_.:@/-]{1,64}$"


class ModelRegistered(_Body):
    """Body of ``model.registered/v1``: one version of an analyzer's model, known by the
    digest of its weights (:func:`aiwork.analyzers.base.weights_digest`), the model it was
    derived from (``parent``: that model's ``model.registered`` entry), the dataset it was
    trained on, its metrics on held-out data, and who approved it."""

    analyzer: str = Field(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")
    version: str = Field(min_length=1, max_length=64)
    weights_digest: str = Field(pattern=DIGEST_PATTERN)
    code_version: str = Field(min_length=1, max_length=64, description="aiwork's version")
    parent: int | None = Field(default=None, ge=0,
                               description="ledger index of the parent's model.registered")
    dataset: TrainingDataset | None = None
    metrics: dict[Annotated[str, Field(pattern=_METRIC)],
                  Annotated[float, Field(allow_inf_nan=False)]] = Field(
        default_factory=dict, max_length=64, description="held-out metrics, name → number")
    approved_by: str = Field(pattern=_DID)


class ModelPromoted(_Body):
    """Body of ``model.promoted/v1``: the registered version an analyzer uses from now on."""

    analyzer: str = Field(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")
    registration: int = Field(ge=0, description="ledger index of its model.registered")
    by: str = Field(pattern=_DID)


class DatasetFile(_Body):
    path: str = Field(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", max_length=255)
    sha256: str = Field(pattern=DIGEST_PATTERN)


class DatasetReleased(_Body):
    """Body of ``dataset.released/v1``: a dataset exported from human-validated items: its
    name, version, files with their sha256 digests, the consensus entries it covers, and
    ``digest``: the sha256 of the RFC 8785 canonical JSON of ``{name, version, files}``.

    The consensus entries of sensitive libraries' items are not listed: ``sealed_consensus``
    is a salted commitment to their sorted list (absent when there are none), whose opening
    only the export's reader gets, so the public log does not say which sealed items went
    into which dataset (nor, through it, into which model)."""

    name: str = Field(min_length=1, max_length=64)
    version: str = Field(min_length=1, max_length=64)
    digest: str = Field(pattern=DIGEST_PATTERN)
    files: list[DatasetFile] = Field(min_length=1, max_length=64)
    consensus: list[int] = Field(description="ledger indices of the consensus entries covered "
                                             "(of public libraries' items)")
    sealed_consensus: Commitment | None = Field(
        default=None, description="a commitment to the sorted ledger indices of the "
                                  "consensus entries of sensitive libraries' items it covers")
