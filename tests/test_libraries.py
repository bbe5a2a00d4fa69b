"""Libraries and the access log of sensitive ones: who read what, when and why, provably."""

from __future__ import annotations

import copy
import json
import sqlite3
import subprocess
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from aiwork.api import ServerSettings, create_app
from aiwork.client.access_log import fetch_access_log, verify_access_log
from aiwork.errors import AccessLogError, AiworkError, CoordinatorError, InvalidBodyError
from aiwork.client.coordinator import CoordinatorClient
from aiwork.coordinator.libraries import ACCESS_ENTRY_HEADER, Libraries, with_purpose
from aiwork.client.worker import Worker
from aiwork.auth import sign_request
from aiwork.cli import main
from aiwork.crypto import SigningKey, write_key_file
from aiwork.ledger import merkle
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.model import Entry

PURPOSE = "quarterly rights review, case #12 / é"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("libraries") / "clip.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=green:s=160x90:d=2:r=25", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(path)], check=True)
    return path


@dataclass
class Network:
    app: Any
    http: TestClient
    db: Path | str
    coordinator: SigningKey
    owner: SigningKey
    auditor: SigningKey
    stranger: SigningKey
    library: str
    job: str

    def client(self, key: SigningKey | None) -> CoordinatorClient:
        return CoordinatorClient("http://testserver", key, http=TestClient(self.app))

    def get(self, key: SigningKey | None, path: str) -> httpx.Response:
        """A GET as sent, signed by ``key`` (unsigned if None); refusals are returned."""
        headers = sign_request(key, "GET", path, b"") if key else {}
        return self.http.get(path, headers=headers)

    def entries(self) -> list[tuple[int, Entry]]:
        with Log.open(self.db) as log:
            return [(i, Entry.from_bytes(log.get(i))) for i in range(log.size)]

    def reads(self) -> list[tuple[int, Entry]]:
        return [(i, e) for i, e in self.entries() if e.kind == "access.read/v1"]

    def listing(self, key: SigningKey | None = None) -> dict[str, Any]:
        path = f"/v1/libraries/{self.library}/access"
        return dict(self.client(key or self.owner).get(path, signed=True).json())

    def log_key(self) -> str:
        return self.http.get("/v1/ledger/key").text.strip()


def build(tmp_path: Path, clip: Path, *, sensitive: bool = True,
          db: Path | str | None = None, **settings: Any) -> Network:
    """A coordinator (``settings`` added to its ServerSettings), a requester owning a library
    with one finished job (technical analysis by a real worker), an auditor and a stranger."""
    coordinator = SigningKey.generate()
    db = db or tmp_path / "coord.db"
    app = create_app(ServerSettings(db=db, key=coordinator, open_registration=True,
                                    starting_credits=100, **settings))
    owner, auditor, stranger, worker_key = (SigningKey.generate() for _ in range(4))
    clients = {k: CoordinatorClient("http://testserver", k, http=TestClient(app))
               for k in (owner, auditor, stranger, worker_key)}
    clients[owner].post("/v1/identities", {"role": "requester"})
    clients[stranger].post("/v1/identities", {"role": "requester"})
    clients[auditor].post("/v1/identities", {"role": "auditor"})
    clients[worker_key].post("/v1/identities", {"role": "worker"})
    library = clients[owner].post("/v1/libraries", {"name": "Board meetings",
                                                    "sensitive": sensitive})
    digest = clients[owner].upload_blob(clip.read_bytes(), library=library["id"])
    job = clients[owner].post("/v1/jobs", {"asset": digest, "analyzers": ["technical"],
                                           "library": library["id"]})
    assert job["library"] == library["id"]
    worker = Worker(clients[worker_key], worker_key, tmp_path / "worker", ["technical"])
    while worker.run_once():
        pass
    assert clients[owner].get(f"/v1/jobs/{job['id']}", signed=True).json()["state"] == "done"
    return Network(app, TestClient(app), db, coordinator, owner, auditor,
                   stranger, library["id"], job["id"])


