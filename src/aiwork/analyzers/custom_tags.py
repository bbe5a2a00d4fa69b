"""Custom visual tags: tags a platform defines itself ("studio interview", "crowd"), learned
from a few expert-validated examples.

Model: multinomial logistic regression on EfficientNet-Lite0's penultimate features (the 1280
values :meth:`aiwork.analyzers.tags.TagsAnalyzer.embed` computes, as the drawn/animated signal
reads them). :func:`aiwork.learn.tags.train_custom_tags` fits it and writes one ``.npz`` file
(``weights`` (tags, 1280), ``bias`` (tags,), ``threshold``, ``labels`` and ``meta`` as JSON
text; no pickled objects). The analyzer's option ``model`` names that file, or a folder that
holds exactly one: nothing is downloaded. The file's SHA-256 digest is the decision's weights
digest and is recorded in its parameters (``custom_tags_model_digest``), so every decision
names the classifier that made it.

What is classified: one sampled frame every ``sample_seconds`` (each standing for the window up
to the next); a frame gets the most probable tag when its probability is at least the
threshold (option ``min_probability``, default the one stored with the weights).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aiwork.analyzers.base import AnalysisContext, Analyzer, AnalyzerOutput, ModelInfo
from aiwork.analyzers.models import file_key, load_once, read_arrays
from aiwork.analyzers.options import AnalyzerOptions, Field
from aiwork.digests import sha256_file
from aiwork.errors import AnalyzerUnavailable, InputError

__all__ = ["CustomTagsAnalyzer", "CustomTagsModel", "CustomTagsOptions", "custom_tags_model",
           "model_file", "tag_items"]

#: The most tags one model may hold, and the longest tag name.
MAX_TAGS = 256
MAX_LABEL = 80


@dataclass(frozen=True)
class CustomTagsModel:
    """``probabilities = softmax(features @ weights.T + bias)`` over ``labels``."""

    labels: tuple[str, ...]
    weights: NDArray[np.float64]  # (tags, features)
    bias: NDArray[np.float64]  # (tags,)
    threshold: float
    digest: str  # "sha256:<hex>" of the file
    path: Path
    meta: dict[str, Any]

    def probabilities(self, features: NDArray[np.float32]) -> NDArray[np.float64]:
        """One row of tag probabilities per row of ``features`` (n, 1280)."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.weights.shape[1]:
            raise AnalyzerUnavailable(
                f"custom tags model {self.path.name}: expects {self.weights.shape[1]} "
                f"features, got {x.shape[-1] if x.ndim else 0}")
        z = x @ self.weights.T + self.bias
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        out: NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
        return out

    def predict(self, features: NDArray[np.float32]) -> list[tuple[str, float]]:
        """The most probable tag of each row and its probability."""
        probs = self.probabilities(features)
        best = probs.argmax(axis=1)
        return [(self.labels[int(i)], float(probs[n, int(i)])) for n, i in enumerate(best)]


def model_file(chosen: str | Path) -> Path:
    """The ``.npz`` file the option names: the file itself, or the one in a folder."""
    path = Path(chosen).expanduser()
    if path.is_dir():
        found = sorted(path.glob("*.npz"))
        if len(found) != 1:
            raise AnalyzerUnavailable(f"{path}: expected one custom tags .npz file, "
                                      f"found {len(found)}")
        path = found[0]
    if not path.is_file():
        raise AnalyzerUnavailable(f"custom tags model file missing: {path}")
    return path


def custom_tags_model(chosen: str | Path) -> CustomTagsModel:
    """The classifier in ``chosen`` (file or folder), loaded once per file version."""
    path = model_file(chosen)
    return load_once(("custom_tags", *file_key(path)), lambda: _read(path))


def _read(path: Path) -> CustomTagsModel:
    arrays, digest = read_arrays(path, "custom tags model")
    try:
        weights = np.asarray(arrays["weights"], dtype=np.float64)
        bias = np.asarray(arrays["bias"], dtype=np.float64).reshape(-1)
        threshold = float(arrays["threshold"])
        labels = json.loads(str(arrays["labels"]))
        meta = arrays["meta"]
    except (KeyError, ValueError, TypeError) as exc:
        raise AnalyzerUnavailable(f"{path}: not a custom tags model ({exc})") from exc
    if (not isinstance(labels, list) or not 2 <= len(labels) <= MAX_TAGS
            or not all(isinstance(t, str) and 0 < len(t) <= MAX_LABEL for t in labels)
            or len(set(labels)) != len(labels) or weights.ndim != 2
            or weights.shape[0] != len(labels) or bias.shape != (len(labels),)
            or not np.all(np.isfinite(weights)) or not np.all(np.isfinite(bias))
            or not 0.0 <= threshold <= 1.0 or not isinstance(meta, dict)):
        raise AnalyzerUnavailable(f"{path}: custom tags model values out of range")
    return CustomTagsModel(tuple(labels), weights, bias, threshold, digest, path, dict(meta))


