"""Human review: routing, blind assignment, signed verdicts, refusals, consensus, gold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiwork.api import ServerSettings, create_app
from aiwork.client.coordinator import CoordinatorClient
from aiwork.errors import CoordinatorError
from aiwork.cli import main
from aiwork.crypto import SigningKey
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.model import Entry
from aiwork.quality.review_items import Candidate, apply_outcomes, check_correction

from .test_network import _worker, clip  # noqa: F401 - a fixture
from .test_serve import admin_key, server  # noqa: F401 - fixtures


def client_for(app: Any, key: SigningKey) -> CoordinatorClient:
    return CoordinatorClient("http://testserver", key, http=TestClient(app))


@pytest.fixture
def net(tmp_path: Path, clip: Path, store_target: Path | str) -> dict[str, Any]:  # noqa: F811
    """A coordinator (on SQLite, and on PostgreSQL) whose every shot boundary goes to two
    experts, and a finished job."""
    admin = SigningKey.generate()
    settings = ServerSettings(db=store_target, key=SigningKey.generate(),
                              open_registration=True, starting_credits=100, admin=admin.did)
    app = create_app(settings)
    boss = client_for(app, admin)
    boss.request("PUT", "/v1/review/rules/shots",
                 json.dumps({"audit_share": 1.0, "experts": 2, "gold_share": 0.0}).encode())
    requester = SigningKey.generate()
    req = client_for(app, requester)
    req.post("/v1/identities", {"role": "requester"})
    digest = req.upload_blob(clip.read_bytes())
    job = req.post("/v1/jobs", {"asset": digest, "analyzers": ["shots"]})
    worker = _worker(app, tmp_path, "w", ["shots"])
    assert worker.run_once()
    experts = [SigningKey.generate() for _ in range(3)]
    clients = [client_for(app, key) for key in experts]
    for client in clients:
        client.post("/v1/identities", {"role": "expert"})
    return {"app": app, "req": req, "job": job, "worker": worker, "experts": experts,
            "clients": clients, "db": store_target, "settings": settings, "boss": boss}


def take(client: CoordinatorClient) -> dict[str, Any] | None:
    reply = client.request("POST", "/v1/review/next", b"{}")
    return None if reply.status_code == 204 else dict(reply.json())


def verdict(client: CoordinatorClient, key: SigningKey, item: dict[str, Any], answer: str,
            value: Any = None, *, signer: SigningKey | None = None) -> Any:
    entry = sign_entry(signer or key, "human.verdict", {
        "item": item["id"], "decision": item["evidence"]["decision"],
        "insight": item["insight"], "verdict": answer, "value": value,
        "rationale": "checked the frames", "seconds": 12.5})
    return client.post(f"/v1/review/items/{item['id']}/verdict",
                       {"entry": entry.to_bytes().decode()})


def kinds(db: Path) -> list[str]:
    with Log.open(db) as log:
        return [Entry.from_bytes(log.get(i)).kind for i in range(log.size)]


def test_items_are_blind_and_go_to_distinct_experts(net: dict[str, Any]) -> None:
    first = take(net["clients"][0])
    assert first is not None
    assert set(first) == {"id", "insight", "question", "value", "evidence", "verdicts", "job",
                          "decision", "item", "asset", "start", "end", "keyframe", "confidence",
                          "alternatives", "derived_from", "analyzer", "analyzer_version",
                          "model"}
    assert first["insight"] == "shots" and "shot boundary" in first["question"]
    assert {"asset", "start", "end", "keyframe", "decision"} <= set(first["evidence"])
    # typed: where it is in which video, and what produced it (from its ai.decision)
    assert first["job"] == net["job"]["id"] and first["asset"] == net["job"]["asset"]
    assert first["decision"] == first["evidence"]["decision"]
    assert first["start"] is not None and first["start"] < first["value"] < first["end"]
    decision = net["clients"][0].get(f"/v1/ledger/entries/{first['decision']}").json()
    assert decision["kind"].startswith("ai.decision") and first["analyzer"] == "shots"
    assert first["model"] == decision["body"]["model"]
    assert first["derived_from"] == decision["body"]["input"].get("derived_from", [])
    second = take(net["clients"][1])
    assert second is not None and second["id"] == first["id"]  # two experts per item
    assert take(net["clients"][2]) is None  # the only item has its two experts
    assert take(net["clients"][0]) is None  # and nobody gets an item twice


def test_gold_items_and_answered_items_look_like_any_other_to_an_expert(
        net: dict[str, Any], tmp_path: Path) -> None:
    """An expert is shown neither whether an item is gold nor what other experts answered:
    an item another expert already judged is served exactly as it was to them, and a gold
    item (made as the settlement makes them from a gold job) has every field a real item has,
    of the same types, a job included."""
    from aiwork.coordinator.service import Coordinator
    from aiwork.ledger.home import open_ledger
    from aiwork.store.blobs import BlobStore

    a, b, _ = net["clients"]
    gold_job = "7" * len(net["job"]["id"])  # a gold job's id is like any other
    real = take(a)
    assert real is not None
    verdict(a, net["experts"][0], real, "reject")
    with open_ledger(net["db"], signing=True) as log:
        coordinator = Coordinator(log, BlobStore(tmp_path / "blobs"), net["settings"].key)
        gold_id = coordinator.review.add_item(
            job=None, insight="shots", decision=real["decision"],
            candidate=Candidate(1, "Is there a real shot boundary at 3.00 s? If it is "
                                "elsewhere, give the right time in seconds.", 3.0, 2.0, 4.0,
                                real["keyframe"], 0.75),
            reason="gold", asset=real["asset"], producers=[], annotator="worker:x",
            gold={"answer": "reject", "value": 4.0}, shown_job=gold_job)
    seen = {item["id"]: item for item in (take(b), take(b)) if item is not None}
    assert set(seen) == {real["id"], gold_id}
    assert seen[real["id"]] == real  # the other expert's reject is nowhere in it
    assert b.get(f"/v1/review/items/{real['id']}", signed=True).json() == real
    assert b.get_review_item(real["id"]).model_dump(exclude_unset=True) == real  # typed
    gold = seen[gold_id]

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        return type(value).__name__

    assert shape(gold) == shape(real)
    assert gold["job"] == gold_job and gold["model"] == real["model"]
    assert "gold" not in json.dumps(gold)
    assert "reject" not in json.dumps(seen[real["id"]]["evidence"])


def _second_item(net: dict[str, Any], tmp_path: Path, decision: int) -> str:
    """Another open shots item on the job (two experts, like the first)."""
    from aiwork.coordinator.service import Coordinator
    from aiwork.ledger.home import open_ledger
    from aiwork.store.blobs import BlobStore

    with open_ledger(net["db"], signing=True) as log:
        coordinator = Coordinator(log, BlobStore(tmp_path / "blobs"), net["settings"].key)
        return coordinator.review.add_item(
            job=net["job"]["id"], insight="shots", decision=decision,
            candidate=Candidate(9, "Is there a real shot boundary at 5.00 s?", 5.0, 4.0, 6.0,
                                None, 0.5),
            reason="audit", asset=net["job"]["asset"], producers=[], annotator="model:x@y")


def test_a_skipped_item_is_handed_back_for_others_and_can_still_be_answered(
        net: dict[str, Any], tmp_path: Path) -> None:
    """Skipping used to keep the item assigned: in a shared queue it held one of its places
    until the skipper came back. Handed back, another expert takes it; the skipper is not
    served it again, may still answer it while it has room, and not once it is full."""
    a, b, c = net["clients"]
    ka = net["experts"][0]
    first = take(a)
    assert first is not None
    assert a.release_review_item(first["id"]).released
    assert a.release_review_item(first["id"]).released  # twice: the same
    assert take(a) is None  # not served again ...
    reason = a.request("POST", "/v1/review/next", b"{}").headers["aiwork-reason"]
    assert "skipped" in reason
    assert take(b)["id"] == first["id"]  # ... its place went to another expert
    verdict(a, ka, first, "accept")  # still room: the skipper may answer it after all
    assert take(c) is None  # and then it is full again
    with pytest.raises(CoordinatorError, match="409.*cannot be handed back"):
        a.release_review_item(first["id"])
    with pytest.raises(CoordinatorError, match="403.*not assigned"):
        c.release_review_item(first["id"])
    with pytest.raises(CoordinatorError, match="404"):
        a.release_review_item("0" * 32)
    with pytest.raises(CoordinatorError, match="401"):
        a.request("POST", f"/v1/review/items/{first['id']}/release", b"{}", signed=False)

    second = _second_item(net, tmp_path, first["decision"])
    assert take(a)["id"] == second
    a.release_review_item(second)
    assert take(b)["id"] == second and take(c)["id"] == second  # both places taken
    before = kinds(net["db"])
    with pytest.raises(CoordinatorError, match="403.*went to other experts"):
        verdict(a, ka, {**first, "id": second}, "accept")
    assert kinds(net["db"]) == before


def test_an_expert_reads_their_own_verdicts_and_outcomes_only(
        net: dict[str, Any], tmp_path: Path) -> None:
    """GET /v1/experts/{did}/verdicts: the expert's own verdicts, newest first, paged, each
    with its item's outcome once decided (never while open); only that expert or an admin
    reads them."""
    a, b, _ = net["clients"]
    ka, kb, _ = net["experts"]
    first = take(a)
    assert first is not None
    second = _second_item(net, tmp_path, first["decision"])
    assert take(a)["id"] == second
    index = verdict(a, ka, first, "accept")["verdict"]
    open_page = a.list_expert_verdicts(ka.did)
    assert [(v.item, v.verdict, v.index, v.outcome) for v in open_page.verdicts] == [
        (first["id"], "accept", index, None)]  # open: no outcome, nothing of others
    assert open_page.verdicts[0].question == first["question"]
    assert open_page.verdicts[0].seconds == 12.5 and open_page.next is None
    later = verdict(a, ka, {**first, "id": second}, "correct", 5.2)["verdict"]
    assert take(b)["id"] == first["id"]
    verdict(b, kb, first, "accept")  # the second expert: the first item is decided
    page = a.list_expert_verdicts(ka.did, limit=1)
    assert [(v.item, v.verdict, v.value, v.index) for v in page.verdicts] == [
        (second, "correct", 5.2, later)]
    assert page.next == later
    rest = a.list_expert_verdicts(ka.did, limit=1, before=page.next)
    assert [(v.item, v.outcome) for v in rest.verdicts] == [(first["id"], "accepted")]
    assert isinstance(rest.verdicts[0].consensus, int) and rest.next is None
    assert rest.verdicts[0].time.endswith("Z")
    assert net["boss"].list_expert_verdicts(ka.did).verdicts[0].index == later  # an admin
    with pytest.raises(CoordinatorError, match="403.*may not read the verdicts"):
        b.list_expert_verdicts(ka.did)
    with pytest.raises(CoordinatorError, match="401"):
        a.request("GET", f"/v1/experts/{ka.did}/verdicts", b"", signed=False)
    with pytest.raises(CoordinatorError, match="400"):
        a.list_expert_verdicts(ka.did, limit=100000)


def test_an_expert_never_reviews_a_worker_they_own(net: dict[str, Any],
                                                    tmp_path: Path) -> None:
    app = net["app"]
    worker_key = SigningKey.generate()
    client_for(app, worker_key).post("/v1/identities", {"role": "worker"})
    net["clients"][0].post("/v1/identities/owned", {"keys": [worker_key.did]})
    # The existing item was made by another worker: the owner may take it ...
    assert take(net["clients"][0]) is not None
    # ... but not items whose producer they own.
    from aiwork.coordinator.service import Coordinator
    from aiwork.ledger.home import open_ledger
    from aiwork.store.blobs import BlobStore

    with open_ledger(net["db"], signing=True) as log:
        coordinator = Coordinator(log, BlobStore(tmp_path / "blobs"), net["settings"].key)
        coordinator.review.add_item(
            job=net["job"]["id"], insight="shots", decision=0,
            candidate=Candidate(1, "Is there a real shot boundary at 3.00 s?", 3.0, 2.0, 4.0,
                                None, 0.5),
            reason="audit", asset="sha256:" + "0" * 64, producers=[worker_key.did],
            annotator="model:x@y")
    assert take(net["clients"][0]) is None
    assert take(net["clients"][1]) is not None


def test_refused_verdicts_record_nothing(net: dict[str, Any]) -> None:
    a, b, c = net["clients"]
    ka, kb, kc = net["experts"]
    item = take(a)
    assert item is not None
    before = kinds(net["db"])

    with pytest.raises(CoordinatorError, match="403.*not assigned"):
        verdict(c, kc, item, "accept")  # never given this item
    with pytest.raises(CoordinatorError, match="403.*signed by"):
        verdict(a, ka, item, "accept", signer=kb)  # another key signed it
    with pytest.raises(CoordinatorError, match="400.*time in seconds"):
        verdict(a, ka, item, "correct", "three seconds")  # a correction of the wrong type
    with pytest.raises(CoordinatorError, match="400.*needs the corrected value"):
        verdict(a, ka, item, "correct")
    with pytest.raises(CoordinatorError, match="401"):
        a.request("POST", f"/v1/review/items/{item['id']}/verdict", b"{}", signed=False)
    assert kinds(net["db"]) == before

    verdict(a, ka, item, "accept")
    with pytest.raises(CoordinatorError, match="409.*already gave a verdict"):
        verdict(a, ka, item, "reject")
    assert kinds(net["db"]).count("human.verdict/v1") == 1


def test_consensus_rejects_a_false_cut_and_the_job_results_follow(net: dict[str, Any]) -> None:
    a, b, _ = net["clients"]
    ka, kb, _ = net["experts"]
    req, job = net["req"], net["job"]
    cuts_before = len(req.get(f"/v1/jobs/{job['id']}/results").json()["results"]["shots"])
    item = take(a)
    assert item is not None and take(b) is not None
    verdict(a, ka, item, "reject")
    verdict(b, kb, item, "correct", item["value"] + 0.4)

    entries = []
    with Log.open(net["db"]) as log:
        log.verify()
        entries = [Entry.from_bytes(log.get(i)) for i in range(log.size)]
    consensus = [e.body for e in entries if e.kind == "consensus.result/v1"]
    assert len(consensus) == 1 and consensus[0]["label"] == "reject"
    assert consensus[0]["outcome"] == "corrected"
    assert consensus[0]["value"] == pytest.approx(item["value"] + 0.4, abs=1e-3)  # the one fix
    annotators = [p["annotator"] for p in consensus[0]["participants"]]
    assert sorted(annotators) == sorted([ka.did, kb.did])  # the AI never votes on its output
    updates = [e.body for e in entries if e.kind == "reputation.update/v1"
               and e.body["role"] == "expert"]
    assert {u["subject"] for u in updates} == {ka.did, kb.did}
    paid = [e.body["to"] for e in entries if e.kind == "reward.accrued/v1"
            and e.body["reason"].startswith("verdict")]
    assert sorted(paid) == sorted([ka.did, kb.did])

    shots = req.get(f"/v1/jobs/{job['id']}/results").json()["results"]["shots"]
    assert len(shots) == cuts_before
    assert shots[1]["instances"][0]["start"] == pytest.approx(item["value"] + 0.4, abs=1e-3)
    review = req.get(f"/v1/jobs/{job['id']}/review").json()
    assert review["decided"] == 1 and review["open"] == 0
    assert list(review["human_verified"]["shots"].values())[0]["outcome"] == "corrected"
    me = req.get(f"/v1/experts/{ka.did}").json()
    assert me["reputation"]["shots"]["samples"] == 1 and me["credits"]["balance"] == 1


def test_a_correction_is_not_outvoted_by_the_model_and_one_careless_accept(
        net: dict[str, Any]) -> None:
    """Two experts: one corrects a wrong cut, one accepts it without looking. The model's own
    implicit accept used to side with the careless one and the wrong value stayed published;
    now the item goes to more experts, and honest ones settle it as corrected."""
    app, req, job = net["app"], net["req"], net["job"]
    a, b, _ = net["clients"]
    ka, kb, _ = net["experts"]
    item = take(a)
    assert item is not None and take(b) is not None
    fixed = item["value"] + 0.4
    verdict(a, ka, item, "correct", fixed)
    verdict(b, kb, item, "accept")  # careless

    def consensus() -> list[dict[str, Any]]:
        with Log.open(net["db"]) as log:
            return [e.body for e in (Entry.from_bytes(log.get(i)) for i in range(log.size))
                    if e.kind == "consensus.result/v1"]

    assert consensus() == []  # not decided on one correction against one accept
    review = req.get(f"/v1/jobs/{job['id']}/review").json()
    assert review["open"] == 1 and review["decided"] == 0 and review["escalated"] == 1
    honest = []
    while not consensus():
        assert len(honest) < 5, "escalation takes at most four further experts here"
        key = SigningKey.generate()
        client = client_for(app, key)
        client.post("/v1/identities", {"role": "expert"})
        got = take(client)
        assert got is not None and got["id"] == item["id"]  # the escalated item is served
        verdict(client, key, got, "correct", fixed)
        honest.append(key.did)
    [result] = consensus()
    assert result["outcome"] == "corrected" and result["label"] == "reject"
    assert result["value"] == pytest.approx(fixed, abs=1e-3)
    # Escalation is bounded: two rounds of two more experts at most.
    assert 1 <= len(honest) <= 4 and len(result["participants"]) <= 6
    voters = {p["annotator"] for p in result["participants"]}
    assert voters == {ka.did, kb.did, *honest}  # no model among them
    shots = req.get(f"/v1/jobs/{job['id']}/results").json()["results"]["shots"]
    assert shots[1]["instances"][0]["start"] == pytest.approx(fixed, abs=1e-3)
    # The correcting expert agreed with the consensus; the careless one did not.
    with Log.open(net["db"]) as log:
        updates = {e.body["subject"]: e.body["observation"] for e in
                   (Entry.from_bytes(log.get(i)) for i in range(log.size))
                   if e.kind == "reputation.update/v1" and e.body["source"] == "consensus"}
    assert updates[ka.did] == 1 and updates[kb.did] == 0


def test_escalation_asks_no_more_experts_than_can_answer(net: dict[str, Any]) -> None:
    """Three experts exist; an item for two gets a correction and a careless accept. The
    escalation asks for the third expert only (it used to ask for four, two of whom did not
    exist, and the item waited a day); once the third answers, nobody else can, and the
    item is decided at once."""
    app, job = net["app"], net["job"]
    a, b, c = net["clients"]
    ka, kb, kc = net["experts"]
    item = take(a)
    assert item is not None and take(b) is not None
    verdict(a, ka, item, "correct", item["value"] + 0.4)
    verdict(b, kb, item, "accept")
    with Log.open(net["db"]) as log:
        (experts,) = log.db.conn.execute("SELECT experts FROM review_items WHERE id = ?",
                                         (item["id"],)).fetchone()
    assert experts == 3  # the three who exist, not 2 + 2
    third = take(c)
    assert third is not None and third["id"] == item["id"]
    verdict(c, kc, third, "accept")
    review = client_for(app, ka).get(f"/v1/jobs/{job['id']}/review").json()
    assert review["decided"] == 1 and review["open"] == 0


def test_a_sensitive_item_is_decided_once_every_expert_who_may_read_it_answered(
        net: dict[str, Any], tmp_path: Path) -> None:
    """A sensitive library whose owner is no expert and whose one reader is: its item asked
    for two verdicts (owner and reader) and, with nobody else allowed to answer, stayed open
    for good after the reader's. Now the reader's verdict decides it."""
    import subprocess

    from aiwork.model.commitment import commit

    app, req = net["app"], net["req"]
    reader, reader_key = net["clients"][0], net["experts"][0]
    library = req.post("/v1/libraries", {"name": "Board", "sensitive": True})["id"]
    req.post(f"/v1/libraries/{library}/readers", {"did": reader_key.did})
    clip = tmp_path / "board.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=green:s=320x180:d=3:r=25", "-f", "lavfi", "-i",
                    "color=c=white:s=320x180:d=3:r=25", "-filter_complex",
                    "[0][1]concat=n=2:v=1:a=0[v]", "-map", "[v]", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(clip)], check=True)
    asset = req.upload_blob(clip.read_bytes(), library=library)
    job = req.post("/v1/jobs", {"asset": asset, "analyzers": ["shots"], "library": library})
    worker = _worker(app, tmp_path, "sealed", ["shots"])
    assert worker.run_once() and worker.stats.failed == 0, worker.stats.errors
    item = take(reader)
    while item is not None and not item.get("sensitive"):  # past the public job's item
        item = take(reader)
    assert item is not None and item["sensitive"] is True
    value, value_opening = commit(None)
    rationale, rationale_opening = commit(None)
    entry = sign_entry(reader_key, "human.verdict.sealed", {
        "item": item["id"], "decision": item["evidence"]["decision"], "insight": "shots",
        "verdict": "accept", "value": value, "rationale": rationale, "seconds": 4.0})
    reader.post(f"/v1/review/items/{item['id']}/verdict",
                {"entry": entry.to_bytes().decode(),
                 "openings": {"value": value_opening, "rationale": rationale_opening}})
    review = req.get(f"/v1/jobs/{job['id']}/review", signed=True).json()
    assert review["decided"] == 1 and review["open"] == 0, review


def test_an_escalated_item_nobody_else_takes_is_decided_after_the_wait(tmp_path: Path) -> None:
    import time

    from aiwork.coordinator.accounts import Accounts
    from aiwork.coordinator.review import ESCALATION_WAIT, Review

    key = SigningKey.generate()
    with Log.create(tmp_path / "r.db", key) as log:
        review = Review(log, key, Accounts(log.db).appender(log))
        review.set_rules("shots", {"experts": 2})
        item_id = review.add_item(
            job="j", insight="shots", decision=0,
            candidate=Candidate(1, "Is there a real shot boundary at 3.00 s?", 3.0, 2.0, 4.0,
                                None, 0.5),
            reason="audit", asset="sha256:" + "0" * 64, producers=[], annotator="model:m@x")
        experts = [SigningKey.generate() for _ in range(2)]
        for expert, answer in zip(experts, ["reject", "accept"], strict=True):
            assert review.next_item(expert.did) is not None
            entry = sign_entry(expert, "human.verdict", review.verdict_body(item_id, answer))
            review.submit(expert.did, entry.to_bytes())
        assert review.item(item_id).state == "open" and review.item(item_id).experts == 4
        assert review.decide_stalled(time.time() + ESCALATION_WAIT / 2) == 0
        assert review.item(item_id).state == "open"
        assert review.decide_stalled(time.time() + ESCALATION_WAIT + 1) == 1
        assert review.item(item_id).state == "decided"


def test_gold_items_score_experts_against_the_known_answer(net: dict[str, Any],
                                                           tmp_path: Path) -> None:
    from aiwork.coordinator.service import Coordinator
    from aiwork.ledger.home import open_ledger
    from aiwork.store.blobs import BlobStore

    with open_ledger(net["db"], signing=True) as log:
        coordinator = Coordinator(log, BlobStore(tmp_path / "blobs"), net["settings"].key)
        gold_id = coordinator.review.add_item(
            job=None, insight="shots", decision=0,
            candidate=Candidate(1, "Is there a real shot boundary at 3.00 s?", 3.0, 2.0, 4.0,
                                None, 0.9),
            reason="gold", asset="sha256:" + "0" * 64, producers=[], annotator="model:x@y",
            gold={"answer": "reject", "value": 4.0})
    _, _, c = net["clients"]
    kc = net["experts"][2]
    seen = [take(c), take(c)]
    gold = next(i for i in seen if i is not None and i["id"] == gold_id)
    assert "gold" not in json.dumps(gold)  # unmarked
    verdict(c, kc, gold, "accept")  # wrong: the cut is not real
    with Log.open(net["db"]) as log:
        entries = [Entry.from_bytes(log.get(i)) for i in range(log.size)]
    # Scored, but not shown per verdict: it counts with the expert's next gold answers.
    assert not any(e.kind == "reputation.update/v1" and e.body["subject"] == kc.did
                   for e in entries)
    assert not any(e.kind == "consensus.result/v1" for e in entries)
    assert net["clients"][0].get(f"/v1/experts/{kc.did}").json()["reputation"] == {}


def _gold_review(tmp_path: Path, price: int = 1) -> tuple[Log, Any]:
    from aiwork.coordinator.accounts import Accounts
    from aiwork.coordinator.review import Review

    key = SigningKey.generate()
    log = Log.create(tmp_path / "gold.db", key)
    review = Review(log, key, Accounts(log.db).appender(log), price=price)
    review.set_rules("shots", {"experts": 1, "gold_share": 0.5})
    return log, review


def _add(review: Any, at: float, *, asset: str = "a", gold: str | None = None) -> str:
    return str(review.add_item(
        job=None if gold else "j", insight="shots", decision=0,
        candidate=Candidate(1, f"Is there a real shot boundary at {at:.2f} s?", at, at - 1,
                            at + 1, None, 0.5),
        reason="audit", asset="sha256:" + asset * 64, producers=[], annotator="model:m@x",
        gold=None if gold is None else {"answer": gold, "value": at}))


def _answer(review: Any, key: SigningKey, answer: str, now: float | None = None
            ) -> dict[str, Any]:
    item = review.next_item(key.did, now=now)
    assert item is not None
    entry = sign_entry(key, "human.verdict", review.verdict_body(item["id"], answer))
    review.submit(key.did, entry.to_bytes(), now=now)
    return dict(item)


def test_gold_answers_settle_in_batches_never_per_verdict(tmp_path: Path) -> None:
    """An expert's score and credits used to move right after each gold verdict, which
    marked gold items as gold. Gold answers now count together, GOLD_BATCH at a time, at a
    verdict on a real item; the entry names no item, and the pay is capped per day."""
    from aiwork.coordinator.accounts import GOLD_CREDITS_PER_DAY
    from aiwork.coordinator.review import GOLD_BATCH

    log, review = _gold_review(tmp_path, price=10)
    with log:
        gold = {_add(review, 2.0 + n, asset="abcdef0123456789"[n], gold="reject"): "reject"
                for n in range(GOLD_BATCH)}
        real = _add(review, 30.0)
        expert = SigningKey.generate()

        def visible() -> list[Entry]:
            return [e for e in (log.entry(i) for i in range(log.size))
                    if e.kind in ("reputation.update/v1", "reward.accrued/v1")]

        answers = ["reject"] * (GOLD_BATCH - 2) + ["accept", "accept"]  # two wrong
        for answer in answers:  # a newcomer qualifies on gold first
            item = _answer(review, expert, answer)
            assert item["id"] in gold
            assert visible() == [] and review.reputation(expert.did) == {}
        size = log.size
        item = _answer(review, expert, "accept")  # a real item: the batch settles with it
        assert item["id"] == real
        settled = [e for e in visible() if e.body.get("subject", e.body.get("to"))
                   == expert.did]
        gold_updates = [e.body for e in settled if e.kind == "reputation.update/v1"
                        and e.body["source"] == "gold"]
        assert len(gold_updates) == 1  # one entry for the whole batch
        # The batch (and the real item, a panel of one, decided at once) counted together.
        assert gold_updates[0]["samples"] == GOLD_BATCH + 1 == \
            review.reputation(expert.did)["shots"].samples
        assert "task" not in gold_updates[0]  # names no item
        assert gold_updates[0]["observation"] == pytest.approx((GOLD_BATCH - 2) / GOLD_BATCH)
        paid = [e.body for e in settled if e.kind == "reward.accrued/v1"]
        assert [p["amount"] for p in paid] == [min(GOLD_CREDITS_PER_DAY, 10 * (GOLD_BATCH - 2))]
        assert all(p["task"] not in gold for p in paid)
        assert all(log.entry(i).kind != "human.verdict/v1" or i == size
                   for i in range(size, log.size))  # all of it beside the real verdict


def test_an_expert_never_gets_the_same_gold_question_twice_within_the_window(
        tmp_path: Path) -> None:
    """Every worker's result over a gold clip made a new gold item with the same question:
    experts saw the same gold questions again and again and could learn them."""
    from aiwork.coordinator.review import GOLD_REPEAT_WINDOW

    log, review = _gold_review(tmp_path)
    with log:
        first = _add(review, 4.0, gold="accept")
        again = _add(review, 4.04, gold="accept")  # another worker's cut, the same question
        other = _add(review, 4.0, asset="b", gold="accept")  # another clip
        expert = SigningKey.generate()
        now = 1_900_000_000.0
        seen = {_answer(review, expert, "accept", now)["id"],
                _answer(review, expert, "accept", now + 1)["id"]}
        assert other in seen and len(seen & {first, again}) == 1
        assert review.next_item(expert.did, now=now + 2) is None  # not the same question
        later = review.next_item(expert.did, now=now + GOLD_REPEAT_WINDOW + 10)
        assert later is not None and later["id"] in {first, again} - seen


def test_admin_sets_routing_rules_and_others_may_not(net: dict[str, Any]) -> None:
    a = net["clients"][0]
    with pytest.raises(CoordinatorError, match="403"):
        a.request("PUT", "/v1/review/rules/shots", b'{"audit_share": 0.5}')
    rules = a.get("/v1/review/rules").json()
    assert rules["shots"]["experts"] == 2 and rules["tags"]["audit_share"] == 0.05


def test_corrections_are_typed() -> None:
    assert check_correction("transcript", "  the right words ") == "the right words"
    assert check_correction("safety", "high") == "high"
    for insight, value in [("transcript", 3), ("shots", "x"), ("shots", -1.0),
                           ("safety", "extreme"), ("tags", ""), ("faces", "x")]:
        with pytest.raises(Exception):  # noqa: B017 - InputError of several kinds
            check_correction(insight, value)


def test_outcomes_change_outputs() -> None:
    segments = {"segments": [{"id": 0, "text": "helo world", "words": [{"text": "helo"}]},
                             {"id": 1, "text": "noise"}]}
    fixed = apply_outcomes("transcript", segments, {0: ("corrected", "hello world"),
                                                    1: ("rejected", None)})
    assert fixed["segments"] == [{"id": 0, "text": "hello world", "words": []}]
    shots = [{"id": 0, "instances": [{"start": 0.0, "end": 2.0}]},
             {"id": 1, "instances": [{"start": 2.0, "end": 5.0}]},
             {"id": 2, "instances": [{"start": 5.0, "end": 6.0}]}]
    merged = apply_outcomes("shots", shots, {1: ("rejected", None)})
    assert [s["instances"][0] for s in merged] == [{"start": 0.0, "end": 5.0},
                                                    {"start": 5.0, "end": 6.0}]


def test_an_expert_reviews_from_the_terminal(tmp_path: Path, server: str,  # noqa: F811
                                             admin_key: Path, clip: Path,  # noqa: F811
                                             capsys: pytest.CaptureFixture[str]) -> None:
    def key(name: str) -> tuple[Path, str]:
        path = tmp_path / f"{name}.pem"
        assert main(["keys", "new", "--out", str(path)]) == 0
        return path, capsys.readouterr().out.strip()

    at = ["--coordinator", server]
    admin = ["--key", str(admin_key)]
    (req_key, req_did), (worker_key, worker_did) = key("requester"), key("worker")
    (expert_key, expert_did) = key("expert")
    for path, did, role in [(req_key, req_did, "requester"), (worker_key, worker_did, "worker"),
                            (expert_key, expert_did, "expert")]:
        assert main(["register", *at, "--key", str(path), "--role", role]) == 0
        assert main(["admin", "approve", did, "--role", role, *at, *admin]) == 0
    assert main(["admin", "grant", req_did, "10", *at, *admin]) == 0
    assert main(["review", "rules", "shots", "--set", "audit_share=1", "--set", "experts=1",
                 "--set", "gold_share=0", *at, *admin]) == 0
    assert main(["submit", str(clip), *at, "--key", str(req_key), "--analyzers", "shots"]) == 0
    assert main(["worker", *at, "--key", str(worker_key), "--once"]) == 0
    shown = capsys.readouterr().out
    assert "done 1 | failed 0 | credits 1" in shown  # paid for the accepted result

    assert main(["review", "next", *at, "--key", str(expert_key)]) == 0
    item = json.loads(capsys.readouterr().out)
    assert item["insight"] == "shots"
    assert main(["review", "submit", item["id"], "--verdict", "correct", "--value", "x",
                 *at, "--key", str(expert_key)]) == 1
    assert "not JSON" in capsys.readouterr().err
    assert main(["review", "submit", item["id"], "--verdict", "accept",
                 "--rationale", "a clean cut", *at, "--key", str(expert_key)]) == 0
    assert "verdict recorded" in capsys.readouterr().out
    assert main(["review", "submit", item["id"], "--verdict", "accept",
                 *at, "--key", str(expert_key)]) == 1
    assert "already gave a verdict" in capsys.readouterr().err
    # One expert is the whole panel here: the consensus is theirs, and so is the reward.
    assert main(["review", "me", *at, "--key", str(expert_key)]) == 0
    me = json.loads(capsys.readouterr().out)
    assert me["did"] == expert_did and me["reputation"]["shots"]["samples"] == 1
    assert me["credits"]["balance"] == 1
    with CoordinatorClient(server) as anyone:
        [job] = anyone.get(f"/v1/jobs?requester={req_did}").json()
    assert main(["review", "progress", job["id"], *at]) == 0
    progress = json.loads(capsys.readouterr().out)
    assert (progress["items"], progress["decided"], progress["open"]) == (1, 1, 0)
    assert [v["outcome"] for v in progress["human_verified"]["shots"].values()] == ["accepted"]


def test_an_audit_bundle_of_a_job_carries_the_verdicts_and_consensus(
        net: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import copy

    from aiwork.verify_bundle import BundleError, verify_bundle

    a, b, _ = net["clients"]
    ka, kb, _ = net["experts"]
    item = take(a)
    assert item is not None and take(b) is not None
    verdict(a, ka, item, "reject")
    verdict(b, kb, item, "correct", item["value"] + 0.4)
    job, db = net["job"]["id"], str(net["db"])

    out = tmp_path / "job.json"
    assert main(["audit", job, "--db", db, "--out", str(out)]) == 0
    bundle = json.loads(out.read_text())
    assert bundle["asset"] == {"digest": net["job"]["asset"]}
    report = verify_bundle(bundle)
    assert any("reviews: 2 human verdicts by 2 expert(s), 1 consensus result(s) (1 corrected)"
               in line for line in report.lines)

    verdicts = [n for n, e in enumerate(bundle["entries"]) if "human.verdict" in e["data"]]
    trimmed = copy.deepcopy(bundle)
    gone = json.loads(trimmed["entries"].pop(verdicts[0])["data"])["author"]
    trimmed["keys"].remove(gone)  # a consistent trim: the key list caught it otherwise
    with pytest.raises(BundleError, match="not in the bundle"):
        verify_bundle(trimmed)
    claimed = copy.deepcopy(bundle)
    claimed["asset"]["name"] = "famous.mp4"
    with pytest.raises(BundleError, match="without its asset.registered entry"):
        verify_bundle(claimed)

    capsys.readouterr()
    assert main(["explain", job, "--db", db]) == 0
    text = capsys.readouterr().out
    assert "corrected by consensus" in text and "label reject" in text


def test_routing_rules_decide_which_items_go_to_humans(tmp_path: Path) -> None:
    import random

    from aiwork.coordinator.accounts import Accounts
    from aiwork.coordinator.review import Review

    key = SigningKey.generate()
    with Log.create(tmp_path / "r.db", key) as log:
        review = Review(log, key, Accounts(log.db).appender(log), rng=random.Random(1))
        review.set_rules("tags", {"confidence_below": 0.5, "audit_share": 0.0})
        shots = [{"id": 0, "instances": [{"start": 0.0, "end": 3.0}],
                  "keyframe": {"digest": "sha256:" + "a" * 64, "time": 1.0, "file": "k0.jpg"}},
                 {"id": 1, "instances": [{"start": 3.0, "end": 6.0}],
                  "keyframe": {"digest": "sha256:" + "b" * 64, "time": 4.0, "file": "k1.jpg"}}]
        tags = [{"id": 0, "label": "cat", "source": "imagenet:n1", "confidence": 0.3,
                 "instances": [{"start": 3.5, "end": 5.0}]},
                {"id": 1, "label": "dog", "source": "imagenet:n2", "confidence": 0.9,
                 "instances": [{"start": 0.5, "end": 1.0}]}]

        def route(disagreed: bool) -> list[str]:
            return review.route(job="j", insight="tags", decision=0, output=tags, producers=[],
                                annotator="model:m@x", asset="sha256:" + "0" * 64,
                                disagreed=disagreed, shots=shots)

        low = route(disagreed=False)
        assert len(low) == 1  # only the unsure tag
        item = review.item(low[0])
        assert item.reason == "low-confidence" and item.value == "cat"
        assert item.evidence["keyframe"] == "sha256:" + "b" * 64  # the shot it falls in
        assert "'cat'" in item.question
        assert len(route(disagreed=True)) == 2  # replicas disagreed: every item
        review.set_rules("tags", {"disagreement": False})
        assert len(route(disagreed=True)) == 1
        review.set_rules("tags", {"audit_share": 1.0, "confidence_below": 0.0})
        assert len(route(disagreed=False)) == 2  # a full audit
        assert review.route(job="j", insight="faces", decision=0, output=[{"id": 0}],
                            producers=[], annotator="m", asset="a") == []  # not reviewed
        with pytest.raises(Exception, match="audit_share"):
            review.set_rules("tags", {"audit_share": 2})


def test_an_empty_review_queue_says_why(net: dict[str, Any]) -> None:
    a, b, c = net["clients"]
    assert take(a) is not None and take(b) is not None  # the only item, to its two experts
    for client, why in ((c, "1 assigned to as many experts as they ask for"),
                        (a, "1 already assigned to you, skipped or answered by you")):
        reply = client.request("POST", "/v1/review/next", b"{}")
        assert reply.status_code == 204
        assert reply.headers["aiwork-reason"] == f"no item to review: of 1 open items, {why}"


def test_the_public_log_lists_a_decisions_verdicts_and_consensus_once_decided(
        net: dict[str, Any]) -> None:
    a, b, _ = net["clients"]
    ka, kb, _ = net["experts"]
    public = TestClient(net["app"])  # unsigned: the public log
    first = take(a)
    assert first is not None
    decision = first["evidence"]["decision"]
    related = f"/v1/ledger/entries/{decision}/related"
    verdict(a, ka, first, "reject")
    # one verdict in, the item still open: counted, never listed (the other expert is blind)
    answer = public.get(related).json()
    assert answer == {"decision": decision, "entries": [], "open_verdicts": 1, "next": None}
    second = take(b)
    assert second is not None and second["id"] == first["id"]
    verdict(b, kb, second, "correct", first["value"] + 0.4)
    answer = public.get(related).json()
    with Log.open(net["db"]) as log:
        entries = {i: Entry.from_bytes(log.get(i)) for i in range(log.size)}
    verdicts = sorted(i for i, e in entries.items() if e.kind == "human.verdict/v1")
    consensus = [i for i, e in entries.items() if e.kind == "consensus.result/v1"]
    assert answer["open_verdicts"] == 0 and answer["next"] is None
    assert [(e["index"], e["kind"]) for e in answer["entries"]] == \
        [(i, "verdict") for i in verdicts] + [(consensus[0], "consensus")]
    verified = net["req"].get(f"/v1/jobs/{net['job']['id']}/review").json()["human_verified"]
    assert {e["item"] for e in answer["entries"]} == {int(k) for k in verified["shots"]}
    assert all(entries[e["index"]].body["decision"] == decision for e in answer["entries"])
    # a page at a time, bounded
    page = public.get(related + "?limit=2").json()
    assert [e["index"] for e in page["entries"]] == verdicts and page["next"] == verdicts[-1]
    rest = public.get(f"{related}?limit=2&after={page['next']}").json()
    assert [e["index"] for e in rest["entries"]] == consensus and rest["next"] is None
    for bad in ("?limit=0", "?limit=100000", "?after=-5", "?after=x"):
        refused = public.get(related + bad)
        assert refused.status_code == 400 and refused.json()["error"] == "bad-request", bad
    missing = public.get(f"/v1/ledger/entries/{len(entries) + 5}/related")
    assert missing.status_code == 404 and missing.json()["error"] == "not-found"
    # the typed client reads the same answer
    typed = client_for(net["app"], SigningKey.generate())
    assert typed.get_related_entries(decision).entries[0].index == verdicts[0]
    assert typed.get_anchors(decision).covering is None


def test_a_decisions_related_entries_never_name_a_gold_item(tmp_path: Path) -> None:
    log, review = _gold_review(tmp_path)
    review.set_rules("shots", {"experts": 1, "gold_share": 1.0})
    _add(review, 3.0, gold="accept")
    _add(review, 7.5)
    expert = SigningKey.generate()
    answered = [_answer(review, expert, "accept") for _ in range(2)]
    assert len({item["id"] for item in answered}) == 2  # the gold item and the real one
    verdicts = {Entry.from_bytes(log.get(i)).body["item"]: i for i in range(log.size)
                if Entry.from_bytes(log.get(i)).kind == "human.verdict/v1"}
    entries, still_open, after = review.related(0)
    real = [item["id"] for item in answered if item["question"].endswith("7.50 s?")][0]
    assert [(i, kind) for i, kind, _ in entries if kind == "verdict"] == \
        [(verdicts[real], "verdict")]
    assert [kind for _, kind, _ in entries] == ["verdict", "consensus"]
    assert still_open == 0 and after is None
    log.close()
