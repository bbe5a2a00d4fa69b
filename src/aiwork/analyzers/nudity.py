"""The ``sexual`` safety category's rules: which NudeNet detections count, and the item and
evidence they make (see :mod:`aiwork.analyzers.safety` for the taxonomy and the tests
applied). Pure functions of the checked frames, so they are tested without the detector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["LEVELS", "SEXUAL_CLASSES", "CheckedFrame", "SexualRules", "drawn_stats",
           "sexual_decision", "skin_share"]

#: Risk levels, lowest first.
LEVELS: tuple[str, ...] = ("none", "low", "medium", "high")

#: NudeNet 3.4 class -> the ``sexual`` level it raises (classes not listed are ignored).
SEXUAL_CLASSES: dict[str, str] = {
    "FEMALE_GENITALIA_EXPOSED": "high",
    "MALE_GENITALIA_EXPOSED": "high",
    "ANUS_EXPOSED": "high",
    "FEMALE_BREAST_EXPOSED": "high",
    "BUTTOCKS_EXPOSED": "high",
    "FEMALE_GENITALIA_COVERED": "medium",
    "ANUS_COVERED": "medium",
    "BUTTOCKS_COVERED": "medium",
    "FEMALE_BREAST_COVERED": "low",
    "BELLY_EXPOSED": "low",
    "MALE_BREAST_EXPOSED": "low",
}
_MAX_LISTED = 100  # detections listed per item's evidence


def _rank(level: str) -> int:
    return LEVELS.index(level)


@dataclass
class CheckedFrame:
    """One checked frame: its time range, the detector's relevant detections (``class``,
    ``score``, ``box`` [x, y, w, h], ``skin``: share of the box with skin chroma), and whether
    it looks drawn or animated."""

    start: float
    end: float
    detections: list[dict[str, Any]]
    drawn: bool = False
    digest: str | None = None


@dataclass(frozen=True)
class SexualRules:
    min_score: float = 0.5
    class_thresholds: Mapping[str, float] | None = None
    drawn_min_score: float = 0.7
    min_skin_share: float = 0.25
    agreement_frames: int = 2
    agreement_window: int = 3
    temporal_agreement: bool = True
    animated_gate: bool = True
    review_confidence: float = 0.5

    def threshold(self, cls: str, drawn: bool) -> float:
        base = float((self.class_thresholds or {}).get(cls, self.min_score))
        return max(base, self.drawn_min_score) if drawn and self.animated_gate else base


def skin_share(rgb: Any, box: Sequence[float]) -> float:
    """Share of the box's pixels with skin chroma (YCrCb 133<=Cr<=173, 77<=Cb<=127, Y>=30)."""
    import cv2
    import numpy as np

    height, width = rgb.shape[:2]
    x, y, w, h = (int(round(float(v))) for v in box[:4])
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(width, x + max(1, w)), min(height, y + max(1, h))
    if x1 <= x0 or y1 <= y0:
        return 0.0
    ycc = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2YCrCb)
    luma, cr, cb = ycc[..., 0], ycc[..., 1], ycc[..., 2]
    mask = (cr >= 133) & (cr <= 173) & (cb >= 77) & (cb <= 127) & (luma >= 30)
    return float(mask.mean())


def drawn_stats(rgb: Any) -> dict[str, float]:
    """``flat``: share of the frame whose 5x5 grey standard deviation is under 2;
    ``noise``: median |Laplacian| over its smooth parts (5x5 deviation under 6)."""
    import cv2
    import numpy as np

    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
    mean = cv2.blur(grey, (5, 5))
    deviation = np.sqrt(np.maximum(cv2.blur(grey * grey, (5, 5)) - mean * mean, 0))
    smooth = deviation < 6
    laplacian = np.abs(cv2.Laplacian(grey, cv2.CV_32F))
    noise = float(np.median(laplacian[smooth])) if smooth.any() else 255.0
    return {"flat": round(float((deviation < 2).mean()), 3), "noise": round(noise, 3)}


def _exposed(cls: str) -> bool:
    return cls.endswith("_EXPOSED")


Detection = dict[str, Any]


def _candidates(frames: Sequence[CheckedFrame], rules: SexualRules
                ) -> tuple[list[list[Detection]], list[Detection]]:
    """Each frame's detections over their class's threshold, and those set aside because their
    box has too little skin."""
    candidates: list[list[Detection]] = []
    without_skin: list[Detection] = []
    for n, frame in enumerate(frames):
        kept = []
        for det in frame.detections:
            cls = str(det["class"])
            if cls not in SEXUAL_CLASSES or float(det["score"]) < rules.threshold(cls,
                                                                                  frame.drawn):
                continue
            skin = det.get("skin")
            if _exposed(cls) and skin is not None and float(skin) < rules.min_skin_share:
                without_skin.append({"frame": n, **det})
                continue
            kept.append(det)
        candidates.append(kept)
    return candidates, without_skin


def _confirmed(candidates: list[list[Detection]], rules: SexualRules, short: bool
               ) -> tuple[list[list[Detection]], list[Detection]]:
    """The candidates confirmed over time (see the rules), and those that were not."""
    frame_rank = [max((_rank(SEXUAL_CLASSES[d["class"]]) for d in kept), default=0)
                  for kept in candidates]
    counted: list[list[Detection]] = []
    unconfirmed: list[Detection] = []
    reach = max(0, rules.agreement_window - 1)
    for n, kept in enumerate(candidates):
        confirmed = []
        for det in kept:
            rank = _rank(SEXUAL_CLASSES[det["class"]])
            if rules.temporal_agreement and not short:
                # The best window of agreement_window checks holding this frame.
                best = 0
                for first in range(max(0, n - reach), n + 1):
                    window = range(first, min(len(candidates), first + rules.agreement_window))
                    best = max(best, sum(1 for m in window if frame_rank[m] >= rank))
                if best < rules.agreement_frames:
                    unconfirmed.append({"frame": n, **det})
                    continue
            confirmed.append(det)
        counted.append(confirmed)
    return counted, unconfirmed


