"""The network end to end: a coordinator, three workers (one dishonest), redundancy 2."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiwork.api import ServerSettings, create_app
from aiwork.client.coordinator import CoordinatorClient
from aiwork.errors import CoordinatorError
from aiwork.model.decision import normalize, output_digest
from aiwork.client.worker import Worker
from aiwork.crypto import SigningKey
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.model import Entry

from .conftest import free_port, make_two_scene_clip, running_coordinator

ANALYZERS = ["technical", "shots"]


class DishonestWorker(Worker):
    """Signs a decision over a corrupted output: a consistent lie the coordinator must catch."""

    def work(self, lease: dict[str, Any]) -> tuple[bytes, Any]:
        entry_bytes, output = super().work(lease)
        if isinstance(output, list):
            output = [{**item, "instances": [{"start": 1.0, "end": 2.0}]} for item in output]
        else:
            output = {**output, "duration": 999.0, "width": 1}
        body = dict(Entry.from_bytes(entry_bytes).body)
        body["output_digest"] = output_digest(normalize(body["insight"], output))
        return sign_entry(self.key, "ai.decision", body).to_bytes(), output


class RenamingWorker(Worker):
    """Signs a shots result whose keyframes it renamed (``name``) or replaced by other bytes
    it uploads (``swap``): a consistent, correctly signed lie about what lands on disk."""

    name: str | None = None
    swap: bytes | None = None

    def work(self, lease: dict[str, Any]) -> tuple[bytes, Any]:
        entry_bytes, output = super().work(lease)
        if lease["analyzer"] != "shots":
            return entry_bytes, output
        frame: dict[str, Any] = {}
        if self.name is not None:
            frame["file"] = self.name
        if self.swap is not None:  # kept like a real keyframe: it travels with the result
            other = self.home / "other.jpg"
            other.write_bytes(self.swap)
            frame["digest"] = self.processor.blobs.put_file(other)
        output = [{**shot, "keyframe": {**shot["keyframe"], **frame}} for shot in output]
        body = dict(Entry.from_bytes(entry_bytes).body)
        body["output_digest"] = output_digest(output)
        return sign_entry(self.key, "ai.decision", body).to_bytes(), output


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("net") / "scenes.mp4"
    return make_two_scene_clip(path)


def client_for(app: Any, key: SigningKey) -> CoordinatorClient:
    return CoordinatorClient("http://testserver", key, http=TestClient(app))


def test_a_job_with_redundancy_two_catches_a_dishonest_worker(tmp_path: Path, clip: Path,
                                                             store_target: Path | str) -> None:
    """On the embedded SQLite store and on PostgreSQL."""
    settings = ServerSettings(db=store_target, key=SigningKey.generate(),
                              open_registration=True, starting_credits=1000,
                              public_url="http://testserver")
    app = create_app(settings)
    requester = SigningKey.generate()
    keys = [SigningKey.generate() for _ in range(3)]
    req = client_for(app, requester)
    req.post("/v1/identities", {"role": "requester"})
    workers: list[Worker] = []
    for n, key in enumerate(keys):
        client_for(app, key).post("/v1/identities", {"role": "worker"})
        cls = DishonestWorker if n == 0 else Worker
        workers.append(cls(client_for(app, key), key, tmp_path / f"w{n}", ANALYZERS))
    digest = req.upload_blob(clip.read_bytes())

    jobs = [req.post("/v1/jobs", {"asset": digest, "analyzers": ANALYZERS, "redundancy": 2,
                                  "budget": 100}) for _ in range(4)]
    for _ in range(200):  # the workers take turns until no work is left
        if not any([w.run_once() for w in workers]):
            break
    states = [req.get(f"/v1/jobs/{job['id']}").json()["state"] for job in jobs]
    assert states == ["done"] * 4, states
    exported = req.get(f"/v1/jobs/{jobs[0]['id']}/export/metadata.jsonld?title=clip.mp4").json()
    assert exported["@type"] == "VideoObject" and exported["name"] == "clip.mp4"
    assert exported["identifier"] == digest and exported["duration"].startswith("PT")
    assert req.get(f"/v1/jobs/{jobs[0]['id']}/export/chapters.vtt").text.startswith("WEBVTT")
    # Absolute URLs under the coordinator's public URL that answer (no 404): the video, the
    # thumbnail (its bytes are its digest); and the upload date, a clip URL per chapter.
    assert exported["contentUrl"] == f"http://testserver/v1/blobs/{digest}"
    assert exported["uploadDate"].endswith("Z")
    thumbnail = req.get(exported["thumbnailUrl"].removeprefix("http://testserver")).content
    assert exported["thumbnailUrl"] == "http://testserver/v1/blobs/sha256:" + hashlib.sha256(
        thumbnail).hexdigest()
    assert all(c["url"].startswith(exported["contentUrl"] + "#t=")
               for c in exported.get("hasPart", []))
    ttml = req.http.get(f"/v1/jobs/{jobs[0]['id']}/export/captions.ttml")
    assert ttml.status_code == 200
    assert ttml.headers["content-type"].startswith("application/ttml+xml")
    assert ttml.text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<tt ')
    with pytest.raises(CoordinatorError, match="no export 'secrets.txt'"):
        req.get(f"/v1/jobs/{jobs[0]['id']}/export/secrets.txt")

    honest = Worker(client_for(app, keys[1]), keys[1], tmp_path / "w1", ANALYZERS)
    honest_stored = honest.processor.catalog.results(digest)
    for job in jobs:
        results = req.get(f"/v1/jobs/{job['id']}/results").json()["results"]
        assert set(results) == {"technical", "shots"}
        for insight in results:
            published = normalize(insight, results[insight])
            expected = normalize(insight, honest_stored[insight].output)
            assert output_digest(published) == output_digest(expected)  # the honest answer

    dishonest_rep = workers[0]
    with Log.open(store_target) as log:
        log.verify()
        bodies = [Entry.from_bytes(log.get(i)) for i in range(log.size)]
    updates = [e.body for e in bodies if e.kind == "reputation.update/v1"]
    bad = [u for u in updates if u["subject"] == keys[0].did]
    assert bad and bad[-1]["quarantined"], bad[-1] if bad else updates
    rewards = [e.body for e in bodies if e.kind == "reward.accrued/v1"]
    assert rewards and all(r["to"] != keys[0].did for r in rewards[-4:])
    paid = {k.did: sum(r["amount"] for r in rewards if r["to"] == k.did) for k in keys}
    assert paid[keys[0].did] < min(paid[keys[1].did], paid[keys[2].did])
    assert dishonest_rep.stats.done > 0


def test_a_result_that_does_not_match_its_decision_is_refused(tmp_path: Path, clip: Path) -> None:
    settings = ServerSettings(db=tmp_path / "coord.db", key=SigningKey.generate(),
                              open_registration=True, starting_credits=1000)
    app = create_app(settings)
    requester, worker_key = SigningKey.generate(), SigningKey.generate()
    req, wc = client_for(app, requester), client_for(app, worker_key)
    req.post("/v1/identities", {"role": "requester"})
    wc.post("/v1/identities", {"role": "worker"})
    digest = req.upload_blob(clip.read_bytes())
    req.post("/v1/jobs", {"asset": digest, "analyzers": ["technical"], "redundancy": 1,
                          "budget": 10})
    worker = Worker(wc, worker_key, tmp_path / "w", ["technical"])
    lease = wc.request("POST", "/v1/tasks/lease",
                       json.dumps({"capabilities": ["technical"]}).encode()).json()
    entry, output = worker.work(lease)
    with Log.open(tmp_path / "coord.db") as log:
        before = log.size
    from aiwork.errors import CoordinatorError

    with pytest.raises(CoordinatorError, match="output_digest"):
        wc.post(f"/v1/leases/{lease['lease']}/result",
                {"entry": entry.decode(), "output": {**output, "width": 1}})
    other = SigningKey.generate()
    forged = sign_entry(other, "ai.decision", Entry.from_bytes(entry).body).to_bytes()
    with pytest.raises(CoordinatorError, match="signed by"):
        wc.post(f"/v1/leases/{lease['lease']}/result",
                {"entry": forged.decode(), "output": output})
    with Log.open(tmp_path / "coord.db") as log:
        assert log.size == before
    assert wc.post(f"/v1/leases/{lease['lease']}/result",
                   {"entry": entry.decode(), "output": output})["decision"] == before
    with pytest.raises(CoordinatorError, match="409"):
        wc.post(f"/v1/leases/{lease['lease']}/result", {"entry": entry.decode(),
                                                         "output": output})


def coordinator_with_clip(tmp_path: Path, clip: Path, *, lease_seconds: float = 300.0
                          ) -> tuple[ServerSettings, Any, CoordinatorClient, SigningKey, str]:
    """A coordinator on ``tmp_path/coord.db`` (open registration, 1,000 starting credits),
    a requester's client and key, and the digest of ``clip`` uploaded by them."""
    settings = ServerSettings(db=tmp_path / "coord.db", key=SigningKey.generate(),
                              open_registration=True, starting_credits=1000,
                              lease_seconds=lease_seconds)
    app = create_app(settings)
    requester = SigningKey.generate()
    req = client_for(app, requester)
    req.post("/v1/identities", {"role": "requester"})
    return settings, app, req, requester, req.upload_blob(clip.read_bytes())


