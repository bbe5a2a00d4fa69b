"""Faces analyzer: OpenCV's Haar cascade on real pictures (a photographed face, text, colour)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .conftest import missing, require

require("cv2")

from PIL import Image, ImageDraw, ImageFont  # noqa: E402

import aiwork.media  # noqa: E402
from aiwork.analyzers import load  # noqa: E402
from aiwork.analyzers.faces import FacesAnalyzer, presence_ranges  # noqa: E402
from aiwork.model.metadata import Face  # noqa: E402

from .frames import SIZE, font_file, frames_context, plain  # noqa: E402

FACE = Path(next(iter(aiwork.media.__path__))) / "assets" / "face.jpg"


def _face_crop() -> Image.Image:
    if not FACE.is_file():
        missing(f"the face picture {FACE} is not in this checkout")
    with Image.open(FACE) as image:
        return image.convert("RGB")


def _with_faces(background: tuple[int, int, int],
                faces: Sequence[tuple[int, int, int]]) -> Image.Image:
    """``faces``: (left, top, side) of each pasted face picture."""
    image = Image.new("RGB", SIZE, background)
    crop = _face_crop()
    for left, top, side in faces:
        image.paste(crop.resize((side, side), Image.Resampling.LANCZOS), (left, top))
    return image


def _text(background: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", SIZE, background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(font_file()), 30)
    lines = ["Quarterly results 8:30 PM", "OO 00 @@ BOB (o) 8o8", "The quick brown fox",
             "jumps over the lazy dog", "Harbour bridge opens"]
    for i, line in enumerate(lines):
        draw.text((20, 20 + 66 * i), line, font=font, fill=(250, 250, 250))
    return image


def test_faces_present_only_where_shown(tmp_path: Path) -> None:
    blue, grey = (40, 80, 120), (200, 200, 200)
    pictures = [
        plain(blue),                                       # 0
        _text((20, 20, 20)),                                # 1
        _with_faces(blue, [(220, 60, 200)]),                # 2
        _with_faces(grey, [(60, 100, 150), (420, 90, 150)]),  # 3: two faces
        plain(grey),                                       # 4: a one-frame gap, bridged
        _with_faces((0, 0, 0), [(400, 150, 110)]),          # 5
        _text((120, 30, 160)),                              # 6
        plain((255, 255, 255)),                            # 7
        _text((0, 0, 0)),                                   # 8
        _with_faces((30, 120, 40), [(150, 20, 300)]),       # 9: large
    ]
    analyzer = load("faces")
    assert isinstance(analyzer, FacesAnalyzer)
    out = analyzer.analyze(frames_context(tmp_path, pictures))
    assert isinstance(out.items, list) and len(out.items) == 1
    item = out.items[0]
    Face.model_validate(item)  # the published schema (without decision)
    assert item["id"] == 0
    assert item["max_count"] == 2
    assert item["instances"] == [{"start": 2.0, "end": 6.0, "confidence": 0.75},
                                 {"start": 9.0, "end": 10.0, "confidence": 1.0}]
    assert item["confidence"] == 0.8  # 4 of the 5 frames in the ranges
    assert out.confidences == [0.8]
    times = [d["time"] for d in item["detections"]]
    assert times == [2.0, 3.0, 3.0, 5.0, 9.0]  # none on the plain and text frames

    # Boxes land on the pasted faces (relative coordinates).
    first = item["detections"][0]
    cx, cy = first["x"] + first["width"] / 2, first["y"] + first["height"] / 2
    assert abs(cx - (220 + 100) / 640) < 0.05 and abs(cy - (60 + 100) / 360) < 0.08
    assert all(0 < d["confidence"] <= 1 for d in item["detections"])

    ev = out.evidence
    assert ev["frames_examined"] == 10 and ev["frames_with_faces"] == 4
    assert ev["faces_per_frame"] == {"0": 6, "1": 3, "2": 1}


def test_no_face_on_plain_noise_and_text_frames(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    noisy = [Image.fromarray(np.clip(rng.normal(rng.integers(40, 215), sigma,
                                                (SIZE[1], SIZE[0], 3)), 0, 255).astype(np.uint8))
             for sigma in (3, 12)]
    gradient = Image.fromarray(np.tile(np.linspace(0, 255, SIZE[0]), (SIZE[1], 1))
                               .astype(np.uint8)).convert("RGB")
    pictures = [plain((0, 0, 0)), plain((255, 255, 255)), gradient, *noisy,
                _text((20, 20, 20)), _text((230, 230, 230))]
    out = FacesAnalyzer().analyze(frames_context(tmp_path, pictures))
    assert out.items == []
    assert out.evidence["frames_with_faces"] == 0


def test_presence_ranges_bridge_one_missing_frame() -> None:
    hits = [False, True, False, True, True, False, False, True]
    assert presence_ranges(hits) == [(1, 4), (7, 7)]
    assert presence_ranges(hits, max_gap=0) == [(1, 1), (3, 4), (7, 7)]
    assert presence_ranges([False, False]) == []


def test_model_info_digests_the_cascade() -> None:
    info = FacesAnalyzer().model()
    assert info.name.startswith("OpenCV Haar cascade")
    assert info.weights_digest is not None and info.weights_digest.startswith("sha256:")
