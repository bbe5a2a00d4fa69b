"""Analyzer options are declared once (names, defaults, bounds): a misspelt option or a value
out of bounds is refused by name before any work, and what a decision records is the
declared settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiwork import analyzers
from aiwork.analyzers.options import AnalyzerOptions
from aiwork.analyzers.shots import ShotsAnalyzer, ShotsOptions
from aiwork.analyzers.technical import TechnicalAnalyzer
from aiwork.errors import InputError


@pytest.mark.parametrize(("name", "options", "named"), [
    ("shots", {"thresold": 30}, "thresold"),  # misspelt: it used to be ignored silently
    ("ocr", {"every_second": 1.0}, "every_second"),
    ("technical", {"anything": 1}, "anything"),
])
def test_an_unknown_option_is_refused_by_name(name: str, options: dict[str, Any],
                                               named: str) -> None:
    with pytest.raises(InputError, match=f"analyzer {name}: unknown option '{named}'") as caught:
        analyzers.load(name, options)
    assert caught.value.hint is not None and "its options:" in caught.value.hint


@pytest.mark.parametrize(("name", "options", "named"), [
    ("shots", {"scan_every": 0}, "scan_every"),  # used to divide by zero mid-decoding
    ("shots", {"gradual": "maybe"}, "gradual"),
    ("ocr", {"every_seconds": -2.0}, "every_seconds"),
    ("ocr", {"min_confidence": 1.5}, "min_confidence"),
])
def test_a_value_out_of_bounds_is_refused_by_name(name: str, options: dict[str, Any],
                                                   named: str) -> None:
    with pytest.raises(InputError, match=f"analyzer {name}: option '{named}'"):
        analyzers.load(name, options)


def test_parameters_are_the_declared_settings() -> None:
    # The same keys and values as before the options were declared (part of resume keys).
    assert ShotsAnalyzer().parameters() == {
        "threshold": 22.0, "min_shot_seconds": 0.6, "scan_every": 2, "motion_ratio": 2.0,
        "place_late_cuts": True, "gradual": True, "gradual_min_change": 14.0,
        "gradual_max_error": 0.18}
    tuned = ShotsAnalyzer({"threshold": 30, "scan_every": 3})
    assert tuned.parameters() == {**ShotsOptions.model_validate({}).recorded(), "threshold": 30.0,
                                  "scan_every": 3}
    assert tuned.scan_every == 3  # what the decoding pass reads
    assert TechnicalAnalyzer().parameters() == AnalyzerOptions().recorded() == {}


def test_a_safety_class_threshold_names_a_known_class() -> None:
    # A misspelt NudeNet class used to be dropped silently, its threshold never applied.
    with pytest.raises(InputError, match="option 'class_thresholds'.*ANUS_EXPOSD"):
        analyzers.load("safety", {"class_thresholds": {"ANUS_EXPOSD": 0.9}})
    with pytest.raises(InputError, match="option 'agreement_frames'"):
        analyzers.load("safety", {"agreement_frames": 0})


def test_the_picture_analyzers_refuse_what_they_do_not_know() -> None:
    with pytest.raises(InputError, match="analyzer faces: option 'detector'"):
        analyzers.load("faces", {"detector": "dnn"})  # was "unavailable here"
    with pytest.raises(InputError, match="analyzer tags: unknown option 'min_probabilty'"):
        analyzers.load("tags", {"min_probabilty": 0.5})
    with pytest.raises(InputError, match="analyzer tags: option 'batch_size'"):
        analyzers.load("tags", {"batch_size": 0})


def test_a_bad_option_is_refused_before_the_store_is_touched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aiwork.pipeline.process import ProcessOptions, Processor

    monkeypatch.setenv("AIWORK_HOME", str(tmp_path / "home"))
    options = ProcessOptions(analyzers=["technical", "shots"],
                             settings={"shots": {"thresold": 30}})
    with pytest.raises(InputError, match="unknown option 'thresold'"):
        Processor(options, db=tmp_path / "store.db")
    assert list(tmp_path.iterdir()) == []  # no store, no blobs, no worker key
