"""On-screen text on real footage nobody on aiwork made: titles read, junk kept out, times.

Sources: the Big Buck Bunny trailer and the film (moviepy 2.2.1 sdist), fetched by the
``shots`` area into ``.realmedia/shots/`` (:func:`fetch` calls it), and the tutorial's font
(``moviepy_10_minutes.zip``); ``titles-h`` is the film's footage with titles drawn by us with
ffmpeg at known times. Truth: ``truth/ocr/truth.json``.

Figures: word recall (a title's words read in an item shown during the title), word
precision (words read that belong to a title or to the optional logo words, over all words
read), the error of the start and end of each title found (seconds; frames are sampled once
a second, so one sample is 1 s), and milliseconds per second of video. ``before``: no time
refinement and no plausibility check (aiwork's OCR before this benchmark); ``after``: today's
defaults.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NAME = "ocr"
ROOT = Path(__file__).resolve().parent
TRUTH = ROOT / "truth" / "ocr" / "truth.json"
PIECE_SECONDS = 4.0
BEFORE = {"refine": False, "plausibility": False}


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def fetch(cache: Path) -> None:
    sys.path.insert(0, str(ROOT.parent))
    from realmedia import shots  # type: ignore[import-not-found]

    shots.fetch(cache)
    base = cache / NAME
    base.mkdir(parents=True, exist_ok=True)
    film = cache / "shots" / "bbb.mp4"
    font = base / "font.ttf"
    if not font.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                            "--no-binary", ":all:", shots.MOVIEPY, "-d", tmp], check=True)
            sdist = next(Path(tmp).glob("moviepy-*.tar.gz"))
            subprocess.run(["tar", "xzf", str(sdist), "-C", tmp, "--wildcards",
                            "*/moviepy_10_minutes.zip"], check=True)
            subprocess.run(["unzip", "-q", "-o", "-j", str(next(Path(tmp).rglob("*.zip"))),
                            "moviepy_10_minutes/resources/font/font.ttf", "-d", str(base)],
                           check=True)
    for clip in json.loads(TRUTH.read_text())["clips"]:
        target = base / f"{clip['name']}.mp4"
        if "pieces" not in clip or target.is_file():
            continue
        inputs: list[str] = []
        for start in clip["pieces"]:
            inputs += ["-ss", str(start), "-t", str(PIECE_SECONDS), "-i", str(film)]
        n = len(clip["pieces"])
        graph = ";".join(f"[{i}:v]scale=640:360,setsar=1,fps=24,format=yuv420p,"
                         f"setpts=PTS-STARTPTS[p{i}]" for i in range(n))
        graph += ";" + "".join(f"[p{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=0[c]"
        draws = ",".join(
            f"drawtext=fontfile={font}:text='{t['text']}':fontsize=34:fontcolor=white:"
            f"borderw=2:bordercolor=black:x=(w-text_w)/2:y=h*0.72:"
            f"enable='between(t,{t['start']},{t['end']})'" for t in clip["titles"])
        graph += f";[c]{draws}[v]"
        part = base / f"{clip['name']}.part.mp4"
        subprocess.run(["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", graph,
                        "-map", "[v]", "-c:v", "libx264", "-crf", "20", str(part)], check=True)
        part.replace(target)


def _read(path: Path, options: dict[str, Any]) -> tuple[Any, float, float]:
    from aiwork.analyzers.base import AnalysisContext
    from aiwork.analyzers.ocr import OcrAnalyzer
    from aiwork.media.decode import decode
    from aiwork.media.probe import probe

    analyzer = OcrAnalyzer(options)
    facts = probe(path)
    with tempfile.TemporaryDirectory() as tmp:
        decoded = decode(facts, Path(tmp) / "frames", sample_fps=1.0, want_audio=False)
        ctx = AnalysisContext(asset="sha256:" + "0" * 64, probe=facts, frames=decoded.frames,
                              audio=None, upstream={}, keyframe_dir=Path(tmp) / "k")
        started = time.perf_counter()
        out = analyzer.analyze(ctx)
        return out, time.perf_counter() - started, decoded.duration


def evaluate(cache: Path, split: str, variant: str) -> list[Any]:
    from realmedia import shots  # type: ignore[import-not-found]

    from realmedia import Row  # type: ignore[import-not-found]
    truth = json.loads(TRUTH.read_text())
    options = dict(BEFORE) if variant == "before" else {}
    wanted = found = read = good = 0
    start_errors: list[float] = []
    end_errors: list[float] = []
    seconds = duration = 0.0
    for clip in truth["clips"]:
        if clip["split"] != split:
            continue
        path = (cache / "shots" / clip["file"]) if "file" in clip else \
            cache / NAME / f"{clip['name']}.mp4"
        out, took, length = _read(path, options)
        seconds += took
        duration += length
        items = out.items if isinstance(out.items, list) else []
        title_words = {w for t in clip["titles"] for w in _words(t["text"])}
        optional = set(clip["optional"])
        for item in items:
            words = _words(str(item["text"]))
            read += len(words)
            good += sum(w in title_words or w in optional for w in words)
        for title in clip["titles"]:
            words = _words(title["text"])
            during = [(item, inst) for item in items for inst in item["instances"]
                      if inst["start"] < title["end"] and inst["end"] > title["start"]]
            seen = {w for item, _ in during for w in _words(str(item["text"]))}
            wanted += len(words)
            found += sum(w in seen for w in words)
            matching = [inst for item, inst in during
                        if len(set(_words(str(item["text"]))) & set(words)) * 2 >= len(words)]
            if matching:
                start_errors.append(abs(min(i["start"] for i in matching) - title["start"]))
                end_errors.append(abs(max(i["end"] for i in matching) - title["end"]))
        print(f"# ocr {variant} {clip['name']}: " + "; ".join(
            f"{i['text']!r} " + ",".join(f"{x['start']}-{x['end']}" for x in i["instances"])
            for i in items), file=sys.stderr)
    return [
        Row("word recall", found / wanted if wanted else None, "", "%"),
        Row("word precision", good / read if read else None, "", "%"),
        Row("title start error (mean)", sum(start_errors) / len(start_errors)
            if start_errors else None, "<= 1 sample", "s"),
        Row("title end error (mean)", sum(end_errors) / len(end_errors)
            if end_errors else None, "<= 1 sample", "s"),
        Row("OCR ms per video second", 1000 * seconds / duration if duration else None, "",
            "ms"),
    ]