def _setup(tmp_path: Path, clip: Path, *, lease_seconds: float = 300.0,
           analyzers: list[str] | None = None, redundancy: int = 1) -> tuple[Any, ...]:
    settings, app, req, requester, digest = coordinator_with_clip(
        tmp_path, clip, lease_seconds=lease_seconds)
    job = req.post("/v1/jobs", {"asset": digest, "analyzers": analyzers or ["technical"],
                                "redundancy": redundancy, "budget": 100})
    return settings, app, req, requester, job


def _worker(app: Any, tmp_path: Path, name: str, analyzers: list[str], **options: Any
            ) -> Worker:
    """A worker with a new key, registered with the worker role (``options``: the Worker's
    own, such as ``settings`` or ``models``)."""
    key = SigningKey.generate()
    client = client_for(app, key)
    client.post("/v1/identities", {"role": "worker"})
    return Worker(client, key, tmp_path / name, analyzers, **options)


def test_a_worker_that_dies_mid_task_loses_nothing(tmp_path: Path, clip: Path) -> None:
    import time

    from aiwork.errors import CoordinatorError

    _, app, req, _, job = _setup(tmp_path, clip, lease_seconds=2.0)
    dead = _worker(app, tmp_path, "dead", ["technical"])
    lease = dead.client.request("POST", "/v1/tasks/lease",
                                json.dumps({"capabilities": ["technical"]}).encode()).json()
    entry, output = dead.work(lease)  # ...and then it dies before submitting
    alive = _worker(app, tmp_path, "alive", ["technical"])
    assert alive.run_once() is False  # the only replica is still leased by the dead worker
    time.sleep(2.1)
    while alive.run_once():
        pass
    assert req.get(f"/v1/jobs/{job['id']}").json()["state"] == "done"
    with pytest.raises(CoordinatorError, match="409"):
        dead.client.post(f"/v1/leases/{lease['lease']}/result",
                         {"entry": entry.decode(), "output": output})


