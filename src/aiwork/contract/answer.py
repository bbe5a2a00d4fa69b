"""The base of every answer of the coordinator's API (:mod:`aiwork.contract.responses`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["ResponseModel"]


class ResponseModel(BaseModel):
    """The base of every answer: a newer coordinator may add fields."""

    model_config = ConfigDict(extra="allow")
