"""Technical facts from the container header (PyAV)."""

from __future__ import annotations

from typing import Any

import av

from aiwork.analyzers.base import AnalysisContext, Analyzer, AnalyzerOutput, ModelInfo
from aiwork.analyzers.options import AnalyzerOptions


class TechnicalAnalyzer(Analyzer):
    name = "technical"
    Options = AnalyzerOptions  # none

    def model(self) -> ModelInfo:
        return ModelInfo(name="ffmpeg-libav (PyAV)", version=f"av {av.__version__}")

    def analyze(self, ctx: AnalysisContext) -> AnalyzerOutput:
        p = ctx.probe
        facts: dict[str, Any] = {
            "container": p.container, "duration": round(p.duration, 3), "size": p.size,
            "bitrate": p.bitrate, "video_codec": p.video_codec, "width": p.width,
            "height": p.height,
            "frame_rate": round(p.frame_rate, 3) if p.frame_rate else None,
            "frame_count": p.frame_count, "audio_codec": p.audio_codec,
            "sample_rate": p.sample_rate, "channels": p.channels,
        }
        return AnalyzerOutput(items=facts, confidences=[1.0], end=p.duration)
