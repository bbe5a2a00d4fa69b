"""The ``auto`` model choice: the language of each stretch of speech is identified first
(:mod:`aiwork.analyzers.transcript.identify`), then each stretch is transcribed by the model
that serves its language best, or reported and not transcribed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from aiwork.analyzers.base import AnalysisContext, AnalyzerOutput
from aiwork.analyzers.transcript.identify import Span, forced, stretches
from aiwork.analyzers.transcript.pieces import SAMPLE_RATE, pieces
from aiwork.analyzers.transcript.segments import Shifted, counts, round3, segments, unit
from aiwork.analyzers.transcript.whisper import BUNDLED

if TYPE_CHECKING:
    from aiwork.analyzers.transcript.analyzer import TranscriptAnalyzer

__all__ = ["AutoTranscription"]

#: The keys of a stretch that ``items.languages`` lists (the evidence lists all).
_LISTED = ("start", "end", "language", "confidence", "served", "model")


class AutoTranscription:
    """One ``auto`` transcription of a track: what each stretch was heard as, and its text."""

    def __init__(self, analyzer: TranscriptAnalyzer, ctx: AnalysisContext) -> None:
        self.analyzer, self.ctx = analyzer, ctx
        self.params = analyzer.parameters()
        self.choice: dict[str, Any] = self.params["choice"]
        self.forced: str | None = self.params["language"]
        self.served = set(self.choice["served_languages"])
        self.english = analyzer.english_model()
        self.models = {"base": analyzer.load_model(analyzer.folder()),
                       self.english.key: analyzer.load_model(self.english.folder())}
        assert ctx.audio is not None
        self.track = ctx.audio
        self.limit = max(float(ctx.duration), self.track.seconds)
        self.raw_segments: list[tuple[Any, str, float | None]] = []
        self.runs: list[dict[str, Any]] = []
        self.speech_seconds = 0.0

    def run(self) -> AnalyzerOutput:
        for first, last in pieces(self.track):
            self._piece(self.track.read(first, last - first), first / SAMPLE_RATE)
        found: list[dict[str, Any]] = []
        confidences: list[float] = []
        low: list[int] = []
        for raw, language, confidence in self.raw_segments:
            more, more_conf, more_low = segments([raw], self.limit, language, confidence, found)
            found += more
            confidences += more_conf
            low += more_low
        spoken, spoken_confidence = self._spoken()
        languages = [{k: r[k] for k in _LISTED} for r in self.runs]
        return AnalyzerOutput(
            items={"language": spoken, "language_confidence": spoken_confidence,
                   "model": self.analyzer.label(), "segments": found, "languages": languages},
            confidences=confidences,
            evidence=self._evidence(found, low),
            parameters=self.params,
            end=self.ctx.duration,
        )

    def _piece(self, audio: NDArray[np.float32], shift: float) -> None:
        """Each stretch of one piece (starting ``shift`` s into the track) identified, and
        transcribed where its language is served."""
        if self.forced:
            merged = forced(audio, self.forced)
        else:
            merged = stretches(self.models["base"], audio, self.served, self.choice,
                               self.params["vad_filter"])
        for n, run in enumerate(merged):
            # Each stretch is transcribed with the silence around it up to half way to
            # its neighbours (the whole piece when it is alone), so no word is clipped.
            first_sample = (merged[n - 1].end + run.start) // 2 if n else 0
            end_sample = ((run.end + merged[n + 1].start) // 2 if n + 1 < len(merged)
                          else len(audio))
            entry = self._record(run, shift)
            if entry["model"] is None:
                continue
            model = self.models[entry["model"]]
            language = None if entry["model"] == "tiny.en" else run.language
            found, info = self.analyzer.transcribe(model, audio[first_sample:end_sample],
                                                   language)
            run_shift = shift + first_sample / SAMPLE_RATE
            self.speech_seconds += float(info.duration_after_vad)
            self.raw_segments += [(Shifted(raw, run_shift), run.language, entry["confidence"])
                                  for raw in found]

    def _record(self, run: Span, shift: float) -> dict[str, Any]:
        """What a stretch was heard as, and which model (if any) writes it down, recorded in
        :attr:`runs`."""
        confidence = run.confidence
        served_here = run.language in self.served and (
            confidence is None or confidence >= self.choice["min_confidence"]
            or run.decoded is not None)
        key = None
        if served_here or self.choice["transcribe_unserved"]:
            key = self.english.key if run.language == "en" else "base"
        entry: dict[str, Any] = {
            "start": round3(min(run.start / SAMPLE_RATE + shift, self.limit)),
            "end": round3(min(run.end / SAMPLE_RATE + shift, self.limit)),
            "language": run.language,
            "confidence": None if confidence is None else unit(confidence),
            "served": served_here,
            "model": key,
        }
        self.runs.append({**entry, **_heard(run)})
        return entry

    def _spoken(self) -> tuple[str | None, float | None]:
        """The file's language, the one spoken longest (transcribed or not), and how sure
        its identification was (weighted by speech; None when set by the option)."""
        totals: dict[str, float] = {}
        for found in self.runs:
            totals[found["language"]] = (totals.get(found["language"], 0.0)
                                         + found["speech_seconds"])
        spoken: str | None = max(totals, key=lambda k: totals[k]) if totals else None
        if spoken is None or self.forced:
            return spoken, None
        runs = [r for r in self.runs if r["language"] == spoken]
        weight = sum(r["speech_seconds"] for r in runs)
        if not weight:
            return spoken, None
        return spoken, unit(sum(r["confidence"] * r["speech_seconds"] for r in runs) / weight)

    def _evidence(self, found: list[dict[str, Any]], low: list[int]) -> dict[str, Any]:
        base = BUNDLED["base"].label
        evidence: dict[str, Any] = {
            "model": self.analyzer.model_evidence(identify=base, english=self.english.label,
                                                  other=base),
            "model_choice": {
                "method": ("auto" if not self.forced
                           else "auto, language set by the language option"),
                "rule": _rule(self.choice, self.english.key),
                "runs": self.runs,
            },
            **counts(self.track, self.speech_seconds, found, low),
        }
        unserved = [r for r in self.runs if not r["served"]]
        if unserved:
            evidence["unserved"] = (
                f"{len(unserved)} stretch(es) of speech in a language the models do not serve "
                "well (or identified with too little confidence) were not transcribed: "
                + ", ".join(f"{r['language']} ({r['confidence']}) {r['start']}-{r['end']} s"
                            for r in unserved))
        if not self.runs:
            evidence["note"] = "no speech found: nothing was transcribed"
        return evidence


def _heard(run: Span) -> dict[str, Any]:
    """The evidence of how a stretch's language was found: its speech, the likeliest
    languages, what it was heard as alone and what decoding said, where those decided."""
    heard: dict[str, Any] = {
        "speech_seconds": round3(run.speech),
        "alternatives": [{"language": c, "probability": unit(p)} for c, p in run.alternatives],
    }
    if run.heard is not None:
        heard["heard_alone"] = {"language": run.heard[0], "probability": unit(run.heard[1])}
    if run.decoded is not None:
        heard["decoded"] = {
            "mean_log_probability": {code: round(value, 3)
                                     for code, value in run.decoded.items()},
            "rule": "language still unsure: decoded in each likely served language, the "
                    "likeliest decoding won",
        }
    return heard


def _rule(choice: dict[str, Any], english: str) -> str:
    """The ``auto`` rule in words, with its settings."""
    return ("the spoken language of each stretch of speech (up to "
            f"{choice['span_seconds']:g} s, cut at pauses) is identified by "
            "Whisper base and weighed against the rest of the piece (its "
            "probabilities times a prior that is, for "
            f"{choice['pool_share']:g}, the other stretches' pooled ones); "
            f"a stretch still below {choice['decode_below']:g} is decoded in "
            "each likely served language and the likeliest decoding decides; "
            "English goes to "
            f"{english}, the served languages to base; others, or an "
            f"identification below {choice['min_confidence']:g}, are reported "
            "and not transcribed")
