"""What a human expert is asked about an AI item, and what their answers may be.

Each reviewable insight has a focused question about one item, the evidence at hand (the media
time range and a keyframe), and the type a correction must have. Routing rules (which items go
to humans) are values, not code: :class:`RoutingRules`, one set per insight, stored by the
coordinator and changed by an admin.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiwork.errors import InputError

__all__ = [
    "REVIEWABLE",
    "VERDICTS",
    "Candidate",
    "apply_outcomes",
    "RoutingRules",
    "candidates",
    "check_correction",
    "combine_corrections",
    "verdict_body",
]

VERDICTS = ("accept", "reject", "correct")
_LEVELS = ("none", "low", "medium", "high")


class RoutingRules(BaseModel):
    """Which AI items of one insight go to human experts, and to how many."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    confidence_below: float = Field(default=0.6, ge=0, le=1,
                                    description="items less sure than this are reviewed")
    disagreement: bool = Field(default=True,
                               description="review items of tasks whose replicas disagreed")
    audit_share: float = Field(default=0.05, ge=0, le=1,
                               description="share of the other items reviewed at random")
    gold_share: float = Field(default=0.10, ge=0, le=1,
                              description="share of served items that are hidden gold items")
    experts: int = Field(default=3, ge=1, le=50, description="verdicts asked per item")
    target_accuracy: float | None = Field(
        default=None, ge=0.5, lt=1,
        description="instead of confidence_below: items are auto-accepted only where the "
        "model's fitted calibration says they reach this accuracy (held-out verified items); "
        "without a fitted calibration, items less sure than this are reviewed")
    capacity: int | None = Field(
        default=None, ge=0, le=100_000,
        description="at most this many items of one result are reviewed, the most uncertain "
        "under calibrated confidence first, in place of random audits (active learning)")
    sampling: Literal["margin", "entropy"] = Field(
        default="margin", description="how uncertainty is measured when capacity is set")


@dataclass(frozen=True)
class Candidate:
    """One AI item that may be reviewed."""

    item_id: int
    question: str
    value: Any  # what the AI said (the part a correction replaces)
    start: float | None
    end: float | None
    keyframe: str | None  # digest of the keyframe nearest the item, when there is one
    confidence: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _span(item: dict[str, Any]) -> tuple[float | None, float | None]:
    instances = item.get("instances") or []
    if instances:
        return float(instances[0]["start"]), float(instances[0]["end"])
    if "start" in item and "end" in item:
        return float(item["start"]), float(item["end"])
    return None, None


def _keyframe(shots: list[dict[str, Any]], start: float | None) -> str | None:
    if start is None:
        return None
    best = None
    for shot in shots:
        span = _span(shot)
        frame = shot.get("keyframe")
        if frame and span[0] is not None and span[0] <= start + 1e-6:
            best = frame["digest"]
    return best


def _transcript(output: Any, shots: list[dict[str, Any]]) -> list[Candidate]:
    out = []
    for n, segment in enumerate((output or {}).get("segments", [])):
        start, end = _span(segment)
        out.append(Candidate(int(segment.get("id", n)),
                             "Is this transcript segment right? If not, correct it.",
                             segment.get("text", ""), start, end, _keyframe(shots, start),
                             segment.get("confidence")))
    return out


def _listed(question: str, field: str) -> Any:
    def make(output: Any, shots: list[dict[str, Any]]) -> list[Candidate]:
        out = []
        for n, item in enumerate(output or []):
            start, end = _span(item)
            out.append(Candidate(int(item.get("id", n)), question.format(**item),
                                 item.get(field), start, end, _keyframe(shots, start),
                                 item.get("confidence")))
        return out
    return make


def _shots(output: Any, shots: list[dict[str, Any]]) -> list[Candidate]:
    out = []
    for n, shot in enumerate(output or []):
        start, _ = _span(shot)
        if n == 0 or start is None:
            continue  # the start of the video is not a cut
        frame = (shot.get("keyframe") or {}).get("digest")
        out.append(Candidate(int(shot.get("id", n)),
                             f"Is there a real shot boundary at {start:.2f} s? If it is "
                             "elsewhere, give the right time in seconds.",
                             start, max(0.0, start - 1.0), start + 1.0, frame,
                             shot.get("confidence")))
    return out


