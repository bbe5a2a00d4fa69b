"""Labelled test media: videos whose ground truth is known because they were made here.

:func:`make_clip` renders a :class:`ClipSpec` with ``ffmpeg`` and ``espeak-ng`` into an MP4
(H.264 yuv420p + mono AAC) or, without video, an M4A, and returns its :class:`Truth`: the cut
times, what is said and when (each espeak-ng utterance measured from its WAV), the captions
drawn with ``drawtext`` and their frames, when the face is on screen, when music plays and
where the audio is silent, and the spoken language. Accuracy of the pipeline's analyzers is
measured against that truth.

Everything is deterministic given the spec: solid-colour scenes, a bundled face photograph
(``assets/face.jpg``, see ``assets/README``), synthetic speech, and a melody computed here
from fixed notes. The same spec and the same ffmpeg/espeak-ng builds give the same bytes.

Timing conventions (all times in seconds from the start of the file):

* A scene is a whole number of frames; a cut is the time of the first frame of the new scene.
* Caption and face ranges are snapped to frames: ``start`` is the first frame that shows the
  item, ``end`` the first frame after it that does not (half-open ``[start, end)``).
* A speech segment runs from the first to the last audible sample of its espeak-ng utterance
  (espeak-ng's leading and trailing silence is trimmed before it is placed).
* ``silence`` is every stretch of the audio track that holds neither speech nor music; it is
  digital silence (all-zero samples before AAC encoding).

Command line (used by ``scripts/make-sample``)::

    python -m aiwork.synth.clips samples/sample.mp4            # the bundled sample + truth
    python -m aiwork.synth.clips --long 300 /tmp/long.mp4      # a benchmark clip
    python -m aiwork.synth.clips --no-audio /tmp/mute.mp4      # bad-input variants
    python -m aiwork.synth.clips --no-video /tmp/speech.m4a
"""

from __future__ import annotations

import argparse
import array
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple, Self, cast

from pydantic import TypeAdapter

from aiwork.errors import AiworkError, ConfigError, InputError

__all__ = [
    "ASSETS",
    "FACE_IMAGE",
    "Caption",
    "CaptionTruth",
    "ClipSpec",
    "FaceOverlay",
    "FaceTruth",
    "MusicSegment",
    "Scene",
    "SceneTruth",
    "Span",
    "SpeechLine",
    "SpeechTruth",
    "Truth",
    "TimedWord",
    "find_font",
    "long_spec",
    "main",
    "make_clip",
    "sample_spec",
    "truth_path_for",
]

ASSETS = Path(__file__).resolve().parent / "assets"
FACE_IMAGE = ASSETS / "face.jpg"
"""200x200 crop of a public-domain NASA portrait (see ``assets/README``)."""

TRUTH_FORMAT = 1
"""Version of the truth JSON layout; :meth:`Truth.from_json` refuses any other."""

_WORK_RATE = 22050
"""espeak-ng's native rate; the audio timeline is mixed at it and resampled by ffmpeg."""

_FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
)
_FONT_PACKAGE = "fonts-dejavu-core"
_COLOUR = re.compile(r"^(?:#|0x)?[0-9A-Fa-f]{6}$|^[A-Za-z]{3,20}$")
_SAMPLE_RATES = (16000, 22050, 44100, 48000)
_SILENT = 64
"""Samples at or below this magnitude (about -54 dBFS) count as espeak-ng's padding."""


