"""Test sound with a known layout: espeak-ng speech and a synthetic melody, as the audio
analyzers get it (16 kHz mono float32)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

SR = 16000


def speak(text: str, folder: Path | None = None, voice: str = "en-us"
          ) -> NDArray[np.float32]:
    """espeak-ng's voice saying ``text``, as 16 kHz mono float32 (``folder``: where its WAV
    file is written; None: piped, nothing written)."""
    if folder is None:
        wav = subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "--stdout", text],
                             capture_output=True, check=True).stdout
        source, given = "-", wav
    else:
        path = folder / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text],
                       check=True)
        source, given = str(path), None
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", source, "-ac", "1", "-ar", str(SR),
                          "-f", "f32le", "-"], input=given, capture_output=True,
                         check=True).stdout
    return np.frombuffer(raw, dtype=np.float32).copy()


def speech_clip(text: str, path: Path) -> Path:
    """A video of one colour whose sound track is espeak-ng saying ``text``."""
    wav = path.with_suffix(".wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), text], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=gray:s=160x90:r=10", "-i", str(wav), "-shortest",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)],
                   check=True)
    return path


def melody(seconds: float) -> NDArray[np.float32]:
    """A tune of harmonic notes (a C major scale up and down) with plucked envelopes."""
    notes = [261.63, 293.66, 329.63, 349.23, 392.0, 440.0, 493.88, 523.25]
    notes = notes + notes[-2:0:-1]
    t = np.arange(int(0.4 * SR)) / SR
    envelope = np.minimum(1.0, t / 0.02) * np.exp(-3.0 * t)
    out: list[NDArray[np.float64]] = []
    while sum(len(n) for n in out) < seconds * SR:
        f = notes[len(out) % len(notes)]
        tone = sum((0.5 / h) * np.sin(2 * np.pi * f * h * t) for h in range(1, 6))
        out.append(np.asarray(tone * envelope))
    return (0.3 * np.concatenate(out)[: int(seconds * SR)]).astype(np.float32)
