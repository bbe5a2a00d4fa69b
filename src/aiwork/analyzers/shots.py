"""Shot boundaries (PySceneDetect's content detector) and one JPEG keyframe per shot.

The detector sees every frame of the single decoding pass (downscaled); the keyframe of a
shot is the sampled frame nearest its middle.
"""

from __future__ import annotations

import hashlib
import shutil
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aiwork.analyzers.base import AnalysisContext, Analyzer, AnalyzerOutput, ModelInfo
from aiwork.media.decode import FrameVisitor
from aiwork.media.probe import Probe


class ShotsAnalyzer(Analyzer):
    name = "shots"
    insight = "shots"
    requires = ("scenedetect", "cv2")
    needs_frames = True

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        # Below PySceneDetect's 27: cuts between flat or dark scenes change the HSV content
        # value less (23 measured on the sample's darkest cut) while text or a face appearing
        # on a static scene scores 10-13.
        self.threshold = float(self.options.get("threshold", 22.0))
        self.min_shot = float(self.options.get("min_shot_seconds", 0.6))
        # Every 2nd frame: a cut is still placed within one frame (0.04 s at 25 fps) and the
        # pass costs half as much.
        self.scan_every = int(self.options.get("scan_every", 2))
        self._cuts: list[tuple[int, float]] = []
        self._times: list[float] = []

    def model(self) -> ModelInfo:
        import scenedetect

        return ModelInfo("PySceneDetect ContentDetector", scenedetect.__version__)

    def parameters(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "min_shot_seconds": self.min_shot,
                "scan_every": self.scan_every}

    def frame_visitor(self, probe: Probe) -> FrameVisitor:
        from scenedetect.detectors import ContentDetector

        self._cuts, self._times = [], []
        detector: Any = None

        def visit(number: int, time: float, frame: NDArray[np.uint8]) -> None:
            nonlocal detector
            if detector is None:
                fps = (probe.frame_rate or 25.0) / self.scan_every
                detector = ContentDetector(threshold=self.threshold,
                                           min_scene_len=max(1, int(self.min_shot * fps)))
            self._times.append(time)
            for cut in detector.process_frame(number, frame):  # BGR, as OpenCV reads frames
                if 0 < cut < len(self._times):
                    self._cuts.append((cut, self._times[cut]))

        return visit

    def analyze(self, ctx: AnalysisContext) -> AnalyzerOutput:
        bounds = [0.0] + [t for _, t in self._cuts] + [ctx.duration]
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
            if ctx.frames is not None and len(ctx.frames):
                index = ctx.frames.nearest((start + end) / 2)
                source = ctx.frames.files[index]
                digest = "sha256:" + hashlib.sha256(source.read_bytes()).hexdigest()
                name = f"keyframes/shot-{len(items):04d}.jpg"
                target = ctx.keyframe_dir / f"shot-{len(items):04d}.jpg"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                files[name] = target
                keyframe_digests.append(digest)
                shot["keyframe"] = {"time": round(ctx.frames.times[index], 3), "file": name,
                                    "digest": digest}
            items.append(shot)
        return AnalyzerOutput(
            items=items,
            confidences=[1.0] * len(items),
            evidence={"cuts": [round(t, 3) for _, t in self._cuts],
                      "thresholds": {"content_val": self.threshold},
                      "keyframes": keyframe_digests},
            parameters=self.parameters(),
            end=ctx.duration,
            files=files,
        )
