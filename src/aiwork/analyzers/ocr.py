"""On-screen text: RapidOCR (PP-OCR detection, direction and recognition, ONNX Runtime).

The models ship inside the ``rapidocr`` wheel and are loaded from there by explicit path, so
RapidOCR never reaches for its download code. Recognition costs ~0.5 s per 640x360 frame on
two cores, so not every sampled frame is read: one every ``every_seconds`` plus the frame
nearest each shot keyframe (when the ``shots`` analyzer ran). A frame that barely differs
from the last one read (a tiny grey thumbnail compared) reuses that frame's result.

The same text (case- and space-insensitive, a small edit distance allowed) found at
overlapping positions in consecutive examined frames is one *track*; a track becomes an
instance ``[first seen, last seen + stride)``; tracks with the same text form one item.

Times are then refined to the sampled frame where the text appears and disappears: between
the examined frame without it and the first with it (and between the last with it and the
next without it) the sampled frames are read by bisection, so an instance starts at the
first sampled frame showing the text and ends at the first sampled frame after it that does
not (``refine``; one or two extra reads per boundary at the default 2 s stride and 1 fps).

Logo-like junk ("BUNKSK" read off a stylised title) is dropped by a plausibility check on
the letters: a text is *implausible* when fewer than half of its words of four letters or
more look like words of a European language (vowels, no run of more than four consonants,
no letter three times in a row). An implausible text is dropped when it was read in a single
examined frame or with a mean confidence under ``min_implausible_confidence`` (0.9).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aiwork.analyzers.base import AnalysisContext, Analyzer, AnalyzerOutput, ModelInfo
from aiwork.analyzers.models import cached_weights_digest, load_once
from aiwork.analyzers.options import AnalyzerOptions, Field
from aiwork.analyzers.text_tracks import (
    ExaminedFrame,
    Observation,
    edit_distance,
    merge_observations,
    normalise,
    plausible,
    similar,
)
from aiwork.errors import AnalyzerUnavailable
from aiwork.media.decode import FrameStore

__all__ = ["OcrAnalyzer", "OcrOptions", "Observation", "edit_distance", "merge_observations",
           "normalise", "plausible"]

#: The models the rapidocr wheel ships (its defaults): detection, direction, recognition.
_MODEL_FILES = {
    "det": "PP-OCRv6_det_small.onnx",
    "cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    "rec": "PP-OCRv6_rec_small.onnx",
}
#: Width of the grey thumbnail used to spot near-duplicate frames.
_THUMB_WIDTH = 64
#: How many rejected candidates the evidence lists.
_MAX_REJECTS = 20

@dataclass
class _Examined:
    """What reading the chosen frames gave: the frames, the lines dropped, the time spent."""

    frames: list[ExaminedFrame] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # the first few, listed
    dropped: dict[str, int] = field(default_factory=lambda: {"junk": 0, "low_confidence": 0})
    runs: int = 0
    seconds: float = 0.0


def _model_dir() -> Path:
    import rapidocr

    return Path(rapidocr.__file__).parent / "models"


class OcrOptions(AnalyzerOptions):
    every_seconds: float = Field(2.0, gt=0.0)
    min_confidence: float = Field(0.6, ge=0.0, le=1.0)
    #: Largest grey difference (0-255) between thumbnails of a frame that reuses the last
    #: frame's result.
    duplicate_threshold: float = Field(6.0, ge=0.0)
    max_edit_ratio: float = Field(0.2, ge=0.0, le=1.0)
    min_overlap: float = Field(0.5, ge=0.0, le=1.0)
    use_keyframes: bool = True
    refine: bool = True
    plausibility: bool = True
    min_implausible_confidence: float = Field(0.9, ge=0.0, le=1.0)
    #: ONNX Runtime threads (-1: its default).
    threads: int = Field(-1, ge=-1, exclude=True)
    #: Other onnx files than the wheel's (recorded by name and in the weights digest).
    det_model: str | None = Field(None, exclude=True)
    cls_model: str | None = Field(None, exclude=True)
    rec_model: str | None = Field(None, exclude=True)


class OcrAnalyzer(Analyzer):
    name = "ocr"
    version = "2"
    after = ("shots",)
    requires = ("rapidocr", "onnxruntime", "cv2")
    needs_frames = True

    Options = OcrOptions
    settings: OcrOptions

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)

    # -- hooks ---------------------------------------------------------------------------

    def model_files(self) -> dict[str, Path]:
        """The onnx files loaded: the wheel's own unless options name others."""
        base = _model_dir()
        chosen = self.settings.pick(*(f"{task}_model" for task in _MODEL_FILES))
        return {task: Path(chosen[f"{task}_model"] or base / filename)
                for task, filename in _MODEL_FILES.items()}

    def check(self) -> None:
        super().check()
        missing = [str(p) for p in self.model_files().values() if not p.is_file()]
        if missing:
            raise AnalyzerUnavailable(f"RapidOCR model file(s) missing: {', '.join(missing)}")

    def model(self) -> ModelInfo:
        from importlib.metadata import version

        # ~20 MB of onnx: hashed once per process.
        return ModelInfo("RapidOCR PP-OCR", version("rapidocr"),
                         cached_weights_digest(self.model_files().values()))

    def parameters(self) -> dict[str, Any]:
        return {**self.settings.recorded(),
                "models": {task: path.name for task, path in self.model_files().items()}}

    # -- work ----------------------------------------------------------------------------

    def _ocr(self) -> Any:
        files = self.model_files()
        threads = self.settings.threads

        def load() -> Any:
            from rapidocr import RapidOCR

            return RapidOCR(params={
                "Global.log_level": "error",
                # Every candidate comes back: the threshold is applied (and recorded) here.
                "Global.text_score": 0.0,
                "Det.model_path": str(files["det"]),
                "Cls.model_path": str(files["cls"]),
                "Rec.model_path": str(files["rec"]),
                # Detect at the frame's own size: the default (shorter side to 736) upscales a
                # 640x360 frame fourfold in pixels for no gain on caption-sized text.
                "Det.limit_type": "max",
                "Det.limit_side_len": 960,
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            })

        return load_once(("rapidocr", *(str(p.resolve()) for p in files.values()), threads),
                         load)

    def read(self, rgb: NDArray[np.uint8]) -> list[Observation]:
        """Every text line RapidOCR reads in one RGB frame (no threshold applied)."""
        height, width = rgb.shape[:2]
        result = self._ocr()(np.ascontiguousarray(rgb[:, :, ::-1]))  # it takes BGR arrays
        boxes = getattr(result, "boxes", None)
        texts = getattr(result, "txts", None)
        scores = getattr(result, "scores", None)
        if boxes is None or texts is None or scores is None:
            return []
        found = []
        for quad, text, score in zip(boxes, texts, scores, strict=False):
            points = np.asarray(quad, dtype=np.float64).reshape(-1, 2)
            x0 = float(np.clip(points[:, 0].min() / width, 0.0, 1.0))
            x1 = float(np.clip(points[:, 0].max() / width, 0.0, 1.0))
            y0 = float(np.clip(points[:, 1].min() / height, 0.0, 1.0))
            y1 = float(np.clip(points[:, 1].max() / height, 0.0, 1.0))
            found.append(Observation(str(text).strip(), float(score), (x0, y0, x1 - x0, y1 - y0)))
        return found

    def _chosen(self, ctx: AnalysisContext) -> tuple[list[int], list[float]]:
        """Indices of the sampled frames to read, and the keyframe times that added some."""
        assert ctx.frames is not None
        chosen = set(ctx.frames.every(self.settings.every_seconds))
        keyframe_times: list[float] = []
        shots = ctx.upstream.get("shots")
        if self.settings.use_keyframes and shots is not None and isinstance(shots.items, list):
            for shot in shots.items:
                keyframe = shot.get("keyframe") if isinstance(shot, dict) else None
                if isinstance(keyframe, dict) and keyframe.get("time") is not None:
                    keyframe_times.append(float(keyframe["time"]))
                    chosen.add(ctx.frames.nearest(float(keyframe["time"])))
        return sorted(chosen), keyframe_times

    def _refine(self, ctx: AnalysisContext, items: list[dict[str, Any]],
                examined: Sequence[ExaminedFrame]) -> int:
        """Move each instance's start and end to the sampled frames where its text appears
        and disappears (bisection on the sampled frames between examined ones); return how
        many frames were read."""
        assert ctx.frames is not None
        frames = ctx.frames
        times = frames.times
        looked = sorted({f.time for f in examined})
        reads: dict[int, list[Observation]] = {}

        def shows(index: int, norm: str) -> bool:
            if index not in reads:
                reads[index] = [o for o in self.read(frames.load(index))
                                if o.score >= self.settings.min_confidence]
            return any(similar(normalise(o.text), norm, self.settings.max_edit_ratio)
                       or norm in normalise(o.text) for o in reads[index])

        def index_at(when: float) -> int:
            return frames.nearest(when)

        def first_change(lo: int, hi: int, norm: str, *, shown_after: bool) -> int:
            """Bisects frames ``lo`` < ``hi`` (the text shown at one end, not at the other)
            to the first frame where it is shown (``shown_after``) or gone."""
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if shows(mid, norm) == shown_after:
                    hi = mid
                else:
                    lo = mid
            return hi

        for item in items:
            norm = normalise(item["text"])
            box_times = sorted(b["time"] for b in item["boxes"])
            for instance in item["instances"]:
                start, end = float(instance["start"]), float(instance["end"])
                # Start: between the examined frame before and the first sighting.
                before = [t for t in looked if t < start - 1e-6]
                if before:
                    start = times[first_change(index_at(before[-1]), index_at(start), norm,
                                               shown_after=True)]
                # End: between the last sighting and the first sampled frame at the end.
                seen = [t for t in box_times if float(instance["start"]) - 1e-6 <= t < end]
                if seen:
                    hi = next((i for i, t in enumerate(times) if t >= end - 1e-6), len(times))
                    hi = first_change(index_at(seen[-1]), hi, norm, shown_after=False)
                    if hi < len(times):
                        end = times[hi]
                instance["start"], instance["end"] = round(start, 3), round(max(start, end), 3)
        return len(reads)

    def _examine(self, frames: FrameStore, chosen: Sequence[int]) -> _Examined:
        """Read the chosen frames (a frame that barely differs from the last one read reuses
        its result), keeping the lines of at least two letters or digits read confidently."""
        import cv2

        done = _Examined()
        last_thumb: NDArray[np.int16] | None = None
        last_kept: tuple[Observation, ...] = ()
        for index in chosen:
            rgb = frames.load(index)
            grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            thumb_h = max(1, round(grey.shape[0] * _THUMB_WIDTH / grey.shape[1]))
            thumb = cv2.resize(grey, (_THUMB_WIDTH, thumb_h),
                               interpolation=cv2.INTER_AREA).astype(np.int16)
            when = frames.times[index]
            if (last_thumb is not None and last_thumb.shape == thumb.shape
                    and int(np.abs(thumb - last_thumb).max()) <= self.settings.duplicate_threshold):
                done.frames.append(ExaminedFrame(when, last_kept, reused=True))
                continue
            started = time.perf_counter()
            found = self.read(rgb)
            done.seconds += time.perf_counter() - started
            done.runs += 1
            kept = []
            for obs in found:
                if sum(ch.isalnum() for ch in obs.text) < 2:
                    reason = "junk"
                elif obs.score < self.settings.min_confidence:
                    reason = "low_confidence"
                else:
                    kept.append(obs)
                    continue
                done.dropped[reason] += 1
                if len(done.rejected) < _MAX_REJECTS:
                    done.rejected.append({"time": round(when, 3), "text": obs.text,
                                          "score": round(obs.score, 3), "reason": reason})
            last_thumb, last_kept = thumb, tuple(kept)
            done.frames.append(ExaminedFrame(when, last_kept))
        return done

    def _plausible(self, items: list[dict[str, Any]]
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The items kept, and the implausible ones dropped (see the module's docstring)."""
        implausible: list[dict[str, Any]] = []
        kept = []
        for item in items:
            sightings = {box["time"] for box in item["boxes"]}
            if self.settings.plausibility and not plausible(item["text"]) and (
                    len(sightings) <= 1
                    or item["confidence"] < self.settings.min_implausible_confidence):
                implausible.append({"text": item["text"], "confidence": item["confidence"],
                                    "frames": len(sightings)})
                continue
            kept.append(item)
        return kept, implausible

    def analyze(self, ctx: AnalysisContext) -> AnalyzerOutput:
        settings = self.settings
        thresholds = {**settings.pick("min_confidence"), "min_alnum_chars": 2,
                      "duplicate_max_grey_diff": settings.duplicate_threshold,
                      **settings.pick("max_edit_ratio"), "min_box_overlap": settings.min_overlap}
        if ctx.frames is None or not len(ctx.frames):
            return self.output(ctx, [], {"thresholds": thresholds, "frames_examined": 0})
        chosen, keyframe_times = self._chosen(ctx)
        done = self._examine(ctx.frames, chosen)
        examined, ocr_runs = done.frames, done.runs
        stride = max(self.settings.every_seconds, ctx.frames.step)
        items = merge_observations(examined, stride=stride,
                                   duration=ctx.duration if ctx.duration > 0 else None,
                                   max_edit_ratio=self.settings.max_edit_ratio,
                                   min_overlap=self.settings.min_overlap)
        items, implausible = self._plausible(items)
        for n, item in enumerate(items):
            item["id"] = n
        refine_reads = self._refine(ctx, items, examined) if self.settings.refine else 0
        variants = []
        for item in items:
            spellings = item.pop("_variants")
            if len(spellings) > 1:
                variants.append({"id": item["id"], "spellings": spellings[:5]})
        evidence: dict[str, Any] = {
            "thresholds": thresholds,
            "frames_examined": len(examined),
            "frames_read": ocr_runs,
            "frames_reused": [round(f.time, 3) for f in examined if f.reused],
            "examined_times": [round(f.time, 3) for f in examined],
            "keyframe_times": [round(t, 3) for t in keyframe_times],
            "stride_seconds": round(stride, 3),
            "ms_per_frame_read": (round(1000 * done.seconds / ocr_runs, 1) if ocr_runs
                                  else None),
            "frames_read_refining": refine_reads,
            "dropped": {"low_confidence": done.dropped["low_confidence"],
                        "junk": done.dropped["junk"], "implausible": len(implausible)},
            "implausible": implausible[:_MAX_REJECTS],
            "dropped_examples": done.rejected,
            "alternatives": variants,
        }
        return self.output(ctx, items, evidence)

