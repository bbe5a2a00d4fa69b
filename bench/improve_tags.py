"""Custom visual tags learned end to end: a seed model, one round of review, a better model.

Run it from the repository root (``bench/improve.py`` calls :func:`measure_tags` too)::

    .venv/bin/python bench/improve_tags.py            # the figures, before and after
    .venv/bin/python bench/improve_tags.py --small    # a small corpus (what the test runs)

A generated corpus with known truth (its own seeds): pictures drawn with PIL for four platform
tags ("studio interview", "crowd", "outdoor", "screen text"), each drawn with random colours,
sizes, positions and noise. A video is two scenes of two different tags, two sampled frames
each (one every 2 s). Videos are split three ways: a few seed videos, the videos of one
review round, and held-out videos that are never reviewed (their truth is known).

1. Before: a seed model (:func:`aiwork.learn.tags.train_custom_tags`) from a handful of
   examples (one frame of each seed video), measured on every frame of the held-out videos.
2. The seed model tags the review round's videos as the ``custom_tags`` analyzer does
   (:func:`aiwork.analyzers.custom_tags.tag_items`); each video's frames are its shots'
   keyframes, kept in the store's blobs. Its items go through the real review engine
   (:class:`aiwork.coordinator.review.Review`, a real ledger in a SQLite file): simulated
   experts (four right 90 % of the time, two 70 %) accept a right tag and correct a wrong one
   to the tag they see in the keyframe (a careless expert answers at random); consensus with
   escalation decides.
3. The decided items are exported (``aiwork.dataset.export``: a ``dataset.released`` entry)
   and ``aiwork models train custom_tags`` trains the next version on the export's train
   split (held out: its validation and test splits) and registers it with the dataset.
4. After: that version, measured on the same held-out frames. ``error_reduction`` =
   1 - (1 - after) / (1 - before).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from aiwork.analyzers.custom_tags import tag_items
from aiwork.config import blobs_path
from aiwork.coordinator.accounts import Accounts
from aiwork.coordinator.review import Review
from aiwork.crypto import SigningKey, write_key_file
from aiwork.dataset import export, split_of
from aiwork.digests import sha256_bytes
from aiwork.ledger.log import Log
from aiwork.learn.tags import TagExample, custom_tag_accuracy, embed_examples, train_custom_tags
from aiwork.store.blobs import BlobStore

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from crowd import Crowd as SimulatedCrowd  # noqa: E402 - beside this file

TAGS = ("studio interview", "crowd", "outdoor", "screen text")
SIZE = (256, 192)
SECONDS = 2.0  # one sampled frame every 2 s
EXPERTS = (0.9,) * 4 + (0.7,) * 2
#: Videos of the review round (of which at least ``reviewable`` outside the export's train
#: split) and held-out videos, full and small (what the test runs).
FULL = {"reviewed": 40, "reviewable": 6, "held": 30}
SMALL = {"reviewed": 16, "reviewable": 3, "held": 12}
WORDS = ("BREAKING", "NEWS", "LIVE", "SCORE", "WEATHER", "MARKETS", "UPDATE", "VOTE", "2026",
         "CITY", "FINAL", "REPORT", "DATA", "LOGIN", "MENU", "TOTAL")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        from aiwork.synth.clips import find_font

        return ImageFont.truetype(str(find_font()), size)
    except Exception:  # noqa: BLE001 - any font will do where DejaVu is missing
        return ImageFont.load_default()


def _colour(rng: random.Random, low: int = 0, high: int = 255) -> tuple[int, int, int]:
    return (rng.randint(low, high), rng.randint(low, high), rng.randint(low, high))


def _person(draw: ImageDraw.ImageDraw, x: float, y: float, scale: float,
            rng: random.Random) -> None:
    """A head and shoulders: skin-toned ellipse over a coloured body."""
    skin = rng.choice(((224, 172, 105), (141, 85, 36), (198, 134, 66), (255, 219, 172)))
    body = _colour(rng, 20, 200)
    draw.ellipse((x - 0.6 * scale, y + 0.8 * scale, x + 0.6 * scale, y + 2.4 * scale),
                 fill=body)
    draw.ellipse((x - 0.3 * scale, y, x + 0.3 * scale, y + 0.8 * scale), fill=skin)


def draw(tag: str, rng: random.Random) -> NDArray[np.uint8]:
    """One picture of ``tag``, drawn with ``rng``'s colours, sizes and positions; half of them
    with a smaller element of another tag in it (a caption, a person, a screen behind), so
    that a tag is not told by one cue alone."""
    w, h = SIZE
    image = Image.new("RGB", SIZE, _colour(rng))
    d = ImageDraw.Draw(image)
    _scene(d, tag, rng)
    if rng.random() < 0.5:
        other = rng.choice([t for t in TAGS if t != tag])
        x0, y0 = int(rng.uniform(0, w * 0.6)), int(rng.uniform(0, h * 0.6))
        inset = Image.new("RGB", (int(w * rng.uniform(0.25, 0.4)),
                                  int(h * rng.uniform(0.25, 0.4))), _colour(rng))
        _scene(ImageDraw.Draw(inset), other, rng, inset.size)
        image.paste(inset, (x0, y0))
    pixels = np.asarray(image, dtype=np.float32) * rng.uniform(0.7, 1.2)
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 12, pixels.shape)
    return np.clip(pixels + noise, 0, 255).astype(np.uint8)


def _scene(d: ImageDraw.ImageDraw, tag: str, rng: random.Random,
           size: tuple[int, int] = SIZE) -> None:
    w, h = size
    if tag == "studio interview":
        top, bottom = _colour(rng, 30, 200), _colour(rng, 30, 200)
        for y in range(h):
            t = y / h
            d.line((0, y, w, y), fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom)))
        people = rng.choice((1, 2))
        for k in range(people):
            x = w * (0.5 if people == 1 else (0.3 if k == 0 else 0.7)) + rng.uniform(-15, 15)
            _person(d, x, h * rng.uniform(0.2, 0.35), h * rng.uniform(0.2, 0.26), rng)
        if rng.random() < 0.6:  # a desk
            d.rectangle((0, int(h * rng.uniform(0.75, 0.85)), w, h), fill=_colour(rng, 40, 140))
    elif tag == "crowd":
        for _ in range(rng.randint(35, 70)):
            _person(d, rng.uniform(0, w), rng.uniform(h * 0.05, h * 0.8),
                    h * rng.uniform(0.04, 0.08), rng)
    elif tag == "outdoor":
        horizon = int(h * rng.uniform(0.35, 0.6))
        sky = (rng.randint(80, 170), rng.randint(150, 210), rng.randint(200, 255))
        ground = rng.choice(((rng.randint(30, 90), rng.randint(110, 170), rng.randint(30, 70)),
                             (rng.randint(120, 170), rng.randint(100, 140), rng.randint(60, 90))))
        d.rectangle((0, 0, w, horizon), fill=sky)
        d.rectangle((0, horizon, w, h), fill=ground)
        if rng.random() < 0.5:
            r = h * rng.uniform(0.05, 0.11)
            cx, cy = rng.uniform(r, w - r), rng.uniform(r, horizon - r)
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 236, 140))
        for _ in range(rng.randint(0, 6)):  # trees
            x, s = rng.uniform(0, w), h * rng.uniform(0.06, 0.15)
            d.polygon(((x, horizon - 2 * s), (x - s, horizon + 4), (x + s, horizon + 4)),
                      fill=(rng.randint(10, 60), rng.randint(70, 130), rng.randint(10, 60)))
    else:  # screen text
        d.rectangle((0, 0, w, h), fill=_colour(rng, 0, 70))
        size = max(8, int(h * rng.uniform(0.07, 0.12)))
        font = _font(size)
        y = rng.uniform(2, size)
        while y < h - size:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
            d.text((rng.uniform(2, w * 0.15), y), text, fill=_colour(rng, 170, 255), font=font)
            y += size * rng.uniform(1.1, 1.6)


def png(picture: NDArray[np.uint8]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    return buffer.getvalue()


class Video:
    """Two scenes of two different tags, ``frames`` sampled frames each."""

    def __init__(self, name: str, rng: random.Random, frames: int = 2,
                 tags: tuple[str, str] | None = None) -> None:
        self.asset = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
        first, second = tags or rng.sample(TAGS, 2)
        self.truth = [first] * frames + [second] * frames
        self.pictures = [draw(tag, rng) for tag in self.truth]
        self.features: NDArray[np.float32] | None = None


def corpus(seed: int, count: int, kind: str, *, reviewable: int = 0) -> list[Video]:
    """``count`` videos; with ``reviewable``, at least that many of them (and at least one)
    outside the export's train split, so the trained model is measured on held-out items."""
    rng = random.Random(f"{seed} {kind}")
    videos: list[Video] = []
    held = 0
    n = 0
    while len(videos) < count:
        name = f"improve-tags {seed} {kind} {n}"
        n += 1
        asset = "sha256:" + hashlib.sha256(name.encode()).hexdigest()
        outside = split_of(asset) != "train"
        if reviewable and not outside and count - len(videos) <= max(1, reviewable) - held:
            continue  # keep room for the held-out videos the export needs
        held += outside
        videos.append(Video(name, rng))
    return videos


