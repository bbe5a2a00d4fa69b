"""Decisions name the upstream decisions they were derived from (``ai.decision/v2``): a
re-run upstream recomputes its dependents or leaves them flagged stale, and the chain shows in
``aiwork explain``, in audit bundles and in ``aiwork-verify``."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aiwork.audit.bundle import build_bundle
from aiwork.audit.explain import explain
from aiwork.audit.subjects import AuditSubject
from aiwork.ledger.home import open_ledger
from aiwork.pipeline.process import ProcessOptions, Processor
from aiwork.ledger.summaries import Summaries
from aiwork.cli import main
from aiwork.crypto import SigningKey
from aiwork.errors import InvalidBodyError
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.model import Entry
from aiwork.verify_bundle import BundleError, verify_bundle

from .conftest import make_two_scene_clip

#: keywords, with what it reads: shots, transcript, ocr, language (all fast on a silent clip).
NAMES = ["keywords"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_two_scene_clip(tmp_path_factory.mktemp("prov") / "scenes.mp4")


def decision(db: Path, index: int) -> Entry:
    with Log.open(db) as log:
        return Entry.from_bytes(log.get(index))


def derived(db: Path, index: int) -> dict[str, int]:
    entry = decision(db, index)
    assert entry.kind == "ai.decision/v2"
    return {ref["insight"]: ref["decision"] for ref in entry.body["input"]["derived_from"]}


def process(db: Path, clip: Path, names: list[str], **options: Any) -> Any:
    with Processor(ProcessOptions(analyzers=names, **options), db=db) as proc:
        report = proc.process(clip)
    assert report.status in {"processed", "already processed"}, report.error
    return report


def test_each_decision_names_the_decisions_it_read(tmp_path: Path, clip: Path) -> None:
    db = tmp_path / "store.db"
    md = process(db, clip, NAMES).metadata
    assert md.stale == []
    assert derived(db, _decision_of(db, "shots")) == {}  # reads only the media
    assert derived(db, _decision_of(db, "ocr")) == {"shots": _decision_of(db, "shots")}
    assert derived(db, _decision_of(db, "language")) == {
        "transcript": _decision_of(db, "transcript"), "ocr": _decision_of(db, "ocr")}
    assert derived(db, _decision_of(db, "keywords")) == {
        "transcript": _decision_of(db, "transcript"), "ocr": _decision_of(db, "ocr"),
        "language": _decision_of(db, "language")}


def _decision_of(db: Path, analyzer: str) -> int:
    """The latest decision an analyzer logged."""
    with Log.open(db) as log:
        return max(i for i in range(log.size)
                   if Entry.from_bytes(log.get(i)).body.get("analyzer") == analyzer)


def test_a_rerun_transcript_recomputes_its_dependents_in_the_same_run(tmp_path: Path,
                                                                       clip: Path) -> None:
    db = tmp_path / "store.db"
    process(db, clip, NAMES)
    old_transcript, old_keywords = _decision_of(db, "transcript"), _decision_of(db, "keywords")
    # Another setting of the speech model: the transcript runs again (its parameters
    # changed) and keywords and language, which read it, run again from the new value.
    report = process(db, clip, ["transcript", "keywords"],
                     settings={"transcript": {"beam_size": 1}})
    assert {"transcript", "language", "keywords"} <= set(report.ran)
    assert "shots" not in report.ran and "ocr" not in report.ran
    new_transcript, new_keywords = _decision_of(db, "transcript"), _decision_of(db, "keywords")
    assert new_transcript > old_transcript and new_keywords > old_keywords
    assert derived(db, new_keywords)["transcript"] == new_transcript
    assert derived(db, new_keywords)["language"] == _decision_of(db, "language")
    assert report.metadata.stale == [] and report.stale == []


def test_a_rerun_transcript_alone_leaves_its_dependents_flagged_stale(
        tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "store.db"
    process(db, clip, NAMES)
    old_transcript, keywords = _decision_of(db, "transcript"), _decision_of(db, "keywords")
    capsys.readouterr()
    assert main(["process", str(clip), "--analyzers", "transcript", "--force", "--db", str(db),
                 "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert "keywords is stale" in err and "--analyzers keywords" in err
    new_transcript = _decision_of(db, "transcript")
    assert new_transcript > old_transcript
    assert _decision_of(db, "keywords") == keywords  # not recomputed: not asked for
    published = json.loads((tmp_path / "out" / "scenes" / "metadata.json").read_text())
    stale = {s["insight"]: s for s in published["stale"]}
    assert set(stale) == {"keywords", "language"}
    assert stale["keywords"]["decision"] == keywords
    assert stale["keywords"]["used"] == old_transcript
    assert stale["keywords"]["current"] == new_transcript

    assert main(["explain", "scenes.mp4", "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert f"keywords (decision {keywords}) from transcript (decision {old_transcript}, " in text
    assert f"STALE: transcript has a newer decision {new_transcript}" in text
    # A bundle of the video carries the old transcript decision too, and says what is stale.
    report = verify_bundle(_bundle(db, tmp_path, "scenes.mp4"))
    assert f"keywords (decision {keywords}) is stale: it was computed from transcript " \
           f"decision {old_transcript}, the bundle publishes transcript decision " \
           f"{new_transcript}" in report.warnings

    # Asked for again, keywords is recomputed from the new transcript and is current.
    assert main(["process", str(clip), "--analyzers", "keywords", "--db", str(db),
                 "--out", str(tmp_path / "out")]) == 0
    recomputed = _decision_of(db, "keywords")
    assert recomputed > keywords and derived(db, recomputed)["transcript"] == new_transcript
    published = json.loads((tmp_path / "out" / "scenes" / "metadata.json").read_text())
    assert published["stale"] == []
    assert main(["explain", "scenes.mp4", "--db", str(db)]) == 0
    assert "STALE" not in capsys.readouterr().out


@pytest.fixture
def store(tmp_path: Path, clip: Path) -> Path:
    db = tmp_path / "store.db"
    process(db, clip, NAMES)
    return db


def _bundle(db: Path, tmp_path: Path, what: str) -> dict[str, Any]:
    out = tmp_path / "bundle.json"
    assert main(["audit", what, "--db", str(db), "--out", str(out)]) == 0
    value: dict[str, Any] = json.loads(out.read_text())
    return value


def test_a_bundle_carries_and_checks_the_chain(store: Path, tmp_path: Path) -> None:
    keywords, transcript = _decision_of(store, "keywords"), _decision_of(store, "transcript")
    bundle = _bundle(store, tmp_path, "scenes.mp4#keywords")
    assert [i["insight"] for i in bundle["items"]] == ["keywords"]
    carried = {e["index"] for e in bundle["entries"]}
    assert {keywords, transcript, _decision_of(store, "language"),
            _decision_of(store, "ocr")} <= carried
    run = subprocess.run([sys.executable, "-m", "aiwork.verify_bundle",
                          str(tmp_path / "bundle.json")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "provenance: every derived_from decision is in the bundle" in run.stdout
    assert f"keywords (decision {keywords}) from transcript (decision {transcript}, " in run.stdout

    # An upstream decision left out of the bundle is named.
    removed = copy.deepcopy(bundle)
    removed["entries"] = [e for e in removed["entries"] if e["index"] != transcript]
    removed["keys"] = sorted({Entry.from_bytes(e["data"].encode()).author
                              for e in removed["entries"]})
    with pytest.raises(BundleError, match=f"derived from transcript decision {transcript}: "
                                          "that decision is not in the bundle"):
        verify_bundle(removed)


def test_a_decision_derived_from_another_assets_decision_fails(store: Path, tmp_path: Path
                                                                ) -> None:
    """A decision that names, as its transcript, the transcript of another video (logged and
    signed, so only the asset check catches it)."""
    other = tmp_path / "other.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=green:s=320x180:d=2:r=25", "-c:v", "libx264", "-pix_fmt",
                    "yuv420p", str(other)], check=True)
    process(store, other, ["transcript"])
    foreign = _decision_of(store, "transcript")
    keywords = _decision_of(store, "keywords")
    body = copy.deepcopy(dict(decision(store, keywords).body))
    refs = body["input"]["derived_from"]
    body["input"]["derived_from"] = [
        {**ref, "decision": foreign} if ref["insight"] == "transcript" else ref for ref in refs]
    key = SigningKey.generate()
    with open_ledger(store, signing=True) as log:
        index = log.append([sign_entry(key, "ai.decision", body)])[0].index
        asset = body["input"]["asset"]
        _summarize(log, key, asset, "keywords", index)
        items: list[Any] = []  # a silent clip has no keywords
        bundle = build_bundle(log, AuditSubject(asset, "forged", {"digest": asset}, None,
                                                {"keywords": (index, items)}).only("keywords"))
    with pytest.raises(BundleError, match=f"decision {index} \\(keywords\\) derived from "
                                          f"transcript decision {foreign}: that decision was "
                                          "made for another asset"):
        verify_bundle(bundle)


def test_v1_decisions_still_verify(tmp_path: Path, clip: Path) -> None:
    """Ledgers written before decisions named their inputs keep verifying, and say so."""
    db = tmp_path / "store.db"
    md = process(db, clip, ["technical"]).metadata
    technical = _decision_of(db, "technical")
    body = copy.deepcopy(dict(decision(db, technical).body))
    assert body["input"].pop("derived_from") == []
    key = SigningKey.generate()
    with pytest.raises(InvalidBodyError):  # v2 requires the field
        sign_entry(key, "ai.decision/v2", body)
    with open_ledger(db, signing=True) as log:
        index = log.append([sign_entry(key, "ai.decision/v1", body)])[0].index
        log.verify()
        asset = body["input"]["asset"]
        _summarize(log, key, asset, "technical", index)
        value = {**md.technical.model_dump(mode="json"), "decision": index}
        subject = AuditSubject(asset, "old", {"digest": asset}, None,
                               {"technical": (index, value)})
        bundle = build_bundle(log, subject)
        lines = explain(log, subject)
    report = verify_bundle(bundle)
    assert any("items: 1 match" in line for line in report.lines)
    assert f"  chain: technical (decision {index}): its upstream decisions are not named" \
           " (an ai.decision/v1 entry)" in lines


def _summarize(log: Log, key: SigningKey, asset: str, insight: str, index: int) -> None:
    """Log an asset.summary naming ``index`` as ``insight``'s latest decision."""
    summaries = Summaries(log)
    latest = summaries.latest(asset)
    assert latest is not None
    summaries.record(key, asset, {**latest[1]["decisions"], insight: index})


