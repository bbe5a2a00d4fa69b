"""Chapters: shot cuts where speech pauses, merged to a minimum length, titled by keywords."""

from __future__ import annotations

from typing import Any

from aiwork.analyzers.base import AnalysisContext, Analyzer, AnalyzerOutput
from aiwork.analyzers.keywords import yake_keywords
from aiwork.analyzers.options import AnalyzerOptions, Field
from aiwork.analyzers.text import text_language, text_spans


class ChaptersOptions(AnalyzerOptions):
    min_chapter_seconds: float = Field(8.0, ge=0.0)


class ChaptersAnalyzer(Analyzer):
    name = "chapters"
    after = ("shots", "transcript", "ocr", "language")
    requires = ("yake",)
    Options = ChaptersOptions
    settings: ChaptersOptions

    def analyze(self, ctx: AnalysisContext) -> AnalyzerOutput:
        duration = ctx.duration
        spans = text_spans(ctx.upstream)
        speech = [s for s in spans if s.source == "transcript"]
        cuts: list[float] = []
        shots = ctx.upstream.get("shots")
        if shots is not None and isinstance(shots.items, list):
            cuts = [shot["instances"][0]["start"] for shot in shots.items[1:]]
        # A cut inside a spoken sentence is not a chapter boundary: the topic goes on.
        bounds = [c for c in cuts if not any(s.start + 0.2 < c < s.end - 0.2 for s in speech)]
        minimum = self.settings.min_chapter_seconds
        edges = [0.0]
        for cut in bounds:
            if cut - edges[-1] >= minimum and duration - cut >= minimum:
                edges.append(cut)
        edges.append(duration)
        language = text_language(ctx.upstream)
        items: list[dict[str, Any]] = []
        for start, end in zip(edges, edges[1:], strict=False):
            inside = [s.text for s in spans if s.start < end and s.end > start]
            keywords = [k for k, _ in yake_keywords(". ".join(inside), language, 3)] if inside else []
            title = keywords[0].title() if keywords else f"Chapter {len(items) + 1}"
            items.append({"id": len(items), "title": title, "keywords": keywords,
                          "instances": [{"start": round(start, 3), "end": round(end, 3)}],
                          "confidence": 1.0 if keywords else 0.5})
        return AnalyzerOutput(
            items=items, confidences=[i["confidence"] for i in items],
            evidence={"candidate_cuts": cuts, "cuts_used": edges[1:-1],
                      "thresholds": self.parameters()},
            parameters=self.parameters(), end=duration,
        )
