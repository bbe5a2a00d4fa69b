"""Agreement between two results of the same analyzer on the same input, in [0, 1].

Each insight is compared with a measure that fits it: exact equality for technical facts and
languages; cut times matched within a tolerance for shots and chapters; 1 - word error rate
for transcripts; time-overlap (temporal IoU) for face presence and audio events; label sets
(Jaccard) for tags and keywords; text plus time overlap for on-screen text. Inputs are the
published item values (``decision`` fields are ignored).

What becomes a file of its own on a requester's disk — a shot's keyframe, its name and its
bytes' digest — is never a matter of tolerance: two results agree only when they name the
same files with the same digests (:func:`written_files`), whatever their other measure says,
so a replica that matches the cut times cannot slip in other keyframes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aiwork.canonical import canonical_bytes
from aiwork.model.decision import unstamp_decision

__all__ = ["AGREEMENT_THRESHOLDS", "CUT_TOLERANCE", "agreement", "agrees", "word_error_rate",
           "written_files"]

#: Cuts (and chapter boundaries) this close count as the same.
CUT_TOLERANCE = 0.2

#: At or above this agreement two replicas are taken to agree.
AGREEMENT_THRESHOLDS: dict[str, float] = {
    "technical": 1.0, "language": 1.0, "shots": 0.9, "chapters": 0.8, "transcript": 0.85,
    "ocr": 0.8, "faces": 0.7, "audio_events": 0.7, "tags": 0.6, "custom_tags": 0.6,
    "keywords": 0.5,
    "safety": 1.0,
}


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+(?:'[^\W_]+)?", text.lower())


def word_error_rate(reference: Sequence[str], hypothesis: Sequence[str]) -> float:
    """Word-level Levenshtein distance over the reference length (0 for two empty texts)."""
    if not reference:
        return 0.0 if not hypothesis else 1.0
    row = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        previous, row[0] = row[0], i
        for j, hyp in enumerate(hypothesis, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref != hyp))
    return row[-1] / len(reference)


def _cut_f1(a: Sequence[float], b: Sequence[float]) -> float:
    if not a and not b:
        return 1.0
    unmatched = sorted(b)
    matched = 0
    for cut in sorted(a):
        best = min(unmatched, key=lambda x: abs(x - cut), default=None)
        if best is not None and abs(best - cut) <= CUT_TOLERANCE:
            matched += 1
            unmatched.remove(best)
    return 2 * matched / (len(a) + len(b))


def _starts(items: Iterable[dict[str, Any]]) -> list[float]:
    return [float(i["instances"][0]["start"]) for i in items if i.get("instances")][1:]


def _ranges(items: Iterable[dict[str, Any]]) -> list[tuple[float, float]]:
    return [(float(x["start"]), float(x["end"])) for i in items for x in i.get("instances", [])]


def _covered(ranges: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def temporal_iou(a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]) -> float:
    """Intersection over union of the time two sets of ranges cover."""
    ca, cb = _covered(a), _covered(b)
    total_a = sum(e - s for s, e in ca)
    total_b = sum(e - s for s, e in cb)
    if total_a == 0 and total_b == 0:
        return 1.0
    inter = sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in ca for s2, e2 in cb)
    return inter / (total_a + total_b - inter)


def _jaccard(a: set[Any], b: set[Any]) -> float:
    return 1.0 if not a and not b else len(a & b) / len(a | b)


def _transcript(a: Any, b: Any) -> float:
    words_a = [w for s in (a or {}).get("segments", []) for w in _words(s.get("text", ""))]
    words_b = [w for s in (b or {}).get("segments", []) for w in _words(s.get("text", ""))]
    return max(0.0, 1.0 - word_error_rate(words_a, words_b))


def _by_label(key: str) -> Callable[[Any, Any], float]:
    def compare(a: Any, b: Any) -> float:
        labels = {i[key] for i in a or []} | {i[key] for i in b or []}
        if not labels:
            return 1.0
        scores = [temporal_iou(_ranges(i for i in a or [] if i[key] == label),
                               _ranges(i for i in b or [] if i[key] == label))
                  for label in labels]
        return sum(scores) / len(scores)

    return compare


def _ocr(a: Any, b: Any) -> float:
    def texts(items: Any) -> set[str]:
        return {" ".join(_words(i["text"])) for i in items or []}

    return 0.5 * _jaccard(texts(a), texts(b)) + 0.5 * temporal_iou(_ranges(a or []),
                                                                   _ranges(b or []))


def _exact(a: Any, b: Any) -> float:
    return 1.0 if canonical_bytes(a) == canonical_bytes(b) else 0.0


_MEASURES: dict[str, Callable[[Any, Any], float]] = {
    "technical": _exact,
    "language": lambda a, b: _exact({k: (a or {}).get(k) for k in ("spoken", "text")},
                                    {k: (b or {}).get(k) for k in ("spoken", "text")}),
    "shots": lambda a, b: _cut_f1(_starts(a or []), _starts(b or [])),
    "chapters": lambda a, b: _cut_f1(_starts(a or []), _starts(b or [])),
    "transcript": _transcript,
    "faces": lambda a, b: temporal_iou(_ranges(a or []), _ranges(b or [])),
    "audio_events": _by_label("label"),
    "tags": lambda a, b: _jaccard({i["label"] for i in a or []}, {i["label"] for i in b or []}),
    "custom_tags": lambda a, b: _jaccard({i["label"] for i in a or []},
                                         {i["label"] for i in b or []}),
    "keywords": lambda a, b: _jaccard({i["text"].lower() for i in a or []},
                                      {i["text"].lower() for i in b or []}),
    "safety": lambda a, b: _jaccard({(i["category"], i["level"]) for i in a or []},
                                    {(i["category"], i["level"]) for i in b or []}),
    "ocr": _ocr,
}


def written_files(insight: str, value: Any) -> list[tuple[str, str]]:
    """The files a result has written to a requester's output folder, beside the text
    exports: ``(name, digest)`` pairs, in order (a shot's keyframe)."""
    if insight != "shots" or not isinstance(value, list):
        return []
    files = []
    for item in value:
        frame = item.get("keyframe") if isinstance(item, dict) else None
        if isinstance(frame, dict):
            files.append((str(frame.get("file")), str(frame.get("digest"))))
    return files


def _same_files(insight: str, a: Any, b: Any) -> float:
    fa, fb = written_files(insight, a), written_files(insight, b)
    return 1.0 if fa == fb else _jaccard(set(fa), set(fb)) * 0.99


def agreement(insight: str, a: Any, b: Any, *, files: bool = True) -> float:
    """How far two results of ``insight`` agree, from 0 (not at all) to 1 (the same).

    With ``files`` (the default) the files they would write count too: results naming other
    keyframes score at most the share of keyframes they have in common, and below 1.
    ``files=False`` compares with an answer that names no files (a gold task's)."""
    a, b = unstamp_decision(a), unstamp_decision(b)
    measure = _MEASURES.get(insight, _exact)
    score = measure(a, b)
    if files:
        score = min(score, _same_files(insight, a, b))
    return round(max(0.0, min(1.0, score)), 4)


def agrees(insight: str, a: Any, b: Any, *, files: bool = True) -> bool:
    """Whether two results agree: their measure reaches the insight's threshold and (with
    ``files``) they would write the same files, byte for byte."""
    if files and (written_files(insight, unstamp_decision(a))
                  != written_files(insight, unstamp_decision(b))):
        return False
    return agreement(insight, a, b, files=files) >= AGREEMENT_THRESHOLDS.get(insight, 1.0)
