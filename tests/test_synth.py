"""The labelled test-media generator: the truth it returns must describe the file it wrote.

These tests need ffmpeg, espeak-ng and fonts-dejavu-core (Debian packages) and, for the face
checks, OpenCV (``opencv-python-headless`` 4.x: 5.x no longer has the Haar cascades). A
missing tool fails the tests; nothing is skipped.
"""

from __future__ import annotations

import array
import json
import math
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from aiwork.errors import ConfigError, InputError
from aiwork.synth.clips import (
    FACE_IMAGE,
    Caption,
    ClipSpec,
    FaceOverlay,
    MusicSegment,
    Scene,
    SpeechLine,
    Truth,
    long_spec,
    main,
    make_clip,
    sample_spec,
    truth_path_for,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "sample.mp4"

W, H = 320, 180
BLUE, GREEN = (0x1D, 0x35, 0x57), (0x2A, 0x60, 0x41)

# 2.8 s: a cut at 1.2 s, a caption in scene 1, the face through scene 2, one sentence, then
# music; silence before, between and after.
SHORT = ClipSpec(
    scenes=(Scene(1.2, "#1d3557"), Scene(1.6, "#2a6041")),
    speech=(SpeechLine("Hello there.", 0.1),),
    captions=(Caption("HELLO WORLD", 0.2, 1.0, font_size=28),),
    faces=(FaceOverlay(1.2, 2.8, y=None, size=140),),
    music=(MusicSegment(1.7, 0.9),),
    width=W,
    height=H,
)


def ffprobe(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
         str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def kinds(path: Path) -> list[str]:
    return sorted(s["codec_type"] for s in ffprobe(path)["streams"])


def frame_rgb(path: Path, index: int, width: int = W, height: int = H) -> bytes:
    """Frame ``index`` (0-based, exact: decoded and selected by number) as packed RGB24."""
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vf", f"select=eq(n\\,{index})",
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True,
    )  # fmt: skip
    assert len(done.stdout) == width * height * 3, f"no frame {index}"
    return done.stdout


def pixel(frame: bytes, x: int, y: int, width: int = W) -> tuple[int, int, int]:
    i = 3 * (y * width + x)
    return frame[i], frame[i + 1], frame[i + 2]


def close(a: tuple[int, int, int], b: tuple[int, int, int], tol: int = 10) -> bool:
    return all(abs(p - q) <= tol for p, q in zip(a, b))


def pcm(path: Path, rate: int = 16000) -> array.array[int]:
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", str(rate),
         "-"],
        capture_output=True, check=True,
    )  # fmt: skip
    samples = array.array("h", done.stdout)
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def rms(samples: array.array[int], start: float, end: float, rate: int = 16000) -> float:
    part = samples[round(start * rate) : round(end * rate)]
    return math.sqrt(sum(v * v for v in part) / max(1, len(part)))


def opencv() -> ModuleType:
    try:
        import cv2
    except ImportError:
        pytest.fail("the face checks need OpenCV: pip install 'opencv-python-headless>=4.8,<5'")
    if not hasattr(cv2, "CascadeClassifier"):
        pytest.fail(f"OpenCV {cv2.__version__} has no Haar cascades: install 4.x")
    return cv2


def faces_in(cv2: ModuleType, rgb: bytes, width: int = W, height: int = H) -> int:
    import numpy as np

    image = np.frombuffer(rgb, np.uint8).reshape(height, width, 3)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    return len(cascade.detectMultiScale(gray, 1.1, 5, minSize=(40, 40)))


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    path = tmp_path_factory.mktemp("synth") / "short.mp4"
    return path, make_clip(path, SHORT)


# -- the file against its truth ----------------------------------------------------------------


def test_container_and_duration_match_truth(short: tuple[Path, Truth]) -> None:
    path, truth = short
    info = ffprobe(path)
    assert abs(float(info["format"]["duration"]) - truth.duration) < 0.05
    assert truth.duration == pytest.approx(2.8)
    video = [s for s in info["streams"] if s["codec_type"] == "video"]
    audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert len(video) == 1 and len(audio) == 1
    assert video[0]["codec_name"] == "h264" and video[0]["pix_fmt"] == "yuv420p"
    assert (video[0]["width"], video[0]["height"]) == (W, H) == (truth.width, truth.height)
    assert video[0]["r_frame_rate"] == "25/1" and int(video[0]["nb_frames"]) == 70
    assert audio[0]["codec_name"] == "aac" and audio[0]["channels"] == 1
    assert int(audio[0]["sample_rate"]) == truth.sample_rate == 16000
    assert truth.has_video and truth.has_audio and truth.language == "en"