@pytest.fixture
def net(tmp_path: Path, clip: Path) -> Network:
    return build(tmp_path, clip)


def results_path(net: Network, purpose: str | None = PURPOSE) -> str:
    path = f"/v1/jobs/{net.job}/results"
    return with_purpose(path, purpose) if purpose is not None else path


# -- reading -------------------------------------------------------------------------------


def test_each_read_is_logged_with_who_what_and_why_before_the_data(net: Network) -> None:
    reply = net.get(net.owner, results_path(net))
    assert reply.status_code == 200 and reply.json()["results"]["technical"]["width"] == 160
    first = int(reply.headers[ACCESS_ENTRY_HEADER])
    export = with_purpose(f"/v1/jobs/{net.job}/export/metadata.json?title=x.mp4", "legal hold")
    reply = net.get(net.auditor, export)
    assert reply.status_code == 200 and reply.json()["technical"]["height"] == 90
    second = int(reply.headers[ACCESS_ENTRY_HEADER])

    (i, a), (j, b) = net.reads()
    assert (i, j) == (first, second)
    assert a.author == b.author == net.coordinator.did
    assert a.body == {"reader": net.owner.did, "library": net.library, "job": net.job,
                      "resource": "results", "purpose": PURPOSE, "seq": 0, "prev": None,
                      "prev_leaf": None}
    with Log.open(net.db) as log:
        leaf = merkle.leaf_hash(log.get(first)).hex()
    assert b.body == {"reader": net.auditor.did, "library": net.library, "job": net.job,
                      "resource": "export/metadata.json", "purpose": "legal hold", "seq": 1,
                      "prev": first, "prev_leaf": leaf}


def test_no_entry_no_data(net: Network, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: Any) -> int:
        raise AiworkError("the log is unavailable")

    monkeypatch.setattr(Libraries, "record_read", fail)
    reply = net.get(net.owner, results_path(net))
    assert reply.status_code == 400 and "results" not in reply.json()
    assert net.reads() == []


def test_unsigned_reads_and_reads_without_a_purpose_are_refused_with_no_data(
        net: Network) -> None:
    before = len(net.entries())
    unsigned = net.get(None, results_path(net))
    assert unsigned.status_code == 401 and unsigned.json()["error"] == "unsigned"
    assert "sensitive library" in unsigned.json()["message"]
    assert "?purpose=" in unsigned.json()["message"]
    assert net.get(None, f"/v1/jobs/{net.job}/export/captions.vtt").status_code == 401

    for purpose in (None, "   ", "x" * 201, "line\nbreak"):
        path = f"/v1/jobs/{net.job}/results" + (
            "" if purpose is None else "?purpose=" + quote(purpose, safe=""))
        reply = net.get(net.owner, path)
        assert reply.status_code == 400, purpose
        assert "purpose" in reply.json()["message"] and "results" not in reply.json()

    # The purpose is in the query, which the signature covers: it cannot be swapped.
    headers = sign_request(net.owner, "GET", results_path(net), b"")
    forged = net.http.get(results_path(net, "something else"), headers=headers)
    assert forged.status_code == 401 and forged.json()["error"] == "bad-signature"
    assert len(net.entries()) == before


def test_only_the_owner_its_readers_auditors_and_admins_may_read(net: Network) -> None:
    before = len(net.entries())
    reply = net.get(net.stranger, results_path(net))
    assert reply.status_code == 403 and "results" not in reply.json()
    for method, path, body in [
            ("GET", f"/v1/libraries/{net.library}/access", None),
            ("GET", f"/v1/libraries/{net.library}", None),
            ("PATCH", f"/v1/libraries/{net.library}", {"sensitive": False}),
            ("POST", f"/v1/libraries/{net.library}/readers", {"did": net.stranger.did})]:
        with pytest.raises(CoordinatorError, match="403"):
            data = b"" if body is None else json.dumps(body).encode()
            net.client(net.stranger).request(method, path, data)
    asset = net.client(net.owner).get(f"/v1/jobs/{net.job}", signed=True).json()["asset"]
    with pytest.raises(CoordinatorError, match="403.*does not own"):
        net.client(net.stranger).post("/v1/jobs", {"asset": asset, "analyzers": ["technical"],
                                                   "library": net.library})
    assert net.client(None).get(f"/v1/jobs?requester={net.stranger.did}").json() == []
    assert len(net.entries()) == before  # nothing logged, nothing created

    net.client(net.owner).post(f"/v1/libraries/{net.library}/readers",
                               {"did": net.stranger.did})
    reply = net.get(net.stranger, results_path(net))
    assert reply.status_code == 200 and reply.json()["results"]
    assert [e.body["reader"] for _, e in net.reads()] == [net.stranger.did]
    # A reader reads; it does not list the log.
    with pytest.raises(CoordinatorError, match="403"):
        net.listing(net.stranger)


