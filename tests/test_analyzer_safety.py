"""Safety analyzer: the real NudeNet detector on clean frames, the real glin-profanity word
lists on transcripts.

No image with nudity is (or may be) in this repository, so the detector's true positives
are untested here; how detections become levels and time ranges is tested with a stand-in
detector that returns given detections.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
    SafetyAnalyzer,
    find_profanity,
    profanity_level,
)
from aiwork.model.metadata import SafetyFlag  # noqa: E402

from .frames import SIZE, frames_context  # noqa: E402

FACE = Path(__file__).parents[1] / "src" / "aiwork" / "media" / "assets" / "face.jpg"


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


def test_detections_map_to_levels_and_runs(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def det(cls: str, score: float) -> dict[str, Any]:
        return {"class": cls, "score": score, "box": [10, 20, 30, 40]}

    stand_in = _StandIn({
        1: [det("FACE_FEMALE", 0.9), det("FEMALE_BREAST_COVERED", 0.6)],
        2: [det("BUTTOCKS_EXPOSED", 0.7)],
        3: [det("FEET_EXPOSED", 0.8)],  # not a risk
        5: [det("FEMALE_GENITALIA_COVERED", 0.45)],  # under min_score
    })
    analyzer = _analyzer()
    monkeypatch.setattr(analyzer, "_detector", lambda: stand_in)
    frames = [Image.new("RGB", SIZE, (90, 90, 90))] * 6
    out = analyzer.analyze(_context(tmp_path, frames, CLEAN))
    (item,) = out.items
    assert isinstance(item, dict)
    assert (item["category"], item["level"], item["source"]) == ("sexual", "high", "visual")
    assert item["instances"] == [{"start": 1.0, "end": 3.0, "confidence": 0.7}]
    assert item["evidence"]["runs"] == [{"start": 1.0, "end": 3.0, "level": "high"}]
    assert [(d["class"], d["level"]) for d in item["evidence"]["detections"]] == [
        ("FEMALE_BREAST_COVERED", "low"), ("BUTTOCKS_EXPOSED", "high")]
    assert all(d["frame_digest"].startswith("sha256:") for d in item["evidence"]["detections"])
    SafetyFlag.model_validate(item)
    sexual = out.evidence["categories"]["sexual"]
    assert sexual["per_class_max"]["FEMALE_GENITALIA_COVERED"] == 0.45
    assert sexual["max_class"] == "BUTTOCKS_EXPOSED" and sexual["frames_flagged"] == 2


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
    assert info.weights_digest == weights_digest(files)
    assert "nudenet 3.4.2" in info.version