def test_cut_is_at_the_frame_the_truth_names(short: tuple[Path, Truth]) -> None:
    path, truth = short
    assert truth.cuts == (1.2,)
    cut_frame = round(truth.cuts[0] * 25)
    before, after = frame_rgb(path, cut_frame - 1), frame_rgb(path, cut_frame)
    assert close(pixel(before, 4, 4), BLUE) and close(pixel(after, 4, 4), GREEN)
    assert [s.colour for s in truth.scenes] == ["#1d3557", "#2a6041"]


def test_caption_is_drawn_in_its_range_only(short: tuple[Path, Truth]) -> None:
    path, truth = short
    (cap,) = truth.captions
    assert (cap.text, cap.words, cap.start, cap.end) == ("HELLO WORLD", ("HELLO", "WORLD"), 0.2, 1.0)
    row = cap.y + cap.font_size // 2  # through the text: black box and white glyphs

    def inked(index: int) -> bool:
        frame = frame_rgb(path, index)
        values = [pixel(frame, x, row) for x in range(W // 4, 3 * W // 4)]
        return any(max(v) < 40 for v in values) and any(min(v) > 215 for v in values)

    assert inked(round(cap.start * 25)) and inked(round(cap.end * 25) - 1)
    assert not inked(round(cap.start * 25) - 1) and not inked(round(cap.end * 25))


def test_face_is_detected_inside_its_range_and_not_outside(short: tuple[Path, Truth]) -> None:
    cv2 = opencv()
    path, truth = short
    (face,) = truth.faces
    assert truth.face_range is not None and (face.start, face.end) == (1.2, 2.8)
    assert face.box == ((W - 140) // 2, (H - 140) // 2, 140, 140)
    first, last = round(face.start * 25), round(face.end * 25) - 1
    assert faces_in(cv2, frame_rgb(path, first)) == 1
    assert faces_in(cv2, frame_rgb(path, last)) == 1
    assert faces_in(cv2, frame_rgb(path, first - 1)) == 0
    assert faces_in(cv2, frame_rgb(path, 10)) == 0  # a caption frame


def test_speech_music_and_silence_are_where_the_truth_says(short: tuple[Path, Truth]) -> None:
    path, truth = short
    samples = pcm(path)
    (said,) = truth.speech
    assert said.text == "Hello there." and said.words == ("Hello", "there")
    assert said.start == 0.1 and 0.3 < said.end - said.start < 1.5
    assert truth.music_range is not None and truth.music_range.start == 1.7
    assert rms(samples, said.start, said.end) > 1000
    assert rms(samples, truth.music_range.start, truth.music_range.end) > 1000
    assert truth.silence and truth.silence[0].start == 0.0
    for quiet in truth.silence:
        if quiet.end - quiet.start > 0.1:
            assert rms(samples, quiet.start + 0.03, quiet.end - 0.03) < 30, quiet
    labels = [label for _, _, label in truth.audio_events()]
    assert labels == ["silence", "speech", "silence", "music", "silence"]
    covered = sum(end - start for start, end, _ in truth.audio_events())
    assert covered == pytest.approx(truth.duration)


def test_truth_json_round_trips(short: tuple[Path, Truth]) -> None:
    _, truth = short
    text = truth.to_json()
    assert Truth.from_json(text) == truth
    assert json.loads(text)["format"] == 1
    with pytest.raises(InputError):
        Truth.from_json('{"format": 99}')
    with pytest.raises(InputError):
        Truth.from_json("[]")


def test_same_spec_same_bytes(short: tuple[Path, Truth], tmp_path: Path) -> None:
    path, truth = short
    again = tmp_path / "again.mp4"
    assert make_clip(again, SHORT) == truth
    assert again.read_bytes() == path.read_bytes()


# -- bad-input variants ---------------------------------------------------------------------------


def test_no_audio_track(tmp_path: Path) -> None:
    path = tmp_path / "mute.mp4"
    truth = make_clip(path, replace(SHORT, audio=False))
    assert kinds(path) == ["video"]
    assert not truth.has_audio and truth.speech == () and truth.music == () and truth.silence == ()
    assert truth.language is None and truth.cuts == (1.2,)


def test_no_video_track(tmp_path: Path) -> None:
    path = tmp_path / "speech.m4a"
    truth = make_clip(path, replace(SHORT, video=False, sample_rate=44100))
    assert kinds(path) == ["audio"]
    assert int(ffprobe(path)["streams"][0]["sample_rate"]) == 44100
    assert abs(float(ffprobe(path)["format"]["duration"]) - truth.duration) < 0.05
    assert not truth.has_video and truth.cuts == () and truth.faces == () and truth.captions == ()
    assert truth.language == "en" and len(truth.speech) == 1


def test_per_word_speech_has_word_timings(tmp_path: Path) -> None:
    spec = ClipSpec(
        scenes=(Scene(3.0, "black"),),
        speech=(SpeechLine("one two three", 0.25, per_word=True),),
        video=False,
    )
    (said,) = make_clip(tmp_path / "words.m4a", spec).speech
    assert [w.text for w in said.timed_words] == ["one", "two", "three"]
    assert said.timed_words[0].start == said.start == pytest.approx(0.25, abs=1 / 22050)
    assert said.timed_words[-1].end == said.end
    for a, b in zip(said.timed_words, said.timed_words[1:]):
        assert a.start < a.end < b.start < b.end


# -- errors ---------------------------------------------------------------------------------------


def test_missing_ffmpeg_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError) as info:
        make_clip(tmp_path / "x.mp4", SHORT)
    assert "ffmpeg" in str(info.value) and "apt-get install ffmpeg" in info.value.diagnostics()


def test_missing_espeak_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None
    (tmp_path / "ffmpeg").symlink_to(ffmpeg)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError) as info:
        make_clip(tmp_path / "x.mp4", SHORT)
    assert "apt-get install espeak-ng" in info.value.diagnostics()


def test_missing_font_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="font"):
        make_clip(tmp_path / "x.mp4", replace(SHORT, font=tmp_path / "nope.ttf"))


