"""A platform's custom visual tags learned from real pictures nobody on aiwork made.

Pictures and truth: those of the ``tags`` area (``.realmedia/visual/``, fetched by the
``visual`` area; ``truth/tags/truth.json``). The platform's tag set is the truth's ``kind``
("what kind of picture is this": ``object``, ``graphic``, ``scientific``, ``texture``), each
picture's validated tag its kind. Training uses only ``dev`` pictures (scikit-image and Kivy);
the figures are measured on ``split`` (``heldout``: the OpenCV pictures, never trained or
tuned on; with ``--split dev`` they are training accuracy). Nothing is chosen per split: the
fit is :func:`aiwork.learn.tags.train_custom_tags` with its defaults.

``before``: a seed model from one dev picture of each kind (the first by source and file name);
``after``: trained on every dev picture as a validated example. Figures: accuracy (the most
probable tag, threshold aside) with chance (always the largest kind), balanced accuracy (mean
recall over the kinds present in ``split``; chance 1 / their number), each kind's recall, and
the same through ``aiwork process --analyzers custom_tags``: a video made with ffmpeg of the
split's pictures, 4 s each (640x360, letterboxed), its ``custom_tags`` items read at the middle
of each picture's stretch (no tag there, below the model's threshold, counts as wrong).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

NAME = "custom_tags"
ROOT = Path(__file__).resolve().parent
TRUTH = ROOT / "truth" / "tags" / "truth.json"
SECONDS = 4  # each picture's stretch in the video (two 2 s samples of the analyzer)


def fetch(cache: Path) -> None:
    sys.path.insert(0, str(ROOT.parent))
    from realmedia import visual  # type: ignore[import-not-found]

    visual.fetch(cache)


def _pictures(cache: Path, split: str) -> list[tuple[dict[str, Any], Path]]:
    truth = json.loads(TRUTH.read_text())
    found = []
    for item in sorted(truth["images"], key=lambda i: (i["source"], i["file"])):
        if item["split"] == split:
            path = cache / "visual" / item["source"] / item["file"]
            if not path.is_file():
                raise SystemExit(f"custom_tags: {path} not fetched (scripts/fetch-realmedia "
                                 "visual)")
            found.append((item, path))
    return found


def _rgb(path: Path) -> Any:
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def examples(cache: Path, split: str, backbone: Any = None) -> list[Any]:
    """The pictures of ``split`` as validated examples (their kind; their features computed
    once with ``backbone``, a TagsAnalyzer)."""
    from aiwork.learn.tags import TagExample, embed_examples

    pictures = _pictures(cache, split)
    given = [TagExample(item["kind"], picture=_rgb(path), video=f"{item['source']}/"
                        f"{item['file']}") for item, path in pictures]
    features = embed_examples(given, backbone)
    return [TagExample(e.label, features=f, video=e.video) for e, f in zip(given, features)]


def train(dev: list[Any], variant: str, out: Path) -> Path:
    """The model of ``variant`` trained on the dev examples; its ``.npz`` path. ``before``:
    the first example of each kind (by source and file name); ``after``: every one."""
    from aiwork.learn.tags import train_custom_tags

    if variant == "before":
        seen: set[str] = set()
        dev = [e for e in dev if not (e.label in seen or seen.add(e.label))]
    trained = train_custom_tags(dev, out, name=f"kinds-{variant}", held=[False] * len(dev))
    print(f"# custom_tags {variant}: trained on {len(dev)} dev pictures "
          f"{sorted({e.label for e in dev})}", file=sys.stderr)
    return trained.path


def predict(model: Path, measured: list[Any]) -> list[str | None]:
    """The most probable tag of each example (threshold aside)."""
    import numpy as np

    from aiwork.analyzers.custom_tags import custom_tags_model

    features = np.stack([e.features for e in measured])
    return [label for label, _ in custom_tags_model(model).predict(features)]


def scores(truths: list[str], found: list[str | None]) -> dict[str, float]:
    """Accuracy, balanced accuracy, each kind's recall, and their chance levels."""
    kinds = sorted(set(truths))
    recall = {k: sum(f == t for t, f in zip(truths, found) if t == k) / truths.count(k)
              for k in kinds}
    return {"accuracy": sum(f == t for t, f in zip(truths, found)) / len(truths),
            "chance": max(truths.count(k) for k in kinds) / len(truths),
            "balanced": sum(recall.values()) / len(kinds), "balanced chance": 1 / len(kinds),
            **{f"recall {k}": r for k, r in recall.items()}}


