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


def cartoon(noise: float = 0.0, seed: int = 0,
            body: tuple[int, int, int] = (235, 235, 240)) -> Image.Image:
    """A drawn frame: a sky gradient, outlined flat hills and sun, an outlined cartoon
    creature (body colour ``body``) with big eyes and a smile; with ``noise`` > 0, Gaussian
    noise of that deviation over it (texture, so simple flat-shading tests no longer see a
    drawing)."""
    import numpy as np
    from PIL import ImageDraw

    width, height = SIZE
    image = Image.new("RGB", SIZE)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / height
        draw.line([(0, y), (width, y)], fill=(int(90 + 100 * t), int(160 + 60 * t), 235))
    ink = (20, 20, 20)
    draw.ellipse((-100, 230, 400, 520), fill=(90, 180, 70), outline=(30, 60, 20), width=4)
    draw.ellipse((250, 250, 800, 560), fill=(110, 200, 80), outline=(30, 60, 20), width=4)
    draw.ellipse((520, 30, 600, 110), fill=(255, 220, 60), outline=(200, 120, 0), width=4)
    draw.ellipse((220, 120, 420, 320), fill=body, outline=ink, width=5)
    draw.ellipse((260, 60, 380, 180), fill=body, outline=ink, width=5)
    draw.ellipse((285, 95, 315, 130), fill=(255, 255, 255), outline=ink, width=3)
    draw.ellipse((325, 95, 355, 130), fill=(255, 255, 255), outline=ink, width=3)
    draw.ellipse((295, 108, 308, 122), fill=ink)
    draw.ellipse((335, 108, 348, 122), fill=ink)
    draw.arc((295, 130, 345, 160), 0, 180, fill=ink, width=4)
    draw.polygon([(270, 70), (250, 0), (295, 62)], fill=body, outline=ink)
    draw.polygon([(350, 62), (390, 0), (372, 75)], fill=body, outline=ink)
    if not noise:
        return image
    pixels = np.asarray(image).astype(np.float64)
    pixels += np.random.default_rng(seed).normal(0, noise, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
