"""Keywords (YAKE, unsupervised) from the transcript and the on-screen text."""

from __future__ import annotations

import re
from typing import Any

from aiwork.analyzers.base import AnalysisContext, Analyzer, AnalyzerOutput, ModelInfo
from aiwork.analyzers.options import AnalyzerOptions, Field
from aiwork.analyzers.text import text_language, text_spans


def yake_keywords(text: str, language: str, top: int) -> list[tuple[str, float]]:
    import yake

    extractor = yake.KeywordExtractor(lan=language, n=2, top=top * 2, dedup_lim=0.8)
    seen: set[str] = set()
    result: list[tuple[str, float]] = []
    for keyword, score in extractor.extract_keywords(text):
        clean = " ".join(str(keyword).strip(" .,;:!?\"'()[]").split())
        if len(clean) < 2 or clean.lower() in seen:
            continue
        seen.add(clean.lower())
        result.append((clean, float(score)))
    return result[:top]


class KeywordsOptions(AnalyzerOptions):
    #: How many keywords at the most.
    top: int = Field(15, ge=1, le=1000)


class KeywordsAnalyzer(Analyzer):
    name = "keywords"
    after = ("transcript", "ocr", "language")
    requires = ("yake",)
    Options = KeywordsOptions
    settings: KeywordsOptions

    def model(self) -> ModelInfo:
        import yake

        return ModelInfo("YAKE", getattr(yake, "__version__", "unknown"))

    def parameters(self) -> dict[str, Any]:
        return {**self.settings.recorded(), "max_ngram": 2}

    def analyze(self, ctx: AnalysisContext) -> AnalyzerOutput:
        spans = text_spans(ctx.upstream)
        text = ". ".join(s.text.strip() for s in spans if s.text.strip())
        language = text_language(ctx.upstream)
        found = yake_keywords(text, language, self.settings.top) if text else []
        items: list[dict[str, Any]] = []
        for keyword, score in found:
            pattern = re.compile(r"\b" + re.escape(keyword) + r"\b", re.IGNORECASE)
            instances = [{"start": round(s.start, 3), "end": round(s.end, 3)}
                         for s in spans if pattern.search(s.text)]
            relevance = 1.0 / (1.0 + score * 10)  # YAKE: lower is better; map to 0..1
            items.append({"id": len(items), "text": keyword, "score": round(score, 6),
                          "confidence": round(relevance, 4), "instances": instances})
        return AnalyzerOutput(
            items=items,
            confidences=[i["confidence"] for i in items],
            evidence={"language": language, "characters": len(text),
                      "sources": sorted({s.source for s in spans})},
            parameters=self.parameters(),
            end=ctx.duration,
        )