def test_a_restarted_coordinator_finishes_the_job_without_loss_or_double_count(
        tmp_path: Path, clip: Path) -> None:
    from aiwork.market.credits import balances

    settings, app, req, requester, job = _setup(tmp_path, clip, analyzers=ANALYZERS,
                                                redundancy=2)
    workers = [_worker(app, tmp_path, f"w{n}", ANALYZERS) for n in range(2)]
    assert workers[0].run_once()  # one replica done before the restart
    restarted = create_app(settings)  # same store, new process state
    for worker in workers:
        worker.client = CoordinatorClient("http://testserver", worker.key,
                                          http=TestClient(restarted))
    for _ in range(20):
        if not any([w.run_once() for w in workers]):
            break
    req = client_for(restarted, requester)
    progress = req.get(f"/v1/jobs/{job['id']}").json()
    assert progress["state"] == "done" and progress["replicas"]["accepted"] == 4
    with Log.open(tmp_path / "coord.db") as log:
        log.verify()
        entries = [Entry.from_bytes(log.get(i)) for i in range(log.size)]
    rewards = [e for e in entries if e.kind == "reward.accrued/v1"]
    assert len(rewards) == 4  # two tasks x two replicas, each paid once
    money = balances(entries, issuer=settings.key.did)
    assert money[requester.did] == 1000 - 4  # starting credits, less four rewards
    assert sorted(money[w.key.did] for w in workers) == [2, 2]
    for did in [requester.did, *(w.key.did for w in workers)]:
        account = req.get(f"/v1/credits/{did}").json()
        assert account["balance"] == money[did] and account["held"] == 0


def test_gold_tasks_score_workers_against_known_answers(tmp_path: Path, clip: Path) -> None:
    import random

    from aiwork.coordinator.service import Coordinator
    from aiwork.coordinator.gold import add_generated_gold
    from aiwork.pipeline.process import open_store
    from aiwork.store.blobs import BlobStore

    settings = ServerSettings(db=tmp_path / "coord.db", key=SigningKey.generate(),
                              open_registration=True, starting_credits=1000, gold_rate=1.0)
    app = create_app(settings)
    with open_store(settings.db) as log:
        gold = add_generated_gold(Coordinator(log, BlobStore(tmp_path / "blobs"), settings.key,
                                              rng=random.Random(1)))
    keys = [SigningKey.generate(), SigningKey.generate()]
    workers: list[Worker] = []
    for n, key in enumerate(keys):
        client_for(app, key).post("/v1/identities", {"role": "worker"})
        cls = DishonestWorker if n == 0 else Worker
        workers.append(cls(client_for(app, key), key, tmp_path / f"g{n}", ANALYZERS))
    # Gold comes with real work: a requester's jobs give it room; gold results count in
    # batches, settled as the worker's real tasks settle.
    req = client_for(app, SigningKey.generate())
    req.post("/v1/identities", {"role": "requester"})
    digest = req.upload_blob(clip.read_bytes())
    for _ in range(4):
        for _ in range(4):
            req.post("/v1/jobs", {"asset": digest, "analyzers": ["technical"]})
        while any([worker.run_once() for worker in workers]):
            pass
    with Log.open(settings.db) as log:
        log.verify()
        entries = [Entry.from_bytes(log.get(i)) for i in range(log.size)]
        updates = [e.body for e in entries]
    gold_updates = [u for u in updates if u.get("source") == "gold"]
    assert all("task" not in u for u in gold_updates)  # a batch names no gold task
    gold_pay = [e.body for e in entries if e.kind == "reward.accrued/v1"
                and e.body["job"] == "gold"]
    assert gold_pay and all(p["to"] == keys[1].did for p in gold_pay)  # only the honest one
    honest = [u["observation"] for u in gold_updates if u["subject"] == keys[1].did]
    cheat = [u["observation"] for u in gold_updates if u["subject"] == keys[0].did]
    assert honest and min(honest) >= 0.9, honest
    assert cheat and max(cheat) < 0.9, cheat
    # Gold stays unmarked: a worker that asks about the job it leased, or lists the jobs,
    # sees a job like any other (it used to get a 404 for a gold job, before doing the work).
    with open_store(settings.db) as log:
        gold_jobs = [row[0] for row in log.db.conn.execute(
            "SELECT job FROM coordinator_gold_jobs")]
    assert gold_jobs
    worker = client_for(app, keys[1])
    listing = {job["id"]: job for job in worker.get("/v1/jobs").json()}
    real = next(job for job in listing.values() if job["asset"] != gold)
    for job_id in gold_jobs:
        shown = worker.get(f"/v1/jobs/{job_id}").json()
        assert set(shown) == set(real) and shown == listing[job_id]
        worker.get(f"/v1/jobs/{job_id}/results")
        worker.get(f"/v1/jobs/{job_id}/review")
        bundle = worker.get(f"/v1/jobs/{job_id}/audit").json()  # summarized like any job
        assert any('"asset.summary' in e["data"] for e in bundle["entries"])
    assert worker.get(f"/v1/jobs?requester={settings.key.did}").json() == []


