"""The analyzer plug-in interface: one required method, optional hooks with defaults.

An analyzer turns what the decoding pass produced (sampled frames, audio) and the outputs of
the analyzers it runs after into the items of one insight, plus the evidence for its
``ai.decision`` entry. It never touches the ledger or the store: the pipeline signs, logs and
stores what it returns.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from aiwork.analyzers.options import AnalyzerOptions, parse_options
from aiwork.digests import Sha256Stream
from aiwork.errors import AnalyzerUnavailable
from aiwork.media.decode import AudioTrack, FrameStore, FrameVisitor
from aiwork.media.probe import Probe

__all__ = ["AnalysisContext", "Analyzer", "AnalyzerOutput", "ModelInfo", "weights_digest"]


@dataclass(frozen=True)
class ModelInfo:
    """The model behind an analyzer; ``weights_digest`` covers the files actually loaded."""

    name: str
    version: str
    weights_digest: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "weights_digest": self.weights_digest}


#: A weight file as it is hashed: its name and the files whose bytes, one after the other,
#: are its bytes (the file itself, or the parts a joined file is made of).
WeightFile = tuple[str, tuple[Path, ...]]


def weights_digest(files: Iterable[Path]) -> str:
    """sha256 over the weight files, in name order (name, size and bytes of each)."""
    return pieces_digest((path.name, (path,)) for path in files)


def pieces_digest(files: Iterable[WeightFile]) -> str:
    """:func:`weights_digest` of weight files given in pieces: the digest of a joined file is
    computed from its parts, without writing it."""
    digest = Sha256Stream()
    for name, pieces in sorted(files, key=lambda f: f[0]):
        size = sum(piece.stat().st_size for piece in pieces)
        digest.update(name.encode() + b"\0" + str(size).encode() + b"\0")
        for piece in pieces:
            with piece.open("rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
    return digest.digest


@dataclass
class AnalysisContext:
    """What an analyzer may read. ``upstream`` holds the outputs of its ``after`` analyzers."""

    asset: str
    probe: Probe
    frames: FrameStore | None
    audio: AudioTrack | None  # read it in pieces: a long video's track is not in memory
    upstream: Mapping[str, AnalyzerOutput]
    keyframe_dir: Path
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.probe.duration


@dataclass
class AnalyzerOutput:
    """Items of one insight (JSON values matching :mod:`aiwork.model.metadata`, without
    their ``decision``), with what the decision entry records about them."""

    items: list[dict[str, Any]] | dict[str, Any]
    confidences: list[float] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    start: float = 0.0
    end: float | None = None
    files: dict[str, Path] = field(default_factory=dict)  # keyframes: relative name -> file

    def confidence_summary(self) -> dict[str, float]:
        values = [c for c in self.confidences if c is not None]
        if not values:
            return {}
        return {
            "mean": round(sum(values) / len(values), 4),
            "min": round(min(values), 4),
            "max": round(max(values), 4),
        }


class Analyzer(ABC):
    """Base of every analyzer. Subclasses set the class attributes and implement
    :meth:`analyze`; the other methods are optional hooks."""

    #: Registry key, also the ``analyzer`` field of its decisions.
    name: ClassVar[str]
    #: Bumped when its output for the same input would change; part of the resume key.
    version: ClassVar[str] = "1"
    #: The top-level key of metadata.json this analyzer fills (default: its name).
    insight: ClassVar[str]
    #: Analyzers whose outputs this one reads (``ctx.upstream``).
    after: ClassVar[tuple[str, ...]] = ()
    #: Python modules its model needs; missing ones make it unavailable, not a crash.
    requires: ClassVar[tuple[str, ...]] = ()
    needs_frames: ClassVar[bool] = False
    #: Its frame visitor needs only every n-th decoded frame (scaling each costs more than
    #: decoding it).
    scan_every: int = 1
    needs_audio: ClassVar[bool] = False
    #: Its settings (:mod:`aiwork.analyzers.options`): names, defaults and bounds, declared
    #: once. None: it reads ``self.options`` itself.
    Options: ClassVar[type[AnalyzerOptions] | None] = None

    #: The option that names a registered version's files (a file, or the folder holding
    #: them): how a version kept in the model store (:mod:`aiwork.analyzers.store`) is given
    #: to it. None: its registered versions cannot be loaded from the store.
    weights_option: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and "insight" not in cls.__dict__:
            cls.insight = cls.name

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        """``options``: checked against :attr:`Options` (an unknown name or a value out of
        bounds raises :class:`~aiwork.errors.InputError`), parsed into ``self.settings``."""
        self.options: dict[str, Any] = dict(options or {})
        self.settings: AnalyzerOptions = (
            parse_options(self.Options, self.options, self.name) if self.Options is not None
            else AnalyzerOptions())

    @classmethod
    def stored_digest(cls, files: Sequence[Path]) -> str:
        """The weights digest of a registered version's files, as this analyzer's decisions
        record it when it loads them (what the model store checks the files against). By
        default :func:`weights_digest`, as ``aiwork models register --weights`` computes it."""
        return weights_digest(files)

    @classmethod
    def check_stored(cls, files: Sequence[Path]) -> None:
        """Refuse (an AiworkError saying why) files given as a version of this analyzer that
        it could not load, before the model store keeps them; by default nothing is checked
        beyond :meth:`stored_digest`."""

    @classmethod
    def stored_options(cls, folder: Path, files: Sequence[Path]) -> dict[str, Any]:
        """The options that make it load a registered version's ``files`` (kept in
        ``folder`` by the model store): by default :attr:`weights_option` naming the file
        (one) or the folder (several)."""
        if cls.weights_option is None:
            raise AnalyzerUnavailable(
                f"the {cls.name} analyzer has no option that loads registered weights")
        return {cls.weights_option: str(files[0] if len(files) == 1 else folder)}

    @abstractmethod
    def analyze(self, ctx: AnalysisContext) -> AnalyzerOutput:
        """Produce this analyzer's items for one video."""

    # -- optional hooks ----------------------------------------------------------------

    def check(self) -> None:
        """Raise :class:`AnalyzerUnavailable` with a reason if it cannot run here."""
        missing = [m for m in self.requires if importlib.util.find_spec(m) is None]
        if missing:
            raise AnalyzerUnavailable(
                f"needs the Python package(s) {', '.join(missing)}; "
                "install aiwork with its default dependencies"
            )

    def model(self) -> ModelInfo:
        """The model used (default: a pure algorithm named after the analyzer)."""
        return ModelInfo(name=f"aiwork.{self.name}", version=self.version)

    def parameters(self) -> dict[str, Any]:
        """The settings that shape the output (recorded and part of the resume key): by
        default the fields of :attr:`Options` not marked ``exclude``."""
        return self.settings.recorded()

    def output(self, ctx: AnalysisContext, items: list[dict[str, Any]],
               evidence: dict[str, Any], **more: Any) -> AnalyzerOutput:
        """The output of :meth:`analyze` for ``ctx``: ``items`` (their ``confidence`` values
        listed), ``evidence``, the :meth:`parameters`, to the end of the video."""
        return AnalyzerOutput(items=items, confidences=[float(i["confidence"]) for i in items],
                              evidence=evidence, parameters=self.parameters(), end=ctx.duration,
                              **more)

    def frame_visitor(self, probe: Probe) -> FrameVisitor | None:
        """A callable that sees every decoded frame during the single decoding pass."""
        return None
