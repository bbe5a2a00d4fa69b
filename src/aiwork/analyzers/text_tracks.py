"""Texts read in successive frames merged into timed items: the same text (case- and
space-insensitive, a small edit distance allowed) at overlapping positions in consecutive
examined frames is one track, and the tracks of one text one item (see
:mod:`aiwork.analyzers.ocr`); and the plausibility check on letters read off logos.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Box", "ExaminedFrame", "Observation", "edit_distance", "merge_observations",
           "normalise", "plausible", "similar"]

Box = tuple[float, float, float, float]  # x, y, width, height, relative 0..1


@dataclass(frozen=True)
class Observation:
    """One text line read in one examined frame."""

    text: str
    score: float
    box: Box


@dataclass(frozen=True)
class ExaminedFrame:
    time: float
    observations: tuple[Observation, ...]
    reused: bool = False


@dataclass
class _Track:
    norm: str
    first: int  # position in the examined frames
    last: int
    seen: list[tuple[float, Observation]] = field(default_factory=list)

    def representative(self) -> str:
        """The spelling with the highest summed score across the frames."""
        totals: dict[str, float] = {}
        for _, obs in self.seen:
            totals[obs.text] = totals.get(obs.text, 0.0) + obs.score
        return max(totals.items(), key=lambda kv: (kv[1], kv[0]))[0]


def normalise(text: str) -> str:
    """Case- and space-insensitive form of a text."""
    return "".join(text.split()).casefold()


def edit_distance(a: str, b: str, limit: int | None = None) -> int:
    """Levenshtein distance (stops early, returning ``limit + 1``, past ``limit``)."""
    if a == b:
        return 0
    if limit is not None and abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ca != cb)))
        if limit is not None and min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


_VOWELS = set("aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœаеёиоуыэюяαεηιουω")


def plausible(text: str) -> bool:
    """Whether ``text`` looks like words rather than letters read off a logo or a texture:
    at least half of its words of four letters or more have a vowel (a fifth of the letters
    from five letters on), no run of more than four consonants and no letter three times in
    a row (numbers and short words pass)."""
    import re

    words = [w for w in re.findall(r"[^\W\d_]+", text.casefold()) if len(w) >= 4]
    if not words:
        return True
    good = 0
    for word in words:
        run = longest = 0
        for ch in word:
            run = 0 if ch in _VOWELS else run + 1
            longest = max(longest, run)
        tripled = any(word[i] == word[i + 1] == word[i + 2] for i in range(len(word) - 2))
        vowels = sum(ch in _VOWELS for ch in word)
        if vowels and longest <= 4 and not tripled and (len(word) < 5 or vowels >= 0.2 * len(word)):
            good += 1
    return 2 * good >= len(words)


def similar(a: str, b: str, max_edit_ratio: float) -> bool:
    allowed = max(1, int(max_edit_ratio * max(len(a), len(b))))
    return edit_distance(a, b, allowed) <= allowed


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    smaller = min(a[2] * a[3], b[2] * b[3])
    return ix * iy / smaller if smaller > 0 else 0.0


def merge_observations(
    frames: Sequence[ExaminedFrame],
    *,
    stride: float,
    duration: float | None = None,
    max_edit_ratio: float = 0.2,
    min_overlap: float = 0.5,
) -> list[dict[str, Any]]:
    """Items (without ``decision``) from the texts read in the examined frames, in time order.

    A text continues a track when the track was seen in the previous examined frame, its
    normalised text is within the edit ratio and the boxes overlap. A track ends at
    ``last seen + stride``, or earlier at the next examined frame (where it was not seen)
    or at the end of the video.
    """
    tracks: list[_Track] = []
    for pos, frame in enumerate(frames):
        for obs in sorted(frame.observations, key=lambda o: -o.score):
            norm = normalise(obs.text)
            best: _Track | None = None
            best_distance = 0
            for track in tracks:
                if track.last != pos - 1:
                    continue
                last_box = track.seen[-1][1].box
                if _overlap(last_box, obs.box) < min_overlap:
                    continue
                if not similar(track.norm, norm, max_edit_ratio):
                    continue
                distance = edit_distance(track.norm, norm)
                if best is None or distance < best_distance:
                    best, best_distance = track, distance
            if best is None:
                best = _Track(norm=norm, first=pos, last=pos)
                tracks.append(best)
            best.last = pos
            best.seen.append((frame.time, obs))
    # Group the tracks by their text: one item, one instance per track.
    groups: dict[str, list[_Track]] = {}
    for track in sorted(tracks, key=lambda t: (frames[t.first].time, t.seen[0][1].box[1])):
        groups.setdefault(normalise(track.representative()), []).append(track)
    items: list[dict[str, Any]] = []
    for group in groups.values():
        instances = []
        boxes = []
        spellings: dict[str, float] = {}
        scores: list[float] = []
        for track in group:
            start = frames[track.first].time
            end = frames[track.last].time + stride
            if track.last + 1 < len(frames):
                end = min(end, frames[track.last + 1].time)
            if duration is not None and duration > start:
                end = min(end, duration)
            track_scores = [obs.score for _, obs in track.seen]
            instances.append({"start": round(start, 3), "end": round(end, 3),
                              "confidence": round(float(np.mean(track_scores)), 3)})
            for when, obs in track.seen:
                x, y, w, h = obs.box
                boxes.append({"time": round(when, 3), "x": round(x, 3), "y": round(y, 3),
                              "width": round(w, 3), "height": round(h, 3)})
                spellings[obs.text] = spellings.get(obs.text, 0.0) + obs.score
            scores.extend(track_scores)
        text = max(spellings.items(), key=lambda kv: (kv[1], kv[0]))[0]
        items.append({
            "id": len(items),
            "text": text,
            "confidence": round(float(np.mean(scores)), 3),
            "instances": instances,
            "boxes": boxes,
            # Kept aside for the evidence; removed from the item by the analyzer.
            "_variants": sorted(spellings, key=lambda s: -spellings[s]),
        })
    return items
