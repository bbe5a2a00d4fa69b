"""bench/improve.py on a small corpus: each gain of the improvement loop goes the right way."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import bench_module, require


def test_one_round_lowers_calibration_error_and_saves_verdicts(tmp_path: Path) -> None:
    require("torch", "efficientnet_lite_pytorch", "faster_whisper", tools=("espeak-ng",))
    bench = bench_module("improve")
    out = tmp_path / "improve.json"
    assert bench.main(["--videos", "20", "--items", "12", "--capacity", "6", "--seed", "11",
                       "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    cal, routing = figures["calibration"], figures["routing"]
    assert cal["ece_after"] < cal["ece_before"] and 0 < cal["error_reduction"] <= 1
    every, routed = routing["review_everything"], routing["calibrated_active"]
    assert routed["verdicts"] < every["verdicts"]
    # Calibrated routing lets fewer of the detector's errors through than the raw rule.
    assert routed["final_accuracy"] > routing["raw_confidence_below_0.6"]["final_accuracy"]
    # The reduction is counted only at equal final accuracy (this small corpus need not
    # reach it: 120 verified items make a coarse calibration).
    reached = routed["final_accuracy"] >= every["final_accuracy"]
    assert routing["equal_accuracy_reached"] is reached
    assert routing["verdict_reduction"] == (
        round(1 - routed["verdicts"] / every["verdicts"], 4) if reached else 0.0)
    # Custom tags (bench/improve_tags.py, small corpus): one round of review through the
    # engine, exported and trained on by aiwork models train, beats the seed model held out.
    tags = figures["custom_tags"]
    assert tags["measured"] is True and tags["corpus"]["held_out_frames"] > 0
    assert tags["after"] > tags["before"] and 0 < tags["error_reduction"] <= 1
    assert tags["review"]["outcomes"].get("corrected", 0) > 0
    assert tags["registered"]["metrics"]["heldout"] > 0
    # Speech (bench/improve_speech.py, small corpus: 6 videos of espeak-ng speech, Whisper
    # tiny.en): transcript corrections reviewed through the engine, exported, a glossary
    # trained and adopted on the held-out videos lowers the WER on the domain's terms.
    speech = figures["domain_wer"]
    assert speech["measured"] is True, speech.get("why")
    assert speech["glossary"]["adopted"], speech["glossary"]["reason"]
    assert speech["glossary"]["registration"] is not None and speech["glossary"]["terms"]
    assert speech["after"] < speech["before"] and 0 < speech["error_reduction"] <= 1
    assert speech["overall_wer_after"] < speech["overall_wer_before"]
    assert speech["held_out_terms"] > 0 and speech["corpus"]["train_corrected"] > 0

