"""``aiwork models train custom_tags``: a new version trained on a released dataset of
reviewed custom tag items (keyframes from the store's blobs), registered with that dataset;
a dataset folder that is not the one released is refused. Real review engine, ledger, blobs,
EfficientNet-Lite0; the items come from bench/improve_tags.py's generated corpus."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from aiwork.crypto import write_key_file
from aiwork.digests import sha256_file
from aiwork.ledger.log import Log

from .conftest import bench_module, require

require("torch", "efficientnet_lite_pytorch", tools=("ffmpeg",))


def _bench() -> Any:
    return bench_module("improve_tags")


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store whose custom_tags items (a seed model's tags of six videos) were reviewed by
    simulated experts through the engine, and their export."""
    from aiwork.analyzers.tags import TagsAnalyzer
    from aiwork.learn.tags import TagExample, embed_examples, train_custom_tags

    bench = _bench()
    root = tmp_path_factory.mktemp("train-tags")
    seeds = bench.corpus(7, 4, "seed")
    videos = bench.corpus(7, 6, "review", reviewable=2)
    backbone = TagsAnalyzer({"drawn_signal": False})
    for video in (*seeds, *videos):
        video.features = embed_examples([TagExample(t, picture=p) for t, p in
                                         zip(video.truth, video.pictures, strict=True)],
                                        backbone)
    seed = train_custom_tags(bench.examples(seeds), root / "seed", name="seed")
    made: dict[str, Any] = bench.review_round(root / "store", 7, videos, seed.path, 0.0)
    made["keyfile"] = root / "approver.key"
    write_key_file(made["keyfile"], made["key"])
    return made


def _train(made: dict[str, Any], dataset: Path, out: Path) -> int:
    from aiwork.cli import main

    return main(["models", "train", "custom_tags", "--dataset", str(dataset), "--db",
                 str(made["db"]), "--key", str(made["keyfile"]), "--version", "2", "--out",
                 str(out)])


def test_a_version_trained_on_a_released_dataset_names_it(
        reviewed: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    released = json.loads((reviewed["dataset"] / "released.json").read_text())
    assert released["released"] == reviewed["released"]
    assert _train(reviewed, reviewed["dataset"], tmp_path / "weights") == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # kept in the model store (and copied to --out)
    from aiwork.analyzers.store import ModelStore

    weights = Path(printed["weights"])
    assert ModelStore.default().get("custom_tags", printed["weights_digest"]).files == (weights,)
    assert printed["weights_digest"] == sha256_file(weights)
    assert (tmp_path / "weights" / weights.name).read_bytes() == weights.read_bytes()
    with Log.open(reviewed["db"]) as log:
        entry = log.entry(printed["index"])
    assert entry.kind == "model.registered/v1"
    body = entry.body
    assert body["analyzer"] == "custom_tags" and body["version"] == "2"
    assert body["weights_digest"] == printed["weights_digest"]
    assert body["dataset"] == {"entry": released["released"], "digest": released["digest"]}
    # measured on the export's held-out splits (other videos than the ones it learned from)
    metrics = printed["metrics"]
    assert metrics["heldout"] > 0 and metrics["train"] > 0
    assert 0.0 <= body["metrics"]["heldout_accuracy"] <= 1.0
    rows = [json.loads(line) for f in sorted((reviewed["dataset"] / "data").glob("*.jsonl"))
            for line in f.read_text().splitlines()]
    kept = [r for r in rows if r["outcome"] != "rejected"]
    assert metrics["train"] + metrics["heldout"] == len(kept)
    assert metrics["heldout"] == sum(r["split"] != "train" for r in kept)
    # the analyzer loads it: its tags are the experts' final tags
    from aiwork.analyzers.custom_tags import custom_tags_model

    assert set(custom_tags_model(weights).labels) == {json.loads(r["final_value"])
                                                      for r in kept}

    # Promoted, it runs: aiwork process loads it from the model store, its decision names the
    # registration, and aiwork lineage goes from that decision to the dataset and the experts
    # who validated the items it learned from.
    from aiwork.cli import main
    from aiwork.ledger.registry import lineage
    from aiwork.pipeline.process import ProcessOptions, Processor

    assert main(["models", "promote", "custom_tags", str(printed["index"]), "--key",
                 str(reviewed["keyfile"]), "--db", str(reviewed["db"])]) == 0
    clip = _clip(tmp_path / "scenes.mp4")
    with Processor(ProcessOptions(analyzers=["custom_tags"]), db=reviewed["db"]) as proc:
        report = proc.process(clip, tmp_path / "processed")
        assert report.status == "processed", report.error
        index = next(i for i in range(proc.log.size - 1, -1, -1)
                     if proc.log.entry(i).kind.startswith("ai.decision"))
        decision = proc.log.entry(index).body
        found = lineage(proc.log, index)
    assert decision["analyzer"] == "custom_tags"
    assert decision["model"]["registration"] == printed["index"]
    assert decision["model"]["weights_digest"] == printed["weights_digest"]
    model = found["models"][0]
    assert model["index"] == printed["index"]
    assert model["dataset"]["index"] == released["released"]
    assert model["dataset"]["consensus"] == sorted(r["consensus"] for r in rows)
    assert {e["did"] for e in model["dataset"]["experts"]} <= {
        key.did for key, _ in _bench().Crowd(7).keys}


def _clip(path: Path) -> Path:
    """A 4 s video of two generated scenes (outdoor, then screen text), one frame a second."""
    import random
    import subprocess

    from PIL import Image

    bench = _bench()
    rng = random.Random(5)
    for n, tag in enumerate(("outdoor", "outdoor", "screen text", "screen text")):
        Image.fromarray(bench.draw(tag, rng)).save(path.parent / f"scene{n}.png")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-framerate", "1", "-i",
                    str(path.parent / "scene%d.png"), "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-r", "10", str(path)], check=True)
    return path


