"""Face presence: OpenCV's Haar frontal-face cascade on every sampled frame. Counts, never
identifies.

Frames are converted to grey and locally equalised (CLAHE). Global histogram equalisation,
the textbook step, was measured here to *lose* faces on frames with a large flat background
(the background's single grey level takes most of the range), so it is not used. Each
detection's confidence is a logistic squash of the cascade's last-stage level weight (the
weight is unbounded; a squash keeps its order, it is not a calibrated probability). The one
item's instances are the time ranges with at least one face, a gap of one sampled frame
bridged; an instance's confidence is the fraction of its sampled frames with a face.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aiwork.analyzers.base import (
    AnalysisContext,
    Analyzer,
    AnalyzerOutput,
    AnalyzerUnavailable,
    ModelInfo,
    weights_digest,
)

__all__ = ["FacesAnalyzer", "presence_ranges"]

_CASCADE = "haarcascade_frontalface_default.xml"

Rect = tuple[int, int, int, int]


def _cascade_path() -> Path:
    import importlib

    # cv2.data.haarcascades: the folder opencv-python-headless ships (cv2's stubs omit it).
    return Path(importlib.import_module("cv2.data").haarcascades) / _CASCADE


def presence_ranges(present: Sequence[bool], max_gap: int = 1) -> list[tuple[int, int]]:
    """(first, last) frame positions of the runs of ``present``, gaps of at most ``max_gap``
    absent frames bridged."""
    runs: list[tuple[int, int]] = []
    for i, hit in enumerate(present):
        if not hit:
            continue
        if runs and i - runs[-1][1] - 1 <= max_gap:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _squash(level_weight: float) -> float:
    """Level weight -> 0..1, monotone: ~0.5 at 2, ~0.95 at 5 (true faces measured 3-8)."""
    return 1.0 / (1.0 + math.exp(2.0 - level_weight))


def _suppress(rects: list[Rect], weights: list[float]) -> list[tuple[Rect, float]]:
    """Drop a box mostly inside a stronger one (the cascade sometimes nests two)."""
    order = sorted(range(len(rects)), key=lambda i: -weights[i])
    kept: list[tuple[Rect, float]] = []
    for i in order:
        x, y, w, h = rects[i]
        inside = False
        for (kx, ky, kw, kh), _ in kept:
            ix = max(0, min(x + w, kx + kw) - max(x, kx))
            iy = max(0, min(y + h, ky + kh) - max(y, ky))
            if ix * iy > 0.5 * min(w * h, kw * kh):
                inside = True
                break
        if not inside:
            kept.append((rects[i], weights[i]))
    return kept


class FacesAnalyzer(Analyzer):
    name = "faces"
    insight = "faces"
    version = "1"
    requires = ("cv2",)
    needs_frames = True

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.scale_factor = float(self.options.get("scale_factor", 1.1))
        self.min_neighbors = int(self.options.get("min_neighbors", 5))
        # Smallest face: this share of the frame's shorter side (25 px at 360 p).
        self.min_size_ratio = float(self.options.get("min_size_ratio", 0.07))
        self.clahe_clip = float(self.options.get("clahe_clip", 2.0))
        self.max_gap_frames = int(self.options.get("max_gap_frames", 1))
        self._detector: Any = None

    def check(self) -> None:
        super().check()
        if not _cascade_path().is_file():
            raise AnalyzerUnavailable(f"OpenCV's {_CASCADE} is missing from cv2.data")

    def model(self) -> ModelInfo:
        import cv2

        return ModelInfo("OpenCV Haar cascade frontalface_default", cv2.__version__,
                         weights_digest([_cascade_path()]))

    def parameters(self) -> dict[str, Any]:
        return {
            "scale_factor": self.scale_factor,
            "min_neighbors": self.min_neighbors,
            "min_size_ratio": self.min_size_ratio,
            "clahe_clip": self.clahe_clip,
            "max_gap_frames": self.max_gap_frames,
        }

    def detect(self, rgb: NDArray[np.uint8]) -> list[tuple[Rect, float]]:
        """Faces in one RGB frame: pixel rectangles with their cascade level weight."""
        import cv2

        if self._detector is None:
            cascade = cv2.CascadeClassifier(str(_cascade_path()))
            if cascade.empty():
                raise AnalyzerUnavailable(f"OpenCV could not load {_cascade_path()}")
            self._detector = (cascade, cv2.createCLAHE(clipLimit=self.clahe_clip,
                                                        tileGridSize=(8, 8)))
        cascade, clahe = self._detector
        grey = clahe.apply(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        side = max(24, round(self.min_size_ratio * min(grey.shape[:2])))
        rects, _levels, weights = cascade.detectMultiScale3(
            grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(side, side), outputRejectLevels=True)
        boxes: list[Rect] = [(int(x), int(y), int(w), int(h)) for x, y, w, h in rects]
        return _suppress(boxes, [float(w) for w in np.asarray(weights).ravel()])

    def analyze(self, ctx: AnalysisContext) -> AnalyzerOutput:
        thresholds = {"min_neighbors": self.min_neighbors, "scale_factor": self.scale_factor,
                      "min_size_ratio": self.min_size_ratio,
                      "max_gap_frames": self.max_gap_frames}
        if ctx.frames is None or not len(ctx.frames):
            return AnalyzerOutput(items=[], evidence={"thresholds": thresholds,
                                                      "frames_examined": 0},
                                  parameters=self.parameters(), end=ctx.duration)
        times = ctx.frames.times
        counts: list[int] = []
        detections: list[dict[str, Any]] = []
        weights: list[float] = []
        for index in range(len(ctx.frames)):
            rgb = ctx.frames.load(index)
            height, width = rgb.shape[:2]
            found = self.detect(rgb)
            counts.append(len(found))
            for (x, y, w, h), weight in found:
                weights.append(weight)
                detections.append({
                    "time": round(times[index], 3),
                    "x": round(x / width, 3), "y": round(y / height, 3),
                    "width": round(w / width, 3), "height": round(h / height, 3),
                    "confidence": round(_squash(weight), 3),
                })
        step = ctx.frames.step
        instances = []
        in_ranges = hit_frames = 0
        for first, last in presence_ranges([c > 0 for c in counts], self.max_gap_frames):
            hits = sum(1 for c in counts[first:last + 1] if c > 0)
            frames = last - first + 1
            in_ranges += frames
            hit_frames += hits
            end = times[last] + step
            if ctx.duration > times[last]:
                end = min(end, ctx.duration)
            instances.append({"start": round(times[first], 3), "end": round(end, 3),
                              "confidence": round(hits / frames, 3)})
        items: list[dict[str, Any]] = []
        if instances:
            items.append({
                "id": 0,
                "max_count": max(counts),
                "confidence": round(hit_frames / in_ranges, 3),
                "instances": instances,
                "detections": detections,
            })
        evidence: dict[str, Any] = {
            "thresholds": thresholds,
            "frames_examined": len(counts),
            "frames_with_faces": sum(1 for c in counts if c > 0),
            "faces_per_frame": {str(n): counts.count(n) for n in sorted(set(counts))},
            "level_weights": ({"min": round(min(weights), 3), "max": round(max(weights), 3),
                               "mean": round(float(np.mean(weights)), 3)} if weights else None),
            "confidence": "instance: share of its sampled frames with a face; detection: "
                          "1 / (1 + exp(2 - cascade level weight))",
        }
        return AnalyzerOutput(
            items=items,
            confidences=[float(item["confidence"]) for item in items],
            evidence=evidence,
            parameters=self.parameters(),
            end=ctx.duration,
        )

