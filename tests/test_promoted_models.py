"""Analyzers load the promoted version: ``aiwork process`` runs an analyzer's promoted
registration (its files read from the model store) unless its options name other weights,
the decision names that registration, and a promoted version whose files are missing or
altered is a clear error. ``custom_tags`` is listed but runs only when asked for."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aiwork import analyzers
from aiwork.analyzers.store import ModelStore
from aiwork.cli import main
from aiwork.crypto import SigningKey
from aiwork.errors import ModelStoreError
from aiwork.ledger.home import init_ledger, open_ledger
from aiwork.ledger.registry import promote_model, register_model
from aiwork.learn.tags import TagExample, TrainedTags, train_custom_tags
from aiwork.pipeline.process import ProcessOptions, Processor

from .conftest import make_two_scene_clip, require

require("torch", "efficientnet_lite_pytorch", "PIL", tools=("ffmpeg",))


def _trained(folder: Path, seed: int) -> TrainedTags:
    rng = np.random.default_rng(seed)
    examples = [TagExample(label, features=(rng.normal(size=1280) + (3.0 if n % 2 else -3.0)
                                            ).astype(np.float32), video=f"{label}-{n % 4}")
                for n, label in enumerate(["crowd", "studio interview"] * 12)]
    return train_custom_tags(examples, folder, seed=seed)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_two_scene_clip(tmp_path_factory.mktemp("media") / "scenes.mp4")


def test_custom_tags_is_listed_but_never_run_by_default(capsys: pytest.CaptureFixture[str],
                                                        tmp_path: Path) -> None:
    assert "custom_tags" in analyzers.REGISTRY and "custom_tags" not in analyzers.DEFAULT
    code, out, _ = run(capsys, "analyzers", "--json")
    rows = {row["name"]: row for row in map(json.loads, out.splitlines())}
    assert rows["custom_tags"]["available"] is False
    assert "aiwork models promote custom_tags" in rows["custom_tags"]["reason"]
    with Processor(ProcessOptions(), db=tmp_path / "store.db") as processor:
        assert "custom_tags" not in processor.analyzers
        assert "custom_tags" not in processor.unavailable
        assert set(processor.analyzers) | set(processor.unavailable) == set(analyzers.DEFAULT)


def test_aiwork_process_runs_the_promoted_custom_tags_and_names_the_registration(
        clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, keyfile = tmp_path / "store.db", tmp_path / "me.pem"
    assert run(capsys, "ledger", "init", "--db", str(db))[0] == 0
    assert run(capsys, "keys", "new", "--out", str(keyfile))[0] == 0
    first, second = _trained(tmp_path / "v1", 1), _trained(tmp_path / "v2", 2)
    indexes = []
    for n, trained in enumerate((first, second)):
        code, out, err = run(capsys, "models", "register", "custom_tags", str(n + 1),
                             "--db", str(db), "--weights", str(trained.path),
                             "--key", str(keyfile))
        assert code == 0, err
        indexes.append(json.loads(out)["index"])
    # The trained files can go: the store keeps them.
    shutil.rmtree(tmp_path / "v1")
    shutil.rmtree(tmp_path / "v2")
    assert run(capsys, "models", "promote", "custom_tags", str(indexes[1]), "--db", str(db),
               "--key", str(keyfile))[0] == 0
    code, _, err = run(capsys, "process", str(clip), "--analyzers", "custom_tags",
                       "--db", str(db))
    assert code == 0, err
    with open_ledger(db, readonly=True) as log:
        decisions = [log.entry(i) for i in range(log.size)
                     if log.entry(i).kind.startswith("ai.decision")]
    assert [d.body["analyzer"] for d in decisions] == ["custom_tags"]
    model = decisions[0].body["model"]
    assert model["weights_digest"] == second.digest and model["registration"] == indexes[1]
    code, out, err = run(capsys, "show", str(clip), "--db", str(db), "--insight", "custom_tags")
    assert code == 0, err
    shown = json.loads(out)
    assert isinstance(shown, list)
    assert all(item["source"] == f"custom:{item['label']}" for item in shown)


def test_the_options_given_win_over_the_promoted_version(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    key = SigningKey.generate()
    store = ModelStore.default()
    promoted, given = _trained(tmp_path / "p", 3), _trained(tmp_path / "g", 4)
    with init_ledger(db, origin="promoted.example/log") as log:
        store.put("custom_tags", [promoted.path])
        index = register_model(log, key, analyzer="custom_tags", version="1",
                               weights_digest=promoted.digest)
        promote_model(log, key, "custom_tags", index)
    with Processor(ProcessOptions(analyzers=["custom_tags"]), db=db) as processor:
        assert processor.analyzers["custom_tags"].model().weights_digest == promoted.digest
    chosen = ProcessOptions(analyzers=["custom_tags"],
                            settings={"custom_tags": {"model": str(given.path)}})
    with Processor(chosen, db=db) as processor:
        assert processor.analyzers["custom_tags"].model().weights_digest == given.digest


def test_a_promoted_version_missing_or_altered_in_the_store_is_a_clear_error(
        clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "store.db"
    key = SigningKey.generate()
    trained = _trained(tmp_path / "t", 5)
    with init_ledger(db, origin="promoted.example/log") as log:
        index = register_model(log, key, analyzer="custom_tags", version="1",
                               weights_digest=trained.digest)
        promote_model(log, key, "custom_tags", index)
        size = log.size
    # Registered and promoted, but its files were never kept: no fallback, no run.
    with pytest.raises(ModelStoreError, match=f"promoted version of custom_tags \\(entry "
                                              f"{index}\\).*no files in the model store"):
        Processor(ProcessOptions(analyzers=["custom_tags"]), db=db)
    code, _, err = run(capsys, "process", str(clip), "--analyzers", "custom_tags",
                       "--db", str(db))
    assert code == 1 and "no files in the model store" in err
    # Kept, then altered on disk: refused as altered.
    stored = ModelStore.default().put("custom_tags", [trained.path])
    data = bytearray(stored.files[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.files[0].write_bytes(bytes(data))
    code, _, err = run(capsys, "process", str(clip), "--analyzers", "custom_tags",
                       "--db", str(db))
    assert code == 1 and "altered" in err
    with open_ledger(db, readonly=True) as log:
        assert log.size == size  # nothing was processed or logged


def test_a_promoted_glossary_runs_with_its_whisper_model(tmp_path: Path) -> None:
    require("faster_whisper")
    from aiwork.analyzers.transcript.analyzer import glossary_files

    db = tmp_path / "store.db"
    key = SigningKey.generate()
    stored = ModelStore.default().put_bytes(
        "transcript", glossary_files(["Zorblax", "Quillon"], "hotwords", "tiny.en"))
    with init_ledger(db, origin="promoted.example/log") as log:
        index = register_model(log, key, analyzer="transcript", version="glossary-1",
                               weights_digest=stored.digest)
        promote_model(log, key, "transcript", index)
    with Processor(ProcessOptions(analyzers=["transcript"]), db=db) as processor:
        transcript = processor.analyzers["transcript"]
        assert transcript.options == {"glossary": ["Zorblax", "Quillon"],
                                      "glossary_as": "hotwords", "model": "tiny.en"}
        assert transcript.model().weights_digest == stored.digest
        assert processor.registrations.of("transcript", stored.digest) == index
    # The user's own Whisper model: the promoted glossary (registered with tiny.en) is not
    # mixed into it.
    own = ProcessOptions(analyzers=["transcript"], settings={"transcript": {"model": "base"}})
    with Processor(own, db=db) as processor:
        assert processor.analyzers["transcript"].options == {"model": "base"}


def test_a_job_asking_for_a_registered_model_is_leased_only_to_workers_running_it(
        tmp_path: Path, clip: Path) -> None:
    from aiwork.ledger.log import Log

    from .test_network import _worker, coordinator_with_clip

    _, app, req, _, digest = coordinator_with_clip(tmp_path, clip)
    wanted, other = _trained(tmp_path / "wanted", 6), _trained(tmp_path / "other", 7)
    with Log.open(tmp_path / "coord.db") as log:
        registered = register_model(log, SigningKey.generate(), analyzer="custom_tags",
                                    version="1", weights_digest=wanted.digest)
    job = req.submit_job(digest, ["custom_tags"], budget=10,
                         models={"custom_tags": registered})

    def worker(name: str, model: Path) -> Any:
        return _worker(app, tmp_path, name, ["custom_tags"],
                       settings={"custom_tags": {"model": str(model)}})

    elsewhere = worker("other", other.path)
    elsewhere.advertise()
    assert not elsewhere.run_once()  # runs other weights: not leased, nothing refused
    assert elsewhere.stats.failed == 0 and req.get_job(job.id).state == "open"
    running = worker("running", wanted.path)
    running.advertise()
    assert running.run_once() and running.stats.failed == 0, running.stats.errors
    assert req.get_job(job.id).state == "done"
    with Log.open(tmp_path / "coord.db") as log:
        decisions = [log.entry(i) for i in range(log.size)
                     if log.entry(i).kind.startswith("ai.decision")]
    assert [d.body["model"]["weights_digest"] for d in decisions] == [wanted.digest]


def test_a_worker_runs_the_version_its_coordinator_promoted(tmp_path: Path, clip: Path
                                                           ) -> None:
    from aiwork.ledger.log import Log

    from .test_network import _worker, coordinator_with_clip

    _, app, req, _, digest = coordinator_with_clip(tmp_path, clip)
    first, promoted = _trained(tmp_path / "first", 8), _trained(tmp_path / "promoted", 9)
    admin = SigningKey.generate()
    with Log.open(tmp_path / "coord.db") as log:
        indexes = [register_model(log, admin, analyzer="custom_tags", version=str(n),
                                  weights_digest=t.digest)
                   for n, t in enumerate((first, promoted))]
        promote_model(log, admin, "custom_tags", indexes[1])
    listed = req.list_models()
    assert [(m.index, m.weights_digest, m.in_use) for m in listed] == [
        (indexes[0], first.digest, False), (indexes[1], promoted.digest, True)]

    def worker(name: str, store: ModelStore) -> Any:
        return _worker(app, tmp_path, name, ["custom_tags"], models=store)

    # The worker's model store lacks the promoted files: a clear error, nothing advertised.
    bare = worker("bare", ModelStore(tmp_path / "bare-models"))
    assert bare.capabilities == []  # custom_tags needs a model
    with pytest.raises(ModelStoreError, match=f"promoted version of custom_tags \\(entry "
                                              f"{indexes[1]}\\)"):
        bare.advertise()
    assert all(w.did != bare.key.did for w in req.list_workers())
    # With the files in its store, it runs and advertises the promoted version.
    store = ModelStore(tmp_path / "models")
    store.put("custom_tags", [promoted.path])
    running = worker("running", store)
    running.advertise()
    assert running.capabilities == ["custom_tags"]
    shown = {w.did: w for w in req.list_workers()}[running.key.did]
    assert shown.analyzers["custom_tags"]["model"]["registration"] == indexes[1]
    job = req.submit_job(digest, ["custom_tags"], budget=10,
                         models={"custom_tags": indexes[1]})
    assert running.run_once() and running.stats.failed == 0, running.stats.errors
    assert req.get_job(job.id).state == "done"
    with Log.open(tmp_path / "coord.db") as log:
        decisions = [log.entry(i) for i in range(log.size)
                     if log.entry(i).kind.startswith("ai.decision")]
    # The decision names the coordinator's registration of the weights it ran.
    assert [d.body["model"]["registration"] for d in decisions] == [indexes[1]]
    assert decisions[0].body["model"]["weights_digest"] == promoted.digest


def test_the_analyzer_lists_say_which_version_runs(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from aiwork.api.app import create_app
    from aiwork.api.state import ServerSettings
    from aiwork.ledger.log import Log

    from .test_network import client_for

    # aiwork analyzers: the promoted custom tags are available; missing files say so.
    db, key = tmp_path / "store.db", SigningKey.generate()
    trained = _trained(tmp_path / "t", 10)
    with init_ledger(db, origin="promoted.example/log") as log:
        index = register_model(log, key, analyzer="custom_tags", version="1",
                               weights_digest=trained.digest)
        promote_model(log, key, "custom_tags", index)
    code, out, _ = run(capsys, "analyzers", "--json", "--db", str(db))
    rows = {row["name"]: row for row in map(json.loads, out.splitlines())}
    assert rows["custom_tags"]["available"] is False
    assert f"entry {index}" in rows["custom_tags"]["reason"]
    assert "no files in the model store" in rows["custom_tags"]["reason"]
    assert rows["technical"]["available"] is True  # the others are listed as ever
    ModelStore.default().put("custom_tags", [trained.path])
    code, out, _ = run(capsys, "analyzers", "--json", "--db", str(db))
    rows = {row["name"]: row for row in map(json.loads, out.splitlines())}
    assert rows["custom_tags"]["model"]["weights_digest"] == trained.digest

    # GET /v1/analyzers: the promoted entry, and what makes a worker offer custom_tags.
    settings = ServerSettings(db=tmp_path / "coord.db", key=SigningKey.generate(),
                              open_registration=True, starting_credits=1000)
    app = create_app(settings)
    req = client_for(app, SigningKey.generate())
    views = {view.name: view for view in req.list_analyzers()}
    assert views["custom_tags"].workers == 0 and views["custom_tags"].promoted is None
    assert "aiwork models promote custom_tags" in (views["custom_tags"].hint or "")
    with Log.open(tmp_path / "coord.db") as log:
        registered = register_model(log, key, analyzer="custom_tags", version="1",
                                    weights_digest=trained.digest)
        promote_model(log, key, "custom_tags", registered)
    views = {view.name: view for view in req.list_analyzers()}
    assert views["custom_tags"].promoted == registered


def test_a_promoted_packaged_model_runs_without_files_in_the_store(tmp_path: Path) -> None:
    db, key = tmp_path / "store.db", SigningKey.generate()
    with Processor(ProcessOptions(analyzers=["tags"]), db=db) as processor:
        packaged = processor.analyzers["tags"].model().weights_digest
        assert packaged is not None
        index = register_model(processor.log, key, analyzer="tags", version="packaged",
                               weights_digest=packaged)
        promote_model(processor.log, key, "tags", index)
    with Processor(ProcessOptions(analyzers=["tags"]), db=db) as processor:
        assert processor.analyzers["tags"].model().weights_digest == packaged
        assert processor.analyzers["tags"].options == {}


def test_aiwork_process_weights_runs_the_file_given_instead_of_the_promoted_one(
        clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, key = tmp_path / "store.db", SigningKey.generate()
    promoted, given = _trained(tmp_path / "p", 11), _trained(tmp_path / "g", 12)
    with init_ledger(db, origin="promoted.example/log") as log:
        ModelStore.default().put("custom_tags", [promoted.path])
        index = register_model(log, key, analyzer="custom_tags", version="1",
                               weights_digest=promoted.digest)
        promote_model(log, key, "custom_tags", index)
        size = log.size
    for bad, says in ((["--weights", "custom_tags"], "ANALYZER=PATH"),
                      (["--weights", "technical=x.bin"], "takes no weights file"),
                      (["--weights", f"custom_tags={tmp_path / 'none.npz'}"], "no such file"),
                      (["--weights", f"transcript={promoted.path}"], "glossary.json")):
        code, _, err = run(capsys, "process", str(clip), "--analyzers", "custom_tags",
                           "--db", str(db), *bad)
        assert code == 1 and says in err, (bad, err)
    with open_ledger(db, readonly=True) as log:
        assert log.size == size
    code, _, err = run(capsys, "process", str(clip), "--analyzers", "custom_tags", "--db",
                       str(db), "--weights", f"custom_tags={given.path.parent}")
    assert code == 0, err
    with open_ledger(db, readonly=True) as log:
        decisions = [log.entry(i) for i in range(size, log.size)
                     if log.entry(i).kind.startswith("ai.decision")]
    assert [d.body["model"]["weights_digest"] for d in decisions] == [given.digest]
    assert "registration" not in decisions[0].body["model"]  # not a registered version
