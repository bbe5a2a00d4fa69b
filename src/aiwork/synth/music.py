"""Music for labelled clips: a melody computed from fixed notes, the same samples every time."""

from __future__ import annotations

import math

__all__ = ["melody"]

_CACHE: dict[tuple[float, int, float, int], tuple[int, ...]] = {}


def melody(duration_s: float, bpm: int, volume: float, rate: int) -> tuple[int, ...]:
    """A deterministic few-second piece: eighth-note arpeggios over I-IV-V-I in C major with
    five-harmonic tones, a sustained three-note pad, and a decaying low 'kick' on each beat,
    as 16-bit samples at ``rate`` Hz."""
    key = (duration_s, bpm, volume, rate)
    if key in _CACHE:
        return _CACHE[key]
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
    _CACHE[key] = result
    return result
