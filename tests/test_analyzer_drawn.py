"""The drawn/animated-versus-photograph classifier shipped inside aiwork, on real photographs
(the repository's face crop and scikit-image's coffee photo) and drawn frames."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from .conftest import require

require("torch", "efficientnet_lite_pytorch", "cv2")

from PIL import Image  # noqa: E402

import aiwork.media  # noqa: E402
from aiwork.errors import AnalyzerUnavailable  # noqa: E402
from aiwork.analyzers.drawn import DRAWN_MODEL, DrawnSignal, drawn_model  # noqa: E402
from aiwork.analyzers.models import package_dir  # noqa: E402
from aiwork.analyzers.safety import drawn_stats  # noqa: E402
from aiwork.analyzers.tags import TagsAnalyzer, gate_stats  # noqa: E402

from .frames import cartoon  # noqa: E402

FACE = Path(next(iter(aiwork.media.__path__))) / "assets" / "face.jpg"
COFFEE = Path(__file__).parent / "data" / "coffee.jpg"


def _rgb(image: Image.Image) -> np.ndarray:  # type: ignore[type-arg]
    return np.asarray(image.convert("RGB"))


def _photographs() -> list[np.ndarray]:  # type: ignore[type-arg]
    photos = [COFFEE, FACE]
    skimage = package_dir("skimage")
    if skimage is not None:
        photos += [skimage / "data" / n for n in ("astronaut.png", "chelsea.png", "rocket.jpg")]
    out = []
    for path in photos:
        if path.is_file():
            with Image.open(path) as image:
                out.append(_rgb(image))
    return out


def test_drawn_frames_and_photographs_fall_on_either_side_of_the_threshold() -> None:
    signal = DrawnSignal()
    assert signal.reason is None
    drawn = [_rgb(cartoon()), _rgb(cartoon(noise=6)), _rgb(cartoon(noise=10, seed=1))]
    photos = _photographs()
    p_drawn = signal.probabilities(drawn)
    p_photo = signal.probabilities(photos)
    threshold = signal.threshold
    assert 0.5 <= threshold < 0.95
    assert all(p >= threshold for p in p_drawn), p_drawn
    assert all(p < threshold for p in p_photo), p_photo
    # The textured cartoons are what the older hand-written tests miss: no longer flat, and
    # they pass the tags analyzer's photo gate.
    noisy = drawn[1]
    assert drawn_stats(noisy)["flat"] < 0.35
    assert TagsAnalyzer().is_photo(gate_stats(noisy))


def test_the_packaged_weights_are_digested_and_a_bad_file_is_refused(tmp_path: Path) -> None:
    model = drawn_model()
    assert model.path == DRAWN_MODEL and model.weights.shape == (1280,)
    assert model.digest == "sha256:" + hashlib.sha256(DRAWN_MODEL.read_bytes()).hexdigest()
    signal = DrawnSignal()
    assert signal.parameters()["drawn_model_digest"] == model.digest
    assert signal.model().weights_digest == model.digest
    # Features of the wrong width are refused with a clear error, not a numpy one.
    with pytest.raises(AnalyzerUnavailable, match="expects 1280 features"):
        model.probability(np.zeros((1, 7), dtype=np.float32))
    # A file that is not such a model is refused.
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip archive")
    with pytest.raises(AnalyzerUnavailable, match="not a drawn/animated classifier"):
        drawn_model(bad)
    missing = DrawnSignal({"drawn_model": str(tmp_path / "absent.npz")})
    assert missing.reason is not None and "missing" in missing.reason
    assert DrawnSignal({"drawn_signal": False}).reason == "switched off (option drawn_signal)"
