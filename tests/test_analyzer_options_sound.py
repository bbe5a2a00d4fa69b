"""The sound and text analyzers' options are declared once: a misspelt option or a value out
of bounds is refused by name before any model is loaded, and what their decisions record
(``parameters``, part of the resume key) is what it was before the options were declared."""

from __future__ import annotations

from typing import Any

import pytest

from aiwork import analyzers
from aiwork.analyzers.audio_events import AudioEventsAnalyzer
from aiwork.analyzers.chapters import ChaptersAnalyzer
from aiwork.analyzers.keywords import KeywordsAnalyzer
from aiwork.analyzers.transcript import TranscriptAnalyzer
from aiwork.errors import InputError


@pytest.mark.parametrize(("name", "options", "named"), [
    # Each was ignored silently: the analyzer ran with its default instead.
    ("transcript", {"modle": "base"}, "modle"),
    ("audio_events", {"speech_treshold": 0.7}, "speech_treshold"),
    ("keywords", {"top_n": 5}, "top_n"),
    ("chapters", {"min_chapter": 4}, "min_chapter"),
    ("language", {"languages": ["ENGLISH"]}, "languages"),
])
def test_an_unknown_option_is_refused_by_name(name: str, options: dict[str, Any],
                                               named: str) -> None:
    with pytest.raises(InputError, match=f"analyzer {name}: unknown option '{named}'"):
        analyzers.load(name, options)


@pytest.mark.parametrize(("name", "options", "named"), [
    # Each was taken and failed only inside the model, mid-analysis (or never noticed).
    ("transcript", {"beam_size": 0}, "beam_size"),
    ("transcript", {"compute_type": "int3"}, "compute_type"),
    ("transcript", {"language": "French"}, "language"),
    ("transcript", {"served_languages": "en,fr"}, "served_languages"),
    ("transcript", {"threads": 0}, "threads"),
    ("audio_events", {"speech_threshold": 1.5}, "speech_threshold"),
    ("audio_events", {"smooth_frames": -1}, "smooth_frames"),
    ("keywords", {"top": 0}, "top"),
    ("chapters", {"min_chapter_seconds": -8}, "min_chapter_seconds"),
])
def test_a_value_out_of_bounds_is_refused_by_name(name: str, options: dict[str, Any],
                                                   named: str) -> None:
    with pytest.raises(InputError, match=f"analyzer {name}: option '{named}"):
        analyzers.load(name, options)


def test_parameters_are_what_they_were() -> None:
    assert TranscriptAnalyzer({"model": "tiny.en"}).parameters() == {
        "model": "tiny.en", "compute_type": "int8", "beam_size": 5, "language": None,
        "word_timestamps": True, "vad_filter": True,
        "vad": {"threshold": 0.5, "min_silence_duration_ms": 2000, "speech_pad_ms": 400},
        "no_speech_threshold": 0.6, "log_prob_threshold": -1.0,
        "condition_on_previous_text": False, "pieces": {"seconds": 120.0, "slack": 30.0}}
    choice = TranscriptAnalyzer({"served_languages": ["fr", "en", "fr"], "language": "",
                                 "threads": 2}).parameters()
    assert choice["language"] is None and "threads" not in choice
    assert choice["choice"] == {
        "identify": "base", "english": "tiny.en", "other": "base",
        "served_languages": ["en", "fr"], "min_confidence": 0.35, "span_seconds": 8.0,
        "span_vad": {"threshold": 0.5, "min_silence_duration_ms": 500, "speech_pad_ms": 100,
                     "min_speech_duration_ms": 250},
        "pool_share": 0.2, "decode_below": 0.6, "decode_share": 0.1,
        "transcribe_unserved": False}
    assert AudioEventsAnalyzer().parameters() == {
        "speech_threshold": 0.8, "aed_speech_threshold": 0.5, "min_speech": 0.25,
        "music_threshold": 0.5, "singing_threshold": 0.5, "min_music": 0.2,
        "smooth_frames": 5, "silence_db": -50.0, "min_silence": 0.5, "merge_gap": 0.3,
        "model_dir": None}
    assert AudioEventsAnalyzer({"model_dir": ""}).parameters()["model_dir"] is None
    assert KeywordsAnalyzer({"top": 5}).parameters() == {"top": 5, "max_ngram": 2}
    assert ChaptersAnalyzer().parameters() == {"min_chapter_seconds": 8.0}