# -- remote workers -------------------------------------------------------------------------


def _network(tmp_path: Path, clip: Path) -> tuple[Any, Any, dict[str, Any], str]:
    from aiwork.api.app import ServerSettings, create_app

    app = create_app(ServerSettings(db=tmp_path / "coord.db", key=SigningKey.generate(),
                                    open_registration=True, starting_credits=1000))
    req = _client(app, SigningKey.generate(), "requester")
    digest = req.upload_blob(clip.read_bytes())
    job = req.post("/v1/jobs", {"asset": digest, "analyzers": ["keywords"], "redundancy": 1})
    return app, req, job, digest


def _client(app: Any, key: SigningKey, role: str) -> Any:
    from fastapi.testclient import TestClient

    from aiwork.client.coordinator import CoordinatorClient

    client = CoordinatorClient("http://testserver", key, http=TestClient(app))
    client.post("/v1/identities", {"role": role})
    return client


def _worker(app: Any, home: Path, names: list[str]) -> Any:
    from aiwork.client.worker import Worker

    key = SigningKey.generate()
    return Worker(_client(app, key, "worker"), key, home, names)


def test_a_remote_keywords_result_is_computed_from_the_accepted_transcript(
        tmp_path: Path, clip: Path) -> None:
    app, req, job, digest = _network(tmp_path, clip)
    # keywords brings the analyzers it reads into the job, and says so when they cost more.
    assert job["analyzers"] == ["keywords", "shots", "transcript", "ocr", "language"]
    from aiwork.errors import CoordinatorError

    with pytest.raises(CoordinatorError, match="also needs shots, transcript, ocr, language"):
        req.post("/v1/jobs", {"asset": digest, "analyzers": ["keywords"], "budget": 1})
    worker = _worker(app, tmp_path / "w", ["shots", "transcript", "ocr", "language",
                                           "keywords"])
    leased = []
    for _ in range(20):
        reply = worker.client.request("POST", "/v1/tasks/lease",
                                      json.dumps({"capabilities": worker.capabilities}).encode())
        if reply.status_code == 204:
            break
        lease = reply.json()
        leased.append(lease["analyzer"])
        entry, output = worker.work(lease)
        worker.client.post(f"/v1/leases/{lease['lease']}/result",
                           {"entry": entry.decode(), "output": output})
    # Each reader was leased only after what it reads was settled.
    assert leased.index("keywords") > max(leased.index(n) for n in
                                          ("transcript", "ocr", "language"))
    assert leased.index("ocr") > leased.index("shots")
    assert req.get(f"/v1/jobs/{job['id']}").json()["state"] == "done"
    with Log.open(tmp_path / "coord.db") as log:
        entries = {i: Entry.from_bytes(log.get(i)) for i in range(log.size)}
    decisions = {e.body["analyzer"]: i for i, e in entries.items()
                 if e.kind.startswith("ai.decision/")}
    keywords = entries[decisions["keywords"]]
    assert keywords.kind == "ai.decision/v2"
    assert {r["insight"]: r["decision"] for r in keywords.body["input"]["derived_from"]} == {
        "transcript": decisions["transcript"], "ocr": decisions["ocr"],
        "language": decisions["language"]}