def examples(videos: Sequence[Video], every: int = 1) -> list[TagExample]:
    out = []
    for video in videos:
        assert video.features is not None
        out += [TagExample(tag, features=video.features[n], video=video.asset)
                for n, tag in enumerate(video.truth) if n % every == 0]
    return out


class Crowd(SimulatedCrowd):
    """Simulated experts: one right with probability ``p`` accepts a right tag and corrects a
    wrong one to the tag it sees; otherwise it answers at random."""

    def __init__(self, seed: int) -> None:
        super().__init__("improve tags", seed, EXPERTS)

    def answer(self, review: Review, item: dict[str, Any], p: float, truth: Any
               ) -> tuple[str, Any]:
        found = review.item(item["id"])
        right = truth[str(found.evidence.get("keyframe"))]
        seen = right if self.rng.random() < p else self.rng.choice(TAGS)
        return ("accept", None) if seen == found.value else ("correct", seen)


def review_round(root: Path, seed: int, videos: Sequence[Video], model: Path,
                 threshold: float) -> dict[str, Any]:
    """Tag ``videos`` with ``model``, review its items through the engine, export the decided
    ones; return the store, the export and the counts."""
    from aiwork.analyzers.custom_tags import custom_tags_model

    classifier = custom_tags_model(model)
    db = root / "coordinator.db"
    key = SigningKey(hashlib.sha256(f"improve tags coordinator {seed}".encode()).digest())
    blobs = BlobStore(blobs_path(db))
    truth: dict[str, str] = {}
    annotator = f"model:custom_tags@{classifier.digest}"
    with Log.create(db, key, origin="improve-tags.aiwork/log") as log:
        review = Review(log, key, Accounts(log.db).appender(log), rng=random.Random(seed))
        review.set_rules("custom_tags", {"experts": 3, "audit_share": 1.0, "gold_share": 0.0})
        items = 0
        for n, video in enumerate(videos):
            assert video.features is not None
            shots = []
            for k, picture in enumerate(video.pictures):
                raw = png(picture)
                digest = sha256_bytes(raw)
                with blobs.incoming() as blob:
                    blob.write(raw)
                    blob.commit(digest)
                truth[digest] = video.truth[k]
                shots.append({"id": k, "instances": [{"start": k * SECONDS,
                                                      "end": (k + 1) * SECONDS}],
                              "keyframe": {"digest": digest}})
            spans = [(k * SECONDS, (k + 1) * SECONDS) for k in range(len(video.pictures))]
            output = tag_items(spans, classifier.predict(video.features), threshold)
            items += len(review.route(job=f"tags-{n}", insight="custom_tags", decision=n,
                                      output=output, producers=[], annotator=annotator,
                                      asset=video.asset, shots=shots))
        verdicts = Crowd(seed).work(review, truth)
        outcomes: dict[str, int] = {}
        for outcome in review.decided().values():
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        reader = SigningKey(hashlib.sha256(f"improve tags reader {seed}".encode()).digest())
        released = export(log, key, reader=reader.did, out=root / "dataset",
                          insights=["custom_tags"], name="improve-tags")
    return {"db": db, "key": key, "dataset": root / "dataset", "items": items,
            "verdicts": verdicts, "outcomes": outcomes, "rows": released.rows,
            "released": released.released}


