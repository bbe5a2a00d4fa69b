"""Analyzers: one per file behind :class:`~aiwork.analyzers.base.Analyzer`, and their registry.

The registry maps each analyzer's name to its module, ``aiwork.analyzers.<name>`` (a module or
a package); the class is the one in it whose own ``name`` is that name. Modules are imported
when asked for, so a trimmed install that lacks one analyzer's model package still runs the
others.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiwork.analyzers.base import AnalysisContext, Analyzer, AnalyzerOutput, ModelInfo
from aiwork.errors import AnalyzerUnavailable, ConfigError

__all__ = [
    "DEFAULT",
    "ON_REQUEST",
    "REGISTRY",
    "AnalysisContext",
    "Analyzer",
    "AnalyzerOutput",
    "Availability",
    "ModelInfo",
    "analyzer_class",
    "availability",
    "load",
    "order",
    "upstream",
]

#: The analyzers, in the running order: each is the class in aiwork.analyzers.<name> whose
#: ``name`` is <name>.
_NAMES = ("technical", "shots", "transcript", "audio_events", "ocr", "faces", "tags",
          "custom_tags", "safety", "language", "keywords", "chapters")

#: Name -> the module that holds the analyzer of that name, in the running order.
REGISTRY: dict[str, str] = {name: f"aiwork.analyzers.{name}" for name in _NAMES}

#: Analyzers that run only when asked for by name: ``custom_tags`` needs a platform's own
#: trained model (given as its option ``model``, or a promoted registered version).
ON_REQUEST = frozenset({"custom_tags"})

#: The analyzers run when none are named, in the running order.
DEFAULT: tuple[str, ...] = tuple(name for name in _NAMES if name not in ON_REQUEST)


@dataclass(frozen=True)
class Availability:
    name: str
    analyzer: Analyzer | None
    reason: str | None  # why it cannot run here, when it cannot


def analyzer_class(name: str) -> type[Analyzer]:
    """The class of the analyzer called ``name`` (ConfigError if there is none)."""
    return _class(name)


def _class(name: str) -> type[Analyzer]:
    module_name = REGISTRY.get(name)
    if module_name is None:
        raise ConfigError(f"unknown analyzer {name!r}", hint=f"known: {', '.join(REGISTRY)}")
    module = importlib.import_module(module_name)
    found = [value for value in vars(module).values()
             if isinstance(value, type) and issubclass(value, Analyzer)
             and value.__dict__.get("name") == name]
    if len(found) != 1:
        raise ConfigError(f"{module_name} holds {len(found)} analyzers named {name!r}, "
                          "not one")
    return found[0]


def _after(name: str) -> tuple[str, ...]:
    try:
        return _class(name).after
    except ModuleNotFoundError:
        return ()


def upstream(name: str) -> tuple[str, ...]:
    """The registered analyzers whose outputs ``name`` reads (its ``after``)."""
    return tuple(dep for dep in _after(name) if dep in REGISTRY)


def load(name: str, options: Mapping[str, Any] | None = None) -> Analyzer:
    """An analyzer instance; raises :class:`AnalyzerUnavailable` if it cannot run here."""
    try:
        analyzer = _class(name)(options)
    except ModuleNotFoundError as exc:
        raise AnalyzerUnavailable(f"its module or a package it needs is missing ({exc.name})") from exc
    analyzer.check()
    return analyzer


def availability(
    names: Iterable[str] | None = None, options: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Availability]:
    result = []
    for name in names if names is not None else REGISTRY:
        try:
            result.append(Availability(name, load(name, (options or {}).get(name)), None))
        except AnalyzerUnavailable as exc:
            result.append(Availability(name, None, str(exc)))
    return result


def order(names: Iterable[str]) -> list[str]:
    """``names`` plus the analyzers they run after (when registered), dependencies first."""
    wanted: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in wanted:
            return
        if name in path:
            raise ConfigError(f"analyzers depend on each other in a cycle: {' -> '.join(path)}")
        for dep in _after(name):
            if dep in REGISTRY:
                visit(dep, (*path, name))
        wanted.append(name)

    for name in names:
        visit(name, ())
    rank = {name: i for i, name in enumerate(REGISTRY)}
    # Keep dependencies first, otherwise registry order.
    result: list[str] = []
    remaining = sorted(wanted, key=lambda n: rank[n])
    while remaining:
        for name in remaining:
            if all(dep not in remaining for dep in _after(name)):
                result.append(name)
                remaining.remove(name)
                break
    return result