def test_reads_of_a_library_that_is_not_sensitive_stay_public_and_unlogged(
        tmp_path: Path, clip: Path) -> None:
    net = build(tmp_path, clip, sensitive=False)
    before = len(net.entries())
    reply = net.get(None, f"/v1/jobs/{net.job}/results")
    assert reply.status_code == 200 and reply.json()["results"]["technical"]
    assert ACCESS_ENTRY_HEADER not in reply.headers
    assert net.get(None, f"/v1/jobs/{net.job}/export/metadata.jsonld").status_code == 200
    assert net.get(net.owner, results_path(net)).status_code == 200  # signed is fine too
    assert len(net.entries()) == before and net.reads() == []
    library = net.client(None).get(f"/v1/libraries/{net.library}").json()
    assert library["jobs"] == [net.job] and library["name"] == "Board meetings"


# -- the library ----------------------------------------------------------------------------


def test_libraries_are_created_by_requesters_and_shown_to_their_readers(net: Network) -> None:
    worker = SigningKey.generate()
    net.client(worker).post("/v1/identities", {"role": "worker"})
    with pytest.raises(CoordinatorError, match="403"):
        net.client(worker).post("/v1/libraries", {"name": "mine", "sensitive": False})
    with pytest.raises(CoordinatorError, match="400"):
        net.client(net.owner).post("/v1/libraries", {"name": "", "sensitive": False})
    with pytest.raises(CoordinatorError, match="400"):
        net.client(net.owner).post("/v1/libraries", {"name": "x", "sensitive": "yes"})
    with pytest.raises(CoordinatorError, match="404"):
        net.client(None).get("/v1/libraries/" + "0" * 32)
    assert net.get(None, f"/v1/libraries/{net.library}").status_code == 401
    shown = net.client(net.owner).get(f"/v1/libraries/{net.library}", signed=True).json()
    assert shown == {"id": net.library, "name": "Board meetings", "owner": net.owner.did,
                     "sensitive": True, "entry": shown["entry"], "readers": [],
                     "jobs": [net.job]}
    created = dict(net.entries())[shown["entry"]]
    assert created.kind == "library.created/v1" and created.author == net.coordinator.did
    assert created.body == {"library": net.library, "owner": net.owner.did, "sensitive": True}


def test_changing_sensitivity_is_an_entry_and_keeps_the_log_provable(
        tmp_path: Path, clip: Path, store_target: Path | str) -> None:
    """On the embedded SQLite store and on PostgreSQL."""
    net = build(tmp_path, clip, db=store_target)
    owner = net.client(net.owner)
    net.get(net.owner, results_path(net))
    reply = owner.request("PATCH", f"/v1/libraries/{net.library}",
                          json.dumps({"sensitive": False}).encode()).json()
    assert reply["sensitive"] is False
    (index, entry), = [(i, e) for i, e in net.entries() if e.kind == "library.updated/v1"]
    created = owner.get(f"/v1/libraries/{net.library}").json()["entry"]
    assert entry.author == net.coordinator.did
    assert entry.body == {"library": net.library, "by": net.owner.did, "sensitive": False,
                          "reader": None, "reads": 1, "prev": created}
    # Not sensitive now: reads are public and unlogged...
    assert net.get(None, results_path(net, None)).status_code == 200
    assert len(net.reads()) == 1
    # ...until it is made sensitive again.
    owner.request("PATCH", f"/v1/libraries/{net.library}",
                  json.dumps({"sensitive": True}).encode())
    assert net.get(None, results_path(net, None)).status_code == 401
    net.get(net.auditor, results_path(net))

    listing = net.listing()
    verified = verify_access_log(listing, net.log_key(), library=net.library)
    assert [c.sensitive for c in verified.changes] == [True, False, True]
    assert [c.reads for c in verified.changes] == [0, 1, 1]
    assert [r.reader for r in verified.reads] == [net.owner.did, net.auditor.did]
    # Hiding the time it was not sensitive is caught.
    hidden = copy.deepcopy(listing)
    del hidden["changes"][1]
    with pytest.raises(AccessLogError, match="a change is missing"):
        verify_access_log(hidden, net.log_key(), library=net.library)


