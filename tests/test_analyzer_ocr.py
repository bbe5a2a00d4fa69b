"""OCR analyzer: real RapidOCR on frames drawn with a real font, merged across frames."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest


from .conftest import require

require("rapidocr", "cv2")

from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from aiwork.analyzers import load  # noqa: E402
from aiwork.analyzers.base import AnalyzerOutput  # noqa: E402
from aiwork.analyzers.ocr import (  # noqa: E402
    ExaminedFrame,
    Observation,
    OcrAnalyzer,
    edit_distance,
    merge_observations,
    plausible,
)
from aiwork.model.metadata import OcrText  # noqa: E402

from .frames import SIZE, font_file, frames_context, plain  # noqa: E402

LINE_1 = "City council approves new harbour bridge"
LINE_2 = "Construction starts next spring"


def _caption(background: tuple[int, int, int], marker_x: int | None = None) -> Image.Image:
    """A news-style frame: a lower-third with two caption lines over a coloured picture."""
    image = Image.new("RGB", SIZE, background)
    draw = ImageDraw.Draw(image)
    if marker_x is not None:  # something moving in the picture, so frames really differ
        draw.ellipse((marker_x, 40, marker_x + 90, 130), fill=(220, 160, 40))
    draw.rectangle((0, 250, SIZE[0], 340), fill=(15, 15, 15))
    font = ImageFont.truetype(str(font_file()), 26)
    draw.text((24, 258), LINE_1, font=font, fill=(255, 255, 255))
    draw.text((24, 298), LINE_2, font=font, fill=(255, 230, 120))
    return image


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


@pytest.fixture(scope="module")
def analyzer() -> OcrAnalyzer:
    loaded = load("ocr", {"every_seconds": 1.0})
    assert isinstance(loaded, OcrAnalyzer)
    return loaded


def test_reads_caption_and_merges_three_frames(analyzer: OcrAnalyzer, tmp_path: Path) -> None:
    blue = (20, 50, 110)
    pictures = [plain(blue), plain(blue),
                _caption(blue, 60), _caption(blue, 260), _caption(blue, 460),
                plain((90, 90, 90))]
    out = analyzer.analyze(frames_context(tmp_path, pictures))
    assert isinstance(out.items, list)
    for item in out.items:
        OcrText.model_validate(item)  # the published schema (without decision)

    found = [w for item in out.items for w in _words(item["text"])]
    truth = _words(LINE_1 + " " + LINE_2)
    hits = sum(1 for w in truth if w in found)
    assert hits >= 0.9 * len(truth), (found, truth)

    # Each caption line: one item, one instance over the three frames it is shown in.
    assert len(out.items) == 2, out.items
    for item in out.items:
        assert [(i["start"], i["end"]) for i in item["instances"]] == [(2.0, 5.0)]
        assert [b["time"] for b in item["boxes"]] == [2.0, 3.0, 4.0]
        assert 0.6 <= item["confidence"] <= 1.0
        box = item["boxes"][0]
        assert 0.0 <= box["x"] < 0.1 and 0.68 < box["y"] < 0.95
        assert 0.3 < box["width"] <= 1.0 and 0.03 < box["height"] < 0.2
    top, bottom = sorted(out.items, key=lambda i: i["boxes"][0]["y"])
    assert edit_distance(top["text"].lower(), LINE_1.lower()) <= 2
    assert edit_distance(bottom["text"].lower(), LINE_2.lower()) <= 2
    assert out.confidences == [item["confidence"] for item in out.items]

    ev = out.evidence
    assert ev["frames_examined"] == 6
    assert ev["frames_reused"] == [1.0]  # the second plain frame is a duplicate of the first
    assert ev["frames_read"] == 5
    assert ev["thresholds"]["min_confidence"] == 0.6


def test_no_text_on_plain_colour_frames(analyzer: OcrAnalyzer, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    noisy = np.clip(rng.normal(128, 6, (SIZE[1], SIZE[0], 3)), 0, 255).astype(np.uint8)
    pictures = [plain((0, 0, 0)), plain((255, 255, 255)), plain((200, 40, 40)),
                Image.fromarray(noisy)]
    out = analyzer.analyze(frames_context(tmp_path, pictures))
    assert out.items == []
    assert out.confidences == []


def test_default_stride_keyframes_and_duplicates(tmp_path: Path) -> None:
    ocr = OcrAnalyzer()  # every 2 s
    blue = (20, 50, 110)
    caption = _caption(blue)
    pictures = [plain(blue), plain(blue), caption, caption, caption, plain(blue)]
    shots = AnalyzerOutput(items=[{"id": 0, "instances": [{"start": 0.0, "end": 6.0}],
                                   "keyframe": {"time": 3.0, "file": "k.jpg", "digest": "x"}}])
    out = ocr.analyze(frames_context(tmp_path, pictures, {"shots": shots}))
    ev = out.evidence
    assert ev["examined_times"] == [0.0, 2.0, 3.0, 4.0]  # stride 2 plus the keyframe at 3
    assert ev["keyframe_times"] == [3.0]
    assert ev["frames_reused"] == [3.0, 4.0]  # same picture: read once
    assert ev["frames_read"] == 2
    assert isinstance(out.items, list) and len(out.items) == 2
    for item in out.items:
        # Last seen at 4 s; the next 2-second step would end it at 6 (the clip's end), but
        # the frame at 5 s, read to refine the end, has no text: it ends there.
        assert [(i["start"], i["end"]) for i in item["instances"]] == [(2.0, 5.0)]
    assert ev["frames_read_refining"] == 2  # 1 s (before the first sighting) and 5 s


def test_thresholds_drop_low_confidence_and_junk(tmp_path: Path) -> None:
    ocr = OcrAnalyzer({"every_seconds": 1.0})
    reads = iter([
        [Observation("Hello world", 0.95, (0.1, 0.1, 0.4, 0.1)),
         Observation("x", 0.99, (0.6, 0.6, 0.05, 0.05)),
         Observation("blurry", 0.41, (0.1, 0.5, 0.3, 0.1))],
        [Observation("Hel1o World", 0.85, (0.11, 0.1, 0.4, 0.1))],
    ])

    def fake_read(rgb: Any) -> list[Observation]:
        return next(reads)

    ocr.read = fake_read  # type: ignore[method-assign]
    out = ocr.analyze(frames_context(tmp_path, [plain((0, 0, 0)), plain((255, 255, 255))]))
    assert isinstance(out.items, list)
    assert [(i["text"], i["confidence"]) for i in out.items] == [("Hello world", 0.9)]
    assert out.items[0]["instances"] == [{"start": 0.0, "end": 2.0, "confidence": 0.9}]
    assert out.evidence["dropped"] == {"low_confidence": 1, "junk": 1, "implausible": 0}
    assert out.evidence["alternatives"] == [{"id": 0, "spellings": ["Hello world", "Hel1o World"]}]


def test_merge_rules() -> None:
    box = (0.1, 0.8, 0.5, 0.08)
    elsewhere = (0.1, 0.1, 0.5, 0.08)

    def frame(t: float, *obs: Observation) -> ExaminedFrame:
        return ExaminedFrame(t, tuple(obs))

    frames = [
        frame(0.0, Observation("BREAKING NEWS", 0.9, box)),
        frame(2.0, Observation("Breaking  news", 0.8, box),
              Observation("BREAKING NEWS", 0.9, elsewhere)),  # same text, other place
        frame(4.0),
        frame(6.0, Observation("breaking news", 0.7, box)),  # back after a gap
        frame(8.0, Observation("Sports", 0.9, box)),
    ]
    items = merge_observations(frames, stride=2.0, duration=9.0)
    assert [i["text"] for i in items] == ["BREAKING NEWS", "Sports"]
    news, sports = items
    assert [(i["start"], i["end"]) for i in news["instances"]] == [(0.0, 4.0), (2.0, 4.0),
                                                                    (6.0, 8.0)]
    assert [(i["start"], i["end"]) for i in sports["instances"]] == [(8.0, 9.0)]  # clip end
    assert edit_distance("kitten", "sitting") == 3


def test_model_info_digests_the_shipped_models(analyzer: OcrAnalyzer) -> None:
    info = analyzer.model()
    assert info.name == "RapidOCR PP-OCR"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", info.version)
    assert info.weights_digest is not None and info.weights_digest.startswith("sha256:")
    assert all(p.is_file() for p in analyzer.model_files().values())


def test_text_times_are_refined_to_the_sampled_frame_where_it_appears_and_goes(
        tmp_path: Path) -> None:
    """A caption on screen from 1 s to 4 s (frames at 1 fps: shown on frames 1-4), read
    every 2 s (0, 2, 4, 6, 8): the stride alone says 2-6 s; refined, it is 1-5 s (5 s is the
    first frame without it), within one frame sample of the truth."""
    blue = (20, 50, 110)
    caption = _caption(blue)
    pictures = [plain(blue), caption, caption, caption, caption, plain(blue), plain(blue),
                plain(blue), plain(blue)]
    out = OcrAnalyzer().analyze(frames_context(tmp_path, pictures))
    assert isinstance(out.items, list) and len(out.items) == 2
    for item in out.items:
        (instance,) = item["instances"]
        assert (instance["start"], instance["end"]) == (1.0, 5.0)


def test_a_short_lived_implausible_word_is_dropped(tmp_path: Path) -> None:
    """Letters read off a logo in one frame ("BVKSKRT", no vowel) are dropped; a real word
    in one frame and the same junk read with high confidence over several frames are not
    confused with it."""
    ocr = OcrAnalyzer({"every_seconds": 1.0})
    reads = iter([
        [Observation("BVKSKRT", 0.97, (0.1, 0.1, 0.3, 0.1)),
         Observation("Lisbon", 0.93, (0.1, 0.6, 0.3, 0.1))],
        [Observation("Harbour bridge", 0.95, (0.1, 0.3, 0.4, 0.1))],
        [Observation("Harbour bridge", 0.95, (0.1, 0.3, 0.4, 0.1))],
    ])
    ocr.read = lambda rgb: next(reads)  # type: ignore[method-assign]
    out = ocr.analyze(frames_context(tmp_path, [plain((0, 0, 0)), plain((255, 255, 255)),
                                                plain((0, 0, 90))]))
    assert isinstance(out.items, list)
    assert [i["text"] for i in out.items] == ["Lisbon", "Harbour bridge"]
    assert out.evidence["dropped"]["implausible"] == 1
    assert out.evidence["implausible"][0]["text"] == "BVKSKRT"


def test_plausibility_of_words() -> None:
    for text in ["City council approves new harbour bridge", "Christmas", "2026-11-29",
                 "Revenge is coming...", "Blender Foundation", "Ça été", "Москва", "OK"]:
        assert plausible(text), text
    for text in ["BUNKSK", "BUNKSK XQZT", "BVKSKRT", "mmmmm", "zzzx"]:
        assert not plausible(text), text
