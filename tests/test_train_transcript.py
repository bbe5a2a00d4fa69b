"""``aiwork models train transcript``: a glossary learned from a released dataset of reviewed
transcript items, adopted only where it lowers the word error rate on the held-out videos'
speech (cut from the store's blobs), kept in the model store and registered with the dataset;
a glossary that does not help, a dataset without its media, are refused and change nothing.
Real review engine, ledger, blobs, espeak-ng speech and Whisper tiny.en; the store comes from
bench/improve_speech.py's generated corpus."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from aiwork.crypto import SigningKey, write_key_file
from aiwork.ledger.log import Log

from .conftest import bench_module, require
from .sounds import speak, speech_clip

require("faster_whisper", tools=("espeak-ng", "ffmpeg"))


def _bench() -> Any:
    return bench_module("improve_speech")


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store whose transcript items (Whisper tiny.en on six videos of a made-up clinic's
    speech) were corrected by simulated experts through the engine, and their export."""
    root = tmp_path_factory.mktemp("train-transcript")
    made: dict[str, Any] = _bench().review_round(root / "store", 7, 6, 2)
    made["keyfile"] = root / "approver.key"
    write_key_file(made["keyfile"], made["key"])
    return made


def _train(made: dict[str, Any], out: Path, db: Path | None = None,
           dataset: Path | None = None) -> int:
    from aiwork.cli import main

    return main(["models", "train", "transcript", "--dataset", str(dataset or made["dataset"]),
                 "--db", str(db or made["db"]), "--key", str(made["keyfile"]), "--version",
                 "clinic-1", "--out", str(out)])


def test_a_glossary_trained_on_a_released_dataset_is_kept_and_registered(
        reviewed: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from aiwork.analyzers.store import ModelStore
    from aiwork.analyzers.transcript import TranscriptAnalyzer
    from aiwork.analyzers.transcript.analyzer import read_glossary_file
    from aiwork.ledger.registry import models

    assert _train(reviewed, tmp_path / "out") == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    with Log.open(reviewed["db"]) as log:
        entry = log.entry(printed["index"])
        assert [m.index for m in models(log, "transcript")] == [printed["index"]]
    assert entry.kind == "model.registered/v1"
    body = entry.body
    assert body["analyzer"] == "transcript" and body["version"] == "clinic-1"
    assert body["dataset"] == {"entry": reviewed["released"], "digest": reviewed["digest"]}
    # The glossary: the clinic's names the experts corrected, measured on held-out videos.
    terms = printed["glossary"]
    assert {"Zorvathek", "Pyndrasil"} & set(terms)
    metrics = body["metrics"]
    assert metrics["heldout_wer_after"] < metrics["heldout_wer_before"]
    assert metrics["heldout_segments"] > 0 and printed["metrics"]["train_corrected"] > 0
    rows = [json.loads(line) for f in sorted((reviewed["dataset"] / "data").glob("*.jsonl"))
            for line in f.read_text().splitlines()]
    assert metrics["heldout_segments"] == sum(
        r["split"] != "train" and r["final_value"] is not None for r in rows)
    # Kept in the model store under the registration's digest: the analyzer's own digest
    # with those options (Whisper tiny.en's weights and the glossary), which its decisions
    # record and the store checks.
    stored = ModelStore.default().get("transcript", body["weights_digest"])
    options = read_glossary_file(stored.files)
    assert options == {"glossary": terms, "glossary_as": "hotwords", "model": "tiny.en"}
    assert TranscriptAnalyzer(options).model().weights_digest == body["weights_digest"]
    assert printed["weights_digest"] == body["weights_digest"]
    assert Path(printed["weights"]).read_bytes() == stored.files[0].read_bytes()

    # Promoted, it runs: aiwork process gives the transcript analyzer the glossary from the
    # model store, and the decision names the registration.
    from aiwork.cli import main
    from aiwork.pipeline.process import ProcessOptions, Processor

    assert main(["models", "promote", "transcript", str(printed["index"]), "--key",
                 str(reviewed["keyfile"]), "--db", str(reviewed["db"])]) == 0
    clip = speech_clip("Doctor Zorvathek prescribed Pyndrasil for the patient.",
                        tmp_path / "visit.mp4")
    with Processor(ProcessOptions(analyzers=["transcript"]), db=reviewed["db"]) as proc:
        report = proc.process(clip, tmp_path / "processed")
        assert report.status == "processed", report.error
        decision = next(entry.body for i in range(proc.log.size - 1, -1, -1)
                        if (entry := proc.log.entry(i)).kind.startswith("ai.decision"))
    assert decision["analyzer"] == "transcript"
    assert decision["model"]["registration"] == printed["index"]
    assert decision["model"]["weights_digest"] == body["weights_digest"]
    assert decision["parameters"]["glossary"] == terms


def test_a_dataset_whose_media_is_not_in_the_store_is_refused(
        reviewed: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "store"
    shutil.copytree(reviewed["db"].parent, copy)
    shutil.rmtree(copy / "blobs")
    with Log.open(copy / "store.db") as log:
        size = log.size
    assert _train(reviewed, tmp_path / "out", db=copy / "store.db",
                  dataset=copy / "dataset") != 0
    assert "holds no media" in capsys.readouterr().err
    with Log.open(copy / "store.db") as log:
        assert log.size == size
    assert not (tmp_path / "out").exists()


def test_a_glossary_that_does_not_lower_wer_is_neither_kept_nor_registered(
        tmp_path: Path) -> None:
    from aiwork.analyzers.store import ModelStore
    from aiwork.ledger.home import init_ledger
    from aiwork.learn.glossary import train_and_register_glossary

    # Corrections put in another domain's terms; the held-out videos never say them.
    asset = "sha256:" + "b" * 64
    spoken = {1.0: "We met the doctor near the station.",
              5.0: "Please open the door and sit down."}
    rows = [{"id": "t1", "insight": "transcript", "split": "train", "outcome": "corrected",
             "ai_value": json.dumps("the quill a brand hex a four"),
             "final_value": json.dumps("the Quillibrand Hexaphore"),
             "asset": "sha256:" + "a" * 64, "start": 0.0, "end": 2.0}]
    rows += [{"id": f"h{n}", "insight": "transcript", "split": "test", "outcome": "accepted",
              "ai_value": json.dumps(text), "final_value": json.dumps(text), "asset": asset,
              "start": start, "end": start + 3.0}
             for n, (start, text) in enumerate(spoken.items())]
    store = ModelStore(tmp_path / "models")
    log = init_ledger(tmp_path / "ledger.db", origin="train.example/log")
    size = log.size
    made = train_and_register_glossary(
        log, SigningKey.generate(), rows, lambda a, s, e: speak(spoken[s]),
        version="other-1", dataset=(0, "sha256:" + "c" * 64), store=store)
    decision = made.trained.decision
    assert decision.glossary == ("Quillibrand", "Hexaphore")
    assert not decision.adopted and decision.wer_after >= decision.wer_before, decision.reason
    assert made.index is None and made.stored is None
    assert log.size == size and store.digests("transcript") == []
