"""Where the transcript analyzer cuts its audio: long audio into pieces at quiet moments, and
a piece into the stretches of speech whose language is identified."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aiwork.media.decode import AudioTrack

__all__ = ["PIECE_SECONDS", "PIECE_SLACK", "SAMPLE_RATE", "group", "pieces", "speech_chunks"]

SAMPLE_RATE = 16000

#: Audio is transcribed in pieces of about this length ...
PIECE_SECONDS = 120.0
#: ... each cut at the quietest 100 ms of its last this many seconds.
PIECE_SLACK = 30.0

#: Without the VAD, a piece is identified in windows of this many seconds.
_WINDOW_SECONDS = 30


def pieces(track: AudioTrack) -> list[tuple[int, int]]:
    """(first, end) samples of the pieces the track is transcribed in."""
    size, slack, hop = (int(PIECE_SECONDS * SAMPLE_RATE), int(PIECE_SLACK * SAMPLE_RATE),
                        SAMPLE_RATE // 10)
    found: list[tuple[int, int]] = []
    start = 0
    while start < len(track):
        end = start + size
        if end >= len(track):
            found.append((start, len(track)))
            break
        window = track.read(end - slack, slack).astype(np.float64)
        count = len(window) // hop
        energy = (window[: count * hop].reshape(count, hop) ** 2).mean(axis=1)
        cut = end - slack + int(np.argmin(energy)) * hop + hop // 2
        found.append((start, cut))
        start = cut
    return found


def speech_chunks(audio: NDArray[np.float32], vad: bool,
                  vad_options: Mapping[str, Any]) -> list[dict[str, int]]:
    """The chunks of ``audio`` (``start``/``end`` samples) that silero's VAD finds speech in
    (faster-whisper's, with ``vad_options``); without the VAD, fixed windows over all of it."""
    if vad:
        faster_whisper: Any = importlib.import_module("faster_whisper")
        chunks: list[dict[str, int]] = faster_whisper.vad.get_speech_timestamps(
            audio, faster_whisper.vad.VadOptions(**vad_options))
        return chunks
    step = _WINDOW_SECONDS * SAMPLE_RATE
    return [{"start": s, "end": min(s + step, len(audio))} for s in range(0, len(audio), step)]


def group(chunks: list[dict[str, int]], seconds: float) -> list[list[dict[str, int]]]:
    """Speech chunks grouped in order, at most ``seconds`` of speech a group (a longer chunk
    alone): the stretches whose language is identified."""
    groups: list[list[dict[str, int]]] = []
    size = 0
    limit = seconds * SAMPLE_RATE
    for chunk in chunks:
        length = chunk["end"] - chunk["start"]
        if groups and size + length <= limit:
            groups[-1].append(chunk)
            size += length
        else:
            groups.append([chunk])
            size = length
    return groups
