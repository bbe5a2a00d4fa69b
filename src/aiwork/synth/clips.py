"""Labelled test media: videos whose ground truth is known because they were made here.

:func:`make_clip` renders a :class:`ClipSpec` with ``ffmpeg`` and ``espeak-ng`` into an MP4
(H.264 yuv420p + mono AAC) or, without video, an M4A, and returns its :class:`Truth`: the cut
times, what is said and when (each espeak-ng utterance measured from its WAV), the captions
drawn with ``drawtext`` and their frames, when the face is on screen, when music plays and
where the audio is silent, and the spoken language. Accuracy of the pipeline's analyzers is
measured against that truth.

Everything is deterministic given the spec: solid-colour scenes, a bundled face photograph
(``assets/face.jpg``, see ``assets/README``), synthetic speech, and a melody computed here
from fixed notes. The same spec and the same ffmpeg/espeak-ng builds give the same bytes.

Timing conventions (all times in seconds from the start of the file):

* A scene is a whole number of frames; a cut is the time of the first frame of the new scene.
* Caption and face ranges are snapped to frames: ``start`` is the first frame that shows the
  item, ``end`` the first frame after it that does not (half-open ``[start, end)``).
* A speech segment runs from the first to the last audible sample of its espeak-ng utterance
  (espeak-ng's leading and trailing silence is trimmed before it is placed).
* ``silence`` is every stretch of the audio track that holds neither speech nor music; it is
  digital silence (all-zero samples before AAC encoding).

The parts: :mod:`~aiwork.synth.spec` (what a clip holds), :mod:`~aiwork.synth.truth` (what
it turned out to be), :mod:`~aiwork.synth.audio` with :mod:`~aiwork.synth.music` (the sound),
:mod:`~aiwork.synth.video` (the picture), :mod:`~aiwork.synth.tools` (ffmpeg, espeak-ng, the
font), :mod:`~aiwork.synth.presets` (the sample and benchmark clips); this module renders a
spec and is the command line. Its names are the package's public surface.

Command line (used by ``scripts/make-sample``)::

    python -m aiwork.synth.clips samples/sample.mp4            # the bundled sample + truth
    python -m aiwork.synth.clips --long 300 /tmp/long.mp4      # a benchmark clip
    python -m aiwork.synth.clips --no-audio /tmp/mute.mp4      # bad-input variants
    python -m aiwork.synth.clips --no-video /tmp/speech.m4a
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from aiwork.errors import AiworkError, ConfigError
from aiwork.synth.audio import render_audio, silence
from aiwork.synth.presets import long_spec, sample_spec
from aiwork.synth.spec import (
    ASSETS,
    FACE_IMAGE,
    Caption,
    ClipSpec,
    FaceOverlay,
    MusicSegment,
    Scene,
    SpeechLine,
    words,
)
from aiwork.synth.tools import find_font, need_tool, run_tool
from aiwork.synth.truth import (
    CaptionTruth,
    FaceTruth,
    SceneTruth,
    Span,
    SpeechTruth,
    TimedWord,
    Truth,
    rounded,
    truth_path_for,
)
from aiwork.synth.video import BOX_BORDER, video_graph

__all__ = [
    "ASSETS",
    "FACE_IMAGE",
    "Caption",
    "CaptionTruth",
    "ClipSpec",
    "FaceOverlay",
    "FaceTruth",
    "MusicSegment",
    "Scene",
    "SceneTruth",
    "Span",
    "SpeechLine",
    "SpeechTruth",
    "Truth",
    "TimedWord",
    "find_font",
    "long_spec",
    "main",
    "make_clip",
    "sample_spec",
    "truth_path_for",
]


def make_clip(path: Path, spec: ClipSpec) -> Truth:
    """Render ``spec`` into ``path`` and return its ground truth.

    With video the file is MP4 (H.264 High, yuv420p, + AAC-LC mono at ``spec.sample_rate``
    unless ``audio=False``); without video it is an M4A holding only the AAC track. The file
    is written to a temporary name and moved into place, so ``path`` is never half-written.
    Raises :class:`ConfigError` if ffmpeg, espeak-ng or the caption font is missing (naming
    the Debian package) and :class:`InputError` if speech runs past the end of the clip.
    """
    ffmpeg = need_tool("ffmpeg", "ffmpeg")
    needs_speech = spec.audio and bool(spec.speech)
    espeak = need_tool("espeak-ng", "espeak-ng") if needs_speech else None
    font = find_font(spec.font) if spec.video and spec.captions else None
    for face in spec.faces if spec.video else ():
        image = face.image or FACE_IMAGE
        if not image.is_file():
            raise ConfigError(f"face image {image} does not exist")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aiwork-synth-") as tmp:
        work = Path(tmp)
        cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
        speech: list[SpeechTruth] = []
        music: list[Span] = []
        n_inputs = 0
        audio_input = -1
        if spec.audio:
            wav, speech, music = render_audio(spec, espeak, work)
            cmd += ["-i", str(wav)]
            audio_input, n_inputs = n_inputs, n_inputs + 1
        if spec.video:
            if font is not None:
                (work / "font.ttf").symlink_to(font.resolve())
            first_face = n_inputs
            for face in spec.faces:
                image = (face.image or FACE_IMAGE).resolve()
                cmd += ["-loop", "1", "-framerate", str(spec.fps)]
                frames = spec.frame_at(face.end_s) - spec.frame_at(face.start_s)
                cmd += ["-t", f"{frames / spec.fps:.6f}", "-i", str(image)]
                n_inputs += 1
            # Inline rather than -filter_complex_script (deprecated in ffmpeg 7); the graph
            # names only files inside ``work`` and holds no user text, so it needs no escaping.
            cmd += ["-filter_complex", video_graph(spec, work, first_face), "-map", "[vout]"]
            cmd += ["-c:v", "libx264", "-preset", "medium", "-crf", str(spec.crf)]
            cmd += ["-pix_fmt", "yuv420p", "-r", str(spec.fps), "-g", str(2 * spec.fps)]
        if spec.audio:
            cmd += ["-map", f"{audio_input}:a", "-c:a", "aac", "-b:a", f"{spec.audio_kbps}k"]
            cmd += ["-ar", str(spec.sample_rate), "-ac", "1"]
        cmd += ["-t", f"{spec.duration:.6f}", "-map_metadata", "-1", "-fflags", "+bitexact"]
        cmd += ["-flags", "+bitexact", "-movflags", "+faststart"]
        out = work / ("out.mp4" if spec.video else "out.m4a")
        cmd += ["-f", "mp4" if spec.video else "ipod", str(out)]
        run_tool(cmd, "ffmpeg", cwd=work)
        shutil.move(out, path)
    return _truth(spec, font, speech, music)


def _truth(
    spec: ClipSpec, font: Path | None, speech: list[SpeechTruth], music: list[Span]
) -> Truth:
    fps = spec.fps
    bounds = [0]
    for frames in spec.scene_frames:
        bounds.append(bounds[-1] + frames)
    scenes = tuple(
        SceneTruth(rounded(a / fps), rounded(b / fps), scene.colour)
        for scene, a, b in zip(spec.scenes, bounds, bounds[1:])
    )
    video = spec.video
    captions = tuple(
        CaptionTruth(
            text=cap.text,
            words=tuple(words(cap.text)),
            start=rounded(spec.frame_at(cap.start_s) / fps),
            end=rounded(spec.frame_at(cap.end_s) / fps),
            y=spec.caption_y(cap),
            font_size=cap.font_size,
            box_border=BOX_BORDER,
            font=font.name if font else "",
        )
        for cap in spec.captions
    )
    faces = tuple(
        FaceTruth(
            start=rounded(spec.frame_at(face.start_s) / fps),
            end=rounded(spec.frame_at(face.end_s) / fps),
            box=(*spec.face_xy(face), face.size, face.size),
        )
        for face in spec.faces
    )
    seconds: dict[str, float] = {}
    for s in speech:
        seconds[s.language] = seconds.get(s.language, 0.0) + s.end - s.start
    audio = spec.audio
    return Truth(
        duration=rounded(spec.duration),
        has_video=video,
        has_audio=audio,
        width=spec.width if video else None,
        height=spec.height if video else None,
        fps=fps if video else None,
        sample_rate=spec.sample_rate if audio else None,
        scenes=scenes if video else (),
        cuts=tuple(s.start for s in scenes[1:]) if video else (),
        speech=tuple(speech),
        captions=captions if video else (),
        faces=faces if video else (),
        music=tuple(music),
        silence=tuple(silence(spec.duration, [Span(s.start, s.end) for s in speech] + music))
        if audio
        else (),
        language=max(seconds, key=lambda k: seconds[k]) if seconds else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m aiwork.synth.clips [--long SECONDS] [--no-audio|--no-video] OUTPUT``:
    render the sample (or a long clip) to OUTPUT and its truth to OUTPUT's ``.truth.json``."""
    parser = argparse.ArgumentParser(
        prog="python -m aiwork.synth.clips",
        description="Render labelled test media and its ground truth (JSON).",
    )
    parser.add_argument("output", type=Path, help="the .mp4 (or .m4a with --no-video) to write")
    preset = parser.add_mutually_exclusive_group()
    preset.add_argument("--sample", action="store_true", help="the bundled sample (default)")
    preset.add_argument("--long", type=float, metavar="SECONDS", help="a benchmark clip")
    track = parser.add_mutually_exclusive_group()
    track.add_argument("--no-audio", action="store_true", help="leave out the audio track")
    track.add_argument("--no-video", action="store_true", help="audio only (M4A)")
    parser.add_argument("--truth", type=Path, help="where to write the truth JSON")
    args = parser.parse_args(argv)
    try:
        spec = long_spec(args.long) if args.long is not None else sample_spec()
        if args.no_audio or args.no_video:
            spec = replace(spec, audio=not args.no_audio, video=not args.no_video)
        truth = make_clip(args.output, spec)
    except AiworkError as exc:
        print(f"error: {exc.diagnostics()}", file=sys.stderr)
        return 1
    truth_path = args.truth or truth_path_for(args.output)
    truth_path.write_text(truth.to_json(), encoding="utf-8")
    print(f"{args.output} ({args.output.stat().st_size} bytes, {truth.duration:g} s); {truth_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
