"""Custom visual tags learned from expert-validated examples.

:func:`train_custom_tags` embeds each example picture with EfficientNet-Lite0 (the shipped
image model; its penultimate features, as the drawn/animated signal uses them), fits a
multinomial logistic regression (L2-regularised, on standardised features, the
standardisation folded into the weights; plain numpy, deterministic) on the training part,
measures it on a held-out part split by video (no video on both sides), refits on everything,
and writes the weights as one ``.npz`` file that the ``custom_tags`` analyzer loads
(:mod:`aiwork.analyzers.custom_tags`). The file's digest identifies the new model version.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aiwork.analyzers.custom_tags import MAX_LABEL, MAX_TAGS, custom_tags_model
from aiwork.digests import sha256_bytes
from aiwork.errors import InputError
from aiwork.ledger.log import Log
from aiwork.ledger.registry import register_model
from aiwork.crypto import SigningKey

__all__ = ["RowExamples", "TagExample", "TrainedTags", "custom_tag_accuracy", "embed_examples",
           "examples_from_rows", "fit_softmax", "picture_from_bytes", "register_custom_tags",
           "train_custom_tags"]

#: L2 strength, gradient steps and step size of the fit (on standardised features).
L2 = 1.0
STEPS = 400
RATE = 0.5
#: The most examples read from a dataset (their features, 5 KiB each, are kept in memory).
MAX_EXAMPLES = 100_000
#: The most pixels of one example picture (a keyframe is a video frame).
MAX_PIXELS = 4096 * 4096
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class TagExample:
    """One validated example: an RGB picture (or its 1280 features), its tag, and the video
    it comes from (examples of one video stay on one side of the held-out split)."""

    label: str
    picture: NDArray[np.uint8] | None = None
    features: NDArray[np.float32] | None = None
    video: str = ""


@dataclass(frozen=True)
class TrainedTags:
    path: Path
    digest: str
    labels: tuple[str, ...]
    metrics: dict[str, Any] = field(default_factory=dict)


def embed_examples(examples: Sequence[TagExample], backbone: Any = None) -> NDArray[np.float32]:
    """The features of each example (computed with ``backbone``, a TagsAnalyzer, where only
    a picture is given)."""
    need = [i for i, e in enumerate(examples) if e.features is None]
    out = np.zeros((len(examples), 1280), dtype=np.float32)
    if need:
        if backbone is None:
            from aiwork.analyzers.tags import TagsAnalyzer

            backbone = TagsAnalyzer({"drawn_signal": False})
        pictures = []
        for i in need:
            picture = examples[i].picture
            if picture is None or picture.ndim != 3 or picture.shape[2] != 3:
                raise InputError(f"example {i}: neither features nor an RGB picture")
            pictures.append(picture)
        out[need] = backbone.embed(pictures)[1]
    for i, e in enumerate(examples):
        if e.features is not None:
            feats = np.asarray(e.features, dtype=np.float32).reshape(-1)
            if feats.shape != (1280,) or not np.all(np.isfinite(feats)):
                raise InputError(f"example {i}: features must be 1280 finite values")
            out[i] = feats
    return out


def fit_softmax(x: NDArray[np.float32], y: NDArray[np.int64], classes: int
                ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Weights (classes, features) and bias (classes,) of a multinomial logistic regression
    on raw features (standardised inside, folded back)."""
    data = np.asarray(x, dtype=np.float64)
    mean = data.mean(axis=0)
    scale = data.std(axis=0) + 1e-6
    z = (data - mean) / scale
    n, d = z.shape
    onehot = np.eye(classes)[y]
    w = np.zeros((classes, d))
    b = np.zeros(classes)
    for _ in range(STEPS):
        logits = z @ w.T + b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        grad = p - onehot
        w -= RATE * (grad.T @ z / n + L2 * w / n)
        b -= RATE * grad.mean(axis=0)
    weights = w / scale
    bias = b - weights @ mean
    return weights, bias