@pytest.mark.parametrize(
    "change",
    [
        {"scenes": ()},
        {"scenes": (Scene(1.0, "red;drawtext"),)},
        {"scenes": (Scene(0.0, "red"),)},
        {"captions": (Caption("LATE", 2.0, 3.5),)},
        {"captions": (Caption("TWO\nLINES", 0.0, 1.0),)},
        {"faces": (FaceOverlay(0.0, 1.0, size=400),)},
        {"music": (MusicSegment(2.5, 1.0),)},
        {"video": False, "audio": False},
        {"width": 321},
    ],
)
def test_bad_specs_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        replace(SHORT, **change)


def test_speech_past_the_end_is_refused(tmp_path: Path) -> None:
    spec = ClipSpec(scenes=(Scene(1.0, "red"),), speech=(SpeechLine("A long sentence here.", 0.6),))
    with pytest.raises(InputError, match="past the end"):
        make_clip(tmp_path / "x.mp4", spec)
    assert not (tmp_path / "x.mp4").exists()


# -- presets, the bundled sample, the command line -------------------------------------------


def test_presets_are_well_formed() -> None:
    sample = sample_spec()
    assert 20 <= sample.duration <= 30 and 3 <= len(sample.scenes) <= 4
    assert len(sample.speech) in (2, 3) and len(sample.faces) == 1 and len(sample.music) == 1
    words = [set(c.text.split()) for c in sample.captions]
    assert len(words) == 2 and not words[0] & words[1]
    for seconds in (60, 300, 47.6):
        spec = long_spec(seconds)
        assert spec.duration == pytest.approx(seconds)
        assert spec.speech and spec.captions and spec.faces and spec.music
        assert all(line.start_s + 5 <= seconds for line in spec.speech)
    assert long_spec(60) == long_spec(60)


def test_bundled_sample_matches_its_truth() -> None:
    truth = Truth.from_json(truth_path_for(SAMPLE).read_text(encoding="utf-8"))
    assert SAMPLE.stat().st_size < 2_000_000
    assert abs(float(ffprobe(SAMPLE)["format"]["duration"]) - truth.duration) < 0.05
    spec = sample_spec()
    assert truth.duration == spec.duration
    assert truth.cuts == (5.0, 12.0, 18.0)
    assert [c.text for c in truth.captions] == [c.text for c in spec.captions]
    assert [s.text for s in truth.speech] == [s.text for s in spec.speech]
    assert truth.face_range is not None and truth.music_range is not None
    assert truth.language == "en"


def test_face_asset_is_shipped() -> None:
    assert FACE_IMAGE.is_file() and FACE_IMAGE.stat().st_size < 30_000
    assert (FACE_IMAGE.parent / "README").is_file()


def test_command_line_writes_media_and_truth(tmp_path: Path) -> None:
    out = tmp_path / "clip.m4a"
    assert main(["--long", "6", "--no-video", str(out)]) == 0
    truth = Truth.from_json((tmp_path / "clip.truth.json").read_text(encoding="utf-8"))
    assert kinds(out) == ["audio"] and truth.duration == 6.0 and len(truth.speech) == 1


def test_command_line_reports_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main([str(tmp_path / "x.mp4")]) == 1
    assert "apt-get install ffmpeg" in capsys.readouterr().err