def train_cli(db: Path, key: SigningKey, dataset: Path) -> dict[str, Any]:
    """``aiwork models train custom_tags`` on the export; its printed registration."""
    from aiwork.cli import main

    keyfile = dataset.parent / "approver.key"
    write_key_file(keyfile, key)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["models", "train", "custom_tags", "--dataset", str(dataset), "--db",
                     str(db), "--key", str(keyfile), "--version", "round-1"])
    if code != 0:
        raise RuntimeError(f"aiwork models train custom_tags failed ({code})")
    result: dict[str, Any] = json.loads(printed.getvalue().strip().splitlines()[-1])
    return result


@contextlib.contextmanager
def _home(root: Path) -> Iterator[None]:
    """AIWORK_HOME in ``root`` (the trained version's model store) while the bench runs."""
    before = os.environ.get("AIWORK_HOME")
    os.environ["AIWORK_HOME"] = str(root / "home")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("AIWORK_HOME", None)
        else:
            os.environ["AIWORK_HOME"] = before


def measure_tags(seed: int, small: bool) -> dict[str, Any]:
    """The figures (see the module's description); ``small``: a corpus a test runs."""
    from aiwork.analyzers.tags import TagsAnalyzer

    started = time.perf_counter()
    # A handful of examples: the first frame of four seed videos, one of each tag.
    rng = random.Random(f"{seed} seed")
    seeds = [Video(f"improve-tags {seed} seed {n}", rng, tags=(TAGS[n], TAGS[(n + 1) % 4]))
             for n in range(len(TAGS))]
    sizes = SMALL if small else FULL
    reviewed = corpus(seed, sizes["reviewed"], "review", reviewable=sizes["reviewable"])
    held = corpus(seed, sizes["held"], "held")
    backbone = TagsAnalyzer({"drawn_signal": False})
    for video in (*seeds, *reviewed, *held):
        video.features = embed_examples([TagExample(t, picture=p) for t, p in
                                         zip(video.truth, video.pictures, strict=True)],
                                        backbone)
    measured = examples(held)
    with tempfile.TemporaryDirectory(prefix="aiwork-improve-tags-") as tmp, _home(Path(tmp)):
        root = Path(tmp)
        start = examples(seeds, every=4)  # one frame of each seed video: one of each tag
        seed_model = train_custom_tags(start, root / "seed", name="seed", seed=seed)
        before = custom_tag_accuracy(seed_model.path, measured)
        round_ = review_round(root / "store", seed, reviewed, seed_model.path, 0.5)
        trained = train_cli(round_["db"], round_["key"], round_["dataset"])
        after = custom_tag_accuracy(trained["weights"], measured)
    reduction = 1 - (1 - after) / (1 - before) if before < 1 else 0.0
    return {
        "measured": True, "tags": list(TAGS), "seed": seed,
        "corpus": {"seed_examples": len(start), "reviewed_videos": len(reviewed),
                   "held_out_videos": len(held), "held_out_frames": len(measured)},
        "review": {"items": round_["items"], "verdicts": round_["verdicts"],
                   "outcomes": round_["outcomes"], "exported": round_["rows"],
                   "dataset_released": round_["released"]},
        "registered": {"index": trained["index"], "weights_digest": trained["weights_digest"],
                       "metrics": trained["metrics"], "left_out": trained["left_out"]},
        "before": round(before, 4), "after": round(after, 4),
        "error_reduction": round(max(0.0, reduction), 4), "goal": 0.30,
        "seconds": round(time.perf_counter() - started, 1)}


def line(figures: dict[str, Any]) -> str:
    """The printed line of :func:`measure_tags`' figures."""
    f = figures
    return (f"custom-tag accuracy (held out, {f['corpus']['held_out_frames']} frames): "
            f"{f['before']:.4f} seed model ({f['corpus']['seed_examples']} examples) -> "
            f"{f['after']:.4f} after one round ({f['review']['verdicts']} verdicts, "
            f"{sum(f['review']['exported'].values())} items exported), error_reduction "
            f"{f['error_reduction']:.1%} (goal 30 %: "
            f"{'PASS' if f['error_reduction'] >= 0.3 else 'MISS'})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--small", action="store_true", help="a small corpus")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    figures = measure_tags(args.seed, args.small)
    print(line(figures))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
