"""An analyzer's settings, declared once: names, types, defaults and bounds in one model.

Each analyzer declares ``Options``, a subclass of :class:`AnalyzerOptions` (a frozen pydantic
model that refuses unknown names). :class:`~aiwork.analyzers.base.Analyzer` parses the options
it is given into it (``self.settings``), so a misspelt option or a value out of its bounds is
an :class:`~aiwork.errors.InputError` naming the option, before any work. Its
``parameters()`` (recorded in every decision and part of the resume key) is, by default, the
settings' fields, less those marked ``Field(exclude=True)`` (run-time knobs such as thread
counts, and model files, which the weights digest covers); an analyzer that records more
adds it to them, and its evidence quotes them with :meth:`AnalyzerOptions.pick`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aiwork.errors import InputError

__all__ = ["AnalyzerOptions", "DrawnOptions", "Field", "field_validator", "parse_options"]

OptionsT = TypeVar("OptionsT", bound="AnalyzerOptions")


class AnalyzerOptions(BaseModel):
    """Base of every analyzer's settings (no settings of its own)."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    def recorded(self) -> dict[str, Any]:
        """The settings that shape the output: every field not marked ``exclude``."""
        return self.model_dump(mode="json")

    def pick(self, *names: str) -> dict[str, Any]:
        """The named settings (copies), for an evidence's ``thresholds``."""
        return {name: copy.deepcopy(getattr(self, name)) for name in names}


class DrawnOptions(AnalyzerOptions):
    """The options of the drawn/animated signal (:mod:`aiwork.analyzers.drawn`), shared by
    the analyzers that use it. They are recorded through the signal's own parameters."""

    drawn_signal: bool = Field(True, exclude=True)
    drawn_model: str | None = Field(None, exclude=True)
    drawn_threshold: float | None = Field(None, gt=0.0, lt=1.0, exclude=True)
    backbone_weights: str | None = Field(None, exclude=True)


def _where(error: Mapping[str, Any]) -> str:
    return ".".join(str(part) for part in error.get("loc", ())) or "(options)"


def parse_options(model: type[OptionsT], given: Mapping[str, Any] | None,
                  analyzer: str) -> OptionsT:
    """``given`` checked against ``model``: an :class:`InputError` names the first option
    that is unknown or whose value does not fit."""
    if given is not None and not isinstance(given, Mapping):
        raise InputError(f"analyzer {analyzer}: options must be a mapping of names to values")
    try:
        return model.model_validate(dict(given or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        name = _where(first)
        if first.get("type") == "extra_forbidden":
            known = ", ".join(sorted(model.model_fields))
            raise InputError(f"analyzer {analyzer}: unknown option {name!r}",
                             hint=f"its options: {known or 'none'}") from None
        raise InputError(f"analyzer {analyzer}: option {name!r}: {first.get('msg')} "
                         f"(given {first.get('input')!r})") from None
