"""Pictures as the frame-based analyzers see them: frames stored as decode() stores them, and
the caption font."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image

from aiwork.analyzers.base import AnalysisContext, AnalyzerOutput
from aiwork.errors import ConfigError
from aiwork.media.decode import FrameStore
from aiwork.media.probe import Probe
from aiwork.synth.clips import find_font

from .conftest import missing

SIZE = (640, 360)


def plain(colour: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", SIZE, colour)


def font_file() -> Path:
    """DejaVu Sans Bold, the font the sample's captions are drawn in."""
    try:
        return find_font()
    except ConfigError:
        missing("the DejaVu fonts (Debian fonts-dejavu-core) are not installed")


def frames_context(tmp_path: Path, pictures: Sequence[Image.Image],
                   upstream: Mapping[str, AnalyzerOutput] | None = None, *,
                   duration: float | None = None, with_audio: bool = False) -> AnalysisContext:
    """``pictures`` as 1 fps frames of a ``SIZE`` clip (JPEG, quality 92, as decode() stores
    them) lasting ``duration`` (by default one second per picture), with 16 kHz mono audio
    in its probe facts if ``with_audio``."""
    folder = tmp_path / "frames"
    folder.mkdir()
    store = FrameStore(folder)
    for i, picture in enumerate(pictures):
        path = folder / f"f{i:06d}.jpg"
        picture.save(path, quality=92)
        store.times.append(float(i))
        store.files.append(path)
    seconds = float(len(pictures)) if duration is None else duration
    probe = Probe(path=tmp_path / "clip.mp4", size=0, container="mp4", duration=seconds,
                  bitrate=None, video_codec="h264", width=SIZE[0], height=SIZE[1],
                  frame_rate=25.0, frame_count=int(25 * seconds),
                  audio_codec="aac" if with_audio else None,
                  sample_rate=16000 if with_audio else None, channels=1 if with_audio else None)
    return AnalysisContext(asset="sha256:" + "0" * 64, probe=probe, frames=store, audio=None,
                           upstream=dict(upstream or {}), keyframe_dir=tmp_path / "keyframes")
