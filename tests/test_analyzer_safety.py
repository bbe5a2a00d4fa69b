"""Safety analyzer: the real NudeNet detector on clean frames, the real glin-profanity word
lists on transcripts.

No image with nudity is (or may be) in this repository, so the detector's true positives
are untested here; how detections become levels and time ranges is tested with a stand-in
detector that returns given detections.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .conftest import require

require("nudenet", "onnxruntime", "cv2", "glin_profanity")

from PIL import Image, ImageDraw, ImageFont  # noqa: E402

import aiwork.analyzers.safety as safety_module  # noqa: E402
from aiwork.analyzers import load  # noqa: E402
from aiwork.analyzers.base import AnalysisContext, AnalyzerOutput, weights_digest  # noqa: E402
from aiwork.analyzers.models import package_dir  # noqa: E402
from aiwork.analyzers.safety import (  # noqa: E402
    LEVELS,
    SEXUAL_CLASSES,
    TAXONOMY,
    CheckedFrame,
    SafetyAnalyzer,
    SexualRules,
    find_profanity,
    profanity_level,
    sexual_decision,
)
from aiwork.model.metadata import SafetyFlag  # noqa: E402
from aiwork.synth.clips import FACE_IMAGE  # noqa: E402

from .frames import SIZE, cartoon, frames_context  # noqa: E402

FACE = FACE_IMAGE


def _clean_frames() -> list[Image.Image]:
    """Ordinary frames: a flat colour, a title card, a gradient, and real photos where
    installed (the repository's face crop; scikit-image's CC0 coffee photo)."""
    frames = [Image.new("RGB", SIZE, (30, 120, 60))]
    card = Image.new("RGB", SIZE, (10, 10, 10))
    ImageDraw.Draw(card).text((40, 140), "Quarterly results", fill=(255, 255, 255),
                              font=ImageFont.load_default(size=48))
    frames.append(card)
    gradient = Image.linear_gradient("L").resize(SIZE).convert("RGB")
    frames.append(gradient)
    photos = [FACE]
    skimage = package_dir("skimage")
    if skimage is not None:
        photos.append(skimage / "data" / "coffee.png")
    for path in photos:
        if path.is_file():
            with Image.open(path) as photo:
                frames.append(photo.convert("RGB").resize((SIZE[1], SIZE[1])))
    return frames


def _context(tmp_path: Path, pictures: Sequence[Image.Image],
             transcript: dict[str, Any] | None = None) -> AnalysisContext:
    upstream = {} if transcript is None else {"transcript": AnalyzerOutput(items=transcript)}
    return frames_context(tmp_path, pictures, upstream,
                          duration=float(max(len(pictures), 30)), with_audio=True)


def _segment(n: int, text: str, start: float, end: float,
             words: list[tuple[str, float, float]] | None = None) -> dict[str, Any]:
    return {"id": n, "text": text, "language": "en", "confidence": 0.9,
            "instances": [{"start": start, "end": end, "confidence": 0.9}],
            "words": [{"text": w, "start": s, "end": e, "confidence": 0.9}
                      for w, s, e in (words or [])]}


def _transcript(*segments: dict[str, Any]) -> dict[str, Any]:
    return {"language": "en", "language_confidence": 0.99, "model": "test",
            "segments": list(segments)}


CLEAN = _transcript(
    _segment(0, "Welcome to the class assessment in Scunthorpe.", 0.0, 3.2),
    _segment(1, "Pass the cocktail menu and the grass seed, please.", 3.2, 6.0),
)


def _analyzer(**options: Any) -> SafetyAnalyzer:
    analyzer = load("safety", options)
    assert isinstance(analyzer, SafetyAnalyzer)
    return analyzer


def test_clean_frames_and_clean_speech_give_no_flag_but_record_the_check(
        tmp_path: Path) -> None:
    frames = _clean_frames()
    out = _analyzer().analyze(_context(tmp_path, frames, CLEAN))
    assert out.items == [] and out.confidences == []
    sexual = out.evidence["categories"]["sexual"]
    assert sexual["checked"] is True and sexual["level"] == "none"
    assert sexual["frames_checked"] == len(frames) and sexual["frames_flagged"] == 0
    assert set(sexual["per_class_max"]) == set(SEXUAL_CLASSES)
    assert sexual["max_score"] < 0.5
    profanity = out.evidence["categories"]["profanity"]
    assert profanity == {"checked": True, "level": "none", "segments_checked": 2,
                         "count": 0, "languages": ["english"]}
    assert out.evidence["thresholds"]["visual_min_score"] == 0.5
    assert out.evidence["thresholds"]["profanity_levels"] == {"low": 1, "medium": 3,
                                                              "high": 10}


def test_profanity_is_flagged_at_the_word_that_was_said(tmp_path: Path) -> None:
    transcript = _transcript(
        _segment(0, "Good morning everyone.", 0.0, 2.0,
                 [("Good", 0.0, 0.4), ("morning", 0.4, 0.9), ("everyone.", 0.9, 2.0)]),
        _segment(1, "Oh shit, the demo broke.", 12.0, 15.0,
                 [("Oh", 12.0, 12.3), ("shit,", 12.3, 12.8), ("the", 12.9, 13.1),
                  ("demo", 13.1, 13.6), ("broke.", 13.6, 15.0)]),
    )
    out = _analyzer().analyze(_context(tmp_path, [Image.new("RGB", SIZE, (0, 0, 0))],
                                       transcript))
    (item,) = out.items
    assert isinstance(item, dict)
    assert (item["category"], item["level"], item["source"]) == ("profanity", "low",
                                                                 "transcript")
    assert item["instances"] == [{"start": 12.3, "end": 12.8, "confidence": 1.0}]
    assert item["evidence"]["hits"] == [{"start": 12.3, "end": 12.8, "segment": 1,
                                         "term": "shit", "text": "shit,"}]
    assert item["evidence"]["timing"] == "word"
    assert out.confidences == [1.0]
    SafetyFlag.model_validate(item)
    assert out.evidence["categories"]["profanity"]["level"] == "low"
    assert out.evidence["categories"]["sexual"]["level"] == "none"


def test_without_word_times_the_segment_is_the_range_and_counts_set_the_level(
        tmp_path: Path) -> None:
    transcript = _transcript(
        _segment(0, "This is fucking bullshit.", 4.0, 6.5),
        _segment(1, "A perfectly ordinary sentence.", 6.5, 9.0),
        _segment(2, "What an asshole.", 20.0, 21.5),
    )
    out = _analyzer().analyze(_context(tmp_path, [Image.new("RGB", SIZE, (0, 0, 0))],
                                       transcript))
    (item,) = out.items
    assert isinstance(item, dict)
    assert item["level"] == "medium"  # 3 matches
    assert item["instances"] == [{"start": 4.0, "end": 6.5, "confidence": 1.0},
                                 {"start": 20.0, "end": 21.5, "confidence": 1.0}]
    assert item["evidence"]["count"] == 3 and item["evidence"]["timing"] == "segment"
    assert [h["text"] for h in item["evidence"]["hits"]] == ["fucking", "bullshit", "asshole"]


def test_a_missing_transcript_is_recorded_as_not_checked(tmp_path: Path) -> None:
    out = _analyzer().analyze(_context(tmp_path, [Image.new("RGB", SIZE, (0, 0, 0))]))
    assert out.items == []
    assert out.evidence["categories"]["profanity"] == {"checked": False,
                                                       "reason": "no transcript"}


def test_stride_chooses_the_frames_checked(tmp_path: Path) -> None:
    frames = [Image.new("RGB", SIZE, (i * 40, 80, 120)) for i in range(5)]
    out = _analyzer(every_seconds=2.0).analyze(_context(tmp_path, frames, CLEAN))
    assert out.evidence["categories"]["sexual"]["frames_checked"] == 3


class _StandIn:
    """Returns given NudeNet-style detections per frame file name (no image involved)."""

    def __init__(self, by_frame: dict[int, list[dict[str, Any]]]) -> None:
        self.by_frame = by_frame

    def detect(self, path: str) -> list[dict[str, Any]]:
        return self.by_frame.get(int(Path(path).stem[1:]), [])


SKIN = (200, 140, 110)


def _photo_like(colour: tuple[int, int, int], seed: int) -> Image.Image:
    """A plain colour with a camera's noise: not drawn (nothing explicit: a colour field)."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(rng.normal(0, 8, (SIZE[1], SIZE[0], 3)) + np.array(colour), 0, 255)
    return Image.fromarray(pixels.astype(np.uint8))


