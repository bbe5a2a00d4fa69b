"""The ground truth of a rendered clip (:class:`Truth`): what it shows and says, and when,
as JSON (:meth:`Truth.to_json`, :meth:`Truth.from_json`), kept beside the clip
(:func:`truth_path_for`). Times are seconds from the start, rounded to the microsecond
(:func:`rounded`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, cast

from pydantic import TypeAdapter

from aiwork.errors import AiworkError, InputError

__all__ = ["TRUTH_FORMAT", "CaptionTruth", "FaceTruth", "SceneTruth", "Span", "SpeechTruth",
           "TimedWord", "Truth", "rounded", "truth_path_for"]

TRUTH_FORMAT = 1
"""Version of the truth JSON layout; :meth:`Truth.from_json` refuses any other."""


def rounded(seconds: float) -> float:
    """A time as the truth records it (to the microsecond)."""
    return round(seconds, 6)


class _Record:
    """A truth record as plain JSON values and back (pydantic walks the nested dataclasses,
    turning tuples into lists and back)."""

    def to_dict(self) -> dict[str, Any]:
        return dict(_adapter(type(self)).dump_python(self, mode="json"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        return cast(Self, _adapter(cls).validate_python(d))


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(kind: type) -> TypeAdapter[Any]:
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = TypeAdapter(kind)
    return _ADAPTERS[kind]


@dataclass(frozen=True)
class Span(_Record):
    """A half-open time range ``[start, end)`` in seconds."""

    start: float
    end: float


@dataclass(frozen=True)
class TimedWord(_Record):
    """One word and when it is heard (only for ``per_word`` speech)."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class SpeechTruth(_Record):
    """A spoken sentence: its text, words (punctuation stripped), audible range, voice and
    language, and per-word timings when it was synthesised word by word (else empty)."""

    text: str
    words: tuple[str, ...]
    start: float
    end: float
    voice: str
    language: str
    timed_words: tuple[TimedWord, ...] = ()


@dataclass(frozen=True)
class CaptionTruth(_Record):
    """A caption: its text and words, the frames that show it, and where: horizontally
    centred, text top at ``y``, ``font_size`` px, white on an opaque black box that extends
    ``box_border`` px around the text, in ``font`` (a file name)."""

    text: str
    words: tuple[str, ...]
    start: float
    end: float
    y: int
    font_size: int
    box_border: int
    font: str


@dataclass(frozen=True)
class FaceTruth(_Record):
    """A face on screen during ``[start, end)``; ``box`` is the photograph's rectangle
    ``(x, y, w, h)`` in pixels (the face itself fills roughly its central 55%)."""

    start: float
    end: float
    box: tuple[int, int, int, int]

    @property
    def span(self) -> Span:
        return Span(self.start, self.end)


@dataclass(frozen=True)
class SceneTruth(_Record):
    """A shot ``[start, end)`` and its colour."""

    start: float
    end: float
    colour: str


@dataclass(frozen=True)
class Truth(_Record):
    """What a generated file contains. Lists are empty (and ``width`` etc. ``None``) for a
    track the file does not have: no cuts, captions or faces without video; no speech, music
    or silence without audio. ``language`` is the language of most of the speech, or ``None``.
    """

    duration: float
    has_video: bool
    has_audio: bool
    width: int | None
    height: int | None
    fps: int | None
    sample_rate: int | None
    scenes: tuple[SceneTruth, ...]
    cuts: tuple[float, ...]
    speech: tuple[SpeechTruth, ...]
    captions: tuple[CaptionTruth, ...]
    faces: tuple[FaceTruth, ...]
    music: tuple[Span, ...]
    silence: tuple[Span, ...]
    language: str | None
    format: int = TRUTH_FORMAT

    @property
    def face_range(self) -> Span | None:
        """The first face's range, or ``None`` when no face is shown."""
        return self.faces[0].span if self.faces else None

    @property
    def music_range(self) -> Span | None:
        """The first music segment, or ``None`` when there is none."""
        return self.music[0] if self.music else None

    @property
    def transcript(self) -> str:
        """Every spoken sentence, in order, joined by spaces."""
        return " ".join(s.text for s in self.speech)

    def audio_events(self) -> list[tuple[float, float, str]]:
        """``(start, end, label)`` with labels ``speech``, ``music``, ``silence``, in order."""
        events = [(s.start, s.end, "speech") for s in self.speech]
        events += [(m.start, m.end, "music") for m in self.music]
        events += [(s.start, s.end, "silence") for s in self.silence]
        return sorted(events)

    def to_json(self) -> str:
        """Pretty, key-sorted JSON ending in a newline."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        if d.get("format") != TRUTH_FORMAT:
            raise InputError(f"truth format {d.get('format')!r} is not {TRUTH_FORMAT}")
        return super().from_dict(d)

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Parse :meth:`to_json` output; :class:`InputError` if it is not a truth document."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            return cls.from_dict(data)
        except AiworkError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(f"not a synth truth document: {exc}") from exc


def truth_path_for(media: Path) -> Path:
    """Where the truth of ``media`` is kept: ``clip.mp4`` -> ``clip.truth.json``."""
    return media.with_name(media.stem + ".truth.json")