def _listed(frame: CheckedFrame, det: Detection) -> dict[str, Any]:
    entry = {"time": round(frame.start, 3), "class": det["class"],
             "level": SEXUAL_CLASSES[det["class"]], "score": round(float(det["score"]), 3),
             "box": list(det["box"]), "drawn": frame.drawn}
    if det.get("skin") is not None:
        entry["skin"] = round(float(det["skin"]), 3)
    if frame.digest:
        entry["frame_digest"] = frame.digest
    return entry


def _runs(frames: Sequence[CheckedFrame], counted: list[list[Detection]]
          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The runs of touching flagged frames, and the counted detections listed."""
    runs: list[dict[str, Any]] = []
    listed: list[dict[str, Any]] = []
    for frame, dets in zip(frames, counted, strict=True):
        if not dets:
            continue
        frame_level = max((SEXUAL_CLASSES[d["class"]] for d in dets), key=_rank)
        top = max(float(d["score"]) for d in dets)
        listed.extend(_listed(frame, d) for d in dets[:max(0, _MAX_LISTED - len(listed))])
        if runs and abs(runs[-1]["end"] - frame.start) < 1e-6:
            run = runs[-1]
            run["end"] = frame.end
            run["confidence"] = max(run["confidence"], top)
            run["frames"] += 1
            run["drawn"] += int(frame.drawn)
            if _rank(frame_level) > _rank(run["level"]):
                run["level"] = frame_level
        else:
            runs.append({"start": frame.start, "end": frame.end, "confidence": top,
                         "level": frame_level, "frames": 1, "drawn": int(frame.drawn)})
    return runs, listed


def _capped(runs: list[dict[str, Any]], rules: SexualRules, short: bool
            ) -> tuple[str, list[str]]:
    """Caps drawn runs and unconfirmable ones at ``medium``; the level, and why to review."""
    level = "none"
    review: list[str] = []
    for run in runs:
        if rules.animated_gate and run["drawn"] * 2 > run["frames"] and run["level"] == "high":
            run["level"] = "medium"
            run["capped"] = "drawn or animated"
            review.append(f"{run['start']:.1f}-{run['end']:.1f} s: drawn or animated content, "
                          "capped at medium")
        if short and run["level"] == "high":
            run["level"] = "medium"
            run["capped"] = "too few frames to confirm"
            review.append(f"{run['start']:.1f}-{run['end']:.1f} s: fewer than "
                          f"{rules.agreement_frames} checked frames, not confirmed over time")
        if _rank(run["level"]) > _rank(level):
            level = run["level"]
    return level, review


def _brief(frames: Sequence[CheckedFrame], found: list[Detection]) -> list[dict[str, Any]]:
    return [{"time": round(frames[d["frame"]].start, 3), "class": d["class"],
             "score": round(float(d["score"]), 3), "box": list(d["box"]),
             **({"skin": round(float(d["skin"]), 3)} if d.get("skin") is not None
                else {})} for d in found[:_MAX_LISTED]]


def sexual_decision(frames: Sequence[CheckedFrame], rules: SexualRules
                    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The ``sexual`` item (None when nothing counts) and what was decided, from the checked
    frames' detections (see :mod:`aiwork.analyzers.safety` for the rules)."""
    candidates, without_skin = _candidates(frames, rules)
    short = len(frames) < rules.agreement_frames
    counted, unconfirmed = _confirmed(candidates, rules, short)
    runs, listed = _runs(frames, counted)
    level, review = _capped(runs, rules, short)
    not_counted = {"unconfirmed": _brief(frames, unconfirmed),
                   "without_skin": _brief(frames, without_skin)}
    decision: dict[str, Any] = {
        "level": level,
        "frames_flagged": sum(1 for dets in counted if dets),
        "frames_drawn": sum(1 for f in frames if f.drawn),
        "unconfirmed": len(unconfirmed),
        "without_skin": len(without_skin),
    }
    if level == "none":
        decision["not_counted"] = not_counted
        return None, decision
    instances = [{"start": round(r["start"], 3), "end": round(r["end"], 3),
                  "confidence": round(r["confidence"], 3)} for r in runs]
    confidence = max(i["confidence"] for i in instances)
    evidence: dict[str, Any] = {
        "runs": [{"start": round(r["start"], 3), "end": round(r["end"], 3),
                  "level": r["level"], "frames": r["frames"], "drawn_frames": r["drawn"],
                  **({"capped": r["capped"]} if "capped" in r else {})} for r in runs],
        "detections": listed,
        "detections_listed": f"{len(listed)} of those counted",
        "not_counted": not_counted,
    }
    if review:
        evidence["review"] = "; ".join(review)
        confidence = min(confidence, rules.review_confidence)
        for instance in instances:
            instance["confidence"] = min(instance["confidence"], rules.review_confidence)
    item = {"category": "sexual", "level": level, "source": "visual",
            "confidence": round(confidence, 3), "instances": instances, "evidence": evidence}
    return item, decision
