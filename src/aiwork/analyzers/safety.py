"""Safety flags: risk categories with levels, from the pictures and from the speech.

Taxonomy (``TAXONOMY`` below; levels are ``none < low < medium < high``)
-----------------------------------------------------------------------------

``sexual`` (source ``visual``): nudity and sexual exposure, from NudeNet 3.4.2's ``320n``
detector (an ONNX model inside the ``nudenet`` wheel, run by onnxruntime) on the sampled
frames, one every ``every_seconds`` (1 s). One frame is not evidence (a cartoon rabbit's chin
once scored 0.74 as an exposed breast), so a detection counts only when all of these hold:

- its score is at least its class's threshold (``class_thresholds``, default ``min_score``
  0.5; on a frame that looks drawn or animated, at least ``drawn_min_score``, 0.7);
- for the ``*_EXPOSED`` classes (bare skin), at least ``min_skin_share`` (0.25) of its box has
  skin chroma (YCrCb: 133 <= Cr <= 173, 77 <= Cb <= 127, Y >= 30; a chroma range that holds
  across skin tones): grey fur, a white chin, a sky are not skin;
- it is confirmed over time: at least ``agreement_frames`` (2) of the checked frames within
  ``agreement_window`` (3) consecutive checks, this one included, have a counted detection
  of at least the same level. A clip with fewer checked frames than that cannot be
  confirmed: its detections count, but at most at ``medium`` and sent to human review.

Drawn or animated content is not flagged ``high``. A frame with detections is *drawn* when
the learned drawn/animated classifier (:mod:`aiwork.analyzers.drawn`: logistic regression on
EfficientNet-Lite0 features, its weights inside aiwork) gives it at least its threshold
(option ``drawn_threshold``, default the model's own), or when the older flat-shading test
holds (at least ``drawn_flat_share`` (0.35) of the frame flat — 5x5 local standard deviation
under 2 grey levels — and the median Laplacian of its smooth regions at most 1, i.e. clean
shading without a camera's noise). Either suffices: a Big Buck Bunny frame of textured fur
is not flat enough for the flat test, yet the classifier calls it drawn;
a flat colour field the classifier is unsure about is caught by the flat test. Without torch
or the EfficientNet weights only the flat test runs, and the evidence says so. A run whose
confirmed frames are mostly drawn is capped at ``medium``, and its item is sent to human
review (``evidence.review``; its confidence is held under the review
threshold). Detections that failed a test are counted in the evidence (``unconfirmed``,
``without_skin``) with their boxes, so a reviewer sees what was seen and why it did not count.

The frame's level is that of its highest-level counted detection:

- ``high``: exposed genitalia (female or male), exposed anus, exposed female breast,
  exposed buttocks;
- ``medium``: covered genitalia, covered anus, covered buttocks (underwear, swimwear);
- ``low``: covered female breast, exposed belly, exposed male chest (revealing clothing);
- not a risk, ignored: faces, feet, armpits, covered belly.

The category's level is the highest of its frames; each instance is a run of flagged frames
(a frame standing for the time up to the next checked one). Every counted detection is
listed in the item's evidence with its box, class, score, skin share and frame digest.

``profanity`` (source ``transcript``): profane words in the transcript, matched against the
word lists of ``glin-profanity`` (English plus the transcript's language where the package
has a list). Each match is timed by its word when the transcript has word times, else by its
segment. The level follows the number of matches in the whole video:

- ``low``: 1-2; ``medium``: 3-9; ``high``: 10 or more (option ``profanity_levels``).

A list match is exact, so its confidence is 1.0.

Only flagged categories give items. The decision's evidence records, for every category,
whether it was checked, its level (``none`` when clean) and its highest scores (NudeNet's
per-class maxima; the profanity count), with the thresholds applied: "checked and clean" is
recorded, and so is "not checked" (no frames, no transcript).

NudeNet itself drops detections scored below 0.25, so a class never seen reports 0.0.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiwork.analyzers.base import AnalysisContext, Analyzer, AnalyzerOutput, ModelInfo
from aiwork.errors import AnalyzerUnavailable
from aiwork.analyzers.models import cached_weights_digest, distribution_version, package_dir

__all__ = [
    "CheckedFrame",
    "LEVELS",
    "PROFANITY_LEVELS",
    "SEXUAL_CLASSES",
    "TAXONOMY",
    "ProfanityHit",
    "SafetyAnalyzer",
    "SexualRules",
    "find_profanity",
    "profanity_level",
    "drawn_stats",
    "sexual_decision",
    "skin_share",
]

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

#: Matches in the whole transcript -> ``profanity`` level: the least count for each level.
PROFANITY_LEVELS: dict[str, int] = {"low": 1, "medium": 3, "high": 10}

#: The documented taxonomy (cited by the README; recorded in every decision's evidence).
TAXONOMY: dict[str, dict[str, Any]] = {
    "sexual": {
        "source": "visual",
        "model": "NudeNet 320n (nudenet 3.4.2)",
        "levels": {
            "high": "exposed genitalia, anus, female breast or buttocks",
            "medium": "covered genitalia, anus or buttocks (underwear, swimwear)",
            "low": "covered female breast, exposed belly or male chest (revealing clothing)",
        },
        "classes": SEXUAL_CLASSES,
        "counted": "score >= class threshold (stricter on drawn frames), skin chroma in the "
                   "box for exposed classes, confirmed by another checked frame within 3",
        "drawn": "drawn or animated frames: at most medium, sent to human review",
    },
    "profanity": {
        "source": "transcript",
        "model": "glin-profanity word lists",
        "levels": {
            "low": "1-2 profane words in the transcript",
            "medium": "3-9 profane words",
            "high": "10 or more profane words",
        },
        "counts": PROFANITY_LEVELS,
    },
}
TAXONOMY_VERSION = "aiwork.safety/2"

#: ISO 639-1 code -> glin-profanity word list.
_LISTS = {
    "ar": "arabic", "zh": "chinese", "cs": "czech", "da": "danish", "nl": "dutch",
    "en": "english", "eo": "esperanto", "fi": "finnish", "fr": "french", "de": "german",
    "hi": "hindi", "hu": "hungarian", "it": "italian", "ja": "japanese", "ko": "korean",
    "no": "norwegian", "nb": "norwegian", "fa": "persian", "pl": "polish",
    "pt": "portuguese", "ru": "russian", "es": "spanish", "sv": "swedish", "th": "thai",
    "tr": "turkish",
}
_MAX_LISTED = 100  # detections / hits listed per item's evidence

_lock = threading.Lock()
_detectors: dict[str, Any] = {}
_filters: dict[tuple[str, ...], Any] = {}


def _rank(level: str) -> int:
    return LEVELS.index(level)


def profanity_level(count: int, levels: Mapping[str, int] = PROFANITY_LEVELS) -> str:
    """The ``profanity`` level for ``count`` matches."""
    found = "none"
    for level in ("low", "medium", "high"):
        if count >= levels[level]:
            found = level
    return found


# -- profanity -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfanityHit:
    start: float
    end: float
    segment: int
    term: str  # the list entry matched
    text: str  # the words as transcribed
    timing: str  # "word" | "segment"


def _profanity_filter(languages: Sequence[str]) -> Any:
    key = tuple(sorted(set(languages)))
    with _lock:
        found = _filters.get(key)
        if found is None:
            glin: Any = importlib.import_module("glin_profanity")
            found = glin.Filter({"languages": list(key)})
            _filters[key] = found
    return found


_WORD = re.compile(r"\w[\w'*]*", re.UNICODE)


def find_profanity(segments: Sequence[Mapping[str, Any]],
                   languages: Sequence[str] = ("english",)) -> list[ProfanityHit]:
    """Profane words in transcript segments (``{"text", "instances", "words"?}``), each timed
    by its word when the segment has word times, else by the segment."""
    matcher = _profanity_filter(languages)
    hits: list[ProfanityHit] = []
    for n, segment in enumerate(segments):
        instances = segment.get("instances") or []
        if not instances:
            continue
        seg_start, seg_end = float(instances[0]["start"]), float(instances[-1]["end"])
        words = [w for w in segment.get("words") or [] if str(w.get("text", "")).strip()]
        spans: list[tuple[int, int, Mapping[str, Any]]] = []
        if words:
            parts: list[str] = []
            offset = 0
            for word in words:
                text = str(word["text"]).strip()
                spans.append((offset, offset + len(text), word))
                parts.append(text)
                offset += len(text) + 1
            text = " ".join(parts)
        else:
            text = str(segment.get("text", ""))
        result = matcher.check_profanity(text)
        seen: set[int] = set()
        for match in sorted(result.get("matches") or [], key=lambda m: int(m.get("index", 0))):
            index = int(match.get("index", 0))
            if index in seen:  # one place matched by several list entries ("f*ck", "fuck")
                continue
            seen.add(index)
            segment_id = int(segment.get("id", n))
            term = str(match.get("word", ""))
            if spans:
                # The word holding the match (or the last one starting before it).
                word = spans[0][2]
                for begin, _, candidate in spans:
                    if begin <= index:
                        word = candidate
                hits.append(ProfanityHit(float(word["start"]), float(word["end"]), segment_id,
                                         term, str(word["text"]).strip(), "word"))
            else:
                token = _WORD.match(text, index)
                hits.append(ProfanityHit(seg_start, seg_end, segment_id, term,
                                         token.group(0) if token else term, "segment"))
    return sorted(hits, key=lambda h: (h.start, h.end))


# -- the analyzer -----------------------------------------------------------------------------


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


def sexual_decision(frames: Sequence[CheckedFrame], rules: SexualRules
                    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The ``sexual`` item (None when nothing counts) and what was decided, from the checked
    frames' detections (see the module's docstring for the rules)."""
    candidates: list[list[dict[str, Any]]] = []
    without_skin: list[dict[str, Any]] = []
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
    frame_rank = [max((_rank(SEXUAL_CLASSES[d["class"]]) for d in kept), default=0)
                  for kept in candidates]
    short = len(frames) < rules.agreement_frames
    counted: list[list[dict[str, Any]]] = []
    unconfirmed: list[dict[str, Any]] = []
    reach = max(0, rules.agreement_window - 1)
    for n, kept in enumerate(candidates):
        confirmed = []
        for det in kept:
            rank = _rank(SEXUAL_CLASSES[det["class"]])
            if rules.temporal_agreement and not short:
                # The best window of agreement_window checks holding this frame.
                best = 0
                for first in range(max(0, n - reach), n + 1):
                    window = range(first, min(len(frames), first + rules.agreement_window))
                    best = max(best, sum(1 for m in window if frame_rank[m] >= rank))
                support = best
                if support < rules.agreement_frames:
                    unconfirmed.append({"frame": n, **det})
                    continue
            confirmed.append(det)
        counted.append(confirmed)

    runs: list[dict[str, Any]] = []
    listed: list[dict[str, Any]] = []
    level = "none"
    flagged_frames = 0
    for n, frame in enumerate(frames):
        dets = counted[n]
        if not dets:
            continue
        flagged_frames += 1
        frame_level = max((SEXUAL_CLASSES[d["class"]] for d in dets), key=_rank)
        top = max(float(d["score"]) for d in dets)
        for d in dets:
            if len(listed) < _MAX_LISTED:
                entry = {"time": round(frame.start, 3), "class": d["class"],
                         "level": SEXUAL_CLASSES[d["class"]], "score": round(float(d["score"]), 3),
                         "box": list(d["box"]), "drawn": frame.drawn}
                if d.get("skin") is not None:
                    entry["skin"] = round(float(d["skin"]), 3)
                if frame.digest:
                    entry["frame_digest"] = frame.digest
                listed.append(entry)
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

    def brief(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"time": round(frames[d["frame"]].start, 3), "class": d["class"],
                 "score": round(float(d["score"]), 3), "box": list(d["box"]),
                 **({"skin": round(float(d["skin"]), 3)} if d.get("skin") is not None
                    else {})} for d in found[:_MAX_LISTED]]

    decision: dict[str, Any] = {
        "level": level,
        "frames_flagged": flagged_frames,
        "frames_drawn": sum(1 for f in frames if f.drawn),
        "unconfirmed": len(unconfirmed),
        "without_skin": len(without_skin),
    }
    if level == "none":
        decision["not_counted"] = {"unconfirmed": brief(unconfirmed),
                                   "without_skin": brief(without_skin)}
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
        "not_counted": {"unconfirmed": brief(unconfirmed), "without_skin": brief(without_skin)},
    }
    if review:
        evidence["review"] = "; ".join(review)
        confidence = min(confidence, rules.review_confidence)
        for instance in instances:
            instance["confidence"] = min(instance["confidence"], rules.review_confidence)
    item = {"category": "sexual", "level": level, "source": "visual",
            "confidence": round(confidence, 3), "instances": instances, "evidence": evidence}
    return item, decision


