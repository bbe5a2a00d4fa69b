"""The transcript analyzer: its settings, its models, and transcription with one model set
by the ``model`` option (``auto`` goes on in :mod:`aiwork.analyzers.transcript.auto`)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray

from aiwork.analyzers.base import AnalysisContext, Analyzer, AnalyzerOutput, ModelInfo, WeightFile
from aiwork.analyzers.models import (
    cached_pieces_digest,
    distribution_version,
    load_once,
    package_dir,
)
from aiwork.analyzers.options import AnalyzerOptions, Field, parse_options
from aiwork.analyzers.transcript.auto import AutoTranscription
from aiwork.analyzers.transcript.identify import (
    MIN_LANGUAGE_CONFIDENCE,
    POOL_SHARE,
    RESCORE_BELOW,
    RESCORE_SHARE,
    SERVED_LANGUAGES,
    SPAN_SECONDS,
    SPAN_VAD,
)
from aiwork.analyzers.transcript.pieces import PIECE_SECONDS, PIECE_SLACK, SAMPLE_RATE, pieces
from aiwork.analyzers.transcript.segments import Shifted, counts, segments, unit
from aiwork.analyzers.transcript.whisper import (
    BUNDLED,
    BundledModel,
    install_message,
    model_files,
)
from aiwork.canonical import canonical_bytes, parse_json
from aiwork.digests import sha256_json
from aiwork.errors import AnalyzerUnavailable, InputError

__all__ = ["AUTO", "AUTO_LABEL", "GLOSSARY_FILE", "TranscriptAnalyzer", "TranscriptOptions",
           "glossary_digest", "glossary_files", "read_glossary_file", "with_glossary"]

#: The default ``model``: identify the language, then pick the model (see the package text).
AUTO = "auto"
AUTO_LABEL = "whisper tiny.en for English, base for other languages (CTranslate2)"

#: A Whisper language code (``en``, ``fr``, ``haw``).
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]


def glossary_digest(glossary: Sequence[str], glossary_as: str = "hotwords") -> str:
    """The digest that names a glossary (its terms, in order, and how Whisper is given them):
    recorded in each decision made with it, and registered as its model version."""
    return sha256_json({"glossary": list(glossary), "glossary_as": glossary_as})


def with_glossary(weights: str, glossary: str) -> str:
    """The weights digest of Whisper's weights (``weights``) given a glossary (its
    :func:`glossary_digest`): a glossary changes what the model writes, so the two together
    are the model version a decision ran and a registration names."""
    return sha256_json({"weights_digest": weights, "glossary_digest": glossary})


#: A registered glossary's file in the model store: the transcript analyzer's options that
#: run it, ``{"glossary": [...], "glossary_as": ..., "model": ...}`` (the Whisper model it was
#: measured and registered with: the registration's digest covers its weights).
GLOSSARY_FILE = "glossary.json"
_GLOSSARY_KEYS = {"glossary", "glossary_as", "model"}
_GLOSSARY_FILE_BYTES = 64 * 1024


def glossary_files(glossary: Sequence[str], glossary_as: str, model: str) -> dict[str, bytes]:
    """A glossary registered with the Whisper ``model`` (the analyzer's option) as the model
    store keeps it (``ModelStore.put_bytes``): one JSON file of those options."""
    checked = parse_options(TranscriptOptions, {"glossary": list(glossary),
                                                "glossary_as": glossary_as, "model": model},
                            "transcript")
    return {GLOSSARY_FILE: canonical_bytes({"glossary": list(checked.glossary),
                                            "glossary_as": checked.glossary_as,
                                            "model": checked.model})}


def read_glossary_file(files: Sequence[Path]) -> dict[str, Any]:
    """The transcript analyzer's options in a registered glossary's file (``glossary``,
    ``glossary_as``, ``model``; checked as options are); InputError for anything else."""
    if len(files) != 1 or files[0].name != GLOSSARY_FILE:
        raise InputError(f"a registered glossary is one {GLOSSARY_FILE} file, not "
                         f"{', '.join(path.name for path in files) or 'nothing'}")
    with files[0].open("rb") as handle:
        raw = handle.read(_GLOSSARY_FILE_BYTES + 1)
    if len(raw) > _GLOSSARY_FILE_BYTES:
        raise InputError(f"{files[0]} is larger than a glossary ({_GLOSSARY_FILE_BYTES} bytes)")
    value = parse_json(raw, what=str(files[0]))
    if not isinstance(value, dict) or set(value) != _GLOSSARY_KEYS or not value["glossary"]:
        raise InputError(f"{files[0]} is not a glossary file: it must hold exactly the keys "
                         "glossary (not empty), glossary_as and model")
    checked = parse_options(TranscriptOptions, value, "transcript")
    return {"glossary": list(checked.glossary), "glossary_as": checked.glossary_as,
            "model": checked.model}


class TranscriptOptions(AnalyzerOptions):
    """The transcript analyzer's settings; :meth:`TranscriptAnalyzer.parameters` records
    them in its own shape (the ``auto`` choice's under ``choice``)."""

    #: ``auto``, ``tiny.en``, ``base``, or a local CTranslate2 Whisper folder.
    model: str = Field(AUTO, min_length=1)
    compute_type: Literal["default", "auto", "int8", "int8_float32", "int8_float16",
                          "int8_bfloat16", "int16", "float16", "bfloat16", "float32"] = "int8"
    beam_size: int = Field(5, ge=1, le=64)
    #: The spoken language, set rather than identified; empty or None: identified.
    language: LanguageCode | Literal[""] | None = None
    vad_filter: bool = True
    vad_threshold: float = Field(0.5, ge=0.0, le=1.0)
    served_languages: tuple[LanguageCode, ...] = SERVED_LANGUAGES
    min_language_confidence: float = Field(MIN_LANGUAGE_CONFIDENCE, ge=0.0, le=1.0)
    pool_share: float = Field(POOL_SHARE, ge=0.0, le=1.0)
    decode_below: float = Field(RESCORE_BELOW, ge=0.0, le=1.0)
    transcribe_unserved: bool = False
    #: Domain terms (names, jargon) the model should expect, e.g. a glossary built from
    #: validated corrections (aiwork.learn.glossary); given to Whisper as ``glossary_as``.
    glossary: tuple[Annotated[str, Field(min_length=1, max_length=64)], ...] = Field(
        (), max_length=100)
    glossary_as: Literal["hotwords", "initial_prompt"] = "hotwords"
    #: CPU threads per model (default: up to 4); a run-time knob, not recorded.
    threads: int | None = Field(None, ge=1, le=256, exclude=True)


class TranscriptAnalyzer(Analyzer):
    name = "transcript"
    version = "5"
    requires = ("faster_whisper",)
    needs_audio = True

    Options = TranscriptOptions
    settings: TranscriptOptions
    weights_option = "glossary"

    @classmethod
    def stored_digest(cls, files: Sequence[Path]) -> str:
        """A registered glossary's weights digest: the analyzer's with the options its file
        holds (Whisper's weights and the glossary, :func:`with_glossary`)."""
        digest = cls(read_glossary_file(files)).model().weights_digest
        assert digest is not None  # the transcript analyzer always digests its weights
        return digest

    @classmethod
    def stored_options(cls, folder: Path, files: Sequence[Path]) -> dict[str, Any]:
        """The glossary, how Whisper is given it and the Whisper model, from its file."""
        return read_glossary_file(files)

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self._folder: Path | None = None

    # -- settings ----------------------------------------------------------------------

    @property
    def _model_option(self) -> str:
        return self.settings.model

    @property
    def _auto(self) -> bool:
        return self._model_option == AUTO

    def _bundled(self) -> BundledModel | None:
        return BUNDLED.get(self._model_option)

    def _served(self) -> list[str]:
        return sorted(set(self.settings.served_languages))

    def parameters(self) -> dict[str, Any]:
        settings = self.settings
        params: dict[str, Any] = {
            "model": settings.model,
            "compute_type": settings.compute_type,
            "beam_size": settings.beam_size,
            "language": settings.language or None,
            "word_timestamps": True,
            "vad_filter": settings.vad_filter,
            "vad": {"threshold": settings.vad_threshold,
                    "min_silence_duration_ms": 2000, "speech_pad_ms": 400},
            "no_speech_threshold": 0.6,
            "log_prob_threshold": -1.0,
            "condition_on_previous_text": False,
            # Long audio is transcribed in pieces (cut at the quietest 100 ms of each one's
            # last ``slack`` seconds) so that memory stays flat in the video's length.
            "pieces": {"seconds": PIECE_SECONDS, "slack": PIECE_SLACK},
        }
        if settings.glossary:
            params["glossary"] = list(settings.glossary)
            params["glossary_as"] = settings.glossary_as
            params["glossary_digest"] = glossary_digest(settings.glossary, settings.glossary_as)
        if self._auto:
            params["choice"] = self._choice()
        return params

    def _choice(self) -> dict[str, Any]:
        """The settings of the ``auto`` model choice."""
        settings = self.settings
        return {
            "identify": "base", "english": "tiny.en", "other": "base",
            "served_languages": self._served(),
            "min_confidence": settings.min_language_confidence,
            "span_seconds": SPAN_SECONDS,
            "span_vad": dict(SPAN_VAD),
            "pool_share": settings.pool_share,
            "decode_below": settings.decode_below,
            "decode_share": RESCORE_SHARE,
            "transcribe_unserved": settings.transcribe_unserved,
        }

    def _threads(self) -> int:
        return self.settings.threads or min(4, os.cpu_count() or 1)

    # -- hooks ---------------------------------------------------------------------------

    def check(self) -> None:
        super().check()
        if self._auto:
            missing = BUNDLED["base"].missing()
            if missing:
                raise AnalyzerUnavailable(
                    install_message(BUNDLED["base"], missing)
                    + "; it identifies the spoken language")
            return
        bundled = self._bundled()
        if bundled is not None:
            missing = bundled.missing()
            if missing:
                raise AnalyzerUnavailable(install_message(bundled, missing))
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

    def english_model(self) -> BundledModel:
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

    def _weights(self) -> list[WeightFile]:
        """The files whose bytes shape the output: the model's (both in ``auto``), and the
        VAD's when used; a bundled model's where they ship (nothing is built to name them)."""
        bundled = BUNDLED["base"] if self._auto else self._bundled()
        files: list[WeightFile] = (bundled.weight_files() if bundled is not None
                                   else [(p.name, (p,)) for p in model_files(self.folder())])
        if self._auto and self.english_model().key != "base":
            files = self.english_model().weight_files() + files
        return files + [(p.name, (p,)) for p in self._vad_files()]

    def label(self) -> str:
        if self._auto:
            return AUTO_LABEL
        bundled = self._bundled()
        if bundled is not None:
            return bundled.label
        return f"whisper (CTranslate2, local folder {self.folder().name})"

    def model_evidence(self, **about: Any) -> dict[str, Any]:
        """The ``model`` evidence: its name, what ``about`` says of it, versions and files."""
        return {
            "name": self.label(),
            **about,
            "faster_whisper": distribution_version("faster-whisper"),
            "ctranslate2": distribution_version("ctranslate2"),
            "files": sorted(name for name, _ in self._weights()),
        }

    def model(self) -> ModelInfo:
        """Whisper's name, version and weights digest; with a glossary, the digest covers the
        weights and the glossary (:func:`with_glossary`), so each glossary is its own version."""
        if self._auto:
            versions = sorted({BUNDLED["base"].version(), self.english_model().version()})
            version = ",".join(versions)
        else:
            bundled = self._bundled()
            version = bundled.version() if bundled is not None else "local"
        digest = cached_pieces_digest(self._weights())
        settings = self.settings
        if settings.glossary:
            digest = with_glossary(digest, glossary_digest(settings.glossary,
                                                           settings.glossary_as))
        return ModelInfo(self.label(), version, digest)

    def load_model(self, folder: Path | None = None) -> Any:
        """The Whisper model in ``folder`` (default: :meth:`folder`), loaded once per process
        for its compute type and threads."""
        path = str(folder or self.folder())
        compute_type, threads = self.settings.compute_type, self._threads()

        def load() -> Any:
            faster_whisper: Any = importlib.import_module("faster_whisper")
            return faster_whisper.WhisperModel(path, device="cpu", compute_type=compute_type,
                                               cpu_threads=threads, local_files_only=True)

        return load_once(("whisper", path, compute_type, threads), load)

    # -- the work --------------------------------------------------------------------------

    def transcribe(self, model: Any, audio: NDArray[np.float32], language: str | None) -> Any:
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
            **self._glossary_arguments(params),
        )

    @staticmethod
    def _glossary_arguments(params: Mapping[str, Any]) -> dict[str, str]:
        """The glossary as faster-whisper takes it: ``hotwords`` (a prefix of domain terms)
        or ``initial_prompt`` (a prompt listing them)."""
        terms = params.get("glossary") or []
        if not terms:
            return {}
        if params.get("glossary_as") == "initial_prompt":
            return {"initial_prompt": ", ".join(terms) + "."}
        return {"hotwords": " ".join(terms)}

    def analyze(self, ctx: AnalysisContext) -> AnalyzerOutput:
        if ctx.audio is None or len(ctx.audio) == 0:
            return AnalyzerOutput(
                items={"language": None, "language_confidence": None,
                       "model": self.label(), "segments": []},
                evidence={"audio": "none: the video has no audio track, nothing to transcribe"},
                parameters=self.parameters(), end=ctx.duration)
        if self._auto:
            return AutoTranscription(self, ctx).run()
        return self._analyze_one_model(ctx)

    def _analyze_one_model(self, ctx: AnalysisContext) -> AnalyzerOutput:
        """The whole track transcribed by the model the ``model`` option names."""
        params = self.parameters()
        model = self.load_model()
        multilingual = bool(model.model.is_multilingual)
        language = params["language"] or (None if multilingual else "en")
        track = ctx.audio
        assert track is not None
        raw_segments: list[Any] = []
        info: Any = None
        speech_seconds = 0.0
        # Long audio is transcribed piece by piece (each cut at a quiet moment), so memory
        # stays flat in the video's length; the language found in the first piece holds for
        # the rest, as Whisper's own detection reads only the first 30 s.
        for first, last in pieces(track):
            piece_segments, piece_info = self.transcribe(
                model, track.read(first, last - first), language)
            shift = first / SAMPLE_RATE
            raw_segments += [Shifted(raw, shift) for raw in piece_segments]
            speech_seconds += float(piece_info.duration_after_vad)
            if info is None:
                info = piece_info
                language = str(piece_info.language)
        limit = max(float(ctx.duration), track.seconds)
        detected = str(info.language)
        measured: float | None = None
        if multilingual and not params["language"]:
            measured = unit(info.language_probability)
        found, confidences, low = segments(raw_segments, limit, detected, measured, [])
        evidence: dict[str, Any] = {
            "model": self.model_evidence(folder=self.folder().name,
                                         multilingual=multilingual),
            "model_choice": {"method": "model option", "model": self._model_option,
                             "reason": "set explicitly: one model for the whole file"},
            **counts(track, speech_seconds, found, low),
        }
        spoken = detected if found else None
        evidence["language"], language_confidence = _language_evidence(
            multilingual, params["language"], info, spoken)
        if not found:
            evidence["note"] = "no speech found: nothing was transcribed"
        return AnalyzerOutput(
            items={"language": spoken, "language_confidence": language_confidence,
                   "model": self.label(), "segments": found},
            confidences=confidences,
            evidence=evidence,
            parameters=params,
            end=ctx.duration,
        )


def _language_evidence(multilingual: bool, option: str | None, info: Any,
                       spoken: str | None) -> tuple[dict[str, Any], float | None]:
    """What one model said of the spoken language, and its confidence when measured."""
    if not multilingual:
        return {"value": "en", "detected": False,
                "reason": "English-only model: the language is assumed, not detected"}, None
    if option:
        return {"value": option, "detected": False,
                "reason": "set by the language option"}, None
    alternatives = [{"language": str(code), "probability": unit(p)}
                    for code, p in (info.all_language_probs or [])[:3]]
    evidence: dict[str, Any] = {
        "value": str(info.language), "detected": True,
        "probability": unit(info.language_probability),
        "alternatives": alternatives,
        "method": "Whisper language detection on the first 30 s of detected speech",
    }
    if spoken is None:
        evidence["note"] = "no speech was transcribed: not used"
        return evidence, None
    return evidence, unit(info.language_probability)