# -- the owner's listing, and tampering with it -----------------------------------------------


def read_three_times(net: Network) -> None:
    for key, purpose in ((net.owner, "editing"), (net.auditor, "audit 2025"),
                         (net.owner, PURPOSE)):
        assert net.get(key, results_path(net, purpose)).status_code == 200


def test_the_owner_lists_who_read_what_and_the_listing_verifies(
        tmp_path: Path, clip: Path, store_target: Path | str) -> None:
    """On the embedded SQLite store and on PostgreSQL."""
    net = build(tmp_path, clip, db=store_target)
    read_three_times(net)
    listing = net.listing()
    assert listing["reads"] == 3 and listing == net.listing(net.auditor)
    verified = verify_access_log(listing, net.log_key(), library=net.library,
                                 issuer=net.coordinator.did,
                                 known=[i for i, _ in net.reads()])
    assert [(r.reader, r.resource, r.purpose, r.seq) for r in verified.reads] == [
        (net.owner.did, "results", "editing", 0), (net.auditor.did, "results", "audit 2025", 1),
        (net.owner.did, "results", PURPOSE, 2)]
    assert verified.size == listing["size"] and verified.issuer == net.coordinator.did
    assert all(r.time for r in verified.reads)
    with Log.open(net.db) as log:
        assert log.size >= verified.size
        log.verify()


def test_the_listing_comes_in_pages_on_one_checkpoint(net: Network) -> None:
    for n in range(5):
        assert net.get(net.owner, results_path(net, f"read {n}")).status_code == 200
    path = f"/v1/libraries/{net.library}/access"
    owner = net.client(net.owner)
    first = owner.get(path + "?limit=2", signed=True).json()
    assert (first["reads"], first["from"], first["next"], len(first["entries"])) == (5, 0, 2, 2)
    # A read between pages is not in this listing: every page proves against the first size.
    assert net.get(net.auditor, results_path(net, "late")).status_code == 200
    second = owner.get(path + f"?from=2&limit=2&size={first['size']}", signed=True).json()
    last = owner.get(path + f"?from=4&limit=2&size={first['size']}", signed=True).json()
    assert (second["next"], last["next"], len(last["entries"])) == (4, None, 1)
    assert second["checkpoint"] == last["checkpoint"] == first["checkpoint"]

    joined = {**first, "entries": first["entries"] + second["entries"] + last["entries"]}
    verified = verify_access_log(joined, net.log_key(), library=net.library)
    assert [r.purpose for r in verified.reads] == [f"read {n}" for n in range(5)]
    assert verified.size == first["size"]
    with pytest.raises(AccessLogError, match="reads are missing|counts 5 reads but holds 4"):
        verify_access_log({**joined, "entries": joined["entries"][:4]}, net.log_key(),
                          library=net.library)
    whole = fetch_access_log(owner, net.library, limit=2)
    assert whole["reads"] == len(whole["entries"]) == 6 and whole["next"] is None
    latest = verify_access_log(whole, net.log_key(), library=net.library)
    assert [r.purpose for r in latest.reads][-1] == "late"

    for query, status in (("?limit=0", 400), ("?limit=1001", 400), ("?from=-1", 400),
                          ("?from=x", 400), (f"?size={first['size'] + 1000}", 404)):
        reply = net.get(net.owner, path + query)
        assert reply.status_code == status, (query, reply.text)
        assert reply.json()["message"]


