"""Faces analyzer: MTCNN (Haar as the fallback) on real pictures (a photographed face, a
photograph without faces, text, colour), with temporal support."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from .conftest import missing, require

require("cv2", "torch", "facenet_pytorch")

from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from aiwork.synth.clips import FACE_IMAGE  # noqa: E402
from aiwork.analyzers import load  # noqa: E402
from aiwork.errors import AnalyzerUnavailable
from aiwork.analyzers.faces import FacesAnalyzer, presence_ranges, supported  # noqa: E402
from aiwork.model.metadata import Face  # noqa: E402

from .frames import SIZE, cartoon, font_file, frames_context, plain  # noqa: E402

FACE = FACE_IMAGE
COFFEE = Path(__file__).parent / "data" / "coffee.jpg"


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
    two = [(60, 100, 150), (420, 90, 150)]
    pictures = [
        plain(blue),                                       # 0
        _text((20, 20, 20)),                                # 1
        _with_faces(grey, two),                             # 2: two faces
        _with_faces(blue, two),                             # 3: the same two
        plain(grey),                                       # 4: a one-frame gap, bridged
        _with_faces((0, 0, 0), [(410, 95, 140)]),           # 5: the right one again
        _text((120, 30, 160)),                              # 6
        plain((255, 255, 255)),                            # 7
        _with_faces((30, 120, 40), [(150, 20, 300)]),       # 8: large
        _with_faces((30, 120, 40), [(160, 30, 290)]),       # 9: large, persists
        _text((0, 0, 0)),                                   # 10
        plain((255, 255, 255)),                            # 11
        _with_faces(blue, [(250, 80, 150)]),                # 12: one sampled frame only
        _text((20, 20, 20)),                                # 13
        plain(blue),                                       # 14
    ]
    analyzer = load("faces")
    assert isinstance(analyzer, FacesAnalyzer)
    assert analyzer.chosen_detector() == "mtcnn"
    out = analyzer.analyze(frames_context(tmp_path, pictures))
    assert isinstance(out.items, list) and len(out.items) == 1
    item = out.items[0]
    Face.model_validate(item)  # the published schema (without decision)
    assert item["id"] == 0
    assert item["max_count"] == 2
    assert item["instances"] == [{"start": 2.0, "end": 6.0, "confidence": 0.75},
                                 {"start": 8.0, "end": 10.0, "confidence": 1.0}]
    assert item["confidence"] == 0.833  # 5 of the 6 frames in the ranges
    times = [d["time"] for d in item["detections"]]
    # None on the plain and text frames; the face seen on one sampled frame (12) is dropped.
    assert times == [2.0, 2.0, 3.0, 3.0, 5.0, 8.0, 9.0]

    # Boxes land on the pasted faces (relative coordinates).
    big = item["detections"][-1]
    cx, cy = big["x"] + big["width"] / 2, big["y"] + big["height"] / 2
    assert abs(cx - (160 + 145) / 640) < 0.05 and abs(cy - (30 + 145) / 360) < 0.08
    assert all(0.95 <= d["confidence"] <= 1 for d in item["detections"])

    ev = out.evidence
    assert ev["detector"] == "mtcnn"
    assert ev["frames_examined"] == 15 and ev["frames_with_faces"] == 5
    assert ev["faces_per_frame"] == {"0": 10, "1": 3, "2": 2}
    assert ev["dropped_without_temporal_support"] == 1

    # Without temporal support the one-frame face is reported.
    (tmp_path / "loose").mkdir()
    loose = FacesAnalyzer({"temporal_support": False}).analyze(
        frames_context(tmp_path / "loose", pictures))
    assert isinstance(loose.items, list)
    assert 12.0 in [d["time"] for d in loose.items[0]["detections"]]


def test_temporal_support_needs_a_neighbouring_detection() -> None:
    face = (100, 100, 80, 80)
    moved = (110, 95, 84, 84)  # the same face, a little later
    elsewhere = (400, 100, 80, 80)
    tiny = (105, 105, 20, 20)  # same place, not the same size
    frames = [[face], [], [moved, elsewhere], [], [], [tiny], []]
    assert supported(frames) == [[True], [], [True, False], [], [], [False], []]
    assert supported(frames, max_gap=0) == [[False], [], [False, False], [], [], [False], []]
    assert supported([[face, elsewhere]]) == [[True, True]]  # one frame: nothing to confirm


def test_no_face_on_plain_noise_and_text_frames(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    noisy = [Image.fromarray(np.clip(rng.normal(rng.integers(40, 215), sigma,
                                                (SIZE[1], SIZE[0], 3)), 0, 255).astype(np.uint8))
             for sigma in (3, 12)]
    gradient = Image.fromarray(np.tile(np.linspace(0, 255, SIZE[0]), (SIZE[1], 1))
                               .astype(np.uint8)).convert("RGB")
    with Image.open(COFFEE) as image:
        coffee = image.convert("RGB").resize(SIZE)  # a photograph: cup, saucer, wood grain
    pictures = [plain((0, 0, 0)), plain((255, 255, 255)), gradient, *noisy,
                _text((20, 20, 20)), _text((230, 230, 230)), coffee, coffee]
    analyzer = FacesAnalyzer()
    out = analyzer.analyze(frames_context(tmp_path, pictures))
    assert out.items == []
    assert out.evidence["frames_with_faces"] == 0
    assert out.evidence["dropped_without_temporal_support"] == 0  # nothing found at all
    # Frame by frame, before any temporal support, the detector finds nothing either.
    assert all(analyzer.detect(np.asarray(p)) == [] for p in pictures)
    # ... and finds the one face when it is shown.
    found = analyzer.detect(np.asarray(_with_faces((30, 120, 40), [(220, 60, 200)])))
    assert len(found) == 1


def test_presence_ranges_bridge_one_missing_frame() -> None:
    hits = [False, True, False, True, True, False, False, True]
    assert presence_ranges(hits) == [(1, 4), (7, 7)]
    assert presence_ranges(hits, max_gap=0) == [(1, 1), (3, 4), (7, 7)]
    assert presence_ranges([False, False]) == []


def test_model_info_digests_the_weights_loaded() -> None:
    info = FacesAnalyzer().model()
    assert info.name.startswith("MTCNN") and "facenet-pytorch 2.6.0" in info.version
    assert info.weights_digest is not None and info.weights_digest.startswith("sha256:")
    # The drawn classifier (and the EfficientNet it reads) count among the weights loaded.
    assert "drawn/animated classifier" in info.name
    bare = FacesAnalyzer({"drawn_signal": False}).model()
    assert bare.name == "MTCNN (P/R/O-net)" and bare.weights_digest != info.weights_digest
    assert FacesAnalyzer().parameters()["drawn_threshold"] == 0.6
    haar = FacesAnalyzer({"detector": "haar"})
    assert haar.model().name.startswith("OpenCV Haar cascade")
    assert haar.model().weights_digest != info.weights_digest
    assert haar.parameters()["detector"] == "haar"


def test_haar_is_the_fallback_without_the_mtcnn_weights(tmp_path: Path) -> None:
    empty = tmp_path / "no-weights"
    empty.mkdir()
    with pytest.raises(AnalyzerUnavailable, match="pnet.pt"):
        FacesAnalyzer({"detector": "mtcnn", "mtcnn_model": str(empty)}).check()
    # ``auto`` cannot use a folder without weights: it falls back to the cascade.
    fallback = FacesAnalyzer({"mtcnn_model": str(empty)})
    fallback.check()
    assert fallback.chosen_detector() == "haar"
    assert fallback.model().name.startswith("OpenCV Haar cascade")


def test_a_face_found_on_a_drawn_creature_is_dropped(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """MTCNN finds faces on cartoon animals (Big Buck Bunny's rabbit, 0.95-0.999): a
    detection whose surroundings the drawn classifier calls drawn is not a person."""
    pictures = [cartoon(noise=4, seed=n) for n in range(4)]
    head = ((262, 62, 116, 116), 0.99)  # the creature's head, on every frame

    def analyzed(folder: str, **options: object) -> tuple[list[object], dict[str, object]]:
        analyzer = FacesAnalyzer(dict(options))
        monkeypatch.setattr(analyzer, "detect", lambda rgb: [head])
        (tmp_path / folder).mkdir()
        out = analyzer.analyze(frames_context(tmp_path / folder, pictures))
        assert isinstance(out.items, list)
        return out.items, out.evidence

    items, evidence = analyzed("drawn")
    assert items == []
    assert evidence["dropped_as_drawn"] == 4
    drawn_faces = evidence["drawn_faces"]
    assert isinstance(drawn_faces, list) and len(drawn_faces) == 4
    assert all(d["drawn_probability"] >= 0.6 and d["box"] == [262, 62, 116, 116]
               for d in drawn_faces)
    # Without the drawn signal the same detections are a face (as before this check).
    items, evidence = analyzed("plain", drawn_signal=False)
    assert len(items) == 1 and evidence["dropped_as_drawn"] == 0
