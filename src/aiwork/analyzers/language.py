"""The spoken language (from the speech model) and the language of all text (lingua)."""

from __future__ import annotations

from typing import Any

from aiwork.analyzers.base import AnalysisContext, Analyzer, AnalyzerOutput, ModelInfo
from aiwork.analyzers.options import AnalyzerOptions
from aiwork.analyzers.text import text_spans

#: Languages lingua considers: loading all 75 takes ~11 s, these take well under one.
LANGUAGES = ("ENGLISH", "FRENCH", "GERMAN", "SPANISH", "ITALIAN", "PORTUGUESE", "DUTCH",
             "POLISH", "RUSSIAN", "TURKISH", "ARABIC", "CHINESE", "JAPANESE", "KOREAN", "HINDI",
             "SWEDISH", "DANISH", "FINNISH", "CZECH", "GREEK", "UKRAINIAN", "INDONESIAN")


class LanguageAnalyzer(Analyzer):
    name = "language"
    after = ("transcript", "ocr")
    requires = ("lingua",)
    Options = AnalyzerOptions  # none: the languages and the minimum are fixed
    _detector: Any = None

    def model(self) -> ModelInfo:
        from importlib.metadata import version

        return ModelInfo("lingua-language-detector", version("lingua-language-detector"))

    def parameters(self) -> dict[str, Any]:
        return {"languages": list(LANGUAGES), "min_characters": 20}

    def _lingua(self) -> Any:
        if LanguageAnalyzer._detector is None:
            from lingua import Language, LanguageDetectorBuilder

            LanguageAnalyzer._detector = LanguageDetectorBuilder.from_languages(
                *[getattr(Language, name) for name in LANGUAGES]
            ).build()
        return LanguageAnalyzer._detector

    def analyze(self, ctx: AnalysisContext) -> AnalyzerOutput:
        result: dict[str, Any] = {"spoken": None, "spoken_confidence": None,
                                  "text": None, "text_confidence": None}
        confidences: list[float] = []
        evidence: dict[str, Any] = {}
        transcript = ctx.upstream.get("transcript")
        if transcript is not None and isinstance(transcript.items, dict):
            result["spoken"] = transcript.items.get("language")
            result["spoken_confidence"] = transcript.items.get("language_confidence")
            if result["spoken_confidence"] is not None:
                confidences.append(float(result["spoken_confidence"]))
        text = " ".join(s.text for s in text_spans(ctx.upstream)).strip()
        if len(text) >= self.parameters()["min_characters"]:
            values = self._lingua().compute_language_confidence_values(text)
            top = values[0]
            result["text"] = top.language.iso_code_639_1.name.lower()
            result["text_confidence"] = round(float(top.value), 4)
            confidences.append(result["text_confidence"])
            evidence["alternatives"] = [
                {"language": v.language.iso_code_639_1.name.lower(), "score": round(v.value, 4)}
                for v in values[:3]
            ]
        evidence["characters"] = len(text)
        return AnalyzerOutput(items=result, confidences=confidences, evidence=evidence,
                              parameters=self.parameters(), end=ctx.duration)
