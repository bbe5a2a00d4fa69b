"""Shot boundaries on ffmpeg-made video with exact truth: a dissolve is one gradual
transition with its span, a fast pan is no cut, hard cuts stay exact."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from aiwork.pipeline.process import ProcessOptions, Processor
from aiwork.model.metadata import Metadata

PHOTO = Path(__file__).parent / "data" / "coffee.jpg"


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


def shots_of(path: Path, tmp_path: Path) -> Metadata:
    with Processor(ProcessOptions(analyzers=["technical", "shots"]),
                   db=tmp_path / "store.db") as proc:
        report = proc.process(path, tmp_path / "out")
    assert report.status == "processed", report.error
    assert report.metadata is not None
    return report.metadata


def test_a_dissolve_is_one_gradual_transition_with_its_span(tmp_path: Path) -> None:
    """A 1 s cross-dissolve (ffmpeg xfade, 1.5 s to 2.5 s) from a test pattern to a
    photograph: one boundary, a dissolve, its span within two scanned frames of the truth."""
    path = tmp_path / "dissolve.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=3",
           "-loop", "1", "-t", "3", "-r", "25", "-i", str(PHOTO),
           "-filter_complex", "[1]scale=320:180,setsar=1,format=yuv420p[b];"
           "[0]format=yuv420p[a];[a][b]xfade=transition=fade:duration=1:offset=1.5,"
           "format=yuv420p", "-r", "25", "-c:v", "libx264", str(path))
    md = shots_of(path, tmp_path)
    assert len(md.shots) == 2
    transition = md.shots[1].transition
    assert transition is not None and transition.kind == "dissolve"
    assert transition.start == pytest.approx(1.5, abs=0.09)
    assert transition.end == pytest.approx(2.5, abs=0.09)
    assert md.shots[1].instances[0].start == pytest.approx(2.0, abs=0.09)
    assert md.shots[0].transition is None


def test_a_fade_through_black_is_one_fade(tmp_path: Path) -> None:
    """A photograph fades out to black (1.5 s to 2.5 s) and a test pattern fades in from
    black (2.5 s to 3.5 s): one boundary, a fade, spanning both."""
    path = tmp_path / "fade.mp4"
    ffmpeg("-loop", "1", "-t", "2.5", "-r", "25", "-i", str(PHOTO),
           "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2.5",
           "-filter_complex", "[0]scale=320:180,setsar=1,format=yuv420p,"
           "fade=t=out:st=1.5:d=1[a];[1]format=yuv420p,fade=t=in:st=0:d=1[b];"
           "[a][b]concat=n=2:v=1:a=0", "-r", "25", "-c:v", "libx264", str(path))
    md = shots_of(path, tmp_path)
    assert len(md.shots) == 2
    transition = md.shots[1].transition
    assert transition is not None and transition.kind == "fade"
    assert transition.start == pytest.approx(1.5, abs=0.2)
    assert transition.end == pytest.approx(3.5, abs=0.2)


def test_a_fast_pan_is_not_a_cut(tmp_path: Path) -> None:
    """A camera panning fast across a photograph (500 px/s on a 1600 px wide picture, with a
    vertical sway) changes every frame as much as a cut does: still one shot."""
    path = tmp_path / "pan.mp4"
    ffmpeg("-loop", "1", "-i", str(PHOTO), "-vf",
           "scale=1600:-2,crop=320:180:x='min(t*500,iw-320)':y='ih/2-90+40*sin(t*6)',"
           "format=yuv420p", "-t", "3", "-r", "25", "-c:v", "libx264", str(path))
    md = shots_of(path, tmp_path)
    assert len(md.shots) == 1


def test_hard_cuts_stay_exact_and_say_so(tmp_path: Path) -> None:
    path = tmp_path / "cuts.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=2",
           "-loop", "1", "-t", "2", "-r", "25", "-i", str(PHOTO),
           "-filter_complex", "[1]scale=320:180,setsar=1,format=yuv420p[b];"
           "[0]format=yuv420p[a];[a][b]concat=n=2:v=1:a=0", "-c:v", "libx264", str(path))
    md = shots_of(path, tmp_path)
    assert [round(s.instances[0].start, 2) for s in md.shots] == [0.0, 2.0]
    transition = md.shots[1].transition
    assert transition is not None and transition.kind == "cut"
    assert transition.start == transition.end == md.shots[1].instances[0].start