def _video(pictures: list[tuple[dict[str, Any], Path]], folder: Path) -> Path:
    """The pictures as one H.264 video, ``SECONDS`` each, scaled into 640x360."""
    from PIL import Image

    listing = []
    for n, (_, path) in enumerate(pictures):
        frame = folder / f"p{n:03d}.png"
        with Image.open(path) as image:
            image.convert("RGB").save(frame)
        listing.append(f"file '{frame}'\nduration {SECONDS}\n")
    listing.append(f"file '{folder / f'p{len(pictures) - 1:03d}.png'}'\n")
    (folder / "list.txt").write_text("".join(listing))
    video = folder / "pictures.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "concat", "-safe",
                    "0", "-i", str(folder / "list.txt"), "-vf",
                    "scale=640:360:force_original_aspect_ratio=decrease,"
                    "pad=640:360:(ow-iw)/2:(oh-ih)/2,fps=25,format=yuv420p",
                    "-c:v", "libx264", "-t", str(SECONDS * len(pictures)), str(video)],
                   check=True)
    return video


def through_process(model: Path, pictures: list[tuple[dict[str, Any], Path]],
                    folder: Path) -> list[str | None]:
    """Each picture's tag as ``aiwork process --analyzers custom_tags --weights
    custom_tags=MODEL`` gives it, at the middle of the picture's stretch."""
    import os

    from aiwork.pipeline.process import ProcessOptions, Processor

    video = _video(pictures, folder)
    previous = os.environ.get("AIWORK_HOME")
    os.environ["AIWORK_HOME"] = str(folder / "home")
    try:
        processor = Processor(ProcessOptions(analyzers=["custom_tags"],
                                             settings={"custom_tags": {"model": str(model)}},
                                             caption_formats=()), db=folder / "store.db")
        with processor:
            report = processor.process(video, folder / "out")
    finally:
        if previous is None:
            os.environ.pop("AIWORK_HOME", None)
        else:
            os.environ["AIWORK_HOME"] = previous
    if report.status != "processed" or report.metadata is None:
        raise SystemExit(f"custom_tags: aiwork process: {report.status} {report.error} "
                         f"{report.unavailable}")
    found: list[str | None] = []
    for n in range(len(pictures)):
        middle = SECONDS * n + SECONDS / 2
        found.append(next((tag.label for tag in report.metadata.custom_tags
                           for i in tag.instances if i.start <= middle < i.end), None))
    return found


def evaluate(cache: Path, split: str, variant: str) -> list[Any]:
    from aiwork.analyzers.tags import TagsAnalyzer

    from realmedia import Row  # type: ignore[import-not-found]

    backbone = TagsAnalyzer({"drawn_signal": False})
    pictures = _pictures(cache, split)
    measured = examples(cache, split, backbone)
    truths = [e.label for e in measured]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model = train(examples(cache, "dev", backbone), variant, tmp / "model")
        found = predict(model, measured)
        direct = scores(truths, found)
        (tmp / "video").mkdir()
        tagged = through_process(model, pictures, tmp / "video")
        processed = scores(truths, tagged)
    for (item, _), label, video_tag in zip(pictures, found, tagged):
        mark = "" if label == item["kind"] else f" WRONG (is {item['kind']})"
        print(f"# custom_tags {variant} {item['source']}/{item['file']}: {label}{mark}; "
              f"in the video: {video_tag}", file=sys.stderr)
    n = len(truths)
    rows = [Row("accuracy", direct["accuracy"], "30 % fewer errors than before", "%"),
            Row("  chance (always the largest kind)", direct["chance"], "", "%"),
            Row("balanced accuracy", direct["balanced"], "", "%"),
            Row("  chance", direct["balanced chance"], "", "%")]
    rows += [Row(f"recall {k[7:]} ({truths.count(k[7:])} of {n})", v, "", "%")
             for k, v in direct.items() if k.startswith("recall ")]
    rows += [Row(f"through aiwork process: accuracy ({n} pictures x {SECONDS} s)",
                 processed["accuracy"], "", "%"),
             Row("through aiwork process: balanced accuracy", processed["balanced"], "", "%"),
             Row("through aiwork process: pictures with no tag (below the threshold)",
                 tagged.count(None) / n, "", "%")]
    return rows
