"""What a labelled clip holds, as :func:`aiwork.synth.clips.make_clip` renders it: scenes,
speech, captions, faces and music on one timeline (:class:`ClipSpec`), checked when made."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from aiwork.errors import InputError

__all__ = ["ASSETS", "FACE_IMAGE", "Caption", "ClipSpec", "FaceOverlay", "MusicSegment", "Scene",
           "SpeechLine", "words"]

ASSETS = Path(__file__).resolve().parent / "assets"
FACE_IMAGE = ASSETS / "face.jpg"
"""200x200 crop of a public-domain NASA portrait (see ``assets/README``)."""

_COLOUR = re.compile(r"^(?:#|0x)?[0-9A-Fa-f]{6}$|^[A-Za-z]{3,20}$")
_SAMPLE_RATES = (16000, 22050, 44100, 48000)


def words(text: str) -> list[str]:
    """The words of ``text`` with surrounding punctuation stripped."""
    out = []
    for token in text.split():
        word = token.strip(".,;:!?\"'()[]{}")
        if word:
            out.append(word)
    return out


class Scene(NamedTuple):
    """A solid-colour shot: ``duration_s`` (rounded to whole frames) and an ffmpeg colour
    (``"#1d3557"``, ``"0x1d3557"`` or a name such as ``"navy"``)."""

    duration_s: float
    colour: str


@dataclass(frozen=True)
class SpeechLine:
    """A sentence spoken by espeak-ng from ``start_s``.

    ``voice`` is an espeak-ng voice (``espeak-ng --voices``); ``language`` defaults to its part
    before the first ``-`` (``en-us`` -> ``en``). With ``per_word`` every word is synthesised on
    its own and placed ``word_gap_s`` after the previous one, so the truth has exact word
    timings (the speech sounds choppier).
    """

    text: str
    start_s: float
    voice: str = "en-us"
    speed_wpm: int = 160
    language: str | None = None
    per_word: bool = False
    word_gap_s: float = 0.08

    @property
    def lang(self) -> str:
        """The ISO 639 code of the spoken language."""
        return self.language or self.voice.split("-")[0].lower()


@dataclass(frozen=True)
class Caption:
    """On-screen text from ``start_s`` to ``end_s``: white DejaVu Sans Bold on an opaque black
    box, centred horizontally, its top at ``y`` pixels (default: ``font_size + 30`` above
    the bottom edge). One line only."""

    text: str
    start_s: float
    end_s: float
    y: int | None = None
    font_size: int = 40


@dataclass(frozen=True)
class FaceOverlay:
    """A face photograph (default :data:`FACE_IMAGE`) scaled to ``size`` x ``size`` pixels,
    shown from ``start_s`` to ``end_s`` with its top-left corner at (``x``, ``y``) (default:
    centred horizontally, 40 px from the top)."""

    start_s: float
    end_s: float
    x: int | None = None
    y: int | None = 40
    size: int = 200
    image: Path | None = None


@dataclass(frozen=True)
class MusicSegment:
    """A melody of harmonic tones (arpeggios over I-IV-V-I in C major, a pad and a soft kick
    on each beat) from ``start_s`` for ``duration_s``, peaking at ``volume`` of full scale."""

    start_s: float
    duration_s: float
    bpm: int = 120
    volume: float = 0.5


@dataclass(frozen=True)
class ClipSpec:
    """Everything :func:`make_clip` renders. The timeline is the scenes: the file lasts their
    total duration even without a video track.

    ``video=False`` writes an audio-only M4A; ``audio=False`` a video without an audio track
    (both are bad-input cases for the pipeline). ``crf`` and ``audio_kbps`` set the size.
    """

    scenes: tuple[Scene, ...]
    speech: tuple[SpeechLine, ...] = ()
    captions: tuple[Caption, ...] = ()
    faces: tuple[FaceOverlay, ...] = ()
    music: tuple[MusicSegment, ...] = ()
    width: int = 640
    height: int = 360
    fps: int = 25
    sample_rate: int = 16000
    video: bool = True
    audio: bool = True
    crf: int = 30
    audio_kbps: int = 48
    font: Path | None = None

    def __post_init__(self) -> None:
        for name in ("scenes", "speech", "captions", "faces", "music"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        object.__setattr__(self, "scenes", tuple(Scene(*s) for s in self.scenes))
        self._validate()

    # -- derived timing ----------------------------------------------------------------------

    @property
    def scene_frames(self) -> tuple[int, ...]:
        """Each scene's length in frames."""
        return tuple(max(1, round(s.duration_s * self.fps)) for s in self.scenes)

    @property
    def total_frames(self) -> int:
        """The length of the clip in frames."""
        return sum(self.scene_frames)

    @property
    def duration(self) -> float:
        """The length of the clip in seconds (whole frames)."""
        return self.total_frames / self.fps

    def frame_at(self, t: float) -> int:
        """The first frame whose time is at or after ``t``."""
        return min(self.total_frames, max(0, math.ceil(t * self.fps - 1e-6)))

    def _validate(self) -> None:
        def bad(message: str) -> InputError:
            return InputError(f"clip spec: {message}")

        if not self.video and not self.audio:
            raise bad("a clip needs a video track, an audio track or both")
        if not self.scenes:
            raise bad("at least one scene is needed")
        if not (1 <= self.fps <= 120):
            raise bad(f"fps must be 1..120, not {self.fps}")
        if self.width < 64 or self.height < 64 or self.width % 2 or self.height % 2:
            raise bad(f"size must be even and at least 64x64, not {self.width}x{self.height}")
        if self.sample_rate not in _SAMPLE_RATES:
            raise bad(f"sample_rate must be one of {_SAMPLE_RATES}, not {self.sample_rate}")
        if not (0 <= self.crf <= 51) or not (16 <= self.audio_kbps <= 320):
            raise bad("crf must be 0..51 and audio_kbps 16..320")
        for scene in self.scenes:
            if not scene.duration_s > 0:
                raise bad(f"scene duration must be positive, not {scene.duration_s}")
            if not _COLOUR.match(scene.colour):
                raise bad(f"colour {scene.colour!r} is not #rrggbb, 0xrrggbb or a colour name")
        end = self.duration

        def within(what: str, start: float, stop: float) -> None:
            if not (0 <= start < stop <= end + 1e-9):
                raise bad(f"{what} [{start}, {stop}) is not inside the clip [0, {end})")

        for line in self.speech:
            if not words(line.text):
                raise bad("a speech line has no words")
            if not re.fullmatch(r"[A-Za-z0-9_-]+", line.voice):
                raise bad(f"voice {line.voice!r} is not an espeak-ng voice name")
            if not (80 <= line.speed_wpm <= 450) or not (0 <= line.word_gap_s <= 2):
                raise bad("speed_wpm must be 80..450 and word_gap_s 0..2")
            within(f"speech {line.text!r}", line.start_s, line.start_s + 1e-6)
        def frames(what: str, start: float, stop: float) -> None:
            within(what, start, stop)
            if self.frame_at(stop) <= self.frame_at(start):
                raise bad(f"{what} [{start}, {stop}) does not span a frame")

        for cap in self.captions:
            if not words(cap.text) or any(ord(c) < 32 for c in cap.text):
                raise bad(f"caption {cap.text!r} must be one non-empty line")
            if not (8 <= cap.font_size <= self.height // 3):
                raise bad(f"caption font_size must be 8..{self.height // 3}")
            frames(f"caption {cap.text!r}", cap.start_s, cap.end_s)
            if not (0 <= self.caption_y(cap) <= self.height - cap.font_size):
                raise bad(f"caption {cap.text!r} y is outside the frame")
        for face in self.faces:
            frames("face", face.start_s, face.end_s)
            x, y = self.face_xy(face)
            if not (16 <= face.size and 0 <= x and 0 <= y):
                raise bad("face size must be at least 16 and its position inside the frame")
            if x + face.size > self.width or y + face.size > self.height:
                raise bad(f"a {face.size}px face at ({x}, {y}) does not fit the frame")
        for music in self.music:
            within("music", music.start_s, music.start_s + music.duration_s)
            if not (40 <= music.bpm <= 240) or not (0 < music.volume <= 1):
                raise bad("music bpm must be 40..240 and volume in (0, 1]")

    def caption_y(self, cap: Caption) -> int:
        """The top of a caption's text, in pixels."""
        return cap.y if cap.y is not None else self.height - cap.font_size - 30

    def face_xy(self, face: FaceOverlay) -> tuple[int, int]:
        """The top-left corner of a face photograph, in pixels."""
        x = face.x if face.x is not None else (self.width - face.size) // 2
        y = face.y if face.y is not None else (self.height - face.size) // 2
        return x, y