def test_idle_workers_get_no_gold_and_gold_follows_real_work(tmp_path: Path,
                                                             clip: Path) -> None:
    """Idle devnet workers used to be handed coordinator-paid gold tasks with no real work
    queued: credits from nothing and a log growing while nothing happened. Gold is now mixed in
    only while real work is queued, and never beyond gold_rate times the real tasks."""
    import random

    from aiwork.coordinator.service import Coordinator
    from aiwork.coordinator.gold import add_generated_gold
    from aiwork.pipeline.process import open_store
    from aiwork.store.blobs import BlobStore

    settings = ServerSettings(db=tmp_path / "coord.db", key=SigningKey.generate(),
                              open_registration=True, starting_credits=1000, gold_rate=1.0)
    app = create_app(settings)
    with open_store(settings.db) as log:
        add_generated_gold(Coordinator(log, BlobStore(tmp_path / "blobs"), settings.key,
                                       rng=random.Random(1)))
    workers = [_worker(app, tmp_path, f"idle{n}", ANALYZERS) for n in range(2)]
    with Log.open(settings.db) as log:
        size = log.size
    for _ in range(5):
        assert not any([worker.run_once() for worker in workers])  # nothing to do, no gold
    with Log.open(settings.db) as log:
        assert log.size == size  # the log did not grow
    anyone = client_for(app, SigningKey.generate())
    for worker in workers:
        assert anyone.get(f"/v1/credits/{worker.key.did}").json()["balance"] == 0

    req = client_for(app, SigningKey.generate())
    req.post("/v1/identities", {"role": "requester"})
    digest = req.upload_blob(clip.read_bytes())
    for _ in range(2):
        req.post("/v1/jobs", {"asset": digest, "analyzers": ["technical"]})
    while any([worker.run_once() for worker in workers]):
        pass
    from aiwork.market import Market

    with open_store(settings.db) as log:
        coordinator = Coordinator(log, BlobStore(tmp_path / "blobs"), settings.key)
        jobs = log.db.conn.execute("SELECT id FROM market_jobs").fetchall()
        gold_jobs = [j for (j,) in jobs if coordinator.is_gold(j)]
        assert len(jobs) - len(gold_jobs) == 2
        assert 1 <= len(gold_jobs) <= 2  # at most gold_rate (1.0) x the two real tasks
        assert all(Market(log.db).job(j).state.value == "done" for (j,) in jobs)


def test_gold_credits_are_capped_per_identity_and_day(tmp_path: Path) -> None:
    from aiwork.coordinator.accounts import GOLD_CREDITS_PER_DAY, Accounts

    with Log.create(tmp_path / "a.db", SigningKey.generate()) as log:
        accounts = Accounts(log.db)
        did, other = SigningKey.generate().did, SigningKey.generate().did
        day = 86400 * 20000.0
        with log.db.atomic():
            paid = [accounts.gold_allowance(did, 7, day + n) for n in range(5)]
            assert sum(paid) == GOLD_CREDITS_PER_DAY and paid[-1] == 0
            assert accounts.gold_allowance(other, 7, day) == 7  # per identity
            assert accounts.gold_allowance(did, 7, day + 86400) == 7  # a new day


def test_heartbeats_keep_a_long_task_leased(tmp_path: Path, clip: Path) -> None:
    import time

    class SlowWorker(Worker):
        def work(self, lease: dict[str, Any]) -> tuple[bytes, Any]:
            time.sleep(2.5)  # longer than the 1.5 s lease
            return super().work(lease)

    _, app, req, _, job = _setup(tmp_path, clip, lease_seconds=1.5)
    key = SigningKey.generate()
    client = client_for(app, key)
    client.post("/v1/identities", {"role": "worker"})
    slow = SlowWorker(client, key, tmp_path / "slow", ["technical"])
    assert slow.run_once()
    assert slow.stats.errors == [] and slow.stats.done == 1
    assert req.get(f"/v1/jobs/{job['id']}").json()["state"] == "done"


