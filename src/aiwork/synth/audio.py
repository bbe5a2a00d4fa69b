"""The audio track of a labelled clip: espeak-ng's speech and the melody mixed on one timeline
at espeak-ng's own rate (ffmpeg resamples it), with the truth of each sentence, music segment
and silence."""

from __future__ import annotations

import array
import subprocess
import sys
import wave
from collections.abc import Sequence
from pathlib import Path

from aiwork.errors import ConfigError, InputError
from aiwork.synth.music import melody
from aiwork.synth.spec import ClipSpec, SpeechLine, words
from aiwork.synth.truth import Span, SpeechTruth, TimedWord, rounded

__all__ = ["WORK_RATE", "mix", "render_audio", "silence", "speak"]

WORK_RATE = 22050
"""espeak-ng's native rate; the audio timeline is mixed at it and resampled by ffmpeg."""
_SILENT = 64
"""Samples at or below this magnitude (about -54 dBFS) count as espeak-ng's padding."""


def speak(espeak: str, text: str, line: SpeechLine, wav: Path) -> array.array[int]:
    """espeak-ng's utterance of ``text`` at 22050 Hz, leading/trailing silence trimmed."""
    cmd = [espeak, "-v", line.voice, "-s", str(line.speed_wpm), "-b", "1", "--stdin"]
    done = subprocess.run(cmd + ["-w", str(wav)], input=text.encode(), capture_output=True)
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip()
        raise InputError(f"espeak-ng cannot say {text!r} with voice {line.voice!r}: {err}")
    with wave.open(str(wav), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != WORK_RATE:
            raise ConfigError(f"espeak-ng wrote an unexpected WAV format: {w.getparams()}")
        samples = array.array("h", w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()
    loud = [i for i, v in enumerate(samples) if abs(v) > _SILENT]
    if not loud:
        raise InputError(f"espeak-ng produced no sound for {text!r}")
    return samples[loud[0] : loud[-1] + 1]


def mix(timeline: array.array[int], at: int, samples: Sequence[int]) -> None:
    """Add ``samples`` into ``timeline`` from sample ``at``, clipping to 16 bits."""
    if at + len(samples) > len(timeline):
        raise InputError("audio runs past the end of the clip (add or lengthen a scene)")
    for i, v in enumerate(samples, start=at):
        timeline[i] = max(-32768, min(32767, timeline[i] + v))


def render_audio(
    spec: ClipSpec, espeak: str | None, work: Path
) -> tuple[Path, list[SpeechTruth], list[Span]]:
    """Mix speech and music into ``work/timeline.wav`` (22050 Hz mono, 16-bit)."""
    n = round(spec.duration * WORK_RATE)
    timeline = array.array("h", bytes(2 * n))
    speech: list[SpeechTruth] = []
    for index, line in enumerate(spec.speech):
        assert espeak is not None
        speech.append(_say(timeline, espeak, line, work / f"speech{index}"))
    music: list[Span] = []
    for seg in spec.music:
        at = round(seg.start_s * WORK_RATE)
        samples = melody(seg.duration_s, seg.bpm, seg.volume, WORK_RATE)
        mix(timeline, at, samples)
        music.append(Span(rounded(at / WORK_RATE), rounded((at + len(samples)) / WORK_RATE)))
    if sys.byteorder == "big":
        timeline.byteswap()
    path = work / "timeline.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(WORK_RATE)
        w.writeframes(timeline.tobytes())
    return path, speech, music


def _say(timeline: array.array[int], espeak: str, line: SpeechLine, stem: Path) -> SpeechTruth:
    """Speak ``line`` into the timeline (whole, or word by word into ``<stem>_<j>.wav``)."""
    at = round(line.start_s * WORK_RATE)
    spoken = words(line.text)
    timed: list[TimedWord] = []

    def place(samples: array.array[int], where: int) -> None:
        try:
            mix(timeline, where, samples)
        except InputError as exc:
            raise exc.within(f"speech {line.text!r} at {line.start_s} s") from None

    if line.per_word:
        cursor = at
        gap = round(line.word_gap_s * WORK_RATE)
        for j, word in enumerate(spoken):
            samples = speak(espeak, word, line, stem.with_name(f"{stem.name}_{j}.wav"))
            place(samples, cursor)
            timed.append(TimedWord(word, rounded(cursor / WORK_RATE),
                                   rounded((cursor + len(samples)) / WORK_RATE)))
            cursor += len(samples) + gap
        end = cursor - gap
    else:
        samples = speak(espeak, line.text, line, stem.with_suffix(".wav"))
        place(samples, at)
        end = at + len(samples)
    return SpeechTruth(text=line.text, words=tuple(spoken), start=rounded(at / WORK_RATE),
                       end=rounded(end / WORK_RATE), voice=line.voice, language=line.lang,
                       timed_words=tuple(timed))


def silence(duration: float, busy: Sequence[Span]) -> list[Span]:
    """The stretches of ``[0, duration)`` not covered by ``busy``."""
    out: list[Span] = []
    cursor = 0.0
    for span in sorted(busy, key=lambda s: s.start):
        if span.start - cursor > 1e-6:
            out.append(Span(rounded(cursor), rounded(span.start)))
        cursor = max(cursor, span.end)
    if duration - cursor > 1e-6:
        out.append(Span(rounded(cursor), rounded(duration)))
    return out