def test_trimming_or_altering_the_access_log_is_detected(net: Network, tmp_path: Path) -> None:
    read_three_times(net)
    key, listing = net.log_key(), net.listing()
    verify_access_log(listing, key, library=net.library)

    def refused(changed: dict[str, Any], match: str, **options: Any) -> None:
        with pytest.raises(AccessLogError, match=match):
            verify_access_log(changed, options.pop("key", key),
                              **{"library": net.library, **options})

    gap = copy.deepcopy(listing)  # a read left out of the listing
    del gap["entries"][1]
    gap["reads"] = 2
    refused(gap, "1 reads before it are missing")

    cut = copy.deepcopy(listing)  # the last read cut off: caught against a known read
    last = cut["entries"].pop()["index"]
    cut["reads"] = 2
    verify_access_log(cut, key, library=net.library)
    refused(cut, "cut short", known=[last])
    uncounted = copy.deepcopy(listing)
    uncounted["reads"] = 4
    refused(uncounted, "counts 4 reads")

    altered = copy.deepcopy(listing)  # a purpose rewritten
    entry = altered["entries"][0]
    entry["entry"] = entry["entry"].replace('"editing"', '"routine check"')
    refused(altered, "read 0 .*signature")

    resigned = copy.deepcopy(listing)  # rewritten and re-signed by someone else
    body = {**Entry.from_bytes(listing["entries"][0]["entry"].encode()).body,
            "purpose": "routine check"}
    resigned["entries"][0]["entry"] = sign_entry(SigningKey.generate(), "access.read",
                                                 body).to_bytes().decode()
    refused(resigned, "read 0")

    swapped = copy.deepcopy(listing)  # reordered
    swapped["entries"][0], swapped["entries"][1] = swapped["entries"][1], swapped["entries"][0]
    refused(swapped, "seq 1")

    refused(listing, "about library", library="f" * 32)
    refused(listing, "signed by", issuer=SigningKey.generate().did)
    with Log.create(tmp_path / "other.db", SigningKey.generate()) as other:
        refused(listing, "checkpoint", key=other.verifier_key)
    refused({}, "'checkpoint' is missing")
    refused({**listing, "entries": "none"}, "'entries' is missing or not a list")
    refused({**listing, "entries": [{"index": 1}]}, "read 0: 'entry' is missing")


def test_a_read_deleted_on_the_server_shows_as_a_gap(net: Network) -> None:
    read_three_times(net)
    with closing(sqlite3.connect(net.db)) as conn, conn:
        conn.execute("DELETE FROM library_reads WHERE library = ? AND seq = 1", (net.library,))
    listing = net.listing()
    assert listing["reads"] == 2
    with pytest.raises(AccessLogError, match="reads before it are missing"):
        verify_access_log(listing, net.log_key(), library=net.library)


def test_access_read_bodies_are_checked() -> None:
    key, reader = SigningKey.generate(), SigningKey.generate().did
    good = {"reader": reader, "library": "a" * 32, "job": "j", "resource": "results",
            "purpose": "why", "seq": 0, "prev": None, "prev_leaf": None}
    sign_entry(key, "access.read", good)
    for bad in ({"purpose": ""}, {"purpose": "x" * 201}, {"seq": -1}, {"reader": "bob"},
                {"prev_leaf": "zz"}, {"library": "../etc"}):
        with pytest.raises(InvalidBodyError):
            sign_entry(key, "access.read", {**good, **bad})


# -- the command line -------------------------------------------------------------------------