def test_a_newly_quarantined_workers_pending_results_are_rerun(tmp_path: Path,
                                                               clip: Path) -> None:
    from aiwork.quality.reputation import ReputationPolicy

    settings = ServerSettings(db=tmp_path / "coord.db", key=SigningKey.generate(),
                              open_registration=True, starting_credits=1000,
                              reputation=ReputationPolicy(min_samples=1))
    app = create_app(settings)
    requester = SigningKey.generate()
    req = client_for(app, requester)
    req.post("/v1/identities", {"role": "requester"})
    digest = req.upload_blob(clip.read_bytes())
    first, second = (req.post("/v1/jobs", {"asset": digest, "analyzers": ["technical"],
                                           "redundancy": 2, "budget": 10}) for _ in range(2))
    keys = [SigningKey.generate() for _ in range(3)]
    for key in keys:
        client_for(app, key).post("/v1/identities", {"role": "worker"})
    cheat = DishonestWorker(client_for(app, keys[0]), keys[0], tmp_path / "c", ["technical"])
    h1 = Worker(client_for(app, keys[1]), keys[1], tmp_path / "h1", ["technical"])
    h2 = Worker(client_for(app, keys[2]), keys[2], tmp_path / "h2", ["technical"])
    assert cheat.run_once() and cheat.run_once()  # a replica of each job, both corrupted
    assert h1.run_once()  # first job: cheat and h1 disagree, a third opinion is asked
    assert h2.run_once()  # h2 agrees with h1: the cheat is quarantined...
    progress = req.get(f"/v1/jobs/{second['id']}").json()["replicas"]
    assert progress["submitted"] == 0 and progress["queued"] == 2  # ...its pending work re-run
    assert cheat.run_once() is False  # and it gets no more work
    while h1.run_once() or h2.run_once():
        pass
    for job in (first, second):
        assert req.get(f"/v1/jobs/{job['id']}").json()["state"] == "done"
        results = req.get(f"/v1/jobs/{job['id']}/results").json()["results"]
        assert results["technical"]["width"] == 320  # the honest answer


def test_a_result_from_other_weights_than_advertised_is_refused(tmp_path: Path,
                                                                clip: Path) -> None:
    _, app, req, _, job = _setup(tmp_path, clip, lease_seconds=2.0)
    worker = _worker(app, tmp_path, "w", ["technical"])
    worker.advertise()
    listed = {w["did"]: w for w in req.get("/v1/workers").json()}
    model = listed[worker.key.did]["analyzers"]["technical"]["model"]
    assert model == worker.advertisement()["analyzers"]["technical"]["model"]

    claimed = worker.advertisement()
    claimed["analyzers"]["technical"]["model"]["weights_digest"] = "sha256:" + "1" * 64
    worker.client.post("/v1/workers/capabilities", claimed)
    assert worker.run_once()
    assert worker.stats.failed == 1 and "advertised sha256:111" in worker.stats.errors[0]
    with Log.open(tmp_path / "coord.db") as log:
        kinds = [Entry.from_bytes(log.get(i)).kind for i in range(log.size)]
    assert "ai.decision/v1" not in kinds  # nothing recorded

    worker.advertise()  # the truth, this time
    for _ in range(10):  # the refused lease expires, the task comes back
        if req.get(f"/v1/jobs/{job['id']}").json()["state"] == "done":
            break
        worker.run_once()
        time.sleep(0.5)
    assert req.get(f"/v1/jobs/{job['id']}").json()["state"] == "done"


def test_a_worker_that_restarts_announces_itself_and_its_stale_lease_is_released(
        tmp_path: Path, clip: Path) -> None:
    _, app, req, _, job = _setup(tmp_path, clip)  # leases last 300 s
    crashed = _worker(app, tmp_path, "w", ["technical"])
    lease = crashed.client.request("POST", "/v1/tasks/lease",
                                   json.dumps({"capabilities": ["technical"]}).encode()).json()
    # ... the worker process dies here. Started again (same key, nothing pending), it says
    # it holds no lease: its old one is released at once, not after 300 s.
    again = Worker(crashed.client, crashed.key, tmp_path / "w-again", ["technical"])
    assert again.advertise().released == 1
    assert again.run_once()
    assert req.get(f"/v1/jobs/{job['id']}").json()["state"] == "done"
    with pytest.raises(CoordinatorError, match="409.*released"):
        crashed.client.post(f"/v1/leases/{lease['lease']}/result", {"entry": "x", "output": {}})