# --------------------------------------------------------------------------------------------
# The spec
# --------------------------------------------------------------------------------------------


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
            if not _words(line.text):
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
            if not _words(cap.text) or any(ord(c) < 32 for c in cap.text):
                raise bad(f"caption {cap.text!r} must be one non-empty line")
            if not (8 <= cap.font_size <= self.height // 3):
                raise bad(f"caption font_size must be 8..{self.height // 3}")
            frames(f"caption {cap.text!r}", cap.start_s, cap.end_s)
            if not (0 <= self._caption_y(cap) <= self.height - cap.font_size):
                raise bad(f"caption {cap.text!r} y is outside the frame")
        for face in self.faces:
            frames("face", face.start_s, face.end_s)
            x, y = self._face_xy(face)
            if not (16 <= face.size and 0 <= x and 0 <= y):
                raise bad("face size must be at least 16 and its position inside the frame")
            if x + face.size > self.width or y + face.size > self.height:
                raise bad(f"a {face.size}px face at ({x}, {y}) does not fit the frame")
        for music in self.music:
            within("music", music.start_s, music.start_s + music.duration_s)
            if not (40 <= music.bpm <= 240) or not (0 < music.volume <= 1):
                raise bad("music bpm must be 40..240 and volume in (0, 1]")

    def _caption_y(self, cap: Caption) -> int:
        return cap.y if cap.y is not None else self.height - cap.font_size - 30

    def _face_xy(self, face: FaceOverlay) -> tuple[int, int]:
        x = face.x if face.x is not None else (self.width - face.size) // 2
        y = face.y if face.y is not None else (self.height - face.size) // 2
        return x, y


# --------------------------------------------------------------------------------------------
# The truth
# --------------------------------------------------------------------------------------------


class _Record:
    """A truth record as plain JSON values and back (pydantic walks the nested dataclasses,
    turning tuples into lists and back)."""

    def to_dict(self) -> dict[str, Any]:
        return dict(_adapter(type(self)).dump_python(self, mode="json"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        return cast(Self, _adapter(cls).validate_python(d))


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(kind: type) -> TypeAdapter[Any]:
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = TypeAdapter(kind)
    return _ADAPTERS[kind]


@dataclass(frozen=True)
class Span(_Record):
    """A half-open time range ``[start, end)`` in seconds."""

    start: float
    end: float


@dataclass(frozen=True)
class TimedWord(_Record):
    """One word and when it is heard (only for ``per_word`` speech)."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class SpeechTruth(_Record):
    """A spoken sentence: its text, words (punctuation stripped), audible range, voice and
    language, and per-word timings when it was synthesised word by word (else empty)."""

    text: str
    words: tuple[str, ...]
    start: float
    end: float
    voice: str
    language: str
    timed_words: tuple[TimedWord, ...] = ()


@dataclass(frozen=True)
class CaptionTruth(_Record):
    """A caption: its text and words, the frames that show it, and where: horizontally
    centred, text top at ``y``, ``font_size`` px, white on an opaque black box that extends
    ``box_border`` px around the text, in ``font`` (a file name)."""

    text: str
    words: tuple[str, ...]
    start: float
    end: float
    y: int
    font_size: int
    box_border: int
    font: str


@dataclass(frozen=True)
class FaceTruth(_Record):
    """A face on screen during ``[start, end)``; ``box`` is the photograph's rectangle
    ``(x, y, w, h)`` in pixels (the face itself fills roughly its central 55%)."""

    start: float
    end: float
    box: tuple[int, int, int, int]

    @property
    def span(self) -> Span:
        return Span(self.start, self.end)


@dataclass(frozen=True)
class SceneTruth(_Record):
    """A shot ``[start, end)`` and its colour."""

    start: float
    end: float
    colour: str

@dataclass(frozen=True)
class Truth(_Record):
    """What a generated file contains. Lists are empty (and ``width`` etc. ``None``) for a
    track the file does not have: no cuts, captions or faces without video; no speech, music
    or silence without audio. ``language`` is the language of most of the speech, or ``None``.
    """

    duration: float
    has_video: bool
    has_audio: bool
    width: int | None
    height: int | None
    fps: int | None
    sample_rate: int | None
    scenes: tuple[SceneTruth, ...]
    cuts: tuple[float, ...]
    speech: tuple[SpeechTruth, ...]
    captions: tuple[CaptionTruth, ...]
    faces: tuple[FaceTruth, ...]
    music: tuple[Span, ...]
    silence: tuple[Span, ...]
    language: str | None
    format: int = TRUTH_FORMAT

    @property
    def face_range(self) -> Span | None:
        """The first face's range, or ``None`` when no face is shown."""
        return self.faces[0].span if self.faces else None

    @property
    def music_range(self) -> Span | None:
        """The first music segment, or ``None`` when there is none."""
        return self.music[0] if self.music else None

    @property
    def transcript(self) -> str:
        """Every spoken sentence, in order, joined by spaces."""
        return " ".join(s.text for s in self.speech)

    def audio_events(self) -> list[tuple[float, float, str]]:
        """``(start, end, label)`` with labels ``speech``, ``music``, ``silence``, in order."""
        events = [(s.start, s.end, "speech") for s in self.speech]
        events += [(m.start, m.end, "music") for m in self.music]
        events += [(s.start, s.end, "silence") for s in self.silence]
        return sorted(events)

    def to_json(self) -> str:
        """Pretty, key-sorted JSON ending in a newline."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        if d.get("format") != TRUTH_FORMAT:
            raise InputError(f"truth format {d.get('format')!r} is not {TRUTH_FORMAT}")
        return super().from_dict(d)

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Parse :meth:`to_json` output; :class:`InputError` if it is not a truth document."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            return cls.from_dict(data)
        except AiworkError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(f"not a synth truth document: {exc}") from exc


def truth_path_for(media: Path) -> Path:
    """Where the truth of ``media`` is kept: ``clip.mp4`` -> ``clip.truth.json``."""
    return media.with_name(media.stem + ".truth.json")


# --------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConfigError(
            f"{name} is not installed (not found on PATH)",
            hint=f"install the Debian package {package}: apt-get install {package}",
        )
    return path


def find_font(font: Path | None = None) -> Path:
    """The TrueType font captions are drawn in: ``font`` if given, else DejaVu Sans Bold from
    Debian's ``fonts-dejavu-core`` (or whatever ``fc-match`` offers for it)."""
    if font is not None:
        if not font.is_file():
            raise ConfigError(f"caption font {font} does not exist")
        return font
    for candidate in _FONT_CANDIDATES:
        if candidate.is_file():
            return candidate
    fc_match = shutil.which("fc-match")
    if fc_match is not None:
        found = subprocess.run(
            [fc_match, "-f", "%{file}", "DejaVu Sans:bold"], capture_output=True, text=True
        )
        path = Path(found.stdout.strip())
        if found.returncode == 0 and path.suffix.lower() == ".ttf" and path.is_file():
            return path
    raise ConfigError(
        "no caption font: DejaVu Sans Bold was not found",
        hint=f"install the Debian package {_FONT_PACKAGE}: apt-get install {_FONT_PACKAGE}",
    )


def _run(cmd: list[str], what: str, *, cwd: Path | None = None) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True)
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        tail = " | ".join(err[-3:]) or f"exit status {done.returncode}"
        raise ConfigError(f"{what} failed: {tail}")


# --------------------------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    """The words of ``text`` with surrounding punctuation stripped."""
    out = []
    for token in text.split():
        word = token.strip(".,;:!?\"'()[]{}")
        if word:
            out.append(word)
    return out


def _speak(espeak: str, text: str, line: SpeechLine, wav: Path) -> array.array[int]:
    """espeak-ng's utterance of ``text`` at 22050 Hz, leading/trailing silence trimmed."""
    cmd = [espeak, "-v", line.voice, "-s", str(line.speed_wpm), "-b", "1", "--stdin"]
    done = subprocess.run(cmd + ["-w", str(wav)], input=text.encode(), capture_output=True)
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip()
        raise InputError(f"espeak-ng cannot say {text!r} with voice {line.voice!r}: {err}")
    with wave.open(str(wav), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != _WORK_RATE:
            raise ConfigError(f"espeak-ng wrote an unexpected WAV format: {w.getparams()}")
        samples = array.array("h", w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()
    loud = [i for i, v in enumerate(samples) if abs(v) > _SILENT]
    if not loud:
        raise InputError(f"espeak-ng produced no sound for {text!r}")
    return samples[loud[0] : loud[-1] + 1]


def _mix(timeline: array.array[int], at: int, samples: Sequence[int]) -> None:
    """Add ``samples`` into ``timeline`` from sample ``at``, clipping to 16 bits."""
    if at + len(samples) > len(timeline):
        raise InputError("audio runs past the end of the clip (add or lengthen a scene)")
    for i, v in enumerate(samples, start=at):
        timeline[i] = max(-32768, min(32767, timeline[i] + v))


_MUSIC_CACHE: dict[tuple[float, int, float], tuple[int, ...]] = {}


def _melody(duration_s: float, bpm: int, volume: float) -> tuple[int, ...]:
    """A deterministic few-second piece: eighth-note arpeggios over I-IV-V-I in C major with
    five-harmonic tones, a sustained three-note pad, and a decaying low 'kick' on each beat."""
    key = (duration_s, bpm, volume)
    if key in _MUSIC_CACHE:
        return _MUSIC_CACHE[key]
    rate = _WORK_RATE
    n = round(duration_s * rate)
    beat = 60.0 / bpm
    eighth = beat / 2
    chords = ((48, 52, 55), (53, 57, 60), (55, 59, 62), (48, 52, 55))  # C F G C (MIDI)
    pattern = (12, 16, 19, 24, 19, 16, 12, 7)  # semitones above the chord root's C-octave

    def hz(midi: float) -> float:
        return 440.0 * 2 ** ((midi - 69) / 12)

    out = [0.0] * n
    # Melody: eighth notes, bar = 4 beats = 8 eighths, chord changes every bar.
    n_notes = math.ceil(duration_s / eighth)
    for k in range(n_notes):
        chord = chords[(k // 8) % len(chords)]
        f = hz(chord[0] + pattern[k % 8])
        s0, s1 = round(k * eighth * rate), min(n, round((k + 1) * eighth * rate))
        length = s1 - s0
        for i in range(length):
            t = i / rate
            env = min(1.0, t / 0.01) * math.exp(-3.0 * t) * min(1.0, (length - i) / (0.02 * rate))
            ph = 2 * math.pi * f * t
            tone = (
                math.sin(ph)
                + 0.5 * math.sin(2 * ph)
                + 0.33 * math.sin(3 * ph)
                + 0.25 * math.sin(4 * ph)
                + 0.2 * math.sin(5 * ph)
            )
            out[s0 + i] += 0.45 * env * tone
    # Pad: the bar's chord, two harmonics per note.
    bar = 8 * eighth
    for b in range(math.ceil(duration_s / bar)):
        s0, s1 = round(b * bar * rate), min(n, round((b + 1) * bar * rate))
        freqs = [hz(m) for m in chords[b % len(chords)]]
        for i in range(s1 - s0):
            t = i / rate
            env = min(1.0, t / 0.05, (s1 - s0 - i) / (0.05 * rate))
            out[s0 + i] += 0.12 * env * sum(
                math.sin(2 * math.pi * f * t) + 0.4 * math.sin(4 * math.pi * f * t) for f in freqs
            )
    # Kick: a 150 -> 50 Hz sweep, 120 ms, on every beat.
    kick = round(0.12 * rate)
    for b in range(math.ceil(duration_s / beat)):
        s0 = round(b * beat * rate)
        phase = 0.0
        for i in range(min(kick, n - s0)):
            t = i / rate
            phase += 2 * math.pi * (50 + 100 * math.exp(-t / 0.03)) / rate
            out[s0 + i] += 0.6 * math.exp(-t / 0.04) * math.sin(phase)
    # Fade the edges, normalise to ``volume``.
    fade = round(0.03 * rate)
    for i in range(min(fade, n)):
        g = i / fade
        out[i] *= g
        out[n - 1 - i] *= g
    peak = max((abs(v) for v in out), default=0.0) or 1.0
    scale = volume * 32767 / peak
    result = tuple(round(v * scale) for v in out)
    _MUSIC_CACHE[key] = result
    return result


def _render_audio(
    spec: ClipSpec, espeak: str | None, work: Path
) -> tuple[Path, list[SpeechTruth], list[Span]]:
    """Mix speech and music into ``work/timeline.wav`` (22050 Hz mono, 16-bit)."""
    n = round(spec.duration * _WORK_RATE)
    timeline = array.array("h", bytes(2 * n))
    speech: list[SpeechTruth] = []
    for index, line in enumerate(spec.speech):
        assert espeak is not None
        at = round(line.start_s * _WORK_RATE)
        words = _words(line.text)
        timed: list[TimedWord] = []
        if line.per_word:
            cursor = at
            gap = round(line.word_gap_s * _WORK_RATE)
            for j, word in enumerate(words):
                samples = _speak(espeak, word, line, work / f"speech{index}_{j}.wav")
                try:
                    _mix(timeline, cursor, samples)
                except InputError as exc:
                    raise exc.within(f"speech {line.text!r} at {line.start_s} s") from None
                timed.append(
                    TimedWord(word, _t(cursor / _WORK_RATE), _t((cursor + len(samples)) / _WORK_RATE))
                )
                cursor += len(samples) + gap
            end = cursor - gap
        else:
            samples = _speak(espeak, line.text, line, work / f"speech{index}.wav")
            try:
                _mix(timeline, at, samples)
            except InputError as exc:
                raise exc.within(f"speech {line.text!r} at {line.start_s} s") from None
            end = at + len(samples)
        speech.append(
            SpeechTruth(
                text=line.text,
                words=tuple(words),
                start=_t(at / _WORK_RATE),
                end=_t(end / _WORK_RATE),
                voice=line.voice,
                language=line.lang,
                timed_words=tuple(timed),
            )
        )
    music: list[Span] = []
    for seg in spec.music:
        at = round(seg.start_s * _WORK_RATE)
        samples_m = _melody(seg.duration_s, seg.bpm, seg.volume)
        _mix(timeline, at, samples_m)
        music.append(Span(_t(at / _WORK_RATE), _t((at + len(samples_m)) / _WORK_RATE)))
    if sys.byteorder == "big":
        timeline.byteswap()
    path = work / "timeline.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(_WORK_RATE)
        w.writeframes(timeline.tobytes())
    return path, speech, music


def _silence(duration: float, busy: Sequence[Span]) -> list[Span]:
    """The stretches of ``[0, duration)`` not covered by ``busy``."""
    out: list[Span] = []
    cursor = 0.0
    for span in sorted(busy, key=lambda s: s.start):
        if span.start - cursor > 1e-6:
            out.append(Span(_t(cursor), _t(span.start)))
        cursor = max(cursor, span.end)
    if duration - cursor > 1e-6:
        out.append(Span(_t(cursor), _t(duration)))
    return out


def _t(seconds: float) -> float:
    return round(seconds, 6)


# --------------------------------------------------------------------------------------------
# Video
# --------------------------------------------------------------------------------------------


_BOX_BORDER = 14


def _colour(c: str) -> str:
    return "0x" + c[-6:] if c.startswith(("#", "0x")) else c


def _video_graph(spec: ClipSpec, work: Path, first_face_input: int) -> str:
    """The filtergraph (ffmpeg ``-filter_complex``) that draws the scenes, faces and
    captions; it only names files inside ``work`` (ffmpeg runs there), so nothing needs
    escaping."""
    size = f"{spec.width}x{spec.height}"
    chains = []
    for i, (scene, frames) in enumerate(zip(spec.scenes, spec.scene_frames)):
        chains.append(
            f"color=c={_colour(scene.colour)}:s={size}:r={spec.fps},"
            f"trim=end_frame={frames},setpts=PTS-STARTPTS,setsar=1[s{i}]"
        )
    labels = "".join(f"[s{i}]" for i in range(len(spec.scenes)))
    chains.append(f"{labels}concat=n={len(spec.scenes)}:v=1:a=0[v0]")
    last = "v0"
    step = 0

    def enable(start_s: float, end_s: float) -> str:
        # By time, with half a frame of slack either side: ``n`` is not the main input's
        # frame number in overlay once its second input starts late.
        a, b = spec.frame_at(start_s) - 0.5, spec.frame_at(end_s) - 0.5
        return f"enable='between(t,{a / spec.fps:.6f},{b / spec.fps:.6f})'"

    for k, face in enumerate(spec.faces):
        x, y = spec._face_xy(face)
        # The picture input only lasts the face's range and is shifted to start there, so a
        # long clip does not decode and scale it on every frame.
        shift = spec.frame_at(face.start_s) / spec.fps
        chains.append(
            f"[{first_face_input + k}:v]scale={face.size}:{face.size},setsar=1,"
            f"setpts=PTS+{shift:.6f}/TB[f{k}]"
        )
        step += 1
        chains.append(
            f"[{last}][f{k}]overlay=x={x}:y={y}:eof_action=pass:{enable(face.start_s, face.end_s)}"
            f"[v{step}]"
        )
        last = f"v{step}"
    for k, cap in enumerate(spec.captions):
        (work / f"caption{k}.txt").write_text(cap.text, encoding="utf-8")
        step += 1
        chains.append(
            f"[{last}]drawtext=fontfile=font.ttf:textfile=caption{k}.txt:expansion=none:"
            f"fontsize={cap.font_size}:fontcolor=white:box=1:boxcolor=black:"
            f"boxborderw={_BOX_BORDER}:x=(w-text_w)/2:y={spec._caption_y(cap)}:"
            f"{enable(cap.start_s, cap.end_s)}[v{step}]"
        )
        last = f"v{step}"
    chains.append(f"[{last}]format=yuv420p[vout]")
    return ";\n".join(chains) + "\n"


# --------------------------------------------------------------------------------------------
# make_clip
# --------------------------------------------------------------------------------------------


def make_clip(path: Path, spec: ClipSpec) -> Truth:
    """Render ``spec`` into ``path`` and return its ground truth.

    With video the file is MP4 (H.264 High, yuv420p, + AAC-LC mono at ``spec.sample_rate``
    unless ``audio=False``); without video it is an M4A holding only the AAC track. The file
    is written to a temporary name and moved into place, so ``path`` is never half-written.
    Raises :class:`ConfigError` if ffmpeg, espeak-ng or the caption font is missing (naming
    the Debian package) and :class:`InputError` if speech runs past the end of the clip.
    """
    ffmpeg = _tool("ffmpeg", "ffmpeg")
    needs_speech = spec.audio and bool(spec.speech)
    espeak = _tool("espeak-ng", "espeak-ng") if needs_speech else None
    font = find_font(spec.font) if spec.video and spec.captions else None
    for face in spec.faces if spec.video else ():
        image = face.image or FACE_IMAGE
        if not image.is_file():
            raise ConfigError(f"face image {image} does not exist")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aiwork-synth-") as tmp:
        work = Path(tmp)
        cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
        speech: list[SpeechTruth] = []
        music: list[Span] = []
        n_inputs = 0
        audio_input = -1
        if spec.audio:
            wav, speech, music = _render_audio(spec, espeak, work)
            cmd += ["-i", str(wav)]
            audio_input, n_inputs = n_inputs, n_inputs + 1
        if spec.video:
            if font is not None:
                (work / "font.ttf").symlink_to(font.resolve())
            first_face = n_inputs
            for face in spec.faces:
                image = (face.image or FACE_IMAGE).resolve()
                cmd += ["-loop", "1", "-framerate", str(spec.fps)]
                frames = spec.frame_at(face.end_s) - spec.frame_at(face.start_s)
                cmd += ["-t", f"{frames / spec.fps:.6f}", "-i", str(image)]
                n_inputs += 1
            # Inline rather than -filter_complex_script (deprecated in ffmpeg 7); the graph
            # names only files inside ``work`` and holds no user text, so it needs no escaping.
            cmd += ["-filter_complex", _video_graph(spec, work, first_face), "-map", "[vout]"]
            cmd += ["-c:v", "libx264", "-preset", "medium", "-crf", str(spec.crf)]
            cmd += ["-pix_fmt", "yuv420p", "-r", str(spec.fps), "-g", str(2 * spec.fps)]
        if spec.audio:
            cmd += ["-map", f"{audio_input}:a", "-c:a", "aac", "-b:a", f"{spec.audio_kbps}k"]
            cmd += ["-ar", str(spec.sample_rate), "-ac", "1"]
        cmd += ["-t", f"{spec.duration:.6f}", "-map_metadata", "-1", "-fflags", "+bitexact"]
        cmd += ["-flags", "+bitexact", "-movflags", "+faststart"]
        out = work / ("out.mp4" if spec.video else "out.m4a")
        cmd += ["-f", "mp4" if spec.video else "ipod", str(out)]
        _run(cmd, "ffmpeg", cwd=work)
        shutil.move(out, path)
    return _truth(spec, font, speech, music)


def _truth(
    spec: ClipSpec, font: Path | None, speech: list[SpeechTruth], music: list[Span]
) -> Truth:
    fps = spec.fps
    bounds = [0]
    for frames in spec.scene_frames:
        bounds.append(bounds[-1] + frames)
    scenes = tuple(
        SceneTruth(_t(a / fps), _t(b / fps), scene.colour)
        for scene, a, b in zip(spec.scenes, bounds, bounds[1:])
    )
    video = spec.video
    captions = tuple(
        CaptionTruth(
            text=cap.text,
            words=tuple(_words(cap.text)),
            start=_t(spec.frame_at(cap.start_s) / fps),
            end=_t(spec.frame_at(cap.end_s) / fps),
            y=spec._caption_y(cap),
            font_size=cap.font_size,
            box_border=_BOX_BORDER,
            font=font.name if font else "",
        )
        for cap in spec.captions
    )
    faces = tuple(
        FaceTruth(
            start=_t(spec.frame_at(face.start_s) / fps),
            end=_t(spec.frame_at(face.end_s) / fps),
            box=(*spec._face_xy(face), face.size, face.size),
        )
        for face in spec.faces
    )
    seconds: dict[str, float] = {}
    for s in speech:
        seconds[s.language] = seconds.get(s.language, 0.0) + s.end - s.start
    audio = spec.audio
    return Truth(
        duration=_t(spec.duration),
        has_video=video,
        has_audio=audio,
        width=spec.width if video else None,
        height=spec.height if video else None,
        fps=fps if video else None,
        sample_rate=spec.sample_rate if audio else None,
        scenes=scenes if video else (),
        cuts=tuple(s.start for s in scenes[1:]) if video else (),
        speech=tuple(speech),
        captions=captions if video else (),
        faces=faces if video else (),
        music=tuple(music),
        silence=tuple(_silence(spec.duration, [Span(s.start, s.end) for s in speech] + music))
        if audio
        else (),
        language=max(seconds, key=lambda k: seconds[k]) if seconds else None,
    )


# --------------------------------------------------------------------------------------------
# Presets
# --------------------------------------------------------------------------------------------


def sample_spec() -> ClipSpec:
    """The bundled sample (``samples/sample.mp4``), 24 s: four scenes (cuts at 5, 12, 18 s),
    three English sentences, captions "AIWORK DEMO" and "VERIFIED METADATA", a face through
    most of scene 2 and 4.5 s of music in scene 4, silence between."""
    return ClipSpec(
        scenes=(
            Scene(5.0, "#1d3557"),
            Scene(7.0, "#2a6041"),
            Scene(6.0, "#6d2e46"),
            Scene(6.0, "#3d405b"),
        ),
        speech=(
            SpeechLine("Welcome to this short demonstration video.", 0.5),
            SpeechLine("Every scene in this clip was made by a computer.", 6.5),
            SpeechLine("The captions and the face appear at known times.", 12.5),
        ),
        captions=(
            Caption("AIWORK DEMO", 1.0, 4.4),
            Caption("VERIFIED METADATA", 13.0, 17.0),
        ),
        faces=(FaceOverlay(6.0, 11.0),),
        music=(MusicSegment(18.5, 4.5),),
    )


_PALETTE = (
    "#1d3557", "#2a6041", "#6d2e46", "#3d405b", "#7a4f01", "#264653", "#5a189a", "#8d0801",
)  # fmt: skip
_SENTENCES = (
    "Welcome to the evening news.",
    "The weather will be sunny tomorrow.",
    "Our reporter is standing by the river.",
    "The market closed higher today.",
    "Thank you for watching this programme.",
    "The train leaves the station at noon.",
    "Scientists found water on a distant moon.",
    "The library opens again next week.",
)
_CAPTIONS = (
    "BREAKING NEWS",
    "CHAPTER ONE",
    "WEATHER REPORT",
    "LIVE COVERAGE",
    "FINAL SCORE",
    "SPECIAL GUEST",
    "MARKET UPDATE",
    "THE END",
)
_BLOCK = (5.0, 7.0, 4.0, 8.0, 6.0)
"""Scene lengths of one 30 s block of :func:`long_spec`."""


def long_spec(seconds: float) -> ClipSpec:
    """A benchmark clip of ``seconds`` (at least 5) repeating a 30 s block of five scenes
    (5, 7, 4, 8, 6 s) with two sentences (at +0.5 s and +12.5 s), a caption at +1..+4.4 s and
    another at +17..+20 s, the face in scene 2 (+6..+11 s) of every other block, and music in
    the last scene (+24.5..+29 s). The last block is cut short at ``seconds``; an event that
    would not fit is left out. Colours, sentences and captions cycle through fixed lists.
    ``seconds`` is rounded to whole frames (1/25 s)."""
    if seconds < 5:
        raise InputError(f"long_spec needs at least 5 seconds, not {seconds}")
    seconds = round(seconds * 25) / 25  # whole frames at the default 25 fps
    scenes: list[Scene] = []
    speech: list[SpeechLine] = []
    captions: list[Caption] = []
    faces: list[FaceOverlay] = []
    music: list[MusicSegment] = []
    start = 0.0
    block = 0
    k = 0
    while start < seconds - 1e-9:
        for length in _BLOCK:
            if start >= seconds - 1e-9:
                break
            length = min(length, seconds - start)
            scenes.append(Scene(length, _PALETTE[k % len(_PALETTE)]))
            k += 1
            start += length
        b0 = block * 30.0
        for offset, n in ((0.5, 2 * block), (12.5, 2 * block + 1)):
            if b0 + offset + 5.0 <= seconds:  # every sentence lasts under 4 s
                speech.append(SpeechLine(_SENTENCES[n % len(_SENTENCES)], b0 + offset))
        for a, z, n in ((1.0, 4.4, 2 * block), (17.0, 20.0, 2 * block + 1)):
            if b0 + z <= seconds:
                captions.append(Caption(_CAPTIONS[n % len(_CAPTIONS)], b0 + a, b0 + z))
        if block % 2 == 0 and b0 + 11.0 <= seconds:
            faces.append(FaceOverlay(b0 + 6.0, b0 + 11.0))
        if b0 + 29.0 <= seconds:
            music.append(MusicSegment(b0 + 24.5, 4.5))
        block += 1
    return ClipSpec(
        scenes=tuple(scenes),
        speech=tuple(speech),
        captions=tuple(captions),
        faces=tuple(faces),
        music=tuple(music),
    )


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m aiwork.synth.clips [--long SECONDS] [--no-audio|--no-video] OUTPUT``:
    render the sample (or a long clip) to OUTPUT and its truth to OUTPUT's ``.truth.json``."""
    parser = argparse.ArgumentParser(
        prog="python -m aiwork.synth.clips",
        description="Render labelled test media and its ground truth (JSON).",
    )
    parser.add_argument("output", type=Path, help="the .mp4 (or .m4a with --no-video) to write")
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument("--sample", action="store_true", help="the bundled sample (default)")
    preset.add_argument("--long", type=float, metavar="SECONDS", help="a benchmark clip")
    track = parser.add_mutually_exclusive_group()
    track.add_argument("--no-audio", action="store_true", help="leave out the audio track")
    track.add_argument("--no-video", action="store_true", help="audio only (M4A)")
    parser.add_argument("--truth", type=Path, help="where to write the truth JSON")
    args = parser.parse_args(argv)
    try:
        spec = long_spec(args.long) if args.long is not None else sample_spec()
        if args.no_audio or args.no_video:
            spec = replace(spec, audio=not args.no_audio, video=not args.no_video)
        truth = make_clip(args.output, spec)
    except AiworkError as exc:
        print(f"error: {exc.diagnostics()}", file=sys.stderr)
        return 1
    truth_path = args.truth or truth_path_for(args.output)
    truth_path.write_text(truth.to_json(), encoding="utf-8")
    print(f"{args.output} ({args.output.stat().st_size} bytes, {truth.duration:g} s); {truth_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