def test_the_cli_creates_libraries_and_verifies_their_access_log(
        net: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(httpx, "Client", lambda **_: TestClient(net.app))
    keyfile = tmp_path / "owner.pem"
    write_key_file(keyfile, net.owner)
    common = ["--coordinator", "http://testserver", "--key", str(keyfile)]

    assert main(["library", "create", "Interviews", "--sensitive", *common]) == 0
    out = capsys.readouterr().out
    assert "(Interviews): sensitive" in out and net.owner.did in out

    read_three_times(net)
    assert main(["library", "access", net.library, *common]) == 0
    out = capsys.readouterr().out
    assert f"{net.auditor.did} read results of job {net.job}, purpose 'audit 2025'" in out
    assert "verified: 3 reads, chain complete, all included in checkpoint size" in out

    # The last read seen is remembered: a later listing without it is refused.
    with closing(sqlite3.connect(net.db)) as conn, conn:
        conn.execute("DELETE FROM library_reads WHERE library = ? AND seq = 2", (net.library,))
    assert main(["library", "access", net.library, *common]) == 1
    assert "cut short" in capsys.readouterr().err

    assert main(["library", "set", net.library, "--not-sensitive", *common]) == 0
    assert ": not sensitive" in capsys.readouterr().out


def test_the_media_of_a_sensitive_library_goes_only_to_its_readers_and_workers(
        net: Network, tmp_path: Path, clip: Path) -> None:
    # The worker in `build` fetched it while leasing the task: that worked, signed.
    asset = net.client(net.owner).get(f"/v1/jobs/{net.job}", signed=True).json()["asset"]
    path = f"/v1/blobs/{asset}"
    # To those who may not read it, it is as absent as a blob never uploaded.
    unsigned = net.get(None, path)
    missing = net.get(None, "/v1/blobs/sha256:" + "0" * 64)
    assert unsigned.status_code == missing.status_code == 404
    assert unsigned.json()["message"].replace(asset, "X") == \
        missing.json()["message"].replace("sha256:" + "0" * 64, "X")
    assert "sensitive library" in unsigned.json()["message"]
    assert net.get(net.stranger, path).status_code == 404
    assert net.get(net.owner, path).content == clip.read_bytes()
    assert net.get(net.auditor, path).status_code == 200

    public = build(tmp_path / "public", clip, sensitive=False)
    assert public.get(None, path).content == clip.read_bytes()


def test_the_keyframes_of_a_sensitive_library_are_as_private_as_its_video(
        net: Network, tmp_path: Path) -> None:
    asset = net.client(net.owner).get(f"/v1/jobs/{net.job}", signed=True).json()["asset"]
    owner = net.client(net.owner)
    job = owner.post("/v1/jobs", {"asset": asset, "analyzers": ["shots"],
                                  "library": net.library})
    key = SigningKey.generate()
    worker_client = net.client(key)
    worker_client.post("/v1/identities", {"role": "worker"})
    worker = Worker(worker_client, key, tmp_path / "shots-worker", ["shots"])
    while worker.run_once():
        pass
    shots = owner.get(with_purpose(f"/v1/jobs/{job['id']}/results", PURPOSE),
                      signed=True).json()["results"]["shots"]
    frames = [shot["keyframe"]["digest"] for shot in shots if shot.get("keyframe")]
    assert frames
    for digest in frames:
        assert net.get(None, f"/v1/blobs/{digest}").status_code == 404
        assert net.get(net.stranger, f"/v1/blobs/{digest}").status_code == 404
        assert net.get(net.owner, f"/v1/blobs/{digest}").status_code == 200


def test_a_key_lists_the_libraries_it_owns_or_reads_and_nothing_else(net: Network) -> None:
    owner, stranger = net.client(net.owner), net.client(net.stranger)
    assert [library.id for library in owner.list_libraries().libraries] == [net.library]
    assert stranger.list_libraries().libraries == []
    newer = owner.create_library("Press cuttings").id
    owner.add_reader(net.library, net.stranger.did)
    assert [library.id for library in owner.list_libraries().libraries] == [newer, net.library]
    [read] = stranger.list_libraries().libraries
    assert read.id == net.library and read.readers == [net.stranger.did]
    assert net.get(None, "/v1/libraries").status_code == 401
    assert net.client(net.auditor).list_libraries().libraries == []  # reads all, lists its own