def test_a_remote_result_naming_other_upstream_decisions_is_refused(tmp_path: Path,
                                                                    clip: Path) -> None:
    from aiwork.errors import CoordinatorError

    app, req, job, digest = _network(tmp_path, clip)
    # Another video's transcript, accepted in another job on the same coordinator.
    other = tmp_path / "other.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=green:s=320x180:d=2:r=25", "-c:v", "libx264", "-pix_fmt",
                    "yuv420p", str(other)], check=True)
    other_job = req.post("/v1/jobs", {"asset": req.upload_blob(other.read_bytes()),
                                      "analyzers": ["transcript"], "redundancy": 1})
    upstream = _worker(app, tmp_path / "up", ["shots", "transcript", "ocr", "language"])
    while upstream.run_once():
        pass
    assert req.get(f"/v1/jobs/{other_job['id']}").json()["state"] == "done"
    with Log.open(tmp_path / "coord.db") as log:
        entries = {i: Entry.from_bytes(log.get(i)) for i in range(log.size)}
    foreign = next(i for i, e in entries.items() if e.kind.startswith("ai.decision/")
                   and e.body["insight"] == "transcript" and e.body["input"]["asset"] != digest)

    attacker = _worker(app, tmp_path / "kw", ["keywords"])
    lease = attacker.client.post("/v1/tasks/lease", {"capabilities": ["keywords"]})
    assert lease["analyzer"] == "keywords" and lease["job"] == job["id"]
    given = {u["insight"]: u["decision"] for u in lease["upstream"]}
    assert set(given) == {"transcript", "ocr", "language"}
    entry, output = attacker.processor.derive(attacker.fetch(digest), "keywords",
                                              lease["upstream"])
    honest = entry.body
    assert {r["insight"]: r["decision"] for r in honest["input"]["derived_from"]} == given

    def submit(derived_from: list[dict[str, Any]] | None) -> str:
        body = copy.deepcopy(dict(honest))
        if derived_from is None:
            del body["input"]["derived_from"]
            signed = sign_entry(attacker.key, "ai.decision/v1", body)
        else:
            body["input"]["derived_from"] = derived_from
            signed = sign_entry(attacker.key, "ai.decision", body)
        with pytest.raises(CoordinatorError) as refused:
            attacker.client.post(f"/v1/leases/{lease['lease']}/result",
                                 {"entry": signed.to_bytes().decode(), "output": output})
        assert refused.value.status == 400
        return str(refused.value)

    refs = [{"insight": n, "decision": d} for n, d in sorted(given.items())]
    swap = [{**r, "decision": foreign} if r["insight"] == "transcript" else r for r in refs]
    assert "made for another asset" in submit(swap)
    missing = [{**r, "decision": 10**6} if r["insight"] == "transcript" else r for r in refs]
    assert "not in this coordinator's log" in submit(missing)
    wrong_kind = [{**r, "decision": given["ocr"]} if r["insight"] == "transcript" else r
                  for r in refs]
    assert "about ocr" in submit(wrong_kind)
    assert "does not name the job's accepted transcript" in submit(
        [r for r in refs if r["insight"] != "transcript"])
    assert "must name the decisions it read" in submit(None)
    assert "does not name" in submit([])
    with Log.open(tmp_path / "coord.db") as log:
        assert not any(Entry.from_bytes(log.get(i)).body.get("analyzer") == "keywords"
                       for i in range(log.size))  # nothing recorded

    attacker.client.post(f"/v1/leases/{lease['lease']}/result",
                         {"entry": entry.to_bytes().decode(), "output": output})
    assert req.get(f"/v1/jobs/{job['id']}").json()["state"] == "done"


