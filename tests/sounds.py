"""Test sound with a known layout: espeak-ng speech and a synthetic melody, as the audio
analyzers get it (16 kHz mono float32)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

SR = 16000


def speak(text: str, folder: Path, voice: str = "en-us") -> NDArray[np.float32]:
    """espeak-ng's voice saying ``text``, as 16 kHz mono float32."""
    wav = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav), text], check=True)
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-ac", "1", "-ar", str(SR),
                          "-f", "f32le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.float32).copy()


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
