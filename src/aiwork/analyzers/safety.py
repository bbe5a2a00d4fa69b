"""Safety flags: risk categories with levels, from the pictures and from the speech.

Taxonomy (``TAXONOMY`` below; levels are ``none < low < medium < high``). The rules of each
category live beside this module: :mod:`aiwork.analyzers.nudity` (which detections count),
:mod:`aiwork.analyzers.profanity` (the word lists); this module runs the models.
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

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any


from aiwork.analyzers.base import AnalysisContext, Analyzer, AnalyzerOutput, ModelInfo
from aiwork.analyzers.models import (
    cached_weights_digest,
    distribution_version,
    load_once,
    package_dir,
)
from aiwork.analyzers.nudity import (
    LEVELS,
    SEXUAL_CLASSES,
    CheckedFrame,
    SexualRules,
    drawn_stats,
    sexual_decision,
    skin_share,
)
from aiwork.analyzers.options import DrawnOptions, Field, field_validator
from aiwork.analyzers.profanity import (
    PROFANITY_LEVELS,
    ProfanityHit,
    find_profanity,
    profanity_item,
    profanity_languages,
    profanity_level,
)
from aiwork.digests import sha256_file
from aiwork.errors import AnalyzerUnavailable

__all__ = [
    "CheckedFrame",
    "LEVELS",
    "PROFANITY_LEVELS",
    "SEXUAL_CLASSES",
    "TAXONOMY",
    "ProfanityHit",
    "SafetyAnalyzer",
    "SafetyOptions",
    "SexualRules",
    "find_profanity",
    "profanity_level",
    "drawn_stats",
    "sexual_decision",
    "skin_share",
]

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


class SafetyOptions(DrawnOptions):
    #: One frame checked every so many seconds.
    every_seconds: float = Field(1.0, gt=0.0)
    min_score: float = Field(0.5, ge=0.0, le=1.0)
    #: NudeNet class -> its own least score (else ``min_score``).
    class_thresholds: dict[str, float] = Field(default_factory=dict)
    drawn_min_score: float = Field(0.7, ge=0.0, le=1.0)
    min_skin_share: float = Field(0.25, ge=0.0, le=1.0)
    agreement_frames: int = Field(2, ge=1)
    agreement_window: int = Field(3, ge=1)
    temporal_agreement: bool = True
    animated_gate: bool = True
    drawn_flat_share: float = Field(0.35, ge=0.0, le=1.0)
    drawn_max_noise: float = Field(1.0, ge=0.0)
    #: Level -> the least count of profane words for it (the others as in PROFANITY_LEVELS).
    profanity_levels: dict[str, int] = Field(default_factory=dict)
    #: glin-profanity lists to match (default: English and the transcript's languages).
    profanity_languages: list[str] | None = None
    #: Another NudeNet ONNX file (its digest is in the decision's model record).
    nudenet_model: str | None = Field(None, exclude=True)

    @field_validator("class_thresholds")
    @classmethod
    def _known_classes(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(SEXUAL_CLASSES))
        if unknown:
            raise ValueError(f"unknown NudeNet classes {unknown}; known: "
                             f"{', '.join(SEXUAL_CLASSES)}")
        if any(not 0.0 <= v <= 1.0 for v in value.values()):
            raise ValueError("a class threshold is a score between 0 and 1")
        return value

    @field_validator("profanity_levels")
    @classmethod
    def _known_levels(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(PROFANITY_LEVELS))
        if unknown:
            raise ValueError(f"unknown levels {unknown}; known: low, medium, high")
        if any(v < 0 for v in value.values()):
            raise ValueError("a level's count is zero or more")
        return value


class SafetyAnalyzer(Analyzer):
    name = "safety"
    version = "3"
    after = ("transcript",)
    requires = ("nudenet", "onnxruntime", "cv2", "glin_profanity")
    needs_frames = True
    Options = SafetyOptions
    settings: SafetyOptions

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        o = self.settings
        self.rules = SexualRules(
            min_score=o.min_score, class_thresholds=dict(o.class_thresholds),
            drawn_min_score=o.drawn_min_score, min_skin_share=o.min_skin_share,
            agreement_frames=o.agreement_frames, agreement_window=o.agreement_window,
            temporal_agreement=o.temporal_agreement, animated_gate=o.animated_gate)
        from aiwork.analyzers.drawn import DrawnSignal

        self.drawn = DrawnSignal(self.settings)
        self.profanity_levels = {**PROFANITY_LEVELS, **o.profanity_levels}
        self.profanity_languages = list(o.profanity_languages or []) or None

    # -- hooks ---------------------------------------------------------------------------

    def nudenet_file(self) -> Path:
        chosen = self.settings.nudenet_model
        if chosen:
            return Path(chosen).expanduser()
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
        nudenet = distribution_version("nudenet") if not self.settings.nudenet_model \
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
            **self.settings.recorded(),
            **self.drawn.parameters(),
            "profanity_levels": self.profanity_levels,
            "profanity_languages": self.profanity_languages,
            "taxonomy": TAXONOMY_VERSION,
        }

    # -- visual ----------------------------------------------------------------------------

    def _detector(self) -> Any:
        path = self.nudenet_file()

        def load() -> Any:
            nudenet: Any = importlib.import_module("nudenet")
            return nudenet.NudeDetector(model_path=str(path))

        return load_once(("nudenet", str(path.resolve())), load)

    def _is_drawn(self, rgb: Any) -> tuple[bool, float | None]:
        """Whether a frame looks drawn (flat-shading test or the learned classifier), and the
        classifier's probability when it ran."""
        stats = drawn_stats(rgb)
        drawn = (stats["flat"] >= self.settings.drawn_flat_share
                 and stats["noise"] <= self.settings.drawn_max_noise)
        if self.drawn.reason is not None:
            return drawn, None
        probability = float(self.drawn.probabilities([rgb])[0])
        return drawn or probability >= self.drawn.threshold, probability

    def _check_frames(self, ctx: AnalysisContext
                      ) -> tuple[list[CheckedFrame], dict[str, float], dict[int, float]]:
        """The frames checked (one every ``every_seconds``) with their relevant detections;
        each class's highest score; the drawn probabilities of frames with detections."""
        frames = ctx.frames
        assert frames is not None
        chosen = frames.every(self.settings.every_seconds)
        spans = frames.spans(chosen, max(ctx.duration, frames.times[-1]))
        detector = self._detector()
        checked: list[CheckedFrame] = []
        drawn_probability: dict[int, float] = {}
        per_class: dict[str, float] = {name: 0.0 for name in SEXUAL_CLASSES}
        for n, (i, (start, end)) in enumerate(zip(chosen, spans, strict=True)):
            relevant: list[dict[str, Any]] = []
            for det in detector.detect(str(frames.files[i])):
                cls = str(det["class"])
                if cls in SEXUAL_CLASSES:
                    per_class[cls] = max(per_class[cls], float(det["score"]))
                    relevant.append({"class": cls, "score": float(det["score"]),
                                     "box": list(det["box"])})
            frame = CheckedFrame(start, end, relevant)
            if relevant:
                rgb = frames.load(i)
                for det in relevant:
                    if det["class"].endswith("_EXPOSED"):
                        det["skin"] = skin_share(rgb, det["box"])
                frame.drawn, probability = self._is_drawn(rgb)
                if probability is not None:
                    drawn_probability[n] = round(probability, 3)
                frame.digest = sha256_file(frames.files[i])
            checked.append(frame)
        return checked, per_class, drawn_probability

    def _visual(self, ctx: AnalysisContext) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The ``sexual`` item (None when clean) and the category's evidence."""
        if ctx.frames is None or not len(ctx.frames):
            return None, {"checked": False, "reason": "no sampled frames"}
        checked, per_class, drawn_probability = self._check_frames(ctx)
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
                **self.settings.pick("min_score", "class_thresholds", "drawn_min_score",
                                     "min_skin_share"),
                "agreement": f"{self.rules.agreement_frames} of "
                             f"{self.rules.agreement_window} checked frames",
            }
        return item, evidence

    # -- transcript ------------------------------------------------------------------------

    def _transcript(self, ctx: AnalysisContext) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        upstream = ctx.upstream.get("transcript")
        if upstream is None or not isinstance(upstream.items, dict):
            return None, {"checked": False, "reason": "no transcript"}
        transcript = upstream.items
        segments = list(transcript.get("segments") or [])
        languages = profanity_languages(transcript, self.profanity_languages)
        hits = find_profanity(segments, languages)
        level = profanity_level(len(hits), self.profanity_levels)
        evidence: dict[str, Any] = {
            "checked": True, "level": level, "segments_checked": len(segments),
            "count": len(hits), "languages": languages,
        }
        if level == "none":
            return None, evidence
        return profanity_item(hits, level, self.profanity_levels, languages), evidence

    # -- work ----------------------------------------------------------------------------

    def analyze(self, ctx: AnalysisContext) -> AnalyzerOutput:
        visual_item, visual = self._visual(ctx)
        text_item, text = self._transcript(ctx)
        items: list[dict[str, Any]] = []
        for item in (visual_item, text_item):
            if item is not None:
                items.append({"id": len(items), **item})
        rules = self.rules
        evidence = {
            "taxonomy": TAXONOMY_VERSION,
            "thresholds": {
                **{f"visual_{name}": value for name, value in self.settings.pick(
                    "min_score", "class_thresholds", "drawn_min_score", "min_skin_share"
                ).items()},
                "visual_agreement": {"frames": rules.agreement_frames,
                                     "window": rules.agreement_window,
                                     "on": rules.temporal_agreement},
                "visual_animated_gate": rules.animated_gate,
                "visual_every_seconds": self.settings.every_seconds,
                "nudenet_reporting_floor": 0.25,
                "profanity_levels": self.profanity_levels,
            },
            "categories": {"sexual": visual, "profanity": text},
        }
        return self.output(ctx, items, evidence)