def _det(cls: str, score: float, box: Sequence[int] = (100, 80, 160, 120)) -> dict[str, Any]:
    return {"class": cls, "score": score, "box": list(box)}


def _run_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, frames: Sequence[Image.Image],
              by_frame: dict[int, list[dict[str, Any]]], **options: Any) -> AnalyzerOutput:
    analyzer = _analyzer(**options)
    monkeypatch.setattr(analyzer, "_detector", lambda: _StandIn(by_frame))
    tmp_path.mkdir(parents=True, exist_ok=True)
    return analyzer.analyze(_context(tmp_path, frames, CLEAN))


def test_one_frame_above_the_threshold_is_not_a_flag(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    frames = [_photo_like(SKIN, i) for i in range(6)]
    out = _run_with(tmp_path, monkeypatch, frames, {2: [_det("FEMALE_BREAST_EXPOSED", 0.74)]})
    assert out.items == []
    sexual = out.evidence["categories"]["sexual"]
    assert sexual["level"] == "none" and sexual["not_counted"] == {"unconfirmed": 1,
                                                                   "without_skin": 0}
    assert sexual["per_class_max"]["FEMALE_BREAST_EXPOSED"] == 0.74
    # The single-frame rule of version 1 would have flagged it high.
    (old,) = _run_with(tmp_path / "old", monkeypatch, frames,
                       {2: [_det("FEMALE_BREAST_EXPOSED", 0.74)]},
                       temporal_agreement=False).items
    assert isinstance(old, dict) and old["level"] == "high"


def test_agreeing_frames_flag_with_the_boxes_in_evidence(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    frames = [_photo_like(SKIN, i) for i in range(7)]
    by_frame = {
        1: [_det("FACE_FEMALE", 0.9), _det("FEMALE_BREAST_COVERED", 0.6, (5, 5, 50, 50))],
        2: [_det("BUTTOCKS_EXPOSED", 0.7, (120, 90, 150, 110))],
        3: [_det("BUTTOCKS_EXPOSED", 0.66, (125, 92, 150, 110)), _det("FEET_EXPOSED", 0.8)],
        5: [_det("FEMALE_GENITALIA_COVERED", 0.45)],  # under min_score
    }
    out = _run_with(tmp_path, monkeypatch, frames, by_frame)
    (item,) = out.items
    assert isinstance(item, dict)
    assert (item["category"], item["level"], item["source"]) == ("sexual", "high", "visual")
    # Frame 1's "low" is confirmed by the higher levels after it; frames 1-3 are one run.
    assert item["instances"] == [{"start": 1.0, "end": 4.0, "confidence": 0.7}]
    assert item["evidence"]["runs"] == [{"start": 1.0, "end": 4.0, "level": "high",
                                         "frames": 3, "drawn_frames": 0}]
    listed = item["evidence"]["detections"]
    assert [(d["time"], d["class"], d["box"]) for d in listed] == [
        (1.0, "FEMALE_BREAST_COVERED", [5, 5, 50, 50]),
        (2.0, "BUTTOCKS_EXPOSED", [120, 90, 150, 110]),
        (3.0, "BUTTOCKS_EXPOSED", [125, 92, 150, 110])]
    assert all(d["frame_digest"].startswith("sha256:") for d in listed)
    assert listed[1]["skin"] > 0.9 and "review" not in item["evidence"]
    assert out.confidences == [0.7]
    SafetyFlag.model_validate(item)
    sexual = out.evidence["categories"]["sexual"]
    assert sexual["max_class"] == "BUTTOCKS_EXPOSED" and sexual["frames_flagged"] == 3


def test_drawn_frames_are_never_high_but_go_to_review(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = [Image.new("RGB", SIZE, SKIN)] * 5  # flat shading, no camera noise
    strong = {1: [_det("FEMALE_BREAST_EXPOSED", 0.8)], 2: [_det("FEMALE_BREAST_EXPOSED", 0.76)]}
    (item,) = _run_with(tmp_path, monkeypatch, drawn, strong).items
    assert isinstance(item, dict)
    assert item["level"] == "medium"
    assert "drawn or animated" in item["evidence"]["review"]
    assert item["evidence"]["runs"][0]["capped"] == "drawn or animated"
    assert item["confidence"] <= 0.5  # under the review routing threshold (0.6)
    assert [d["box"] for d in item["evidence"]["detections"]] == [[100, 80, 160, 120]] * 2
    # On drawn frames the threshold is stricter: 0.6 and 0.65 do not count at all.
    weaker = {1: [_det("FEMALE_BREAST_EXPOSED", 0.6)], 2: [_det("FEMALE_BREAST_EXPOSED", 0.65)]}
    assert _run_with(tmp_path / "weak", monkeypatch, drawn, weaker).items == []
    # The same detections on photo-like frames are a high flag.
    photos = [_photo_like(SKIN, i) for i in range(5)]
    (real,) = _run_with(tmp_path / "real", monkeypatch, photos, strong).items
    assert isinstance(real, dict) and real["level"] == "high"


def test_textured_cartoon_frames_are_drawn_by_the_learned_signal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cartoon character with texture (the held-out Big Buck Bunny frame: skin-toned fur,
    not flat enough for the flat-shading test) with agreeing strong detections is capped at
    medium and sent to review, never high."""
    frames = [cartoon(noise=6, seed=n, body=SKIN) for n in range(5)]
    box = (240, 140, 150, 150)  # the creature's body
    strong = {n: [_det("FEMALE_BREAST_EXPOSED", 0.8, box)] for n in (1, 2, 3)}
    out = _run_with(tmp_path, monkeypatch, frames, strong)
    (item,) = out.items
    assert isinstance(item, dict) and item["level"] == "medium"
    assert item["evidence"]["runs"][0]["capped"] == "drawn or animated"
    assert "drawn or animated" in item["evidence"]["review"]
    sexual = out.evidence["categories"]["sexual"]
    assert sexual["frames_drawn_among_those_with_detections"] == 3
    assert all(p >= 0.5 for p in sexual["drawn_probabilities"].values())
    # The flat-shading test alone (the learned signal off) calls these frames photographs.
    (old,) = _run_with(tmp_path / "flat-only", monkeypatch, frames, strong,
                       drawn_signal=False).items
    assert isinstance(old, dict) and old["level"] == "high"
    # Detections under the stricter threshold for drawn frames (0.7) do not count at all.
    weaker = {n: [_det("FEMALE_BREAST_EXPOSED", 0.55, box)] for n in (1, 2, 3)}
    assert _run_with(tmp_path / "weak", monkeypatch, frames, weaker).items == []


def test_exposed_skin_classes_need_skin_in_their_box(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fur = [_photo_like((200, 200, 205), i) for i in range(5)]  # grey-white, like a rabbit
    by_frame = {1: [_det("FEMALE_BREAST_EXPOSED", 0.72)], 2: [_det("FEMALE_BREAST_EXPOSED", 0.7)],
                3: [_det("BUTTOCKS_EXPOSED", 0.71)]}
    out = _run_with(tmp_path, monkeypatch, fur, by_frame)
    assert out.items == []
    assert out.evidence["categories"]["sexual"]["not_counted"] == {"unconfirmed": 0,
                                                                   "without_skin": 3}


def test_sexual_decision_rules() -> None:
    def frame(t: float, *dets: dict[str, Any], drawn: bool = False) -> CheckedFrame:
        return CheckedFrame(t, t + 1, [{**d, "skin": 0.9} for d in dets], drawn)

    rules = SexualRules()
    high = _det("ANUS_EXPOSED", 0.9)
    # Two agreeing frames within a window of three checks: counted, also with a gap.
    item, _ = sexual_decision([frame(0, high), frame(1), frame(2, high), frame(3)], rules)
    assert item is not None and item["level"] == "high"
    assert [i["start"] for i in item["instances"]] == [0.0, 2.0]
    # Too far apart (three checks between them): neither is confirmed.
    item, decision = sexual_decision(
        [frame(0, high), frame(1), frame(2), frame(3, high)], rules)
    assert item is None and decision["unconfirmed"] == 2
    # A lower level does not confirm a higher one.
    item, _ = sexual_decision([frame(0, high), frame(1, _det("BELLY_EXPOSED", 0.9))], rules)
    assert item is not None and item["level"] == "low"
    # A clip of one checked frame cannot be confirmed: at most medium, sent to review.
    item, _ = sexual_decision([frame(0, high)], rules)
    assert item is not None and item["level"] == "medium" and item["confidence"] <= 0.5
    assert "not confirmed over time" in item["evidence"]["review"]
    # Per-class thresholds.
    strict = SexualRules(class_thresholds={"ANUS_EXPOSED": 0.95})
    assert sexual_decision([frame(0, high), frame(1, high)], strict)[0] is None


def test_find_profanity_and_levels() -> None:
    assert find_profanity([_segment(0, "Scunthorpe, Essex, Middlesex and a cocktail.", 0, 2)]) == []
    (hit,) = find_profanity([_segment(0, "Das ist Scheiße", 0, 2)], ["english", "german"])
    assert hit.text == "Scheiße"
    assert [profanity_level(n) for n in (0, 1, 2, 3, 9, 10)] == [
        "none", "low", "low", "medium", "medium", "high"]


def test_taxonomy_is_consistent_and_documented() -> None:
    assert set(SEXUAL_CLASSES.values()) <= set(LEVELS) - {"none"}
    assert set(TAXONOMY) == {"sexual", "profanity"}
    for name, entry in TAXONOMY.items():
        assert set(entry["levels"]) == {"low", "medium", "high"}
        assert f"``{name}``" in (safety_module.__doc__ or "")


def test_model_digest_covers_the_detector_and_word_lists() -> None:
    analyzer = _analyzer()
    info = analyzer.model()
    files = [analyzer.nudenet_file(), *analyzer.word_lists()]
    assert files[0].name == "320n.onnx" and any(p.name == "english.json" for p in files)
    if analyzer.drawn.reason is None:
        # The drawn/animated classifier and its EfficientNet backbone are loaded weights too.
        files += [analyzer.drawn.path, analyzer.drawn.backbone.weights_file()]
        assert analyzer.parameters()["drawn_model_digest"] == "sha256:" + hashlib.sha256(
            analyzer.drawn.path.read_bytes()).hexdigest()
    assert info.weights_digest == weights_digest(files)
    assert "nudenet 3.4.2" in info.version
