"""Agreement measures between replicas: each insight compared with a fitting measure."""

from __future__ import annotations

from typing import Any

import pytest

from aiwork.quality import agreement, agrees, word_error_rate


def shots(*starts: float) -> list[dict[str, Any]]:
    bounds = [*starts, 30.0]
    return [{"id": i, "decision": 7, "instances": [{"start": s, "end": e}]}
            for i, (s, e) in enumerate(zip(bounds, bounds[1:], strict=False))]


def transcript(*texts: str) -> dict[str, Any]:
    return {"language": "en", "segments": [{"id": i, "text": t, "instances": []}
                                           for i, t in enumerate(texts)]}


def test_identical_results_agree_fully_whatever_their_decision_index() -> None:
    a, b = shots(0, 5, 12), shots(0, 5, 12)
    for item in b:
        item["decision"] = 99
    assert agreement("shots", a, b) == 1.0 and agrees("shots", a, b)


def test_cuts_agree_within_the_tolerance_only() -> None:
    assert agreement("shots", shots(0, 5.0, 12.0), shots(0, 5.15, 11.9)) == 1.0
    assert agreement("shots", shots(0, 5.0, 12.0), shots(0, 5.5, 12.0)) == 0.5
    assert not agrees("shots", shots(0, 5.0, 12.0), shots(0, 8.0))


def test_transcripts_compare_by_word_error_rate() -> None:
    assert word_error_rate("a b c d".split(), "a x c d".split()) == 0.25
    same = transcript("Welcome to the evening news.")
    assert agreement("transcript", same, transcript("welcome to the evening news")) == 1.0
    garbled = transcript("Welcome to the morning blues.")
    assert agreement("transcript", same, garbled) == pytest.approx(0.6)
    assert not agrees("transcript", same, garbled)


def test_time_ranges_compare_by_overlap() -> None:
    face = [{"id": 0, "max_count": 1, "instances": [{"start": 6.0, "end": 11.0}]}]
    shifted = [{"id": 0, "max_count": 1, "instances": [{"start": 7.0, "end": 11.0}]}]
    assert agreement("faces", face, shifted) == 0.8 and agrees("faces", face, shifted)
    assert agreement("faces", face, []) == 0.0
    events = [{"id": 0, "label": "speech", "instances": [{"start": 0, "end": 4}]},
              {"id": 1, "label": "music", "instances": [{"start": 10, "end": 14}]}]
    swapped = [{"id": 0, "label": "music", "instances": [{"start": 0, "end": 4}]},
               {"id": 1, "label": "speech", "instances": [{"start": 10, "end": 14}]}]
    assert agreement("audio_events", events, events) == 1.0
    assert agreement("audio_events", events, swapped) == 0.0


def test_labels_and_exact_facts() -> None:
    tags = [{"label": "espresso"}, {"label": "cup"}]
    assert agreement("tags", tags, [{"label": "espresso"}]) == 0.5
    tech = {"duration": 24.0, "width": 640}
    assert agreement("technical", tech, dict(tech)) == 1.0
    assert agreement("technical", tech, {**tech, "width": 641}) == 0.0
    assert agreement("language", {"spoken": "en", "text": "en", "decision": 3},
                     {"spoken": "en", "text": "en"}) == 1.0
    ocr = [{"text": "BREAKING NEWS", "instances": [{"start": 1, "end": 5}]}]
    assert agreement("ocr", ocr, [{"text": "breaking  news", "instances": [{"start": 1, "end": 5}]}]) == 1.0
    assert agreement("ocr", ocr, [{"text": "WEATHER", "instances": [{"start": 20, "end": 25}]}]) == 0.0


def with_keyframes(items: list[dict[str, Any]], *digits: str) -> list[dict[str, Any]]:
    return [{**item, "keyframe": {"time": item["instances"][0]["start"],
                                  "file": f"keyframes/shot-{n:04d}.jpg",
                                  "digest": "sha256:" + d * 64}}
            for n, (item, d) in enumerate(zip(items, digits, strict=True))]


def test_results_that_write_other_files_do_not_agree_whatever_their_cuts() -> None:
    honest = with_keyframes(shots(0, 5, 12), "a", "b", "c")
    assert agrees("shots", honest, with_keyframes(shots(0, 5, 12), "a", "b", "c"))
    other_bytes = with_keyframes(shots(0, 5, 12), "a", "b", "f")  # same cuts, other frame
    assert agreement("shots", honest, other_bytes) < 1.0
    assert not agrees("shots", honest, other_bytes)
    renamed = [dict(item) for item in honest]
    renamed[2] = {**renamed[2], "keyframe": {**renamed[2]["keyframe"], "file": "keyframes/x.sh"}}
    assert not agrees("shots", honest, renamed)
    assert not agrees("shots", honest, shots(0, 5, 12))  # a result without keyframes
    # A gold answer states cut times only: its comparison leaves keyframes out.
    assert agrees("shots", honest, shots(0, 5, 12), files=False)
    assert agreement("shots", honest, shots(0, 5, 12), files=False) == 1.0
