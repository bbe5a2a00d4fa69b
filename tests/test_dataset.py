"""Datasets of human-validated items: export, dataset card, Croissant, dataset.released."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from aiwork.api import ServerSettings, create_app
from aiwork.client.review import give_verdict
from aiwork.crypto import SigningKey
from aiwork.dataset import export, split_of
from aiwork.digests import sha256_file
from aiwork.errors import RoleError
from aiwork.ledger.log import Log
from aiwork.model import Entry

from .conftest import require
from .test_network import _worker, clip  # noqa: F401 - a fixture
from .test_review import client_for, take


def _judge(clients: list[Any], answer: str) -> int:
    """Every expert answers every item it is served: accept, or correct it to a quarter into
    its time range; return how many verdicts were given."""
    given = 0
    for client in clients:
        while (item := take(client)) is not None:
            value = None if answer == "accept" else round(item["start"] + (item["end"] - item["start"]) / 4, 3)
            give_verdict(client, item["id"], answer, value, "checked the frames", 12.5)
            given += 1
    return given


@pytest.fixture
def store(tmp_path: Path, clip: Path, store_target: Path | str) -> dict[str, Any]:  # noqa: F811
    """A coordinator whose shot boundaries go to two experts: one public job whose items the
    experts corrected, and one job in a sensitive library (owner and one reader, both experts)
    whose items they accepted."""
    admin = SigningKey.generate()
    settings = ServerSettings(db=store_target, key=SigningKey.generate(),
                              open_registration=True, starting_credits=100, admin=admin.did)
    app = create_app(settings)
    client_for(app, admin).request(
        "PUT", "/v1/review/rules/shots",
        json.dumps({"audit_share": 1.0, "experts": 2, "gold_share": 0.0}).encode())
    owner, reader, stranger = (SigningKey.generate() for _ in range(3))
    experts = [SigningKey.generate() for _ in range(2)]
    clients = {key.did: client_for(app, key) for key in (owner, reader, stranger, *experts)}
    for key in (owner, stranger):
        clients[key.did].post("/v1/identities", {"role": "requester"})
    for key in (owner, reader, *experts):
        clients[key.did].post("/v1/identities", {"role": "expert"})
    req = clients[owner.did]
    public = req.upload_blob(clip.read_bytes())
    req.post("/v1/jobs", {"asset": public, "analyzers": ["shots"]})
    assert _worker(app, tmp_path, "w1", ["shots"]).run_once()
    assert _judge([clients[k.did] for k in experts], "correct") > 0
    library = req.post("/v1/libraries", {"name": "Cabinet", "sensitive": True})["id"]
    req.post(f"/v1/libraries/{library}/readers", {"did": reader.did})
    secret = req.upload_blob(clip.read_bytes()[:-16] + b"\0" * 16, library=library)
    req.post("/v1/jobs", {"asset": secret, "analyzers": ["shots"], "library": library})
    assert _worker(app, tmp_path, "w2", ["shots"]).run_once()
    assert _judge([clients[owner.did], clients[reader.did]], "accept") > 0
    return {"db": store_target, "key": settings.key, "owner": owner, "reader": reader,
            "stranger": stranger, "library": library, "public": public, "secret": secret}


def entries(db: Path | str, start: int = 0) -> list[Entry]:
    with Log.open(db) as log:
        return [Entry.from_bytes(log.get(i)) for i in range(start, log.size)]


def test_an_export_holds_each_validated_item_with_its_provenance_and_is_released(
        store: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "ds"
    with Log.open(store["db"]) as log:
        before = log.size
        result = export(log, store["key"], reader=store["stranger"].did, out=out)
    rows = [json.loads(line) for f in sorted((out / "data").glob("*.jsonl"))
            for line in f.read_text().splitlines()]
    # A stranger gets the public job's items only; the sensitive ones are left out, unlogged.
    assert rows and {r["asset"] for r in rows} == {store["public"]}
    assert result.skipped_sensitive > 0 and result.access_reads == []
    kinds = {e.kind for e in entries(store["db"], before)}
    assert kinds == {"dataset.released/v1"}
    logged = entries(store["db"])
    for row in rows:
        assert row["outcome"] == "corrected"
        # the AI's value beside the experts' correction, inside the item's time range
        ai, final = json.loads(row["ai_value"]), json.loads(row["final_value"])
        assert ai != final and row["start"] <= final <= row["end"]
        assert row["keyframe"] and row["split"] == split_of(row["asset"])
        # provenance: the indices really are the decision, the verdicts and the consensus
        assert logged[row["decision"]].kind.startswith("ai.decision")
        assert len(row["verdicts"]) == 2
        assert {logged[v].kind for v in row["verdicts"]} == {"human.verdict/v1"}
        consensus = logged[row["consensus"]]
        assert consensus.kind == "consensus.result/v1"
        assert consensus.body["item"] == row["id"] and consensus.body["value"] == final
    # dataset.released: its index, its files' digests are the files', its consensus entries
    released = logged[result.released or 0]
    assert released.kind == "dataset.released/v1" and released.body["digest"] == result.digest
    listed = {f["path"]: f["sha256"] for f in released.body["files"]}
    assert {"README.md", "croissant.json"} <= set(listed)
    assert listed == {p: sha256_file(out / p) for p in listed}
    assert released.body["consensus"] == sorted(r["consensus"] for r in rows)
    # A model registration names it by index and digest (and a wrong digest is refused).
    from aiwork.errors import InvalidBodyError
    from aiwork.ledger.registry import register_model

    with Log.open(store["db"]) as log:
        with pytest.raises(InvalidBodyError, match="digest"):
            register_model(log, store["key"], analyzer="shots", version="2",
                           weights_digest="sha256:" + "a" * 64,
                           dataset=(result.released or 0, "sha256:" + "b" * 64))
        register_model(log, store["key"], analyzer="shots", version="2",
                       weights_digest="sha256:" + "a" * 64,
                       dataset=(result.released or 0, result.digest or ""))


def test_no_video_is_in_two_splits() -> None:
    digests = [f"{i:064x}" for i in range(300)]
    splits = {d: split_of(d) for d in digests}
    assert set(splits.values()) == {"train", "validation", "test"}
    assert all(split_of(d) == s for d, s in splits.items())  # stable
    share = sum(s == "train" for s in splits.values()) / len(splits)
    assert 0.7 < share < 0.9


def test_a_sensitive_library_exports_for_its_reader_logged_and_never_for_a_stranger(
        store: dict[str, Any], tmp_path: Path) -> None:
    with Log.open(store["db"]) as log:
        size = log.size
        with pytest.raises(RoleError):
            export(log, store["key"], reader=store["stranger"].did, out=tmp_path / "no",
                   library=store["library"])
        assert log.size == size and not (tmp_path / "no").exists()
        result = export(log, store["key"], reader=store["reader"].did, out=tmp_path / "yes",
                        library=store["library"])
    rows = [json.loads(line) for f in (tmp_path / "yes" / "data").glob("*.jsonl")
            for line in f.read_text().splitlines()]
    assert rows and {r["asset"] for r in rows} == {store["secret"]}
    assert {r["outcome"] for r in rows} == {"accepted"}
    assert all(r["final_value"] == r["ai_value"] for r in rows)
    logged = entries(store["db"])
    assert len(result.access_reads) == 1
    read = logged[result.access_reads[0]]
    assert read.kind == "access.read/v1" and read.body["reader"] == store["reader"].did
    assert read.body["library"] == store["library"] and read.body["resource"].startswith("export/")


def test_the_released_entry_commits_to_sensitive_items_instead_of_listing_them(
        store: dict[str, Any], tmp_path: Path) -> None:
    """The public log does not say which sealed items went into which dataset (and so into
    which model): a sensitive library's consensus entries are only committed to, the
    commitment opened by the file the reader gets; the lineage still verifies."""
    from aiwork.dataset.export import SEALED_FILE
    from aiwork.ledger.registry import lineage, register_model
    from aiwork.model.commitment import check_opening

    with Log.open(store["db"]) as log:
        mixed = export(log, store["key"], reader=store["reader"].did, out=tmp_path / "mixed")
        public = export(log, store["key"], reader=store["stranger"].did,
                        out=tmp_path / "public", name="public")
    rows = [json.loads(line) for f in (tmp_path / "mixed" / "data").glob("*.jsonl")
            for line in f.read_text().splitlines()]
    secret = sorted(r["consensus"] for r in rows if r["library"] == store["library"])
    open_ = sorted(r["consensus"] for r in rows if r["library"] != store["library"])
    assert secret and open_
    logged = entries(store["db"])
    released = logged[mixed.released or 0]
    assert released.body["consensus"] == open_
    assert not set(secret) & set(released.body["consensus"])
    opening = json.loads((tmp_path / "mixed" / SEALED_FILE).read_text())
    assert opening["released"] == mixed.released
    assert check_opening(released.body["sealed_consensus"], opening["sealed_consensus"],
                         "sealed consensus") == secret
    # A dataset of public items only has no commitment and no opening (as before).
    plain = logged[public.released or 0]
    assert "sealed_consensus" not in plain.body and not (tmp_path / "public" / SEALED_FILE).exists()
    # A model trained on the mixed dataset: its lineage verifies from the public log alone.
    with Log.open(store["db"]) as log:
        model = register_model(log, store["key"], analyzer="shots", version="9",
                               weights_digest="sha256:" + "c" * 64,
                               dataset=(mixed.released or 0, mixed.digest or ""))
        decision = rows[0]["decision"]
        body = dict(log.entry(decision).body)
    from aiwork.ledger.entries import sign_entry

    body["model"] = {**body["model"], "weights_digest": "sha256:" + "c" * 64,
                     "registration": model}
    with Log.open(store["db"]) as log:
        made = log.append([sign_entry(store["key"], log.entry(decision).kind, body,
                                      kinds=log.kinds)])[0].index
        found = lineage(log, made)
    dataset = found["models"][0]["dataset"]
    assert dataset["consensus"] == open_
    assert dataset["sealed_consensus"] == released.body["sealed_consensus"]


# rdflib (under mlcroissant) warns about its own ConjunctiveGraph, pandas about mlcroissant's
# reset_index(inplace=True) when it reads Parquet.
@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")
def test_each_format_loads_with_datasets_and_mlcroissant_offline(
        store: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require("datasets", "mlcroissant", "webvtt")
    import datasets
    import mlcroissant as mlc
    import webvtt
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for fmt in ("jsonl", "parquet", "hf", "webvtt"):
        out = tmp_path / fmt
        with Log.open(store["db"]) as log:
            result = export(log, store["key"], reader=store["owner"].did, out=out, fmt=fmt)
        suffix = "jsonl" if fmt in ("jsonl", "webvtt") else "parquet"
        assert {p.suffix for p in (out / "data").iterdir()} == {f".{suffix}"}, fmt
        loaded = datasets.load_dataset(str(out))
        assert {split: len(loaded[split]) for split in loaded} == result.rows, fmt
        where: dict[str, set[str]] = {}
        for split in loaded:
            for row in loaded[split]:
                where.setdefault(row["asset"], set()).add(split)
        assert len(where) == 2 and all(len(s) == 1 for s in where.values())  # no video in two
        first = next(iter(loaded.values()))[0]
        assert first["outcome"] in {"accepted", "corrected"} and len(first["verdicts"]) == 2
        croissant = json.loads((out / "croissant.json").read_text())
        # The properties Croissant 1.1 calls required (mlcroissant only warns on some).
        for field in ("@context", "@type", "conformsTo", "name", "description", "license",
                      "url", "creator", "datePublished", "version", "distribution",
                      "recordSet"):
            assert croissant[field], (fmt, field)
        assert croissant["@type"] == "sc:Dataset"
        assert croissant["conformsTo"] == "http://mlcommons.org/croissant/1.1"
        listed = set()
        for file in croissant["distribution"]:
            assert file["@type"] == "cr:FileObject"
            assert {"@id", "name", "contentUrl", "encodingFormat", "sha256"} <= set(file)
            assert f"sha256:{file['sha256']}" == sha256_file(out / file["contentUrl"])
            listed.add(file["contentUrl"])
        assert listed == set(result.files) - {"README.md", "croissant.json"}
        for record_set in croissant["recordSet"]:
            assert record_set["@type"] == "cr:RecordSet" and record_set["field"]
            for f in record_set["field"]:
                assert {"@id", "name", "dataType", "source"} <= set(f)
                assert f["source"]["fileObject"]["@id"] in listed
        monkeypatch.chdir(out)
        dataset = mlc.Dataset(jsonld=str(out / "croissant.json"))
        issues = dataset.metadata.ctx.issues
        assert not issues.errors and not issues.warnings, issues.report()
        for split, n in result.rows.items():
            records = list(dataset.records(record_set=split))
            assert len(records) == n, fmt
            assert {r[f"{split}/asset"].decode() for r in records} == {
                row["asset"] for row in loaded[split]}
        if fmt == "webvtt":
            vtts = sorted((out / "webvtt").rglob("*.vtt"))
            assert len(vtts) == 2  # one per video: the public one and the library's
            cues = [c for v in vtts for c in webvtt.read(str(v))]
            assert len(cues) == sum(result.rows.values())
            assert all(c.text.startswith("shots ") for c in cues)


def test_aiwork_dataset_export_prints_the_released_entry(
        store: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from aiwork.cli import main
    from aiwork.crypto import write_key_file

    keyfile = tmp_path / "stranger.key"
    write_key_file(keyfile, store["stranger"])
    monkeypatch.setenv("AIWORK_HOME", str(tmp_path / "home"))
    out = tmp_path / "cli"
    args = ["dataset", "export", "--db", str(store["db"]), "--key", str(keyfile),
            "--out", str(out), "--format", "jsonl", "--insight", "shots"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    index = int(printed.split("dataset.released entry ")[1].split(":")[0])
    released = entries(store["db"])[index]
    assert released.kind == "dataset.released/v1"
    assert released.body["digest"] in printed and "left out" in printed
    assert f"--dataset {index}:{released.body['digest']}" in printed  # as aiwork models takes
    assert main([*args[:-4], "--out", str(tmp_path / "no"), "--library", store["library"]]) != 0
    assert "may not export" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def test_a_bad_name_version_format_or_library_changes_nothing(
        store: dict[str, Any], tmp_path: Path) -> None:
    from aiwork.errors import InputError

    with Log.open(store["db"]) as log:
        size = log.size
        for bad in ({"name": "../etc"}, {"name": ""}, {"version": "1 0"}, {"fmt": "csv"},
                    {"library": "f" * 32}, {"insights": ["no-such-insight"]}):
            with pytest.raises(InputError):
                export(log, store["key"], reader=store["owner"].did, out=tmp_path / "bad",
                       **bad)
        assert log.size == size and not (tmp_path / "bad").exists()