def _serve(home: Path, port: int) -> subprocess.Popen[bytes]:
    """``aiwork serve`` on ``port`` with its state in ``home``, once it answers."""
    import httpx2 as httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "aiwork", "serve", "--port", str(port), "--open-registration",
         "--starting-credits", "100"], env={**os.environ, "AIWORK_HOME": str(home)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("the coordinator did not start")


def test_a_finished_result_survives_the_coordinator_going_away(tmp_path: Path,
                                                               clip: Path) -> None:
    """Real processes: the coordinator stops while a worker holds a finished result; the
    worker, restarted while the coordinator is still away, retries until it is back (same
    port, same store), then submits that very result and the job completes."""
    from aiwork.crypto import write_key_file

    port, store = free_port(), tmp_path / "coordinator"
    url = f"http://127.0.0.1:{port}"
    coordinator = _serve(store, port)
    worker_proc: subprocess.Popen[bytes] | None = None
    req, client = CoordinatorClient(url, SigningKey.generate()), None
    try:
        req.post("/v1/identities", {"role": "requester"})
        job = req.post("/v1/jobs", {"asset": req.upload_blob(clip.read_bytes()),
                                    "analyzers": ["technical"], "budget": 10})
        key = SigningKey.generate()
        write_key_file(tmp_path / "worker.key", key)
        client = CoordinatorClient(url, key)
        client.post("/v1/identities", {"role": "worker"})

        class Interrupted(Worker):
            def work(self, lease: dict[str, Any]) -> tuple[bytes, Any]:
                done = super().work(lease)
                coordinator.terminate()  # the coordinator goes away with the work done
                coordinator.wait(timeout=20)
                return done

        # The worker's home as `aiwork worker` names it under AIWORK_HOME.
        worker_home = tmp_path / "worker-home" / f"worker-{key.public_key.hex()[:12]}"
        first = Interrupted(client, key, worker_home, ["technical"])
        with pytest.raises(CoordinatorError, match="cannot reach"):
            first.run_once()
        first.close()
        [held] = first.held()  # kept on disk, not lost

        worker_proc = subprocess.Popen(
            [sys.executable, "-m", "aiwork", "worker", "--coordinator", url, "--key",
             str(tmp_path / "worker.key"), "--analyzers", "technical"],
            env={**os.environ, "AIWORK_HOME": str(tmp_path / "worker-home")},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(2.0)
        assert worker_proc.poll() is None, worker_proc.stderr.read() if worker_proc.stderr else ""

        coordinator = _serve(store, port)  # back, same port, same store
        deadline = time.monotonic() + 60
        while req.get(f"/v1/jobs/{job['id']}").json()["state"] == "open":
            assert time.monotonic() < deadline, "the result never arrived"
            time.sleep(0.3)
        assert req.get(f"/v1/jobs/{job['id']}").json()["state"] == "done"
        assert not first.held()  # taken by the coordinator, so removed
    finally:
        req.close()
        if client is not None:
            client.close()
        for proc in (worker_proc, coordinator):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
        if worker_proc is not None and worker_proc.stderr:
            worker_proc.stderr.close()
    with Log.open(store / "aiwork.db") as log:
        state = log.db.conn.execute("SELECT state FROM market_leases WHERE id = ?",
                                    (held,)).fetchone()
    assert state == ("submitted",)  # the very lease of the result kept across the outage


def test_keyframes_named_outside_the_output_folder_are_refused_and_nothing_recorded(
        tmp_path: Path, clip: Path) -> None:
    """A real coordinator process; a worker whose signed shots result names its keyframes
    ``../../x.sh``, an absolute path...: each is a 400 and the ledger does not move."""
    home = tmp_path / "coordinator"
    requester, worker_key = SigningKey.generate(), SigningKey.generate()
    with running_coordinator(home, "--open-registration", "--starting-credits", "100") as url, \
            CoordinatorClient(url, requester) as req, \
            CoordinatorClient(url, worker_key) as client:
        req.post("/v1/identities", {"role": "requester"})
        client.post("/v1/identities", {"role": "worker"})
        digest = req.upload_blob(clip.read_bytes())
        job = req.post("/v1/jobs", {"asset": digest, "analyzers": ["shots"], "redundancy": 1,
                                    "budget": 10})
        worker = RenamingWorker(client, worker_key, tmp_path / "w", ["shots"])
        worker.advertise()
        lease = client.request("POST", "/v1/tasks/lease",
                               json.dumps({"capabilities": ["shots"]}).encode()).json()
        with Log.open(home / "aiwork.db") as log:
            before = log.size
        for name in ["../../x.sh", "/tmp/x.sh", "keyframes/../../x.sh", "keyframes/.bashrc",
                     "keyframes/a\\..\\x.sh", "keyframes/shot\x00.jpg", "keyframes/" + "a" * 200]:
            worker.name = name
            entry, output = worker.work(lease)
            with pytest.raises(CoordinatorError) as refused:
                client.post(f"/v1/leases/{lease['lease']}/result",
                            {"entry": entry.decode(), "output": output})
            assert refused.value.status == 400 and "keyframe" in str(refused.value), name
        with Log.open(home / "aiwork.db") as log:
            assert log.size == before  # nothing recorded
        replicas = req.get(f"/v1/jobs/{job['id']}").json()["replicas"]
        assert replicas["leased"] == 1 and replicas["submitted"] == 0
        worker.name = None  # the same lease takes the honest result
        entry, output = worker.work(lease)
        client.post(f"/v1/leases/{lease['lease']}/result",
                    {"entry": entry.decode(), "output": output})
        assert req.get(f"/v1/jobs/{job['id']}").json()["state"] == "done"
        worker.close()
    assert not (tmp_path / "x.sh").exists()


def test_replicas_that_agree_on_cuts_but_not_on_keyframes_do_not_agree(tmp_path: Path,
                                                                        clip: Path) -> None:
    """One replica names the same cuts but other keyframe bytes: no agreement, so a third
    worker is asked and its keyframes (the honest ones) are what the requester gets."""
    _, app, req, _, job = _setup(tmp_path, clip, analyzers=["shots"], redundancy=2)
    key = SigningKey.generate()
    client_for(app, key).post("/v1/identities", {"role": "worker"})
    swapped = RenamingWorker(client_for(app, key), key, tmp_path / "swap", ["shots"])
    swapped.swap = b"\xff\xd8 not the frame the video shows"
    honest = [_worker(app, tmp_path, f"h{n}", ["shots"]) for n in range(2)]
    assert swapped.run_once() and honest[0].run_once()
    progress = req.get(f"/v1/jobs/{job['id']}").json()
    assert progress["state"] == "open" and progress["replicas"].get("queued") == 1
    assert honest[1].run_once()
    assert req.get(f"/v1/jobs/{job['id']}").json()["state"] == "done"
    shots = req.get(f"/v1/jobs/{job['id']}/results").json()["results"]["shots"]
    mine = honest[1].processor.catalog.results(progress["asset"])["shots"].output
    assert [s["keyframe"] for s in shots] == [s["keyframe"] for s in mine]


def test_results_fetched_later_and_out_without_wait_refused(
        tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`aiwork submit --out` without --wait is refused before anything is sent; `aiwork
    results JOB --out DIR` writes a finished job's outputs later, through the same checked
    writer; a job in a sensitive library needs --key, and the read is logged with its
    --purpose."""
    import os

    from aiwork.cli import main
    from aiwork.crypto import read_key_file

    home = tmp_path / "coordinator"
    keyfile = tmp_path / "requester.key"
    assert main(["keys", "new", "--out", str(keyfile)]) == 0
    pipe = tmp_path / "pipe.mp4"
    os.mkfifo(pipe)
    out = tmp_path / "out"
    capsys.readouterr()
    worker_key = SigningKey.generate()
    with running_coordinator(home, "--open-registration", "--starting-credits", "100") as url, \
            CoordinatorClient(url, worker_key) as client:
        common = ["--coordinator", url, "--key", str(keyfile)]
        assert main(["register", *common, "--role", "requester"]) == 0
        client.post("/v1/identities", {"role": "worker"})
        worker = Worker(client, worker_key, tmp_path / "w", ANALYZERS)

        assert main(["submit", str(clip), *common, "--analyzers", "technical,shots",
                     "--out", str(out)]) == 2
        assert "aiwork results JOB" in capsys.readouterr().err
        assert client.get("/v1/jobs").json() == []  # nothing was sent

        # A file that cannot be a video fails alone; the clip's job is submitted.
        assert main(["submit", str(pipe), str(clip), *common,
                     "--analyzers", "technical,shots"]) == 1
        printed = capsys.readouterr()
        assert f"{pipe}: failed: " in printed.err and "not a regular file" in printed.err
        job = printed.out.split("job ")[-1].strip()
        assert main(["results", job, "--coordinator", url, "--out", str(out)]) == 1
        assert "still open" in capsys.readouterr().err
        while worker.run_once():
            pass
        assert main(["results", job, "--coordinator", url, "--out", str(out)]) == 0
        assert f"outputs in {out / job}" in capsys.readouterr().out
        doc = json.loads((out / job / "metadata.json").read_text())
        shots = doc["shots"]
        assert shots and all((out / job / s["keyframe"]["file"]).read_bytes()[:2] == b"\xff\xd8"
                             for s in shots)
        assert sorted(p.name for p in (out / job).iterdir()) == [
            "captions.srt", "captions.vtt", "chapters.vtt", "keyframes", "metadata.json",
            "metadata.jsonld"]
        # `aiwork serve` names its exports' URLs under its own address by default.
        exported = client.get(f"/v1/jobs/{job}/export/metadata.jsonld").json()
        assert exported["thumbnailUrl"].startswith(url + "/v1/blobs/sha256:")
        assert client.get(exported["thumbnailUrl"].removeprefix(url)).content[:2] == b"\xff\xd8"

        assert main(["library", "create", "private", "--sensitive", *common]) == 0
        library = capsys.readouterr().out.split()[1]
        assert main(["submit", str(clip), *common, "--analyzers", "technical",
                     "--library", library]) == 0
        secret = capsys.readouterr().out.split("job ")[-1].strip()
        while worker.run_once():
            pass
        assert main(["results", secret, "--coordinator", url, "--out", str(out)]) == 1
        assert "401" in capsys.readouterr().err and not (out / secret).exists()
        assert main(["results", secret, "--coordinator", url, "--out", str(out),
                     "--key", str(keyfile), "--purpose", "quarterly archive check"]) == 0
        assert (out / secret / "metadata.json").exists()
        worker.close()
    with Log.open(home / "aiwork.db") as log:
        reads = [e.body for e in (Entry.from_bytes(log.get(i)) for i in range(log.size))
                 if e.kind.startswith("access.read")]
    assert [(r["job"], r["purpose"], r["reader"]) for r in reads][-1] == (
        secret, "quarterly archive check", read_key_file(keyfile).did)


def test_a_worker_never_reads_a_file_a_leased_digest_names(tmp_path: Path, clip: Path) -> None:
    """A lease's asset is a digest, never a path: one that names a file elsewhere (absolute,
    or with ``..``) is refused before the worker looks at its disk."""
    from aiwork.errors import IntegrityError

    _, app, _, _, _ = _setup(tmp_path, clip)
    worker = _worker(app, tmp_path, "w", ["technical"])
    secret = tmp_path / "secret"
    secret.with_suffix(".media").write_bytes(clip.read_bytes())  # a video it must not read
    for digest in [str(secret), "sha256:../../secret", "sha256:" + "A" * 64]:
        with pytest.raises(IntegrityError, match="malformed asset digest"):
            worker.fetch(digest)
    worker.close()


def test_the_gold_pool_grows_varied_as_it_is_used(tmp_path: Path) -> None:
    """Every gold task used to be over the one same clip, so its questions (and its digest)
    came back again and again. Gold tasks now go to the least used clip, and new, different
    clips are generated as the pool wears."""
    import random

    from aiwork.coordinator.service import Coordinator
    from aiwork.coordinator.gold import GOLD_FRESH, GOLD_REUSE, add_generated_gold, top_up_gold
    from aiwork.pipeline.process import open_store
    from aiwork.store.blobs import BlobStore

    with open_store(tmp_path / "coord.db") as log:
        coordinator = Coordinator(log, BlobStore(tmp_path / "blobs"), SigningKey.generate(),
                                  gold_rate=1.0, rng=random.Random(2))
        first = add_generated_gold(coordinator)
        assert len(top_up_gold(coordinator, random.Random(5))) == GOLD_FRESH - 1
        for n in range(GOLD_FRESH * GOLD_REUSE):
            coordinator.gold.inject({"shots"}, 1000.0 + n)
        assert set(coordinator.gold_uses().values()) == {GOLD_REUSE}  # spread, least used
        added = top_up_gold(coordinator, random.Random(6))
        assert len(added) == GOLD_FRESH and first not in added
        uses = coordinator.gold_uses()
        assert len(uses) == 2 * GOLD_FRESH and sorted(uses.values())[:GOLD_FRESH] == [0, 0]
        cuts = set()
        for (expected,) in log.db.conn.execute("SELECT expected FROM coordinator_gold_assets"):
            shots = json.loads(expected)["shots"]
            cuts.add(tuple(s["instances"][0]["start"] for s in shots[1:]))
        assert len(cuts) == len(uses)  # every clip asks different questions


def test_audit_and_results_read_no_more_than_their_bound_from_a_coordinator(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hostile (or broken) coordinator answers with more than the client reads: `aiwork
    audit --coordinator` and `aiwork results` stop at the bound, say so and write nothing
    (they used to read any answer whole into memory, and wrote this one)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from aiwork.cli import main

    limit = 1 << 20
    monkeypatch.setattr("aiwork.client.transport.MAX_REPLY_BYTES", limit)
    pad = "x" * (2 * limit)
    job = "a" * 32
    answers = {
        f"/v1/jobs/{job}/audit": {"items": [], "checkpoint": "c", "pad": pad},
        f"/v1/jobs/{job}": {"id": job, "state": "done", "replicas": {"accepted": 1},
                            "asset": "sha256:" + "0" * 64, "analyzers": ["technical"],
                            "redundancy": 1, "library": None},
        f"/v1/jobs/{job}/export/metadata.json": {"asset": {}, "pad": pad},
    }

    class Hostile(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            body = json.dumps(answers[self.path.split("?")[0]]).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            if "export" not in self.path:  # the export's length is not declared
                self.send_header("content-length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:  # the client stopped reading: as it should
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        bundle = tmp_path / "bundle.json"
        assert main(["audit", job, "--coordinator", url, "--out", str(bundle)]) == 1
        assert f"at most {limit}" in capsys.readouterr().err
        assert not bundle.exists()
        out = tmp_path / "out"
        assert main(["results", job, "--coordinator", url, "--out", str(out)]) == 1
        assert f"runs past {limit} bytes" in capsys.readouterr().err
        assert not out.exists() or not any(out.iterdir())
    finally:
        server.shutdown()
        server.server_close()


def test_a_worker_reads_no_more_of_a_lease_than_its_bound(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lease carries the outputs its analyzer reads; a coordinator (or one posing as it)
    that answers a lease with more than MAX_LEASE_BYTES is cut off there (the worker used to
    read any lease whole, then went on to fetch its asset)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    limit = 1 << 20
    monkeypatch.setattr("aiwork.client.worker.MAX_LEASE_BYTES", limit, raising=False)
    lease = {"lease": "b" * 32, "job": "j" * 32, "task": "t", "replica": 0,
             "analyzer": "technical", "asset": "sha256:" + "0" * 64, "expires": 2e9,
             "upstream": [{"analyzer": "shots", "output": "x" * (2 * limit)}],
             "library": None, "sensitive": False}

    class Hostile(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            self.rfile.read(int(self.headers.get("content-length") or 0))
            # Every other answer is a worker's view (its announcement's answer).
            other = {"did": key.did, "analyzers": {}, "reputation": {
                "score": 0.5, "samples": 0, "quarantined": False}}
            body = json.dumps(lease if self.path == "/v1/tasks/lease" else other).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()  # no declared length: the answer is cut off as it streams
            try:
                self.wfile.write(body)
            except OSError:
                pass

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(404)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    key = SigningKey.generate()
    worker = Worker(CoordinatorClient(f"http://127.0.0.1:{server.server_address[1]}", key),
                    key, tmp_path / "w", ["technical"])
    try:
        with pytest.raises(CoordinatorError, match=f"runs past {limit} bytes"):
            worker.run_once()
    finally:
        worker.close()
        server.shutdown()
        server.server_close()
