"""What a media file is: container, streams, duration, digest. Refuses what cannot be a video."""

from __future__ import annotations

import mimetypes
import stat
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av

from aiwork.errors import MediaError

__all__ = ["MAX_PIXELS", "Probe", "frame_too_large", "measured", "probe"]

#: Frames larger than this (8K UHD) are refused before any decoding.
MAX_PIXELS = 7680 * 4320
MAX_SIDE = 16384


@dataclass(frozen=True)
class Probe:
    path: Path
    size: int
    container: str
    duration: float
    bitrate: int | None
    video_codec: str | None
    width: int | None
    height: int | None
    frame_rate: float | None
    frame_count: int | None
    audio_codec: str | None
    sample_rate: int | None
    channels: int | None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None

    @property
    def media_type(self) -> str | None:
        return mimetypes.guess_type(self.path.name)[0]


def probe(path: Path) -> Probe:
    """Read the container header. Raises :class:`MediaError` naming the file."""
    try:
        facts = path.stat()
    except FileNotFoundError:
        broken = path.is_symlink()
        raise MediaError(f"{path}: " + ("a symbolic link to nothing" if broken
                                         else "no such file")) from None
    except OSError as exc:
        raise MediaError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(facts.st_mode):
        raise MediaError(f"{path}: a folder with no video files in it")
    if not stat.S_ISREG(facts.st_mode):
        raise MediaError(f"{path}: not a regular file (a pipe, socket or device)")
    size = facts.st_size
    if size == 0:
        raise MediaError(f"{path}: the file is empty")
    try:
        path.open("rb").close()
    except OSError as exc:
        raise MediaError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            video = next(iter(container.streams.video), None)
            audio = next(iter(container.streams.audio), None)
            if video is None:
                raise MediaError(f"{path}: has no video track")
            width, height = video.codec_context.width, video.codec_context.height
            if not width or not height:
                raise MediaError(f"{path}: the video track has no frame size")
            if frame_too_large(width, height):
                raise MediaError(
                    f"{path}: frame size {width}x{height} is beyond what aiwork decodes "
                    f"(at most {MAX_PIXELS} pixels)"
                )
            rate = video.average_rate or video.guessed_rate
            duration = _duration(container, video)
            if duration <= 0:
                raise MediaError(f"{path}: the video has no duration")
            return Probe(
                path=path,
                size=size,
                container=container.format.name,
                duration=duration,
                bitrate=container.bit_rate or None,
                video_codec=video.codec_context.name,
                width=width,
                height=height,
                frame_rate=float(rate) if rate else None,
                frame_count=video.frames or None,
                audio_codec=audio.codec_context.name if audio is not None else None,
                sample_rate=audio.codec_context.sample_rate if audio is not None else None,
                channels=audio.codec_context.channels if audio is not None else None,
            )
    except MediaError:
        raise
    except (av.FFmpegError, ValueError, UnicodeDecodeError) as exc:
        raise MediaError(f"{path}: not a readable video ({exc.__class__.__name__}: {exc})") from exc


def frame_too_large(width: int, height: int) -> bool:
    """Whether a frame of this size is beyond what aiwork decodes."""
    return width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS


def measured(facts: Probe) -> Probe:
    """``facts`` with the duration its video packets cover (the end of the last one) instead of the duration the header claims (a header can say 1 ms for 20 s of video).
    Reads every packet of the video track but decodes none. Raises :class:`MediaError` when
    the packets cover much less than the header says (a truncated file)."""
    path = facts.path
    end: float | None = None
    step = 1.0 / facts.frame_rate if facts.frame_rate else 0.04
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            video = container.streams.video[0]
            base = video.time_base
            if base is None:
                return facts
            for packet in container.demux(video):
                stamp = packet.pts if packet.pts is not None else packet.dts
                if stamp is None:
                    continue
                start = float(stamp * base)
                length = float(packet.duration * base) if packet.duration else step
                end = start + length if end is None else max(end, start + length)
    except av.FFmpegError:
        pass  # a damaged stretch ends the count: what was read so far is what is there
    if end is None:
        raise MediaError(f"{path}: truncated or damaged: the video track holds no frame")
    covered = end
    if covered < 0.8 * facts.duration - 1.0:
        raise MediaError(f"{path}: truncated or damaged: the header says "
                         f"{facts.duration:.1f} s, the file holds {covered:.1f} s of video")
    return replace(facts, duration=covered)


def _duration(container: av.container.InputContainer, video: av.VideoStream) -> float:
    if video.duration is not None and video.time_base is not None:
        return float(video.duration * Fraction(video.time_base))
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0
