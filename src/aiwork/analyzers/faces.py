"""Face presence: a DNN detector (MTCNN) on every sampled frame, a detection kept only when it
persists over consecutive samples. Counts, never identifies.

Detector: MTCNN (:mod:`aiwork.analyzers.mtcnn`; weights inside the ``facenet-pytorch`` wheel,
or a folder given as option ``mtcnn_model``). A detection counts when the O-net's face
probability is at least ``min_score`` and its box's side at least ``min_size_ratio`` of the
frame's shorter side. OpenCV's Haar frontal-face cascade is the fallback when the MTCNN weights
are not installed (option ``detector``: ``auto`` | ``mtcnn`` | ``haar``); the decision's model
and evidence name the one used. Haar was measured on real photographs without faces to find a
"face" on 23 % of frames (wood grain, a cat, coin portraits, lit windows); MTCNN with the
thresholds below on none of the development part's (see the README's Accuracy paragraph).

Temporal support: a detection in a clip of several sampled frames is kept only when an
overlapping detection (centres within ``support_distance`` of the box side) is found in a
neighbouring sampled frame, at most ``max_gap_frames`` + 1 samples away. A face shown on one
sampled frame only is therefore not reported; a texture that fools the detector once is not
either. A clip with one sampled frame has nothing to confirm against: its detections stand.

Drawn faces: a kept detection whose surroundings (the box widened to 1.5 times its side) the
learned drawn/animated classifier (:mod:`aiwork.analyzers.drawn`) scores at least
``drawn_threshold`` (0.6) is dropped: MTCNN finds faces on cartoon animals, and a drawn
face is not a person. The picture classified is the face's surroundings, not the whole frame,
so a real face over a title card or a flat background still counts. Measured on the
development part of bench/realmedia: real faces (Labeled Faces in the Wild, photographs)
score at most 0.14 there, the cartoon animals MTCNN took for faces at least 0.66; the
threshold is the highest that still drops all of those, leaving real faces the most room (a
photographed face pasted on a flat colour scores up to 0.42). Without
torch or the EfficientNet-Lite0 weights the step is skipped and the evidence says why.

Haar: frames are converted to grey and locally equalised (CLAHE); a detection's confidence is
a logistic squash of the cascade's last-stage level weight (order-preserving, not a calibrated
probability). The one item's instances are the time ranges with at least one kept face, a gap
of one sampled frame bridged; an instance's confidence is the fraction of its sampled frames
with a face.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from aiwork.analyzers.base import AnalysisContext, Analyzer, AnalyzerOutput, ModelInfo
from aiwork.analyzers.models import cached_weights_digest, distribution_version
from aiwork.analyzers.options import DrawnOptions, Field
from aiwork.errors import AnalyzerUnavailable

__all__ = ["FacesAnalyzer", "FacesOptions", "presence_ranges", "supported"]

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


def supported(frames: Sequence[Sequence[Rect]], max_gap: int = 1,
              distance: float = 0.5) -> list[list[bool]]:
    """For each frame's boxes, whether each is confirmed by a box in a neighbouring frame (at
    most ``max_gap`` + 1 frames away) whose centre lies within ``distance`` times the larger
    box side. With a single frame every box stands (there is nothing to confirm against)."""
    if len(frames) <= 1:
        return [[True] * len(boxes) for boxes in frames]
    out: list[list[bool]] = []
    for i, boxes in enumerate(frames):
        near = [b for j in range(max(0, i - max_gap - 1), min(len(frames), i + max_gap + 2))
                if j != i for b in frames[j]]
        marks = []
        for x, y, w, h in boxes:
            cx, cy = x + w / 2, y + h / 2
            marks.append(any(
                abs(cx - (nx + nw / 2)) <= distance * max(w, nw)
                and abs(cy - (ny + nh / 2)) <= distance * max(h, nh)
                and 0.5 <= (w / nw if nw else 0.0) <= 2.0
                for nx, ny, nw, nh in near))
        out.append(marks)
    return out


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


def _surroundings(rgb: NDArray[np.uint8], box: Rect, margin: float) -> NDArray[np.uint8]:
    """The square around ``box`` of ``margin`` times its longer side, clipped to the frame."""
    x, y, w, h = box
    side = max(w, h) * margin
    cx, cy = x + w / 2, y + h / 2
    height, width = rgb.shape[:2]
    x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    x1, y1 = int(min(width, cx + side / 2)), int(min(height, cy + side / 2))
    return np.ascontiguousarray(rgb[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)])


def _instances(counts: Sequence[int], times: Sequence[float], step: float, duration: float,
               max_gap: int) -> tuple[list[dict[str, float]], float]:
    """The time ranges with a face (a gap of ``max_gap`` sampled frames bridged), each with
    the share of its sampled frames with a face, and that share over all of them."""
    instances = []
    in_ranges = hit_frames = 0
    for first, last in presence_ranges([c > 0 for c in counts], max_gap):
        hits = sum(1 for c in counts[first:last + 1] if c > 0)
        frames = last - first + 1
        in_ranges += frames
        hit_frames += hits
        end = times[last] + step
        if duration > times[last]:
            end = min(end, duration)
        instances.append({"start": round(times[first], 3), "end": round(end, 3),
                          "confidence": round(hits / frames, 3)})
    return instances, round(hit_frames / in_ranges, 3) if in_ranges else 0.0


class FacesOptions(DrawnOptions):
    detector: Literal["auto", "mtcnn", "haar"] = "auto"
    #: MTCNN: the O-net's face probability a detection needs (chosen on the development part
    #: of bench/realmedia's visual area).
    min_score: float = Field(0.95, ge=0.0, le=1.0)
    #: Haar: the cascade's settings.
    scale_factor: float = Field(1.1, gt=1.0)
    min_neighbors: int = Field(5, ge=0)
    clahe_clip: float = Field(2.0, gt=0.0)
    #: Smallest face: this share of the frame's shorter side (25 px at 360 p).
    min_size_ratio: float = Field(0.07, ge=0.0, le=1.0)
    max_gap_frames: int = Field(1, ge=0)
    support_distance: float = Field(0.5, ge=0.0)
    temporal_support: bool = True
    #: Drop faces whose surroundings look drawn (chosen on the development part).
    drawn_threshold: float = Field(0.6, gt=0.0, lt=1.0, exclude=True)
    drawn_margin: float = Field(1.5, ge=1.0)
    #: A folder holding MTCNN's pnet.pt, rnet.pt and onet.pt.
    mtcnn_model: str | None = Field(None, exclude=True)


class FacesAnalyzer(Analyzer):
    name = "faces"
    version = "3"
    requires = ("cv2",)
    needs_frames = True

    Options = FacesOptions
    settings: FacesOptions

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        from aiwork.analyzers.drawn import DrawnSignal

        self.drawn = DrawnSignal(self.settings)
        self._detector: Any = None
        self._chosen: str | None = None

    def _mtcnn_folder(self) -> Path:
        from aiwork.analyzers.mtcnn import weights_folder

        return weights_folder(self.settings.mtcnn_model or None)

    def chosen_detector(self) -> str:
        """``mtcnn`` or ``haar``: ``auto`` takes MTCNN when torch and its weights are here."""
        if self._chosen is None:
            chosen: str = self.settings.detector
            if chosen == "auto":
                chosen = "haar"
                if importlib.util.find_spec("torch") is not None:
                    try:
                        self._mtcnn_folder()
                        chosen = "mtcnn"
                    except AnalyzerUnavailable:
                        pass
            self._chosen = chosen
        return self._chosen

    def check(self) -> None:
        super().check()
        if self.chosen_detector() == "mtcnn":
            if importlib.util.find_spec("torch") is None:
                raise AnalyzerUnavailable("faces: the MTCNN detector needs torch")
            self._mtcnn_folder()
        elif not _cascade_path().is_file():
            raise AnalyzerUnavailable(f"OpenCV's {_CASCADE} is missing from cv2.data")

    def model(self) -> ModelInfo:
        import cv2

        # The drawn classifier and its backbone are weights loaded too: the digest covers them.
        extra: list[Path] = []
        suffix = ""
        if self.drawn.reason is None:
            extra = [self.drawn.path, self.drawn.backbone.weights_file()]
            suffix = " + drawn/animated classifier on EfficientNet-Lite0"
        if self.chosen_detector() == "mtcnn":
            from aiwork.analyzers.mtcnn import WEIGHT_FILES

            folder = self._mtcnn_folder()
            version = (f"local {folder}" if self.settings.mtcnn_model
                       else f"facenet-pytorch {distribution_version('facenet-pytorch')}")
            return ModelInfo("MTCNN (P/R/O-net)" + suffix, version,
                             cached_weights_digest([*(folder / n for n in WEIGHT_FILES), *extra]))
        return ModelInfo("OpenCV Haar cascade frontalface_default" + suffix, cv2.__version__,
                         cached_weights_digest([_cascade_path(), *extra]))

    def parameters(self) -> dict[str, Any]:
        o = self.settings
        detector = ("min_score",) if self.chosen_detector() == "mtcnn" else (
            "scale_factor", "min_neighbors", "clahe_clip")
        return {
            "detector": self.chosen_detector(),
            **o.pick("min_size_ratio", "max_gap_frames", "temporal_support",
                     "support_distance", "drawn_margin"),
            **self.drawn.parameters(o.drawn_threshold),
            **o.pick(*detector),
        }

    def detect(self, rgb: NDArray[np.uint8]) -> list[tuple[Rect, float]]:
        """Faces in one RGB frame: pixel rectangles with a confidence in 0..1 (MTCNN's face
        probability; for Haar, the squashed cascade level weight), thresholds applied."""
        side = max(12, round(self.settings.min_size_ratio * min(rgb.shape[:2])))
        if self.chosen_detector() == "mtcnn":
            from aiwork.analyzers.mtcnn import Mtcnn

            if self._detector is None:
                self._detector = Mtcnn(self._mtcnn_folder())
            found: list[tuple[Rect, float]] = []
            for x1, y1, x2, y2, score in self._detector.detect(rgb, side):
                w, h = x2 - x1, y2 - y1
                if score >= self.settings.min_score and max(w, h) >= side:
                    found.append(((int(x1), int(y1), int(round(w)), int(round(h))),
                                  float(score)))
            return found
        return [(rect, _squash(weight)) for rect, weight in self._haar(rgb, max(24, side))]

    def _haar(self, rgb: NDArray[np.uint8], side: int) -> list[tuple[Rect, float]]:
        import cv2

        if self._detector is None:
            cascade = cv2.CascadeClassifier(str(_cascade_path()))
            if cascade.empty():
                raise AnalyzerUnavailable(f"OpenCV could not load {_cascade_path()}")
            self._detector = (cascade, cv2.createCLAHE(clipLimit=self.settings.clahe_clip,
                                                        tileGridSize=(8, 8)))
        cascade, clahe = self._detector
        grey = clahe.apply(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        rects, _levels, weights = cascade.detectMultiScale3(
            grey, scaleFactor=self.settings.scale_factor, minNeighbors=self.settings.min_neighbors,
            minSize=(side, side), outputRejectLevels=True)
        boxes: list[Rect] = [(int(x), int(y), int(w), int(h)) for x, y, w, h in rects]
        return _suppress(boxes, [float(w) for w in np.asarray(weights).ravel()])

    def _drawn_faces(self, ctx: AnalysisContext, per_frame: list[list[tuple[Rect, float]]],
                     marks: list[list[bool]]) -> tuple[list[list[bool]], list[dict[str, Any]],
                                                      str]:
        """For each detection, whether its surroundings look drawn (only detections that
        survived temporal support are classified), the dropped ones, and what was done."""
        flags = [[False] * len(found) for found in per_frame]
        reason = self.drawn.reason
        if reason is not None:
            return flags, [], f"not done: {reason}"
        assert ctx.frames is not None
        where: list[tuple[int, int]] = []
        crops: list[NDArray[np.uint8]] = []
        for index, found in enumerate(per_frame):
            if not any(marks[index]):
                continue
            rgb = ctx.frames.load(index)
            for k, ((x, y, w, h), _score) in enumerate(found):
                if marks[index][k]:
                    where.append((index, k))
                    crops.append(_surroundings(rgb, (x, y, w, h), self.settings.drawn_margin))
        dropped: list[dict[str, Any]] = []
        if crops:
            probabilities = self.drawn.probabilities(crops)
            for (index, k), p in zip(where, probabilities, strict=True):
                if p >= self.settings.drawn_threshold:
                    flags[index][k] = True
                    dropped.append({"time": round(ctx.frames.times[index], 3),
                                    "box": list(per_frame[index][k][0]),
                                    "drawn_probability": round(float(p), 3)})
        return flags, dropped, (f"{len(crops)} detections classified, {len(dropped)} dropped "
                                f"(drawn probability >= {self.settings.drawn_threshold:g})")

    def analyze(self, ctx: AnalysisContext) -> AnalyzerOutput:
        thresholds = self.parameters()
        if ctx.frames is None or not len(ctx.frames):
            return self.output(ctx, [], {"thresholds": thresholds, "frames_examined": 0})
        times = ctx.frames.times
        per_frame: list[list[tuple[Rect, float]]] = []
        sizes: list[tuple[int, int]] = []
        for index in range(len(ctx.frames)):
            rgb = ctx.frames.load(index)
            sizes.append((rgb.shape[1], rgb.shape[0]))
            per_frame.append(self.detect(rgb))
        if self.settings.temporal_support:
            marks = supported([[r for r, _ in found] for found in per_frame],
                              self.settings.max_gap_frames, self.settings.support_distance)
        else:
            marks = [[True] * len(found) for found in per_frame]
        drawn_marks, drawn_dropped, drawn_note = self._drawn_faces(ctx, per_frame, marks)
        counts: list[int] = []
        detections: list[dict[str, Any]] = []
        scores: list[float] = []
        unsupported = 0
        for index, found in enumerate(per_frame):
            width, height = sizes[index]
            kept = [d for d, ok, drawn in zip(found, marks[index], drawn_marks[index], strict=True)
                    if ok and not drawn]
            unsupported += sum(1 for ok in marks[index] if not ok)
            counts.append(len(kept))
            for (x, y, w, h), score in kept:
                scores.append(score)
                detections.append({
                    "time": round(times[index], 3),
                    "x": round(x / width, 3), "y": round(y / height, 3),
                    "width": round(w / width, 3), "height": round(h / height, 3),
                    "confidence": round(score, 3),
                })
        instances, confidence = _instances(counts, times, ctx.frames.step, ctx.duration,
                                           self.settings.max_gap_frames)
        items: list[dict[str, Any]] = []
        if instances:
            items.append({
                "id": 0,
                "max_count": max(counts),
                "confidence": confidence,
                "instances": instances,
                "detections": detections,
            })
        detector = self.chosen_detector()
        evidence: dict[str, Any] = {
            "detector": detector,
            "thresholds": thresholds,
            "frames_examined": len(counts),
            "frames_with_faces": sum(1 for c in counts if c > 0),
            "faces_per_frame": {str(n): counts.count(n) for n in sorted(set(counts))},
            "dropped_without_temporal_support": unsupported,
            "dropped_as_drawn": len(drawn_dropped),
            "drawn_faces": drawn_dropped[:50],
            "drawn_check": drawn_note,
            "scores": ({"min": round(min(scores), 3), "max": round(max(scores), 3),
                        "mean": round(float(np.mean(scores)), 3)} if scores else None),
            "confidence": "instance: share of its sampled frames with a face; detection: " + (
                "MTCNN O-net face probability" if detector == "mtcnn"
                else "1 / (1 + exp(2 - cascade level weight))"),
        }
        return self.output(ctx, items, evidence)
