"""The model registry: model.registered / model.promoted entries, the service that writes and
reads them, and ``aiwork models``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiwork.analyzers.base import weights_digest
from aiwork.cli import main
from aiwork.crypto import SigningKey
from aiwork.errors import ConflictError, InvalidBodyError, LineageError, NotFoundError
from aiwork.ledger.home import append_bodies, init_ledger
from aiwork.ledger.log import Log
from aiwork.ledger.registry import in_use, lineage, models, promote_model, register_model
from aiwork.ledger.registry import registration_for
from aiwork.model.kinds import DEFAULT_KINDS, EntryKind, KindRegistry

from aiwork.verify_bundle import BundleError, Report, _check_lineage, verify_bundle

from .conftest import missing

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


@pytest.fixture
def log(store_target: Path | str, tmp_path: Path) -> Iterator[Log]:
    """A ledger on SQLite and on PostgreSQL (the registry reads both)."""
    with init_ledger(store_target, origin="registry.example/log",
                     log_key=tmp_path / "log.key") as opened:
        yield opened


def test_register_list_promote(log: Log) -> None:
    key = SigningKey.generate()
    first = register_model(log, key, analyzer="tags", version="1", weights_digest=DIGEST_A,
                           metrics={"accuracy": 0.81})
    second = register_model(log, key, analyzer="tags", version="2", weights_digest=DIGEST_B,
                            metrics={"accuracy": 0.9, "ece": 0.03}, parent=first)
    assert log.entry(second).kind == "model.registered/v1"
    assert log.entry(second).body["parent"] == first
    assert log.entry(second).body["approved_by"] == key.did
    assert [m.index for m in models(log, "tags")] == [first, second]
    assert in_use(log, "tags") is None
    promoted = promote_model(log, key, "tags", second)
    assert log.entry(promoted).body == {"analyzer": "tags", "registration": second,
                                        "by": key.did}
    chosen = in_use(log, "tags")
    assert chosen is not None and chosen.index == second and chosen.promoted_at == promoted
    promote_model(log, key, "tags", first)
    chosen = in_use(log, "tags")
    assert chosen is not None and chosen.index == first
    assert registration_for(log, "tags", DIGEST_B) == second
    assert registration_for(log, "shots", DIGEST_B) is None


def test_refusals_write_nothing(log: Log) -> None:
    key = SigningKey.generate()
    tags = register_model(log, key, analyzer="tags", version="1", weights_digest=DIGEST_A)
    other = append_bodies(log, key, "generic", [{"note": "not a model"}])[0].index
    size = log.size
    with pytest.raises(ConflictError):  # the same weights twice
        register_model(log, key, analyzer="tags", version="1b", weights_digest=DIGEST_A)
    with pytest.raises(InvalidBodyError):  # a parent of another analyzer
        register_model(log, key, analyzer="faces", version="1", weights_digest=DIGEST_B,
                       parent=tags)
    with pytest.raises(InvalidBodyError):  # a dataset entry that is no dataset.released
        register_model(log, key, analyzer="tags", version="2", weights_digest=DIGEST_B,
                       dataset=(other, DIGEST_A))
    with pytest.raises(InvalidBodyError):  # a metric that is not a finite number
        register_model(log, key, analyzer="tags", version="2", weights_digest=DIGEST_B,
                       metrics={"accuracy": float("nan")})
    with pytest.raises(NotFoundError):  # promoting something that is no registration
        promote_model(log, key, "tags", other)
    with pytest.raises(InvalidBodyError):  # promoting another analyzer's model
        promote_model(log, key, "faces", tags)
    assert log.size == size


def test_a_body_quoting_the_kind_is_not_a_registration(log: Log) -> None:
    key = SigningKey.generate()
    append_bodies(log, key, "generic", [{"text": '"kind":"model.registered/v1"'}])
    assert models(log) == []


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_cli_models_register_promote_list(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "ledger.db"
    assert run(capsys, "ledger", "init", "--db", str(db))[0] == 0
    keyfile = tmp_path / "me.pem"
    assert run(capsys, "keys", "new", "--out", str(keyfile))[0] == 0
    weights = tmp_path / "head.npz"
    weights.write_bytes(b"weights of a fitted head")
    code, out, err = run(capsys, "models", "register", "tags", "2", "--db", str(db),
                         "--weights", str(weights), "--key", str(keyfile),
                         "--metric", "accuracy=0.91")
    assert code == 0, err
    registered = json.loads(out)
    assert registered["weights_digest"] == weights_digest([weights])
    code, out, err = run(capsys, "models", "promote", "tags", str(registered["index"]),
                         "--db", str(db), "--key", str(keyfile))
    assert code == 0, err
    code, out, _ = run(capsys, "models", "--db", str(db))
    assert out.startswith(f"* {registered['index']:>6} tags 2 ") and "accuracy=0.91" in out
    code, out, _ = run(capsys, "models", "--db", str(db), "--json")
    listed = json.loads(out)
    assert listed["in_use"] and listed["metrics"] == {"accuracy": 0.91}
    code, _, err = run(capsys, "models", "register", "tags", "3", "--db", str(db),
                       "--weights", str(weights), "--key", str(keyfile), "--metric", "acc=x")
    assert code == 1 and "NAME=NUMBER" in err
    code, _, err = run(capsys, "models", "register", "tags", "3", "--db", str(db),
                       "--weights", str(weights), "--key", str(keyfile))
    assert code == 1 and "already registered" in err


def _consensus(log: Log, expert: SigningKey, coordinator: SigningKey, decision: int,
               outcome: str) -> int:
    verdict = append_bodies(log, expert, "human.verdict", [{
        "item": "0" * 31 + "1", "decision": decision, "insight": "tags",
        "verdict": "accept" if outcome == "accepted" else "reject"}])[0].index
    return append_bodies(log, coordinator, "consensus.result", [{
        "item": "0" * 31 + "1", "decision": decision, "insight": "tags", "method": "majority",
        "participants": [{"annotator": expert.did, "answer": "accept", "weight": 0.9,
                          "verdict": verdict}],
        "label": "accept", "posterior": 0.9, "outcome": outcome}])[0].index


def _decision(log: Log, key: SigningKey, model: dict[str, object]) -> int:
    body = {"analyzer": "tags", "analyzer_version": "3", "insight": "tags", "model": model,
            "parameters": {}, "parameters_digest": DIGEST_A,
            "input": {"asset": DIGEST_A, "start": 0.0, "end": 1.0, "derived_from": []},
            "output_digest": DIGEST_A, "output_items": 0}
    return append_bodies(log, key, "ai.decision", [body])[0].index


def test_lineage_from_decision_to_model_dataset_and_experts(log: Log) -> None:
    key, expert = SigningKey.generate(), SigningKey.generate()
    base = register_model(log, key, analyzer="tags", version="3", weights_digest=DIGEST_A)
    seen = _decision(log, key, {"name": "tags", "version": "3", "weights_digest": DIGEST_A})
    consensus = _consensus(log, expert, key, seen, "accepted")
    released = append_bodies(log, key, "generic", [{"stand-in": "dataset"}])[0].index
    assert log.entry(released).kind == "generic/v1"  # no dataset.released kind on this branch
    fitted = register_model(log, key, analyzer="tags", version="3+studio",
                            weights_digest=DIGEST_B, parent=base, metrics={"accuracy": 0.97})
    made = _decision(log, key, {"name": "tags", "version": "3+studio",
                                "weights_digest": DIGEST_B, "registration": fitted})
    found = lineage(log, made)
    assert found["registration_named"] is True
    assert [m["index"] for m in found["models"]] == [fitted, base]
    assert found["models"][0]["metrics"] == {"accuracy": 0.97}
    assert consensus > seen
    # an older decision names no registration: found by its weights digest
    older = lineage(log, seen)
    assert older["registration_named"] is False and older["models"][0]["index"] == base


def test_lineage_refuses_a_decision_naming_other_weights(log: Log) -> None:
    key = SigningKey.generate()
    registered = register_model(log, key, analyzer="tags", version="3", weights_digest=DIGEST_A)
    lying = _decision(log, key, {"name": "tags", "version": "x", "weights_digest": DIGEST_B,
                                 "registration": registered})
    with pytest.raises(LineageError, match="names the model entry"):
        lineage(log, lying)
    with pytest.raises(NotFoundError):
        lineage(log, registered)


def test_cli_lineage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "ledger.db"
    with init_ledger(db) as log:
        key = SigningKey.generate()
        registered = register_model(log, key, analyzer="tags", version="3",
                                    weights_digest=DIGEST_A)
        made = _decision(log, key, {"name": "tags", "version": "3", "weights_digest": DIGEST_A,
                                    "registration": registered})
    code, out, err = run(capsys, "lineage", str(made), "--db", str(db))
    assert code == 0, err
    assert json.loads(out)["models"][0]["index"] == registered
    code, _, err = run(capsys, "lineage", str(registered), "--db", str(db))
    assert code == 1 and "not an ai.decision" in err


def _with_datasets(log: Log) -> Log:
    """The log with the ``dataset.released`` kind (a schema-less stand-in where this build
    does not define it yet)."""
    if any(kind.name == "dataset.released" for kind in DEFAULT_KINDS):
        return log
    kinds = KindRegistry([*DEFAULT_KINDS, EntryKind("dataset.released", 1, "stand-in")])
    return Log(log.db, kinds=kinds)


#: The digest the stand-in datasets are released under.
DATASET_DIGEST = "sha256:" + "d" * 64


def _released(log: Log, key: SigningKey, consensus: int) -> int:
    """A stand-in ``dataset.released`` entry covering the ``consensus`` entry; its index."""
    return append_bodies(log, key, "dataset.released", [{
        "name": "studio", "version": "1", "digest": DATASET_DIGEST,
        "files": [{"path": "train.jsonl", "sha256": "sha256:" + "e" * 64}],
        "consensus": [consensus]}])[0].index


def test_lineage_reaches_the_dataset_and_the_experts_who_validated_it(log: Log) -> None:
    key, expert = SigningKey.generate(), SigningKey.generate()
    log = _with_datasets(log)
    base = register_model(log, key, analyzer="tags", version="3", weights_digest=DIGEST_A)
    seen = _decision(log, key, {"name": "tags", "version": "3", "weights_digest": DIGEST_A})
    consensus = _consensus(log, expert, key, seen, "accepted")
    released = _released(log, key, consensus)
    with pytest.raises(InvalidBodyError, match="digest"):
        register_model(log, key, analyzer="tags", version="4", weights_digest=DIGEST_B,
                       dataset=(released, DIGEST_A))
    fitted = register_model(log, key, analyzer="tags", version="4", weights_digest=DIGEST_B,
                            parent=base, dataset=(released, DATASET_DIGEST))
    made = _decision(log, key, {"name": "tags", "version": "4", "weights_digest": DIGEST_B,
                                "registration": fitted})
    found = lineage(log, made)
    dataset = found["models"][0]["dataset"]
    assert dataset["index"] == released and dataset["consensus"] == [consensus]
    assert dataset["outcomes"] == {"accepted": 1}
    assert [e["did"] for e in dataset["experts"]] == [expert.did]
    assert found["models"][1]["index"] == base and found["models"][1]["dataset"] is None


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "red.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=red:s=320x180:d=2:r=25", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(path)], check=True)
    return path


def test_a_decision_of_registered_weights_names_their_registration(
        tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from aiwork.pipeline.process import ProcessOptions, Processor

    db = tmp_path / "store.db"
    with Processor(ProcessOptions(analyzers=["technical", "tags"]), db=db) as proc:
        if "tags" not in proc.analyzers:
            missing(f"the tags analyzer: {proc.unavailable.get('tags')}")
        digest = proc.analyzers["tags"].model().weights_digest
        assert digest is not None
        approver = SigningKey.generate()
        registered = register_model(proc.log, approver, analyzer="tags",
                                    version="3", weights_digest=digest)
        report = proc.process(clip, tmp_path / "out")
        assert report.status == "processed", report.error
        decisions = {log_entry.body["analyzer"]: (i, log_entry.body["model"])
                     for i in range(proc.log.size)
                     if (log_entry := proc.log.entry(i)).kind.startswith("ai.decision")}
    assert decisions["tags"][1]["registration"] == registered
    assert "registration" not in decisions["technical"][1]  # no weights: no registration
    with Log.open(db) as log:
        assert lineage(log, decisions["tags"][0])["models"][0]["index"] == registered
    # by video and insight, as aiwork audit and explain take them
    assert main(["lineage", "red.mp4#tags", "--db", str(db)]) == 0
    by_insight = json.loads(capsys.readouterr().out)
    assert list(by_insight) == ["tags"]
    assert by_insight["tags"]["models"][0]["index"] == registered
    # the audit bundle carries the registration, and aiwork-verify checks the chain
    out = tmp_path / "bundle.json"
    assert main(["audit", "red.mp4", "--db", str(db), "--out", str(out)]) == 0
    bundle = json.loads(out.read_text())
    report = verify_bundle(bundle)
    assert any(line.startswith("lineage: ") for line in report.lines)
    cut = {**bundle, "entries": [e for e in bundle["entries"] if e["index"] != registered],
           "keys": [k for k in bundle["keys"] if k != approver.did]}
    with pytest.raises(BundleError, match=f"model entry {registered} is not in the bundle"):
        verify_bundle(cut)


def _signed(kind: str, body: dict[str, object]) -> dict[str, object]:
    return {"kind": kind, "body": body, "author": "did:key:z6Mk", "time": ""}


def test_aiwork_verify_refuses_a_registration_of_other_weights() -> None:
    registration = {"analyzer": "tags", "version": "3", "weights_digest": DIGEST_A,
                    "code_version": "0.1.0", "parent": None, "dataset": None, "metrics": {},
                    "approved_by": "did:key:z6Mk"}
    decision = {"analyzer": "tags", "model": {"name": "tags", "version": "3",
                                              "weights_digest": DIGEST_B, "registration": 0}}
    entries = {0: _signed("model.registered/v1", registration),
               1: _signed("ai.decision/v2", decision)}
    with pytest.raises(BundleError, match="but model entry 0 registers"):
        _check_lineage(entries, Report())
    decision["model"] = {**decision["model"], "weights_digest": DIGEST_A}  # type: ignore[dict-item]
    entries[1] = _signed("ai.decision/v2", decision)
    _check_lineage(entries, Report())
    trained = {**registration, "dataset": {"entry": 0, "digest": DIGEST_B}}
    entries = {0: _signed("dataset.released/v1", {"digest": DIGEST_A}),
               1: _signed("model.registered/v1", trained),
               2: _signed("ai.decision/v2", {**decision, "model": {
                   **decision["model"], "registration": 1}})}  # type: ignore[dict-item]
    with pytest.raises(BundleError, match="not an earlier dataset.released with the digest"):
        _check_lineage(entries, Report())


def test_the_coordinator_refuses_a_decision_naming_a_registration_of_other_weights(
        tmp_path: Path, clip: Path) -> None:
    from typing import Any

    from aiwork.client.worker import Worker
    from aiwork.ledger.entries import sign_entry
    from aiwork.model import Entry

    from .test_network import _setup, _worker

    class Claiming(Worker):
        """Names a registered model it did not run."""

        named = 0

        def work(self, lease: dict[str, Any]) -> tuple[bytes, Any]:
            entry_bytes, output = super().work(lease)
            body = dict(Entry.from_bytes(entry_bytes).body)
            body["model"] = {**body["model"], "registration": self.named}
            return sign_entry(self.key, "ai.decision", body).to_bytes(), output

    _, app, _, _, _ = _setup(tmp_path, clip)
    with Log.open(tmp_path / "coord.db") as log:
        registered = register_model(log, SigningKey.generate(), analyzer="technical",
                                    version="1", weights_digest=DIGEST_A)
    plain = _worker(app, tmp_path, "w", ["technical"])
    worker = Claiming(plain.client, plain.key, tmp_path / "c", ["technical"])
    worker.named = registered
    worker.advertise()
    assert worker.run_once()
    assert worker.stats.failed == 1
    assert f"names the registered model {registered} (technical {DIGEST_A})" \
        in worker.stats.errors[0]
    with Log.open(tmp_path / "coord.db") as log:
        kinds = [log.entry(i).kind for i in range(log.size)]
    assert not any(kind.startswith("ai.decision") for kind in kinds)  # nothing recorded


def test_a_job_asking_for_a_registered_model_refuses_results_of_other_weights(
        tmp_path: Path, clip: Path) -> None:
    from aiwork.errors import AiworkError

    from .test_network import _worker, coordinator_with_clip

    _, app, req, _, digest = coordinator_with_clip(tmp_path, clip)
    with Log.open(tmp_path / "coord.db") as log:
        registered = register_model(log, SigningKey.generate(), analyzer="technical",
                                    version="1", weights_digest=DIGEST_A)
    with pytest.raises(AiworkError, match="registers a model of technical, not of shots"):
        req.submit_job(digest, ["shots"], budget=10, models={"shots": registered})
    with pytest.raises(AiworkError, match="which the job does not run"):
        req.submit_job(digest, ["technical"], budget=10, models={"shots": registered})
    job = req.submit_job(digest, ["technical"], budget=10, models={"technical": registered})
    worker = _worker(app, tmp_path, "w", ["technical"])
    worker.advertise()
    # A worker that advertises other weights is not leased the task (see
    # test_promoted_models for one that runs the registered weights)...
    assert not worker.run_once()
    assert worker.stats.failed == 0
    assert req.get_job(job.id).state != "done"
    # ... and a decision of other weights is refused even from a worker that got the lease
    # by advertising the registered weights.
    worker.advertisement = lambda: {"analyzers": {"technical": {  # type: ignore[method-assign]
        "version": "1", "model": {"name": "aiwork.technical", "version": "1",
                                  "weights_digest": DIGEST_A}}}}
    worker.advertise()
    assert worker.run_once()
    assert worker.stats.failed == 1
    assert "this worker advertised" in worker.stats.errors[0]
    assert req.get_job(job.id).state != "done"
    with Log.open(tmp_path / "coord.db") as log:
        kinds = [log.entry(i).kind for i in range(log.size)]
    assert not any(kind.startswith("ai.decision") for kind in kinds)


def test_workers_are_listed_with_the_registered_versions_they_run(tmp_path: Path,
                                                                  clip: Path) -> None:
    from .test_network import _setup, _worker

    _, app, req, _, _ = _setup(tmp_path, clip)
    with Log.open(tmp_path / "coord.db") as log:
        registered = register_model(log, SigningKey.generate(), analyzer="technical",
                                    version="1", weights_digest=DIGEST_A)
    runs, claims = (_worker(app, tmp_path, name, ["technical"]) for name in ("a", "b"))
    for worker, digest in ((runs, DIGEST_A), (claims, DIGEST_B)):
        advertised = worker.advertisement()
        advertised["analyzers"]["technical"]["model"].update(
            weights_digest=digest, registration=registered)  # the worker's own claim
        worker.client.post("/v1/workers/capabilities", advertised)
    listed = {w["did"]: w["analyzers"]["technical"]["model"]
              for w in req.get("/v1/workers").json()}
    assert listed[runs.key.did]["registration"] == registered
    assert "registration" not in listed[claims.key.did]  # unregistered weights: none


def test_aiwork_submit_model_against_a_coordinator_process(
        tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from .conftest import running_coordinator

    home = tmp_path / "coordinator"
    requester, worker = tmp_path / "requester.pem", tmp_path / "worker.pem"
    for keyfile in (requester, worker):
        assert run(capsys, "keys", "new", "--out", str(keyfile))[0] == 0
    weights = tmp_path / "tech.bin"
    weights.write_bytes(b"not what the technical analyzer runs")
    with running_coordinator(home, "--open-registration", "--starting-credits", "20") as url:
        at = ["--coordinator", url]
        for keyfile, role in ((requester, "requester"), (worker, "worker")):
            assert run(capsys, "register", *at, "--key", str(keyfile), "--role", role)[0] == 0
        code, out, err = run(capsys, "models", "register", "technical", "1", "--db",
                             str(home / "aiwork.db"), "--weights", str(weights),
                             "--key", str(requester))
        assert code == 0, err
        index = json.loads(out)["index"]
        code, _, err = run(capsys, "submit", str(clip), *at, "--key", str(requester),
                           "--analyzers", "technical", "--model", "technical=x")
        assert code == 2 and "ANALYZER=INDEX" in err
        code, out, err = run(capsys, "submit", str(clip), *at, "--key", str(requester),
                             "--analyzers", "technical", "--model", f"technical={index}")
        assert code == 0, err
        run(capsys, "worker", *at, "--key", str(worker), "--once")
        with Log.open(home / "aiwork.db") as log:
            kinds = [log.entry(i).kind for i in range(log.size)]
        assert not any(kind.startswith("ai.decision") for kind in kinds)  # refused


def test_the_api_serves_a_decisions_lineage_as_aiwork_lineage_prints_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fastapi.testclient import TestClient

    from aiwork.api import ServerSettings, create_app
    from aiwork.contract.responses import Lineage

    db = tmp_path / "coord.db"
    key, expert = SigningKey.generate(), SigningKey.generate()
    with init_ledger(db) as opened:
        log = _with_datasets(opened)
        base = register_model(log, key, analyzer="tags", version="3", weights_digest=DIGEST_A)
        seen = _decision(log, key, {"name": "tags", "version": "3", "weights_digest": DIGEST_A})
        consensus = _consensus(log, expert, key, seen, "corrected")
        released = _released(log, key, consensus)
        fitted = register_model(log, key, analyzer="tags", version="4", weights_digest=DIGEST_B,
                                parent=base, dataset=(released, DATASET_DIGEST),
                                metrics={"accuracy": 0.9})
        made = [_decision(log, key, {"name": "tags", "version": "4", "weights_digest": DIGEST_B,
                                     "registration": fitted}) for _ in range(2)]
        lying = _decision(log, key, {"name": "tags", "version": "x", "weights_digest": DIGEST_A,
                                     "registration": fitted})
    client = TestClient(create_app(ServerSettings(db=db, key=SigningKey.generate())))
    for index in (*made, seen):
        reply = client.get(f"/v1/ledger/entries/{index}/lineage")  # public: no signature
        assert reply.status_code == 200, reply.text
        code, out, err = run(capsys, "lineage", str(index), "--db", str(db))
        assert code == 0, err
        assert reply.json() == json.loads(out)
        Lineage.model_validate(reply.json())
    answer = client.get(f"/v1/ledger/entries/{made[1]}/lineage").json()
    assert [m["index"] for m in answer["models"]] == [fitted, base]
    dataset = answer["models"][0]["dataset"]
    assert dataset["consensus"] == [consensus] and dataset["outcomes"] == {"corrected": 1}
    assert dataset["experts"][0]["did"] == expert.did
    # Not a decision, beyond the log, not a number, or a chain that does not hold: refused in
    # words, never a 500.
    for path, status, words in ((f"{fitted}", 404, "not an ai.decision"),
                                ("999999", 404, "has no entry"), ("-1", 404, "has no entry"),
                                ("abc", 400, "index"),
                                (f"{lying}", 400, "names the model entry")):
        reply = client.get(f"/v1/ledger/entries/{path}/lineage")
        assert reply.status_code == status, (path, reply.text)
        assert words in reply.json()["message"]
