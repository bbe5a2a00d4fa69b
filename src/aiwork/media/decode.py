"""One decoding pass over a video: every frame to the visitors, sampled frames to disk, audio.

Frame visitors (shot detection) see every frame, downscaled to ``scan_width``. Frames at
``sample_fps`` are kept as JPEG files in a work folder for the analyzers that look at
pictures. The audio track is resampled to 16 kHz mono float32, the input speech and
audio-event models take, and written to a raw file in the same folder
(:class:`AudioTrack`), which analyzers read in pieces: memory does not grow with the
video's length (3 h of audio would be 690 MB in memory).

Hostile input: every decoded frame is checked against the size limit (the decoder itself
refuses to allocate a larger picture), whatever the header said, and the duration is the
end of the last decoded frame, not the header's claim.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from numpy.typing import NDArray

from aiwork.media.probe import MAX_PIXELS, Probe, frame_too_large
from aiwork.errors import InputError, MediaError

__all__ = ["AUDIO_RATE", "MAX_SPAN_SECONDS", "AudioTrack", "DecodedMedia", "FrameStore",
           "FrameVisitor", "audio_span", "decode"]

AUDIO_RATE = 16_000
#: The longest stretch of audio :func:`audio_span` reads.
MAX_SPAN_SECONDS = 120.0
#: Called with (frame number, seconds, BGR array at scan size, OpenCV's channel order) for
#: every decoded frame.
FrameVisitor = Callable[[int, float, NDArray[np.uint8]], None]


@dataclass
class FrameStore:
    """Sampled frames on disk, in time order."""

    folder: Path
    times: list[float] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def add(self, time: float, frame: av.VideoFrame) -> None:
        path = self.folder / f"f{len(self.files):06d}.jpg"
        frame.to_image().save(path, quality=92)  # type: ignore[no-untyped-call]
        self.times.append(time)
        self.files.append(path)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def step(self) -> float:
        """The usual interval between sampled frames (1 s when it cannot be told)."""
        if len(self.times) < 2:
            return 1.0
        return float(np.median(np.diff(np.asarray(self.times, dtype=np.float64))))

    def load(self, index: int) -> NDArray[np.uint8]:
        """Frame ``index`` as an RGB array (height, width, 3)."""
        from PIL import Image

        with Image.open(self.files[index]) as image:
            return np.asarray(image.convert("RGB"))

    def nearest(self, time: float) -> int:
        if not self.times:
            raise IndexError("no sampled frames")
        return min(range(len(self.times)), key=lambda i: abs(self.times[i] - time))

    def between(self, start: float, end: float) -> Iterator[int]:
        return (i for i, t in enumerate(self.times) if start <= t < end)

    def every(self, seconds: float) -> list[int]:
        """One frame every ``seconds``: the first frame, then each first frame at least
        ``seconds`` after the last one taken (indices, in time order)."""
        chosen: list[int] = []
        next_time = float("-inf")
        for i, t in enumerate(self.times):
            if t + 1e-6 >= next_time:
                chosen.append(i)
                next_time = t + seconds
        return chosen

    def spans(self, indices: Sequence[int], until: float) -> list[tuple[float, float]]:
        """The time each of ``indices`` (in time order) stands for: from its own time to the
        next one's, the last one's to ``until`` (the end of the video; never before the
        frame's own time)."""
        ends = [self.times[i] for i in indices[1:]] + [until]
        return [(self.times[i], max(self.times[i], end)) for i, end in zip(indices, ends,
                                                                          strict=True)]


class AudioTrack:
    """A mono float32 audio track at :data:`AUDIO_RATE`, read in pieces: from a raw file
    (what :func:`decode` writes), or from an array already in memory
    (:meth:`from_array`)."""

    def __init__(self, path: Path | None, samples: int,
                 array: NDArray[np.float32] | None = None) -> None:
        self.path, self.samples, self._array = path, samples, array

    @classmethod
    def from_array(cls, array: NDArray[np.float32]) -> AudioTrack:
        return cls(None, len(array), np.ascontiguousarray(array, dtype=np.float32))

    def __len__(self) -> int:
        return self.samples

    @property
    def seconds(self) -> float:
        return self.samples / AUDIO_RATE

    def read(self, start: int = 0, count: int | None = None) -> NDArray[np.float32]:
        """Samples ``start`` to ``start + count`` (to the end when ``count`` is None)."""
        start = max(0, start)
        stop = self.samples if count is None else min(self.samples, start + count)
        if stop <= start:
            return np.zeros(0, dtype=np.float32)
        if self._array is not None:
            return self._array[start:stop]
        assert self.path is not None
        return np.fromfile(self.path, dtype=np.float32, count=stop - start, offset=start * 4)

    def chunks(self, size: int) -> Iterator[tuple[int, NDArray[np.float32]]]:
        """(first sample, samples) of consecutive pieces of ``size`` samples."""
        for offset in range(0, self.samples, size):
            yield offset, self.read(offset, size)


@dataclass
class DecodedMedia:
    frames: FrameStore
    audio: AudioTrack | None
    frame_count: int
    duration: float  # the end of the last decoded frame
    fps: float


def decode(
    probe: Probe,
    work: Path,
    *,
    visitors: Sequence[FrameVisitor] = (),
    sample_fps: float = 1.0,
    scan_width: int = 256,
    scan_every: int = 1,
    sample_width: int = 640,
    want_audio: bool = True,
    progress: Callable[[float], None] | None = None,
) -> DecodedMedia:
    """Decode ``probe.path`` once. Raises :class:`MediaError` if it cannot be decoded.

    Visitors see every ``scan_every``-th frame, numbered in the frames they see.
    """
    work.mkdir(parents=True, exist_ok=True)
    audio_file = work / "audio.f32"
    state = _Pass(probe, FrameStore(work), visitors, sample_fps=sample_fps, scan_width=scan_width,
                  scan_every=scan_every, sample_width=sample_width, progress=progress)
    video = None
    try:
        with av.open(str(probe.path)) as container, audio_file.open("wb") as sink:
            video = container.streams.video[0]
            video.thread_type = "AUTO"
            # The decoder refuses to allocate a picture beyond the limit, whatever the header
            # said (a stream can change its frame size midway).
            video.codec_context.options = {**video.codec_context.options,
                                           "max_pixels": str(MAX_PIXELS)}
            streams: list[av.stream.Stream] = [video]
            resampler = None
            if want_audio and container.streams.audio:
                streams.append(container.streams.audio[0])
                resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
            for packet in container.demux(*streams):
                frames_in = packet.decode()
                if packet.stream is video:
                    state.check_stream(video.codec_context, packet)
                for frame in frames_in:
                    if isinstance(frame, av.VideoFrame):
                        state.video_frame(frame)
                    elif resampler is not None and isinstance(frame, av.AudioFrame):
                        state.audio_samples += _resample(sink, resampler, frame)
            if resampler is not None:
                state.audio_samples += _resample(sink, resampler, None)
    except av.FFmpegError as exc:
        if video is not None and frame_too_large(video.codec_context.width,
                                                 video.codec_context.height):
            raise MediaError(_too_large(probe, video.codec_context.width,
                                        video.codec_context.height, state.last_time)) from exc
        raise MediaError(f"{probe.path}: truncated or damaged: decoding failed ({exc})") from exc
    return state.finish(audio_file)


class _Pass:
    """The state of one decoding pass: the frames seen so far, the next sampling time, the
    audio samples written."""

    def __init__(self, probe: Probe, frames: FrameStore, visitors: Sequence[FrameVisitor], *,
                 sample_fps: float, scan_width: int, scan_every: int, sample_width: int,
                 progress: Callable[[float], None] | None) -> None:
        assert probe.width and probe.height
        self.probe, self.frames, self.visitors, self.progress = probe, frames, visitors, progress
        self.sample_fps, self.scan_width, self.scan_every = sample_fps, scan_width, scan_every
        self.scan_h = _even(probe.height * scan_width / probe.width)
        self.sample_w = min(sample_width, probe.width)
        self.sample_h = _even(probe.height * self.sample_w / probe.width)
        self.fps = probe.frame_rate or 25.0
        self.scaler = VideoReformatter()  # one scaler for every frame, not one per frame
        self.next_sample = 0.0
        self.count = 0
        self.last_time = 0.0
        self.audio_samples = 0

    def check_stream(self, context: av.video.codeccontext.VideoCodecContext,
                     packet: av.Packet[Any]) -> None:
        """The stream's current frame size is within the limit (a threaded decoder drops the
        picture it refused without an error)."""
        if frame_too_large(context.width, context.height):
            raise MediaError(_too_large(self.probe, context.width, context.height,
                                        float(packet.pts * packet.time_base)
                                        if packet.pts is not None and packet.time_base
                                        else self.last_time))

    def video_frame(self, frame: av.VideoFrame) -> None:
        """Show the frame to the visitors, keep it if a sample is due, count it."""
        time = float(frame.time) if frame.time is not None else self.count / self.fps
        if frame_too_large(frame.width, frame.height):
            raise MediaError(_too_large(self.probe, frame.width, frame.height, time))
        if self.visitors and self.count % self.scan_every == 0:
            small: NDArray[np.uint8] = self.scaler.reformat(
                frame, width=self.scan_width, height=self.scan_h, format="bgr24"
            ).to_ndarray()  # type: ignore[assignment]
            for visit in self.visitors:
                visit(self.count // self.scan_every, time, small)
        if time + 1e-6 >= self.next_sample:
            self.frames.add(time, frame.reformat(width=self.sample_w, height=self.sample_h))
            self.next_sample = time + 1.0 / self.sample_fps
        self.count += 1
        self.last_time = time
        if self.progress and self.count % 25 == 0:
            self.progress(min(time / self.probe.duration, 1.0))

    def finish(self, audio_file: Path) -> DecodedMedia:
        """What the pass decoded, unless it is none or far shorter than the header says."""
        path, duration = self.probe.path, self.probe.duration
        if self.count == 0:
            raise MediaError(f"{path}: no video frame could be decoded")
        decoded = self.last_time + 1.0 / self.fps
        if decoded < 0.8 * duration - 1.0:
            raise MediaError(
                f"{path}: truncated or damaged: the header says {duration:.1f} s, "
                f"only {decoded:.1f} s could be decoded"
            )
        audio = AudioTrack(audio_file, self.audio_samples) if self.audio_samples else None
        if self.progress:
            self.progress(1.0)
        return DecodedMedia(self.frames, audio, self.count, decoded, self.fps)


def _resample(sink: BinaryIO, resampler: av.AudioResampler, frame: av.AudioFrame | None) -> int:
    """Resample an audio frame (``None``: flush) into the sink; return the samples written."""
    return sum(_write(sink, out) for out in resampler.resample(frame))


def _write(sink: BinaryIO, frame: av.AudioFrame) -> int:
    samples = frame.to_ndarray()[0].astype(np.float32, copy=False)
    sink.write(samples.tobytes())
    return len(samples)


def _too_large(probe: Probe, width: int, height: int, time: float) -> str:
    return (f"{probe.path}: a frame at about {time:.1f} s is {width}x{height}, beyond what aiwork "
            f"decodes (at most {MAX_PIXELS} pixels); the header said "
            f"{probe.width}x{probe.height}")


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def audio_span(path: Path, start: float, end: float) -> NDArray[np.float32]:
    """The audio of ``path`` from ``start`` to ``end`` seconds, 16 kHz mono float32 (a
    transcript segment's speech): the container is sought to ``start`` and decoded only to
    ``end``, and samples before ``start`` are dropped as they come, so memory is bounded by
    the span (at most :data:`MAX_SPAN_SECONDS`), whatever the file's length or where the seek
    lands. MediaError for a file without audio or that cannot be decoded; InputError for a
    span that is not one."""
    if not (0.0 <= start < end) or end - start > MAX_SPAN_SECONDS or end > 1e7:
        raise InputError(f"{start!r}-{end!r} s is not a span of audio to read (at most "
                         f"{MAX_SPAN_SECONDS:g} s, from 0 on)")
    wanted = int(round((end - start) * AUDIO_RATE))
    kept: list[NDArray[np.float32]] = []
    held = 0
    skip: int | None = None  # samples still to drop before ``start``
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError(f"{path}: no audio track")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
            if start > 0:
                container.seek(int(start * av.time_base), backward=True, any_frame=False)
            frames = container.decode(stream)
            for frame in frames:
                at = float(frame.time) if frame.time is not None else 0.0
                if skip is None:
                    if at > start + 0.5:
                        raise MediaError(f"{path}: audio from {start:.2f} s cannot be read "
                                         f"(the first frame found starts at {at:.2f} s)")
                    skip = max(0, int(round((start - at) * AUDIO_RATE)))
                for out in resampler.resample(frame):
                    skip, held = _keep(out, skip, kept, held, wanted)
                if held >= wanted:
                    break
            else:
                for out in resampler.resample(None):
                    skip, held = _keep(out, skip or 0, kept, held, wanted)
    except av.FFmpegError as exc:
        raise MediaError(f"{path}: its audio cannot be decoded ({exc})") from exc
    audio = np.concatenate(kept) if kept else np.zeros(0, dtype=np.float32)
    return np.ascontiguousarray(audio[:wanted])


def _keep(frame: av.AudioFrame, skip: int, kept: list[NDArray[np.float32]], held: int,
          wanted: int) -> tuple[int, int]:
    """Keep what of a resampled frame falls in the span: ``skip`` samples dropped first, at
    most ``wanted`` held in all; return the samples still to skip and those held."""
    samples = frame.to_ndarray()[0]
    drop = min(skip, len(samples))
    part = samples[drop:drop + max(0, wanted - held)].astype(np.float32, copy=True)
    if len(part):
        kept.append(part)
    return skip - drop, held + len(part)
