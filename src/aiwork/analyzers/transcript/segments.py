"""Output segments and their words from faster-whisper's, with their confidences, and the
counts every transcript decision gives as evidence."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from aiwork.media.decode import AudioTrack

__all__ = ["LOW_CONFIDENCE", "Shifted", "counts", "round3", "segments", "unit"]

#: Segments whose confidence is below this are listed in the evidence for review.
LOW_CONFIDENCE = 0.5


def round3(value: float) -> float:
    return round(float(value), 3)


def unit(value: float) -> float:
    """A probability clamped into [0, 1] and rounded."""
    if math.isnan(value):
        return 0.0
    return round(min(1.0, max(0.0, float(value))), 3)


def counts(track: AudioTrack, speech_seconds: float, found: list[dict[str, Any]],
           low: list[int]) -> dict[str, Any]:
    """The evidence every transcript decision gives of what it heard and how sure it was."""
    return {
        "audio_seconds": round3(track.seconds),
        "speech_seconds": round3(speech_seconds),
        "segments": len(found),
        "words": sum(len(s["words"]) for s in found),
        "segment_confidence": "mean word probability (exp(avg_logprob) when no words)",
        "low_confidence_threshold": LOW_CONFIDENCE,
        "low_confidence_segments": low,
    }


def segments(raw_segments: list[Any], limit: float, language: str,
             language_confidence: float | None, before: list[dict[str, Any]],
             ) -> tuple[list[dict[str, Any]], list[float], list[int]]:
    """Output segments (numbered after ``before``) from faster-whisper's, with confidences
    and the ids of the low-confidence ones."""

    def clamp(t: float) -> float:
        return round3(min(max(float(t), 0.0), limit))

    found: list[dict[str, Any]] = []
    confidences: list[float] = []
    low: list[int] = []
    for raw in raw_segments:
        text = str(raw.text).strip()
        if not text:
            continue
        words: list[dict[str, Any]] = [
            {"text": str(w.word).strip(), "start": clamp(w.start), "end": clamp(w.end),
             "confidence": unit(w.probability)}
            for w in (raw.words or []) if str(w.word).strip()
        ]
        if words:
            confidence = unit(sum(w["confidence"] for w in words) / len(words))
        else:
            confidence = unit(math.exp(float(raw.avg_logprob)))
        start, end = clamp(raw.start), clamp(raw.end)
        segment_id = len(before) + len(found)
        found.append({
            "id": segment_id, "text": text, "language": language,
            "language_confidence": language_confidence,
            "confidence": confidence,
            "instances": [{"start": start, "end": max(start, end),
                           "confidence": confidence}],
            "words": words,
        })
        confidences.append(confidence)
        if confidence < LOW_CONFIDENCE:
            low.append(segment_id)
    return found, confidences, low


class Shifted:
    """A faster-whisper segment with its times (and its words') moved by ``shift`` s."""

    def __init__(self, raw: Any, shift: float) -> None:
        self.text, self.avg_logprob = raw.text, raw.avg_logprob
        self.start, self.end = raw.start + shift, raw.end + shift
        self.words = [_Word(w.word, w.start + shift, w.end + shift, w.probability)
                      for w in (raw.words or [])]


@dataclass(frozen=True)
class _Word:
    word: str
    start: float
    end: float
    probability: float
