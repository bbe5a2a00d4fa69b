"""Helpers for analyzers that read the text other analyzers found."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiwork.analyzers.base import AnalyzerOutput


@dataclass(frozen=True)
class TextSpan:
    text: str
    start: float
    end: float
    source: str  # "transcript" | "ocr"


def text_spans(upstream: Mapping[str, AnalyzerOutput]) -> list[TextSpan]:
    """Transcript segments and on-screen texts with their time ranges, in time order."""
    spans: list[TextSpan] = []
    transcript = upstream.get("transcript")
    if transcript is not None and isinstance(transcript.items, dict):
        for segment in transcript.items.get("segments", []):
            for inst in segment.get("instances", []):
                spans.append(TextSpan(segment["text"], inst["start"], inst["end"], "transcript"))
    ocr = upstream.get("ocr")
    if ocr is not None and isinstance(ocr.items, list):
        for item in ocr.items:
            for inst in item.get("instances", []):
                spans.append(TextSpan(item["text"], inst["start"], inst["end"], "ocr"))
    return sorted(spans, key=lambda s: (s.start, s.end))


def text_language(upstream: Mapping[str, AnalyzerOutput]) -> str:
    """The language the text is in: the language analyzer's text language, else the spoken
    one, else English."""
    language = upstream.get("language")
    if language is not None and isinstance(language.items, dict):
        return str(language.items.get("text") or language.items.get("spoken") or "en")
    return "en"