def test_an_expert_correction_upstream_marks_the_job_results_read_from_it_stale(
        tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """OCR reads the shots; experts correct a cut: the job's OCR result, computed from the
    uncorrected cuts, is published as stale, and `aiwork explain JOB` says so."""
    from aiwork.api.app import ServerSettings, create_app

    admin = SigningKey.generate()
    db = tmp_path / "coord.db"
    app = create_app(ServerSettings(db=db, key=SigningKey.generate(), open_registration=True,
                                    starting_credits=100, admin=admin.did))
    _client(app, admin, "requester").request(
        "PUT", "/v1/review/rules/shots",
        json.dumps({"audit_share": 1.0, "experts": 2, "gold_share": 0.0}).encode())
    req = _client(app, SigningKey.generate(), "requester")
    job = req.post("/v1/jobs", {"asset": req.upload_blob(clip.read_bytes()), "analyzers": ["ocr"]})
    worker = _worker(app, tmp_path / "w", ["shots", "ocr"])
    while worker.run_once():
        pass
    assert req.get(f"/v1/jobs/{job['id']}").json()["state"] == "done"
    assert "stale" not in req.get(f"/v1/jobs/{job['id']}/results").json()["results"]

    experts = [SigningKey.generate() for _ in range(2)]
    clients = [_client(app, key, "expert") for key in experts]
    items = [c.request("POST", "/v1/review/next", b"{}").json() for c in clients]
    assert items[0]["id"] == items[1]["id"]
    for client, key, answer in zip(clients, experts, ["reject", "correct"], strict=True):
        value = items[0]["value"] + 0.4 if answer == "correct" else None
        entry = sign_entry(key, "human.verdict", {
            "item": items[0]["id"], "decision": items[0]["evidence"]["decision"],
            "insight": "shots", "verdict": answer, "value": value, "rationale": "looked",
            "seconds": 3.0})
        client.post(f"/v1/review/items/{items[0]['id']}/verdict",
                    {"entry": entry.to_bytes().decode()})
    with Log.open(db) as log:
        entries = {i: Entry.from_bytes(log.get(i)) for i in range(log.size)}
    consensus = max(i for i, e in entries.items() if e.kind == "consensus.result/v1")
    assert entries[consensus].body["outcome"] == "corrected"
    ocr = max(i for i, e in entries.items() if e.body.get("analyzer") == "ocr")

    results = req.get(f"/v1/jobs/{job['id']}/results").json()["results"]
    assert results["stale"] == [{
        "insight": "ocr", "decision": ocr, "upstream": "shots",
        "used": entries[ocr].body["input"]["derived_from"][0]["decision"],
        "current": entries[ocr].body["input"]["derived_from"][0]["decision"],
        "reason": f"shots was corrected by expert review (consensus {consensus})"}]
    assert main(["explain", job["id"], "--db", str(db)]) == 0
    assert f"STALE: shots was corrected by expert review (consensus {consensus})" in \
        capsys.readouterr().out