class CustomTagsOptions(AnalyzerOptions):
    #: The weights: a ``.npz`` file written by train_custom_tags, or a folder holding one.
    model: str | None = Field(None, exclude=True)
    #: Below it a frame gets no tag; None: the threshold stored with the weights.
    min_probability: float | None = Field(None, ge=0.0, le=1.0)
    sample_seconds: float = Field(2.0, gt=0.0)
    #: Another EfficientNet-Lite0 state dict for the features (as the tags analyzer's).
    backbone_weights: str | None = Field(None, exclude=True)


class CustomTagsAnalyzer(Analyzer):
    name = "custom_tags"
    version = "1"
    requires = ("torch", "efficientnet_lite_pytorch", "PIL")
    needs_frames = True

    Options = CustomTagsOptions
    settings: CustomTagsOptions
    weights_option = "model"

    @classmethod
    def stored_digest(cls, files: Sequence[Path]) -> str:
        """The ``.npz`` file's SHA-256 (its decisions' weights digest); one file only."""
        if len(files) != 1 or files[0].suffix != ".npz":
            raise InputError(f"a custom tags model is one .npz file, not "
                             f"{', '.join(path.name for path in files) or 'nothing'}")
        return sha256_file(files[0])

    @classmethod
    def check_stored(cls, files: Sequence[Path]) -> None:
        """The file is a custom tags model this analyzer loads (AnalyzerUnavailable if not)."""
        custom_tags_model(files[0])

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        from aiwork.analyzers.tags import TagsAnalyzer

        self.backbone = TagsAnalyzer({"drawn_signal": False, **(
            {"weights": self.settings.backbone_weights}
            if self.settings.backbone_weights else {})})

    def classifier(self) -> CustomTagsModel:
        if not self.settings.model:
            raise AnalyzerUnavailable(
                "no custom tags model: give the option model (a .npz file from "
                "train_custom_tags, or a folder holding one), or register and promote a "
                "trained one (aiwork models register custom_tags VERSION --weights FILE, "
                "then aiwork models promote custom_tags INDEX)")
        return custom_tags_model(self.settings.model)

    def check(self) -> None:
        super().check()
        self.backbone.check()
        self.classifier()

    @property
    def threshold(self) -> float:
        given = self.settings.min_probability
        return self.classifier().threshold if given is None else given

    def model(self) -> ModelInfo:
        classifier = self.classifier()
        backbone = self.backbone.model()
        return ModelInfo(f"custom tags classifier {classifier.path.name} on {backbone.name}",
                         backbone.version, classifier.digest)

    def parameters(self) -> dict[str, Any]:
        classifier = self.classifier()
        return {**self.settings.recorded(), "min_probability": self.threshold,
                "classifier": "multinomial logistic regression on EfficientNet-Lite0 features",
                "custom_tags_model": classifier.path.name,
                "custom_tags_model_digest": classifier.digest,
                "tags": list(classifier.labels),
                **({"registered": classifier.meta["registered"]}
                   if "registered" in classifier.meta else {})}

    def features(self, pictures: Sequence[NDArray[np.uint8]]) -> NDArray[np.float32]:
        """EfficientNet-Lite0's penultimate features of each picture (RGB arrays)."""
        return self.backbone.embed(pictures)[1]

    def classify(self, pictures: Sequence[NDArray[np.uint8]]) -> list[tuple[str, float]]:
        """The most probable tag of each picture and its probability (no threshold)."""
        return self.classifier().predict(self.features(pictures))

    def analyze(self, ctx: AnalysisContext) -> AnalyzerOutput:
        threshold = self.threshold
        evidence: dict[str, Any] = {"threshold": threshold}
        if ctx.frames is None or not len(ctx.frames):
            evidence["frames"] = "none sampled: nothing classified"
            return self.output(ctx, [], evidence)
        frames = ctx.frames
        chosen = frames.every(self.settings.sample_seconds)
        times = frames.times
        spans = frames.spans(chosen, max(ctx.duration, times[-1] if times else 0.0))
        found = self.classify([frames.load(i) for i in chosen])
        evidence["frames"] = [{"time": round(times[i], 3), "top": label, "score": round(p, 3)}
                              for i, (label, p) in zip(chosen, found, strict=True)]
        return self.output(ctx, tag_items(spans, found, threshold), evidence)


def tag_items(spans: Sequence[tuple[float, float]], found: Sequence[tuple[str, float]],
              threshold: float) -> list[dict[str, Any]]:
    """The analyzer's items from its classified frames: per tag, the time ranges of the
    frames (each standing for ``spans[n]``; the first from 0) whose most probable tag it is
    with a probability of at least ``threshold``, adjacent ones merged."""
    by_label: dict[str, list[dict[str, float]]] = {}
    for n, ((start, end), (label, p)) in enumerate(zip(spans, found, strict=True)):
        start = start if n else 0.0
        if p >= threshold:
            instances = by_label.setdefault(label, [])
            if instances and start <= instances[-1]["end"] + 1e-6:
                instances[-1]["end"] = round(end, 3)
                instances[-1]["confidence"] = max(instances[-1]["confidence"], round(p, 3))
            else:
                instances.append({"start": round(start, 3), "end": round(end, 3),
                                  "confidence": round(p, 3)})
    return [{"id": n, "label": label, "source": f"custom:{label}",
             "confidence": max(i["confidence"] for i in instances), "instances": instances}
            for n, (label, instances) in enumerate(by_label.items())]
