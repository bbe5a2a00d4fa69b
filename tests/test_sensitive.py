"""A sensitive library against a real coordinator process: its media, jobs, review items and
the values its experts write reach only its readers; the public log holds commitments that a
reader can open and check, and ``aiwork-verify`` catches a wrong opening."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from aiwork.client.access_log import fetch_access_log, verify_access_log
from aiwork.audit.bundle import build_bundle
from aiwork.audit.explain import explain
from aiwork.audit.subjects import resolve
from aiwork.pipeline.catalog import Catalog
from aiwork.client.coordinator import CoordinatorClient
from aiwork.errors import CommitmentError, CoordinatorError, InvalidBodyError
from aiwork.ledger.home import open_ledger
from aiwork.coordinator.libraries import with_purpose
from aiwork.client.worker import Worker, seal_decision
from aiwork.auth import sign_request
from aiwork.canonical import canonical_bytes
from aiwork.cli import main
from aiwork.crypto import SigningKey, write_key_file
from aiwork.ledger.entries import sign_entry
from aiwork.model import Entry
from aiwork.model.commitment import check_opening, commit, is_commitment
from aiwork.verify_bundle import BundleError, verify_bundle
from aiwork.verify_bundle import main as verify_main

from .conftest import make_two_scene_clip, running_coordinator

CORRECTION = 2.875  # where the reader says the cut really is
RATIONALE = "the red frame lingers into the cut; the minister's face is visible"


@dataclass
class Net:
    url: str
    db: Path | str
    home: Path  # the coordinator's AIWORK_HOME (its log key, with PostgreSQL)
    admin: SigningKey
    owner: SigningKey  # requester owning the library, also an expert
    reader: SigningKey  # an expert the owner made a reader
    stranger: SigningKey  # an expert and requester who may not read the library
    library: str
    asset: str
    clients: list[CoordinatorClient]

    def client(self, key: SigningKey | None) -> CoordinatorClient:
        client = CoordinatorClient(self.url, key)
        self.clients.append(client)  # closed when the test ends
        return client

    def get(self, key: SigningKey | None, path: str) -> httpx.Response:
        """A GET as sent, signed by ``key`` (unsigned if None); refusals are returned."""
        headers = sign_request(key, "GET", path, b"") if key else {}
        return httpx.get(self.url + path, headers=headers, timeout=30)

    def public_log(self) -> list[bytes]:
        """Every entry of the log as anyone reads it: unsigned GET /v1/ledger/entries/N."""
        out, index = [], 0
        while True:
            reply = httpx.get(f"{self.url}/v1/ledger/entries/{index}", timeout=30)
            if reply.status_code != 200:
                return out
            out.append(reply.content)
            index += 1


def take(client: CoordinatorClient) -> dict[str, Any] | None:
    reply = client.request("POST", "/v1/review/next", b"{}")
    return None if reply.status_code == 204 else dict(reply.json())


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_two_scene_clip(tmp_path_factory.mktemp("sensitive") / "board.mp4")


@pytest.fixture
def net(tmp_path: Path, clip: Path, store_target: Path | str) -> Iterator[Net]:
    """A coordinator process on SQLite, and on PostgreSQL."""
    admin = SigningKey.generate()
    home = tmp_path / "coordinator"
    with running_coordinator(home, "--db", str(store_target), "--open-registration",
                             "--admin", admin.did, "--starting-credits", "100") as url:
        net = Net(url, store_target, home, admin, *(SigningKey.generate() for _ in range(3)),
                  "", "", [])
        net.client(admin).request(
            "PUT", "/v1/review/rules/shots",
            # Three experts per item, but the library has two people who may review it (its
            # owner and one reader): its items ask for those two.
            json.dumps({"audit_share": 1.0, "experts": 3, "gold_share": 0.0}).encode())
        for key, roles in ((net.owner, ("requester", "expert")), (net.reader, ("expert",)),
                           (net.stranger, ("requester", "expert"))):
            for role in roles:
                net.client(key).post("/v1/identities", {"role": role})
        client = net.client(net.owner)
        net.library = client.post("/v1/libraries", {"name": "Cabinet", "sensitive": True})["id"]
        client.post(f"/v1/libraries/{net.library}/readers", {"did": net.reader.did})
        net.asset = client.upload_blob(clip.read_bytes(), library=net.library)
        try:
            yield net
        finally:
            for opened in net.clients:
                opened.close()


def run_job(net: Net, tmp_path: Path) -> str:
    job = net.client(net.owner).post("/v1/jobs", {"asset": net.asset, "analyzers": ["shots"],
                                                  "library": net.library})["id"]
    key = SigningKey.generate()
    client = net.client(key)
    client.post("/v1/identities", {"role": "worker"})
    worker = Worker(client, key, tmp_path / "worker", ["shots"])
    try:
        assert worker.run_once()
        assert worker.stats.failed == 0, worker.stats.errors
    finally:
        worker.close()
    return str(job)


def test_media_is_restricted_from_its_upload_before_any_job(net: Net, clip: Path) -> None:
    path = f"/v1/blobs/{net.asset}"
    # To others it is as absent as media never uploaded: nobody learns what the library holds.
    assert net.get(None, path).status_code == 404
    assert net.get(net.stranger, path).status_code == 404
    assert net.get(net.reader, path).content == clip.read_bytes()
    # Nor can anyone else have it analysed outside the library (their job's results would
    # be public): the answer is the one for media never uploaded.
    missing = "sha256:" + "2" * 64
    for digest in (net.asset, missing):
        with pytest.raises(CoordinatorError, match=f"400.*no media {digest} on this"):
            net.client(net.stranger).post("/v1/jobs", {"asset": digest,
                                                       "analyzers": ["technical"]})
    with pytest.raises(CoordinatorError, match="400.*goes into that library"):
        net.client(net.owner).post("/v1/jobs", {"asset": net.asset, "analyzers": ["technical"]})
    # Only the owner declares media for a library (or a worker leasing one of its tasks).
    with pytest.raises(CoordinatorError, match="403"):
        net.client(net.stranger).upload_blob(b"other bytes", library=net.library)


def test_listings_show_nothing_of_a_sensitive_library_to_others(
        net: Net, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = run_job(net, tmp_path)
    digest_hex = net.asset.removeprefix("sha256:")
    for key in (None, net.stranger):
        listing = net.get(key, "/v1/jobs")
        assert listing.status_code == 200
        assert job not in listing.text and digest_hex not in listing.text
        assert net.get(key, f"/v1/jobs?requester={net.owner.did}").json() == []
        assert net.get(key, f"/v1/jobs/{job}").status_code in (401, 403)
        assert net.get(key, f"/v1/jobs/{job}/review").status_code in (401, 403)
        assert digest_hex not in net.get(key, "/v1/workers").text
    assert [j["id"] for j in net.get(net.owner, "/v1/jobs").json()] == [job]
    keyfile = tmp_path / "owner.pem"
    write_key_file(keyfile, net.owner)
    at = ["--coordinator", net.url]
    assert main(["review", "progress", job, *at]) == 1
    assert main(["review", "progress", job, *at, "--key", str(keyfile)]) == 0
    assert main(["jobs", *at, "--key", str(keyfile)]) == 0
    assert job in capsys.readouterr().out
    assert net.get(net.reader, f"/v1/jobs/{job}").json()["asset"] == net.asset
    # The keyframes the worker uploaded are as private as the video, from their upload on.
    shots = net.get(net.owner, with_purpose(f"/v1/jobs/{job}/results", "editing")
                    ).json()["results"]["shots"]
    frames = [shot["keyframe"]["digest"] for shot in shots if shot.get("keyframe")]
    assert frames
    for frame in frames:
        assert net.get(None, f"/v1/blobs/{frame}").status_code == 404
        assert net.get(net.stranger, f"/v1/blobs/{frame}").status_code == 404


def test_review_items_go_only_to_readers_and_the_log_holds_commitments(
        net: Net, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    job = run_job(net, tmp_path)
    stranger, reader, owner = (net.client(k) for k in (net.stranger, net.reader, net.owner))

    # An expert who may not read the library is not served its item, nor told it exists.
    reply = stranger.request("POST", "/v1/review/next", b"{}")
    assert reply.status_code == 204
    assert "no job has items routed to review yet" in reply.headers["aiwork-reason"]
    item = take(reader)
    assert item is not None and item["sensitive"] is True
    assert take(stranger) is None
    # Serving it was logged in the library's access log, before the item went out.
    listing = fetch_access_log(owner, net.library)
    log = verify_access_log(listing, net.get(None, "/v1/ledger/key").text.strip(),
                            library=net.library)
    assert [(r.reader, r.resource, r.index) for r in log.reads] == [
        (net.reader.did, f"review/{item['id']}", item["access_entry"])]
    with pytest.raises(CoordinatorError, match="403"):
        stranger.get(f"/v1/review/items/{item['id']}", signed=True)

    # A plain verdict would put the correction in the public log: refused, nothing written.
    size = len(net.public_log())
    plain = sign_entry(net.reader, "human.verdict", {
        "item": item["id"], "decision": item["evidence"]["decision"], "insight": "shots",
        "verdict": "correct", "value": CORRECTION, "rationale": RATIONALE, "seconds": 20.0})
    with pytest.raises(CoordinatorError, match="400.*sealed"):
        reader.post(f"/v1/review/items/{item['id']}/verdict",
                    {"entry": plain.to_bytes().decode()})
    assert len(net.public_log()) == size

    # The reader corrects it with the command line, which seals the verdict.
    keyfile = tmp_path / "reader.pem"
    write_key_file(keyfile, net.reader)
    assert main(["review", "submit", item["id"], "--verdict", "correct", "--value",
                 str(CORRECTION), "--rationale", RATIONALE, "--coordinator", net.url,
                 "--key", str(keyfile)]) == 0
    verdict_index = int(capsys.readouterr().out.split()[-1])
    second = take(owner)
    assert second is not None and second["id"] == item["id"]
    owner_verdict = sign_entry(net.owner, "human.verdict.sealed", {
        "item": item["id"], "decision": item["evidence"]["decision"], "insight": "shots",
        "verdict": "correct", "value": commit(CORRECTION + 0.001)[0],
        "rationale": commit(None)[0], "seconds": 3.0})
    with pytest.raises(CoordinatorError, match="400.*does not match"):  # a wrong opening
        owner.post(f"/v1/review/items/{item['id']}/verdict",
                   {"entry": owner_verdict.to_bytes().decode(),
                    "openings": {"value": {"value": CORRECTION, "salt": "00" * 32},
                                 "rationale": {"value": None, "salt": "00" * 32}}})
    value, value_opening = commit(CORRECTION + 0.125)
    rationale, rationale_opening = commit(None)
    owner_verdict = sign_entry(net.owner, "human.verdict.sealed", {
        "item": item["id"], "decision": item["evidence"]["decision"], "insight": "shots",
        "verdict": "correct", "value": value, "rationale": rationale, "seconds": 3.0})
    owner.post(f"/v1/review/items/{item['id']}/verdict",
               {"entry": owner_verdict.to_bytes().decode(),
                "openings": {"value": value_opening, "rationale": rationale_opening}})

    # Anyone reading the public log sees commitments: no correction, rationale, media digest,
    # keyframe, output or evidence of the library.
    public = net.public_log()
    entries = [Entry.from_bytes(data) for data in public]
    kinds = [e.kind for e in entries]
    assert "ai.decision/v1" not in kinds and "human.verdict/v1" not in kinds
    assert "consensus.result/v1" not in kinds and "asset.summary/v1" not in kinds
    assert "asset.summary.sealed/v1" in kinds
    decision = item["evidence"]["decision"]
    assert entries[decision].kind == "ai.decision.sealed/v1"
    assert all(is_commitment(entries[decision].body[f])
               for f in ("input", "output", "output_items", "confidence", "evidence"))
    assert entries[verdict_index].kind == "human.verdict.sealed/v1"
    (consensus,) = [i for i, e in enumerate(entries) if e.kind == "consensus.result.sealed/v1"]
    assert entries[consensus].body["outcome"] == "corrected"
    reply = net.get(net.owner, with_purpose(f"/v1/jobs/{job}/results", "check the review"))
    results = reply.json()
    keyframes = [s["keyframe"]["digest"].removeprefix("sha256:")
                 for s in results["results"]["shots"] if s.get("keyframe")]
    text = b"\n".join(public)
    for secret in ["minister", net.asset.removeprefix("sha256:"), *keyframes]:
        assert secret.encode() not in text, secret
    # The corrected and the AI's times, as numbers: not as digits inside a timestamp
    # ("...:12.94Z" holds "2.94" without telling anything).
    for number in [str(CORRECTION), "2.94"]:
        pattern = rb"(?<![0-9.])" + re.escape(number.encode()) + rb"(?![0-9])"
        assert re.search(pattern, text) is None, number

    # A reader gets the openings with the results and checks them against the public log.
    openings = results["openings"]
    assert set(openings) == {str(decision), str(consensus)}
    opened = {field: check_opening(entries[decision].body[field], value, field)
              for field, value in openings[str(decision)].items()}
    assert opened["input"]["asset"] == net.asset
    ai_cut = item["value"]
    assert [s["instances"][0]["start"] for s in opened["output"]][1] == ai_cut
    corrected = check_opening(entries[consensus].body["value"],
                              openings[str(consensus)]["value"], "value")
    assert corrected == pytest.approx((CORRECTION + CORRECTION + 0.125) / 2, abs=1e-3)
    assert results["results"]["shots"][1]["instances"][0]["start"] == corrected
    # The commitment is SHA-256 of the salt then the RFC 8785 JSON of the value.
    salt = openings[str(consensus)]["value"]["salt"]
    assert entries[consensus].body["value"]["commitment"] == "sha256:" + hashlib.sha256(
        bytes.fromhex(salt) + canonical_bytes(corrected)).hexdigest()

    # The audit bundle carries the openings; aiwork-verify checks them and names a wrong one.
    monkeypatch.setenv("AIWORK_HOME", str(net.home))
    with open_ledger(net.db, signing=True) as ledger:
        bundle = build_bundle(ledger, resolve(Catalog(ledger.db), ledger, job))
    assert str(verdict_index) in bundle["openings"]
    report = verify_bundle(bundle)
    # decision, two verdicts, consensus, the job's asset.summary
    assert any("sealed entries: 5" in line for line in report.lines), report.lines
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    assert verify_main([str(path)]) == 0

    wrong = copy.deepcopy(bundle)
    wrong["openings"][str(verdict_index)]["value"]["value"] = 1.0
    with pytest.raises(BundleError, match=f"entry {verdict_index}: the opening of 'value' "
                                          "does not match"):
        verify_bundle(wrong)
    path.write_text(json.dumps(wrong))
    assert verify_main([str(path)]) == 1
    assert f"entry {verdict_index}: the opening of 'value'" in capsys.readouterr().err
    resalted = copy.deepcopy(bundle)
    resalted["openings"][str(decision)]["evidence"]["salt"] = "11" * 32
    with pytest.raises(BundleError, match=f"entry {decision}: the opening of 'evidence'"):
        verify_bundle(resalted)
    closed = copy.deepcopy(bundle)
    del closed["openings"][str(decision)]
    with pytest.raises(BundleError, match="sealed and the bundle holds no opening"):
        verify_bundle(closed)
    altered = copy.deepcopy(bundle)
    altered["items"][0]["output"][1]["instances"][0]["start"] = 1.0
    altered["openings"][str(decision)]["output"]["value"][1]["instances"][0]["start"] = 1.0
    with pytest.raises(BundleError, match="opening of 'output' does not match"):
        verify_bundle(altered)


def test_sealed_kinds_hold_only_commitments() -> None:
    key = SigningKey.generate()
    value, _ = commit(2.5)
    body = {"item": "a" * 32, "decision": 3, "insight": "shots", "verdict": "correct",
            "value": value, "rationale": commit("why")[0], "seconds": None}
    sign_entry(key, "human.verdict.sealed", body)
    for bad in ({"value": 2.5}, {"rationale": "why"}, {"value": {"commitment": "sha256:00"}},
                {"value": {**value, "salt": "00" * 32}}):
        with pytest.raises(InvalidBodyError):
            sign_entry(key, "human.verdict.sealed", {**body, **bad})
    with pytest.raises(CommitmentError, match="does not match"):
        check_opening(value, {"value": 2.5000001, "salt": commit(2.5)[1]["salt"]}, "value")
    with pytest.raises(CommitmentError, match="not {value, salt}"):
        check_opening(value, {"value": 2.5}, "value")


def test_a_plain_decision_for_a_sensitive_task_is_refused(net: Net, tmp_path: Path) -> None:
    net.client(net.owner).post("/v1/jobs", {"asset": net.asset, "analyzers": ["shots"],
                                            "library": net.library})
    key = SigningKey.generate()
    client = net.client(key)
    client.post("/v1/identities", {"role": "worker"})
    worker = Worker(client, key, tmp_path / "worker", ["shots"])
    try:
        worker.advertise()
        lease = client.post("/v1/tasks/lease", {"capabilities": ["shots"]})
        assert lease["sensitive"] is True and lease["library"] == net.library
        entry, output = worker.work(lease)
    finally:
        worker.close()
    size = len(net.public_log())
    result = f"/v1/leases/{lease['lease']}/result"
    with pytest.raises(CoordinatorError, match="400.*ai.decision.sealed"):
        client.post(result, {"entry": entry.decode(), "output": output})
    # Sealed, but opened with another asset, or with output other than it committed to.
    sealed, openings = seal_decision(key, entry, output)
    for field, value in (("input", {**openings["input"]["value"], "asset": "sha256:" + "1" * 64}),
                         ("output", output[:1])):
        wrong = {**openings, field: {**openings[field], "value": value}}
        with pytest.raises(CoordinatorError, match=f"400.*opening of the decision's '{field}'"):
            client.post(result, {"entry": sealed.decode(), "output": output, "openings": wrong})
    assert len(net.public_log()) == size
    assert client.post(result, {"entry": sealed.decode(), "output": output,
                                "openings": openings})["decision"] == size


def test_a_sensitive_job_of_analyzers_that_read_others_is_sealed_end_to_end(
        net: Net, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """keywords reads the transcript, text and language: every decision is sealed, each
    names the sealed decisions it read (inside its committed input), the coordinator checks
    them through their openings, and the bundle's provenance is checked through them too."""
    job = net.client(net.owner).post("/v1/jobs", {"asset": net.asset, "analyzers": ["keywords"],
                                                  "library": net.library})["id"]
    key = SigningKey.generate()
    client = net.client(key)
    client.post("/v1/identities", {"role": "worker"})
    worker = Worker(client, key, tmp_path / "worker",
                    ["shots", "transcript", "ocr", "language", "keywords"])
    try:
        while worker.run_once():
            pass
    finally:
        worker.close()
    assert worker.stats.failed == 0, worker.stats.errors
    assert net.get(net.owner, f"/v1/jobs/{job}").json()["state"] == "done"
    entries = [Entry.from_bytes(data) for data in net.public_log()]
    decisions = {e.body["analyzer"]: i for i, e in enumerate(entries)
                 if e.kind.startswith("ai.decision")}
    assert {entries[i].kind for i in decisions.values()} == {"ai.decision.sealed/v1"}
    openings = net.get(net.owner, with_purpose(f"/v1/jobs/{job}/results", "check")
                       ).json()["openings"]
    keywords = decisions["keywords"]
    span = check_opening(entries[keywords].body["input"], openings[str(keywords)]["input"],
                         "input")
    assert {r["insight"]: r["decision"] for r in span["derived_from"]} == {
        "transcript": decisions["transcript"], "ocr": decisions["ocr"],
        "language": decisions["language"]}
    monkeypatch.setenv("AIWORK_HOME", str(net.home))
    with open_ledger(net.db, signing=True) as ledger:
        bundle = build_bundle(ledger, resolve(Catalog(ledger.db), ledger, f"{job}#keywords"))
        # The operator's explanation reads the sealed decisions through their openings.
        lines = explain(ledger, resolve(Catalog(ledger.db), ledger, job))
    assert not [line for line in lines if "None" in line], lines
    assert any(line.startswith("  from seconds 0") for line in lines), lines
    report = verify_bundle(bundle)
    assert any(line.startswith("  keywords (decision") for line in report.lines), report.lines
    closed = copy.deepcopy(bundle)
    del closed["openings"][str(decisions["transcript"])]
    with pytest.raises(BundleError, match="transcript decision .*: that decision is sealed and "
                                          "the bundle does not open its input"):
        verify_bundle(closed)