def test_a_dataset_folder_that_is_not_the_released_one_is_refused(
        reviewed: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Log.open(reviewed["db"]) as log:
        size = log.size
    # a row's tag changed after the release
    changed = tmp_path / "changed"
    shutil.copytree(reviewed["dataset"], changed)
    data = sorted((changed / "data").glob("*.jsonl"))[0]
    rows = data.read_text().splitlines()
    row = json.loads(rows[0])
    row["final_value"] = json.dumps("a tag nobody gave")
    data.write_text("\n".join([json.dumps(row, sort_keys=True), *rows[1:]]) + "\n")
    assert _train(reviewed, changed, tmp_path / "w1") != 0
    assert "is not the file entry" in capsys.readouterr().err
    # a record naming another entry of the ledger
    other = tmp_path / "other"
    shutil.copytree(reviewed["dataset"], other)
    record = json.loads((other / "released.json").read_text())
    (other / "released.json").write_text(json.dumps({**record, "released": 0}))
    assert _train(reviewed, other, tmp_path / "w2") != 0
    assert "not the dataset.released entry" in capsys.readouterr().err
    # a version the registry would refuse, a parent that is no custom_tags registration
    from aiwork.cli import main

    base = ["models", "train", "custom_tags", "--dataset", str(reviewed["dataset"]), "--db",
            str(reviewed["db"]), "--key", str(reviewed["keyfile"])]
    assert main([*base, "--version", "v" * 65]) != 0
    assert "1 to 64 printable characters" in capsys.readouterr().err
    assert main([*base, "--version", "3", "--parent", str(reviewed["released"])]) != 0
    assert "not a model.registered one" in capsys.readouterr().err
    # no record at all
    (other / "released.json").unlink()
    assert _train(reviewed, other, tmp_path / "w3") != 0
    assert "has no released.json" in capsys.readouterr().err
    with Log.open(reviewed["db"]) as log:
        assert log.size == size  # nothing registered
    assert not any((tmp_path / w).exists() for w in ("w1", "w2", "w3"))
    from aiwork.analyzers.store import ModelStore

    assert ModelStore.default().digests("custom_tags") == []


def test_a_keyframe_missing_from_the_store_is_named_and_nothing_is_registered(
        reviewed: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from aiwork.analyzers.store import ModelStore

    copy = tmp_path / "store"
    shutil.copytree(Path(reviewed["db"]).parent, copy)
    rows = [json.loads(line) for f in sorted((reviewed["dataset"] / "data").glob("*.jsonl"))
            for line in f.read_text().splitlines()]
    gone = next(r["keyframe"] for r in rows if r["outcome"] != "rejected")
    hexdigest = gone.removeprefix("sha256:")
    (copy / "blobs" / "sha256" / hexdigest[:2] / hexdigest[2:]).unlink()
    db = copy / Path(reviewed["db"]).name
    with Log.open(db) as log:
        size = log.size
    assert _train({**reviewed, "db": db}, reviewed["dataset"], tmp_path / "w") != 0
    assert f"the store holds no keyframe {gone}" in capsys.readouterr().err
    with Log.open(db) as log:
        assert log.size == size
    assert ModelStore.default().digests("custom_tags") == [] and not (tmp_path / "w").exists()