_MAKERS = {
    "transcript": _transcript,
    "tags": _listed("Is the tag '{label}' present in this part of the video? If another "
                    "label fits, give it.", "label"),
    # A platform's own tags (the custom_tags analyzer): the experts' final tags train its
    # next version (aiwork models train custom_tags).
    "custom_tags": _listed("Is this part of the video '{label}'? If another of the "
                           "platform's tags fits, give it.", "label"),
    "ocr": _listed("Is this on-screen text read right? If not, correct it.", "text"),
    "shots": _shots,
    "safety": _listed("Is this safety flag right: {category} at level {level}? If the level "
                      "is wrong, give the right one.", "level"),
}
REVIEWABLE = tuple(sorted(_MAKERS))


def candidates(insight: str, output: Any, shots: list[dict[str, Any]] | None = None
               ) -> list[Candidate]:
    """The reviewable items of one insight's output (``shots`` supplies keyframes)."""
    maker = _MAKERS.get(insight)
    return [] if maker is None else maker(output, shots or [])


class _Text(BaseModel):
    value: str = Field(min_length=1, max_length=10_000)


class _Time(BaseModel):
    value: float = Field(ge=0, le=1e7)


def check_correction(insight: str, value: Any) -> Any:
    """A correction of the right type for ``insight``, or a clear refusal."""
    try:
        if insight in ("transcript", "ocr", "tags", "custom_tags"):
            if not isinstance(value, str):
                raise InputError(f"a {insight} correction is text, not {type(value).__name__}")
            return _Text(value=value).value.strip()
        if insight == "shots":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError("a shot boundary correction is a time in seconds (a number)")
            return float(_Time(value=value).value)
        if insight == "safety":
            if value not in _LEVELS:
                raise InputError(f"a safety correction is a level: one of {', '.join(_LEVELS)}")
            return value
    except ValidationError as exc:
        raise InputError(f"correction refused: {exc.errors()[0]['msg']}") from exc
    raise InputError(f"{insight} items are not reviewed")


def combine_corrections(insight: str, values: list[Any]) -> Any:
    """One value from several experts' corrections: word-level voting for text, the median
    for times, the most given answer otherwise."""
    if not values:
        return None
    if insight in ("transcript", "ocr"):
        from aiwork.quality.truth import combine_texts

        return combine_texts([str(v) for v in values])
    if insight == "shots":
        return round(statistics.median(float(v) for v in values), 3)
    return Counter(values).most_common(1)[0][0]


_FIELDS = {"ocr": "text", "tags": "label", "custom_tags": "label", "safety": "level"}


def apply_outcomes(insight: str, output: Any, outcomes: dict[int, tuple[str, Any]]) -> Any:
    """The output with human outcomes applied: rejected items dropped, corrected ones
    changed (``outcomes``: item id -> (outcome, corrected value))."""
    if not outcomes or output is None:
        return output
    if insight == "transcript":
        segments = []
        for n, segment in enumerate(output.get("segments", [])):
            outcome, value = outcomes.get(int(segment.get("id", n)), ("accepted", None))
            if outcome == "rejected":
                continue
            if outcome == "corrected":
                segment = {**segment, "text": value, "words": []}
            segments.append(segment)
        return {**output, "segments": segments}
    if insight == "shots":
        shots = [dict(s) for s in output]
        for n, shot in enumerate(shots):
            outcome, value = outcomes.get(int(shot.get("id", n)), ("accepted", None))
            if n == 0 or outcome == "accepted":
                continue
            previous = shots[n - 1]
            if outcome == "corrected" and shot.get("instances") and previous.get("instances"):
                shot["instances"] = [{**shot["instances"][0], "start": value}]
                previous["instances"] = [{**previous["instances"][0], "end": value}]
            elif outcome == "rejected" and previous.get("instances") and shot.get("instances"):
                # no cut here: the previous shot runs on to this one's end
                previous["instances"] = [{**previous["instances"][0],
                                          "end": shot["instances"][0]["end"]}]
                shot["merged"] = True
        return [s for s in shots if not s.pop("merged", False)]
    field = _FIELDS.get(insight)
    if field is None:
        return output
    kept = []
    for n, item in enumerate(output):
        outcome, value = outcomes.get(int(item.get("id", n)), ("accepted", None))
        if outcome == "rejected":
            continue
        kept.append({**item, field: value} if outcome == "corrected" else item)
    return kept


def verdict_body(item: str, decision: Any, insight: str, verdict: str, value: Any = None,
                 rationale: str | None = None, seconds: float | None = None
                 ) -> dict[str, Any]:
    """The body of an expert's ``human.verdict`` entry on review item ``item``, which asks
    about ``decision`` (an ``ai.decision``'s ledger index) of ``insight``; the one place it is
    written (the expert's client signs it, the coordinator's simulation too)."""
    return {"item": item, "decision": decision, "insight": insight, "verdict": verdict,
            "value": value, "rationale": rationale, "seconds": seconds}