def _split(examples: Sequence[TagExample], held_out: float, seed: int) -> NDArray[np.bool_]:
    """Which examples are held out: whole videos (each example its own video when unnamed),
    chosen per tag so every tag is on both sides where it has two videos or more."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(examples), dtype=bool)
    videos_of: dict[str, list[str]] = {}
    for i, e in enumerate(examples):
        video = e.video or f"#{i}"
        if video not in videos_of.setdefault(e.label, []):
            videos_of[e.label].append(video)
    chosen: set[str] = set()
    for label in sorted(videos_of):
        videos = sorted(videos_of[label])
        if len(videos) < 2:
            continue
        count = min(len(videos) - 1, max(1, round(held_out * len(videos))))
        chosen |= {videos[int(k)] for k in rng.permutation(len(videos))[:count]}
    for i, e in enumerate(examples):
        held[i] = (e.video or f"#{i}") in chosen
    return held


def _accuracy(weights: NDArray[np.float64], bias: NDArray[np.float64],
              x: NDArray[np.float32], y: NDArray[np.int64]) -> float:
    if not len(y):
        return 0.0
    predicted = (np.asarray(x, dtype=np.float64) @ weights.T + bias).argmax(axis=1)
    return float((predicted == y).mean())


def train_custom_tags(examples: Sequence[TagExample], out: Path, *, name: str = "custom-tags",
                      held_out: float = 0.3, threshold: float = 0.5, seed: int = 0,
                      backbone: Any = None, meta: dict[str, Any] | None = None,
                      held: Sequence[bool] | None = None, refit: bool = True
                      ) -> TrainedTags:
    """Fit the tags of ``examples`` and write ``out/<name>.npz``; returns its path, digest,
    tags and held-out metrics (``heldout_accuracy``, ``chance`` (the largest tag's share of
    the held-out part), ``train``/``heldout`` counts and ``heldout_videos``).

    ``held`` says which examples are held out (a released dataset's validation and test
    splits); without it, a share ``held_out`` of the videos is drawn with ``seed``. With
    ``refit`` the weights written are refitted on every example; without it they are the ones
    measured on the held-out part (what a registration's metrics should describe)."""
    if not _NAME.match(name):
        raise InputError(f"model name {name!r}: letters, digits, '.', '_' and '-' only")
    if not 0.0 < held_out < 1.0:
        raise InputError("held_out must be between 0 and 1")
    labels = sorted({e.label for e in examples})
    if not 2 <= len(labels) <= MAX_TAGS:
        raise InputError(f"custom tags need 2 to {MAX_TAGS} tags, got {len(labels)}")
    if any(not 0 < len(t) <= MAX_LABEL or not t.strip() for t in labels):
        raise InputError(f"a tag name must be 1 to {MAX_LABEL} characters")
    if held is None:
        mask = _split(examples, held_out, seed)
    elif len(held) != len(examples):
        raise InputError("held must say, for each example, whether it is held out")
    else:
        mask = np.array([bool(h) for h in held], dtype=bool)
    if not refit and (mask.all() or not mask.any()):
        raise InputError(f"{int((~mask).sum())} training and {int(mask.sum())} held-out "
                         "examples: both parts need some",
                         hint="a released dataset's held-out part is its validation and test "
                         "splits")
    x = embed_examples(examples, backbone)
    y = np.array([labels.index(e.label) for e in examples], dtype=np.int64)
    metrics: dict[str, Any] = {"train": int((~mask).sum()), "heldout": int(mask.sum()),
                               "heldout_videos": len({examples[int(i)].video or f"#{i}"
                                                      for i in np.flatnonzero(mask)})}
    fitted = None
    if mask.any() and (~mask).any():
        fitted = fit_softmax(x[~mask], y[~mask], len(labels))
        metrics["heldout_accuracy"] = round(_accuracy(*fitted, x[mask], y[mask]), 4)
        metrics["chance"] = round(float(np.bincount(y[mask]).max() / mask.sum()), 4)
    weights, bias = fit_softmax(x, y, len(labels)) if refit or fitted is None else fitted
    record = {"name": name, "model": "multinomial logistic regression",
              "features": "EfficientNet-Lite0 penultimate (1280)", "l2": L2, "steps": STEPS,
              "examples": len(examples), "metrics": metrics,
              **({} if refit else {"refit": False}), **(meta or {})}
    buffer = io.BytesIO()
    np.savez(buffer, weights=weights, bias=bias, threshold=np.float64(threshold),
             labels=np.str_(json.dumps(labels)), meta=np.str_(json.dumps(record,
                                                                        sort_keys=True)))
    raw = buffer.getvalue()
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.npz"
    path.write_bytes(raw)
    return TrainedTags(path, sha256_bytes(raw), tuple(labels), metrics)


def picture_from_bytes(data: bytes, what: str = "picture") -> NDArray[np.uint8]:
    """The RGB pixels of an image file's bytes (a keyframe), refused when it is not an image
    or has more than :data:`MAX_PIXELS` pixels (read from its header, before decoding)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise InputError(f"{what}: {image.width}x{image.height} is too many pixels",
                                 hint=f"at most {MAX_PIXELS}")
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"{what}: not a picture ({exc})") from None


@dataclass
class RowExamples:
    """Examples read from a released dataset's rows, each with its split, and the rows left
    out and why (rejected: no final tag; no keyframe; a tag name out of bounds)."""

    examples: list[TagExample] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1


def examples_from_rows(rows: Iterable[Mapping[str, Any]],
                       picture: Callable[[str], NDArray[np.uint8]], backbone: Any = None,
                       batch: int = 32) -> RowExamples:
    """Training examples from a released dataset's rows of tag items: the tag is the item's
    final value (the AI's where the experts accepted it, theirs where they corrected it; a
    rejected item says only what the tag is not, and is left out); the picture is its
    keyframe, the one the experts were shown (``picture`` reads it by digest); the video is
    its asset. Pictures are embedded ``batch`` at a time, so only their features are kept."""
    found = RowExamples()
    pending: list[TagExample] = []

    def flush() -> None:
        nonlocal backbone
        if backbone is None:
            from aiwork.analyzers.tags import TagsAnalyzer

            backbone = TagsAnalyzer({"drawn_signal": False})
        features = embed_examples(pending, backbone)
        found.examples.extend(TagExample(e.label, features=f, video=e.video)
                              for e, f in zip(pending, features, strict=True))
        pending.clear()

    for row in rows:
        final = row.get("final_value")
        if row.get("outcome") not in ("accepted", "corrected") or not isinstance(final, str):
            found.skip("rejected")
            continue
        try:
            label = json.loads(final)
        except ValueError:
            label = None
        if not isinstance(label, str) or not 0 < len(label.strip()) <= MAX_LABEL:
            found.skip("tag out of bounds")
            continue
        keyframe = row.get("keyframe")
        if not isinstance(keyframe, str) or not keyframe:
            found.skip("no keyframe")
            continue
        if len(found.splits) >= MAX_EXAMPLES:
            raise InputError(f"more than {MAX_EXAMPLES} examples",
                             hint="export fewer items (--insight, --library)")
        pending.append(TagExample(label.strip(), picture=picture(keyframe),
                                  video=str(row.get("asset") or "")))
        found.splits.append(str(row.get("split")))
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return found


def custom_tag_accuracy(model: str | Path, examples: Sequence[TagExample],
                        backbone: Any = None) -> float:
    """The share of ``examples`` whose most probable tag under the model in ``model`` (file
    or folder) is their own tag (the threshold aside)."""
    if not examples:
        raise InputError("no examples to measure")
    classifier = custom_tags_model(model)
    found = classifier.predict(embed_examples(examples, backbone))
    return sum(1 for (label, _), e in zip(found, examples, strict=True)
               if label == e.label) / len(examples)


def register_custom_tags(log: Log, key: SigningKey, trained: TrainedTags, *, version: str,
                         parent: int | None = None, dataset: tuple[int, str] | None = None,
                         approved_by: str | None = None) -> int:
    """Register trained custom tags as a version of the ``custom_tags`` analyzer: a
    ``model.registered`` entry with the weights file's digest and its held-out metrics
    (``dataset``: the ``dataset.released`` entry's index and digest it was trained on).
    Returns the entry's index."""
    metrics = {k: float(v) for k, v in trained.metrics.items()
               if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return register_model(log, key, analyzer="custom_tags", version=version,
                          weights_digest=trained.digest, metrics=metrics, parent=parent,
                          dataset=dataset, approved_by=approved_by)