class SafetyAnalyzer(Analyzer):
    name = "safety"
    insight = "safety"
    version = "3"
    after = ("transcript",)
    requires = ("nudenet", "onnxruntime", "cv2", "glin_profanity")
    needs_frames = True

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.every_seconds = float(self.options.get("every_seconds", 1.0))
        self.min_score = float(self.options.get("min_score", 0.5))
        self.rules = SexualRules(
            min_score=self.min_score,
            class_thresholds={str(k): float(v) for k, v in dict(
                self.options.get("class_thresholds") or {}).items() if k in SEXUAL_CLASSES},
            drawn_min_score=float(self.options.get("drawn_min_score", 0.7)),
            min_skin_share=float(self.options.get("min_skin_share", 0.25)),
            agreement_frames=max(1, int(self.options.get("agreement_frames", 2))),
            agreement_window=max(1, int(self.options.get("agreement_window", 3))),
            temporal_agreement=bool(self.options.get("temporal_agreement", True)),
            animated_gate=bool(self.options.get("animated_gate", True)),
        )
        self.drawn_flat_share = float(self.options.get("drawn_flat_share", 0.35))
        self.drawn_max_noise = float(self.options.get("drawn_max_noise", 1.0))
        from aiwork.analyzers.drawn import DrawnSignal

        self.drawn = DrawnSignal(self.options)
        levels = dict(PROFANITY_LEVELS)
        levels.update({k: int(v) for k, v in dict(self.options.get("profanity_levels")
                                                  or {}).items() if k in levels})
        self.profanity_levels = levels
        fixed = self.options.get("profanity_languages")
        self.profanity_languages: list[str] | None = (
            [str(x) for x in fixed] if fixed else None)

    # -- hooks ---------------------------------------------------------------------------

    def nudenet_file(self) -> Path:
        chosen = self.options.get("nudenet_model")
        if chosen:
            return Path(str(chosen)).expanduser()
        folder = package_dir("nudenet")
        if folder is None:
            raise AnalyzerUnavailable("needs the package nudenet (its 320n.onnx detector)")
        return folder / "320n.onnx"

    def word_lists(self) -> list[Path]:
        folder = package_dir("glin_profanity")
        if folder is None:
            raise AnalyzerUnavailable("needs the package glin-profanity (profanity word lists)")
        return sorted((folder / "data" / "dictionaries").glob("*.json"))

    def check(self) -> None:
        super().check()
        path = self.nudenet_file()
        if not path.is_file():
            raise AnalyzerUnavailable(f"NudeNet model file missing: {path}")
        if not self.word_lists():
            raise AnalyzerUnavailable("glin-profanity: its word lists are missing")

    def model(self) -> ModelInfo:
        nudenet = distribution_version("nudenet") if not self.options.get("nudenet_model") \
            else f"local {self.nudenet_file().name}"
        # The drawn classifier and its backbone are loaded weights too: the digest covers them.
        drawn = ([self.drawn.path, self.drawn.backbone.weights_file()]
                 if self.drawn.reason is None else [])
        return ModelInfo(
            "NudeNet 320n + glin-profanity word lists"
            + (" + drawn/animated classifier on EfficientNet-Lite0" if drawn else ""),
            f"nudenet {nudenet}; glin-profanity {distribution_version('glin-profanity')}",
            cached_weights_digest([self.nudenet_file(), *self.word_lists(), *drawn]),
        )

    def parameters(self) -> dict[str, Any]:
        return {
            "every_seconds": self.every_seconds,
            "min_score": self.min_score,
            "class_thresholds": dict(self.rules.class_thresholds or {}),
            "drawn_min_score": self.rules.drawn_min_score,
            "min_skin_share": self.rules.min_skin_share,
            "agreement_frames": self.rules.agreement_frames,
            "agreement_window": self.rules.agreement_window,
            "temporal_agreement": self.rules.temporal_agreement,
            "animated_gate": self.rules.animated_gate,
            "drawn_flat_share": self.drawn_flat_share,
            "drawn_max_noise": self.drawn_max_noise,
            **self.drawn.parameters(),
            "profanity_levels": self.profanity_levels,
            "profanity_languages": self.profanity_languages,
            "taxonomy": TAXONOMY_VERSION,
        }

    # -- visual ----------------------------------------------------------------------------

    def _detector(self) -> Any:
        path = self.nudenet_file()
        key = str(path.resolve())
        with _lock:
            found = _detectors.get(key)
            if found is None:
                nudenet: Any = importlib.import_module("nudenet")
                found = nudenet.NudeDetector(model_path=str(path))
                _detectors[key] = found
        return found

    def _visual(self, ctx: AnalysisContext) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The ``sexual`` item (None when clean) and the category's evidence."""
        frames = ctx.frames
        if frames is None or not len(frames):
            return None, {"checked": False, "reason": "no sampled frames"}
        chosen: list[int] = []
        next_time = float("-inf")
        for i, t in enumerate(frames.times):
            if t + 1e-6 >= next_time:
                chosen.append(i)
                next_time = t + self.every_seconds
        end_of_video = max(ctx.duration, frames.times[-1])
        detector = self._detector()
        checked: list[CheckedFrame] = []
        drawn_probability: dict[int, float] = {}
        per_class: dict[str, float] = {name: 0.0 for name in SEXUAL_CLASSES}
        for n, i in enumerate(chosen):
            end = frames.times[chosen[n + 1]] if n + 1 < len(chosen) else end_of_video
            found = detector.detect(str(frames.files[i]))
            relevant: list[dict[str, Any]] = []
            for det in found:
                cls = str(det["class"])
                if cls not in SEXUAL_CLASSES:
                    continue
                score = float(det["score"])
                per_class[cls] = max(per_class[cls], score)
                relevant.append({"class": cls, "score": score, "box": list(det["box"])})
            drawn = False
            digest = None
            if relevant:
                rgb = frames.load(i)
                for det in relevant:
                    if _exposed(det["class"]):
                        det["skin"] = skin_share(rgb, det["box"])
                stats = drawn_stats(rgb)
                drawn = (stats["flat"] >= self.drawn_flat_share
                         and stats["noise"] <= self.drawn_max_noise)
                if self.drawn.reason is None:
                    probability = float(self.drawn.probabilities([rgb])[0])
                    drawn_probability[n] = round(probability, 3)
                    drawn = drawn or probability >= self.drawn.threshold
                digest = "sha256:" + hashlib.sha256(frames.files[i].read_bytes()).hexdigest()
            checked.append(CheckedFrame(frames.times[i], max(frames.times[i], end), relevant,
                                        drawn, digest))
        item, decision = sexual_decision(checked, self.rules)
        max_score = max(per_class.values())
        evidence: dict[str, Any] = {
            "checked": True,
            "level": decision["level"],
            "frames_checked": len(checked),
            "frames_flagged": decision["frames_flagged"],
            "max_score": round(max_score, 3),
            "max_class": max(per_class, key=lambda c: per_class[c]) if max_score > 0 else None,
            "per_class_max": {c: round(s, 3) for c, s in per_class.items()},
            "not_counted": {"unconfirmed": decision["unconfirmed"],
                            "without_skin": decision["without_skin"]},
            "frames_drawn_among_those_with_detections": decision["frames_drawn"],
            "drawn_check": ("flat-shading test and learned classifier"
                            if self.drawn.reason is None
                            else f"flat-shading test only (classifier: {self.drawn.reason})"),
            "drawn_probabilities": {f"{checked[n].start:g}": p
                                    for n, p in list(drawn_probability.items())[:50]},
        }
        if item is not None:
            item["evidence"]["per_class_max"] = evidence["per_class_max"]
            item["evidence"]["thresholds"] = {
                "min_score": self.min_score,
                "class_thresholds": dict(self.rules.class_thresholds or {}),
                "drawn_min_score": self.rules.drawn_min_score,
                "min_skin_share": self.rules.min_skin_share,
                "agreement": f"{self.rules.agreement_frames} of "
                             f"{self.rules.agreement_window} checked frames",
            }
        return item, evidence

    # -- transcript ------------------------------------------------------------------------

    def _languages(self, transcript: Mapping[str, Any]) -> list[str]:
        if self.profanity_languages:
            return self.profanity_languages
        found = {"english"}
        codes = {transcript.get("language")} | {s.get("language")
                                                 for s in transcript.get("segments") or []}
        for code in codes:
            if code and str(code).split("-")[0].lower() in _LISTS:
                found.add(_LISTS[str(code).split("-")[0].lower()])
        return sorted(found)

    def _transcript(self, ctx: AnalysisContext) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        upstream = ctx.upstream.get("transcript")
        if upstream is None or not isinstance(upstream.items, dict):
            return None, {"checked": False, "reason": "no transcript"}
        transcript = upstream.items
        segments = list(transcript.get("segments") or [])
        languages = self._languages(transcript)
        hits = find_profanity(segments, languages)
        level = profanity_level(len(hits), self.profanity_levels)
        terms: dict[str, int] = {}
        for hit in hits:
            terms[hit.term] = terms.get(hit.term, 0) + 1
        evidence: dict[str, Any] = {
            "checked": True, "level": level, "segments_checked": len(segments),
            "count": len(hits), "languages": languages,
        }
        if level == "none":
            return None, evidence
        instances: list[dict[str, float]] = []
        for hit in hits:
            start, end = round(hit.start, 3), round(hit.end, 3)
            if instances and start <= instances[-1]["end"]:
                instances[-1]["end"] = max(instances[-1]["end"], end)
            else:
                instances.append({"start": start, "end": end, "confidence": 1.0})
        timings = sorted({h.timing for h in hits})
        item = {
            "category": "profanity", "level": level, "source": "transcript",
            "confidence": 1.0,
            "instances": instances,
            "evidence": {
                "count": len(hits),
                "terms": dict(sorted(terms.items())),
                "hits": [{"start": round(h.start, 3), "end": round(h.end, 3),
                          "segment": h.segment, "term": h.term, "text": h.text}
                         for h in hits[:_MAX_LISTED]],
                "timing": timings[0] if len(timings) == 1 else "mixed",
                "levels": self.profanity_levels,
                "languages": languages,
            },
        }
        return item, evidence

    # -- work ----------------------------------------------------------------------------

    def analyze(self, ctx: AnalysisContext) -> AnalyzerOutput:
        visual_item, visual = self._visual(ctx)
        text_item, text = self._transcript(ctx)
        items: list[dict[str, Any]] = []
        for item in (visual_item, text_item):
            if item is not None:
                items.append({"id": len(items), **item})
        evidence = {
            "taxonomy": TAXONOMY_VERSION,
            "thresholds": {
                "visual_min_score": self.min_score,
                "visual_class_thresholds": dict(self.rules.class_thresholds or {}),
                "visual_drawn_min_score": self.rules.drawn_min_score,
                "visual_min_skin_share": self.rules.min_skin_share,
                "visual_agreement": {"frames": self.rules.agreement_frames,
                                     "window": self.rules.agreement_window,
                                     "on": self.rules.temporal_agreement},
                "visual_animated_gate": self.rules.animated_gate,
                "visual_every_seconds": self.every_seconds,
                "nudenet_reporting_floor": 0.25,
                "profanity_levels": self.profanity_levels,
            },
            "categories": {"sexual": visual, "profanity": text},
        }
        return AnalyzerOutput(
            items=items,
            confidences=[float(item["confidence"]) for item in items],
            evidence=evidence,
            parameters=self.parameters(),
            end=ctx.duration,
        )
