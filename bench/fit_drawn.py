"""Fit the drawn/animated-versus-photograph classifier shipped as
``src/aiwork/analyzers/data/drawn-v1.npz`` (see :mod:`aiwork.analyzers.drawn`).

Only the *development* part of bench/realmedia's media is used (fetch it first:
``scripts/fetch-realmedia`` or ``bench/realmedia.py --fetch --areas visual``); a picture
held out in either the ``visual`` or the ``tags`` truth is never read. Labels:

- photograph (0): dev stills of kind object, texture or scientific in the tags truth, dev
  stills of the visual truth that the tags truth does not call graphic, the dev Labeled Faces
  in the Wild patches (faces and non-faces, shown as the visual area shows them), and the
  frames of the dev camera clips (city, tree, pedestrians) at 1 fps;
- drawn (1): dev stills the tags truth calls graphic, the Big Buck Bunny trailer's first half
  at 1 fps, the film's first half (when the shots area fetched it) at 0.5 fps, and generated
  cartoon-like frames (flat shapes with outlines and smooth shading, seeded).

The model: logistic regression (scikit-learn, L2, ``C`` below) on the standardised 1280
EfficientNet-Lite0 features, the standardisation folded into the weights. The decision
threshold is the one that maximises balanced accuracy on 5-fold cross-validated
probabilities of the dev set (folds grouped by runs of ten neighbouring frames, so a clip's
near-identical frames never sit on both sides). Deterministic: the same media give the same
file.

    PYTHONPATH=src python bench/fit_drawn.py --cache /work/wt/.realmedia [--out FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

C = 0.05
GENERATED = 60


def cartoon(seed: int, width: int = 640, height: int = 360) -> Any:
    """A cartoon-like frame: a smooth sky gradient, flat ground, outlined flat shapes."""
    import cv2

    rng = np.random.default_rng(seed)
    top = rng.integers(60, 255, 3)
    bottom = rng.integers(60, 255, 3)
    ramp = np.linspace(0, 1, height)[:, None, None]
    frame = (top * (1 - ramp) + bottom * ramp).repeat(width, axis=1).astype(np.uint8)
    horizon = int(rng.integers(height // 2, height - 40))
    frame[horizon:] = rng.integers(0, 255, 3)
    for _ in range(int(rng.integers(3, 9))):
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        if rng.random() < 0.5:
            axes = (int(rng.integers(15, 120)), int(rng.integers(15, 120)))
            cv2.ellipse(frame, centre, axes, float(rng.integers(0, 180)), 0, 360, colour, -1,
                        cv2.LINE_AA)
            cv2.ellipse(frame, centre, axes, 0, 0, 360, (20, 20, 20), 2, cv2.LINE_AA)
        else:
            points = (np.array(centre) + rng.integers(-120, 120, (int(rng.integers(3, 7)), 2)))
            cv2.fillPoly(frame, [points.astype(np.int32)], colour, cv2.LINE_AA)
            cv2.polylines(frame, [points.astype(np.int32)], True, (20, 20, 20), 2, cv2.LINE_AA)
    return np.ascontiguousarray(frame)


def _load(cache: Path, source: str, file: str) -> Any:
    from PIL import Image

    with Image.open(cache / "visual" / source / file) as image:
        return np.asarray(image.convert("RGB"))


def dev_pictures(cache: Path) -> tuple[list[Any], list[int], list[str]]:
    """The dev pictures, their labels (1 drawn) and groups (source names)."""
    from realmedia import visual  # type: ignore[import-not-found]

    tags = json.loads((ROOT / "realmedia" / "truth" / "tags" / "truth.json").read_text())
    vis = json.loads((ROOT / "realmedia" / "truth" / "visual" / "truth.json").read_text())
    held = {(i["source"], i["file"]) for i in tags["images"] + vis["images"]
            if i.get("split") == "heldout" and "file" in i}
    kinds = {(i["source"], i["file"]): i["kind"] for i in tags["images"]}
    pictures: list[Any] = []
    labels: list[int] = []
    groups: list[str] = []

    def add(rgb: Any, label: int, group: str) -> None:
        pictures.append(rgb)
        labels.append(label)
        groups.append(group)

    stills = sorted({(i["source"], i["file"]) for i in tags["images"] + vis["images"]
                     if i.get("split") == "dev" and "file" in i} - held)
    for key in stills:
        add(_load(cache, *key), int(kinds.get(key) == "graphic"), f"still:{key[0]}")
    for item in vis["images"]:
        if item["source"] == "lfw" and item["split"] == "dev":
            add(visual._lfw(cache, int(item["index"])), 0, "lfw")
    for clip in vis["clips"]:
        if clip["split"] != "dev":
            continue
        media = visual._media(cache, clip)
        if not media.is_file():
            print(f"# {clip['id']}: not in the cache, skipped", file=sys.stderr)
            continue
        fps = 0.5 if clip["end"] - clip["start"] > 100 else 1.0
        for rgb in visual._clip_frames(cache, clip, fps):
            add(rgb, int(bool(clip["animated"])), clip["id"])
    for seed in range(GENERATED):
        add(cartoon(seed), 1, "generated")
    return pictures, labels, groups


def fit(features: Any, labels: Any, groups: Any) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold

    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6

    def model() -> Any:
        return LogisticRegression(C=C, class_weight="balanced", max_iter=5000)

    # Folds of runs of 10 neighbouring pictures of one source: near-identical frames of a
    # clip never sit on both sides of a fold, yet every source is seen in training.
    runs = [f"{g}#{n // 10}" for n, g in enumerate(groups)]
    cross = np.zeros(len(y))
    folds = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
    for train, test in folds.split(x, y, runs):
        m = model().fit((x[train] - mean) / scale, y[train])
        cross[test] = m.predict_proba((x[test] - mean) / scale)[:, 1]
    best, threshold = -1.0, 0.5
    for t in np.round(np.arange(0.05, 0.96, 0.01), 2):
        tpr = float((cross[y == 1] >= t).mean())
        tnr = float((cross[y == 0] < t).mean())
        if (tpr + tnr) / 2 > best + 1e-9:
            best, threshold = (tpr + tnr) / 2, float(t)
    full = model().fit((x - mean) / scale, y)
    weights = full.coef_[0] / scale
    bias = float(full.intercept_[0] - (full.coef_[0] * mean / scale).sum())
    return {"weights": weights.astype(np.float32), "bias": bias, "threshold": threshold,
            "cross": cross, "balanced_accuracy": best}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=ROOT.parent / "src" / "aiwork" /
                        "analyzers" / "data" / "drawn-v1.npz")
    parser.add_argument("--features", type=Path, help="keep/reuse computed features here")
    args = parser.parse_args(argv)

    from aiwork.analyzers.tags import TagsAnalyzer

    if args.features and args.features.is_file():
        saved = np.load(args.features, allow_pickle=False)
        features, labels, groups = saved["x"], saved["y"], saved["g"]
    else:
        pictures, label_list, group_list = dev_pictures(args.cache)
        features = TagsAnalyzer({}).embed(pictures)[1]
        labels, groups = np.array(label_list), np.array(group_list)
        if args.features:
            np.savez(args.features, x=features, y=labels, g=groups)
    result = fit(features, labels, groups)
    cross, y = result["cross"], labels
    print(f"dev pictures: {int((y == 0).sum())} photographs, {int((y == 1).sum())} drawn; "
          f"threshold {result['threshold']:.2f}; cross-validated balanced accuracy "
          f"{result['balanced_accuracy']:.3f}")
    for group in sorted(set(groups.tolist())):
        mask = groups == group
        wrong = int(((cross[mask] >= result["threshold"]) != (y[mask] == 1)).sum())
        print(f"  {group}: {int(mask.sum())} pictures, {wrong} wrong (cross-validated)")
    meta = {"about": "drawn/animated vs photograph on EfficientNet-Lite0 features",
            "trained_on": "bench/realmedia dev part (bench/fit_drawn.py)", "C": C,
            "photographs": int((y == 0).sum()), "drawn": int((y == 1).sum())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("wb") as handle:
        np.savez(handle, weights=result["weights"],
                 bias=np.array(result["bias"], dtype=np.float64),
                 threshold=np.array(result["threshold"], dtype=np.float64),
                 meta=np.array(json.dumps(meta, sort_keys=True)))
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out} sha256:{digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
