"""The coordinator API: signed requests, roles, uploads, the public log; every refusal."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiwork.api import ServerSettings, create_app
from aiwork.auth import sign_request
from aiwork.crypto import SigningKey
from aiwork.ledger import verify
from aiwork.ledger.log import Log
from aiwork.model import Entry


def signed(client: TestClient, key: SigningKey, method: str, path: str,
           body: bytes = b"", **headers: str) -> Any:
    all_headers = {**sign_request(key, method, path, body), **headers}
    return client.request(method, path, content=body, headers=all_headers)


def post_json(client: TestClient, key: SigningKey, path: str, value: dict[str, Any]) -> Any:
    return signed(client, key, "POST", path, json.dumps(value).encode(),
                  **{"content-type": "application/json"})


@pytest.fixture
def admin() -> SigningKey:
    return SigningKey.generate()


def make_client(tmp_path: Path, admin: SigningKey, *, open_registration: bool,
                max_upload: int = 1 << 20) -> TestClient:
    settings = ServerSettings(db=tmp_path / "coord.db", key=SigningKey.generate(),
                              open_registration=open_registration,
                              starting_credits=1000, admin=admin.did,
                              max_upload_bytes=max_upload)
    return TestClient(create_app(settings))


def test_open_registration_grants_at_once_and_logs_it(tmp_path: Path, admin: SigningKey) -> None:
    client = make_client(tmp_path, admin, open_registration=True)
    worker = SigningKey.generate()
    reply = post_json(client, worker, "/v1/identities", {"role": "worker"})
    assert reply.status_code == 200 and reply.json()["status"] == "granted"
    assert client.get(f"/v1/identities/{worker.did}").json()["roles"] == {"worker": "granted"}
    with Log.open(tmp_path / "coord.db") as log:
        bodies = [Entry.from_bytes(log.get(i)).body for i in range(log.size)]
    assert {"subject": worker.did, "role": "worker", "granted_by": None} in bodies


def test_closed_registration_waits_for_an_admin(tmp_path: Path, admin: SigningKey) -> None:
    client = make_client(tmp_path, admin, open_registration=False)
    expert = SigningKey.generate()
    assert post_json(client, expert, "/v1/identities", {"role": "expert"}).json()["status"] == "pending"
    outsider = SigningKey.generate()
    refused = post_json(client, outsider, "/v1/admin/approve", {"did": expert.did, "role": "expert"})
    assert refused.status_code == 403 and "admin" in refused.json()["message"]
    assert client.get(f"/v1/identities/{expert.did}").json()["roles"] == {"expert": "pending"}
    ok = post_json(client, admin, "/v1/admin/approve", {"did": expert.did, "role": "expert"})
    assert ok.status_code == 200
    assert client.get(f"/v1/identities/{expert.did}").json()["roles"] == {"expert": "granted"}
    assert post_json(client, expert, "/v1/identities", {"role": "admin"}).status_code == 403


def test_unsigned_forged_expired_and_replayed_requests_get_401(tmp_path: Path,
                                                              admin: SigningKey) -> None:
    client = make_client(tmp_path, admin, open_registration=True)
    key = SigningKey.generate()
    body = json.dumps({"role": "worker"}).encode()
    assert client.post("/v1/identities", content=body).json()["error"] == "unsigned"
    headers = sign_request(key, "POST", "/v1/identities", body)
    forged = client.post("/v1/identities", content=json.dumps({"role": "expert"}).encode(),
                         headers=headers)
    assert forged.status_code == 401 and forged.json()["error"] == "bad-signature"
    old = sign_request(key, "POST", "/v1/identities", body, now=1_000_000)
    assert client.post("/v1/identities", content=body, headers=old).json()["error"] == "expired"
    assert client.post("/v1/identities", content=body, headers=headers).status_code == 200
    again = client.post("/v1/identities", content=body, headers=headers)
    assert again.status_code == 401 and again.json()["error"] == "replayed"
    assert client.get(f"/v1/identities/{key.did}").json()["roles"] == {"worker": "granted"}


def test_uploads_are_checked_against_their_digest_and_size(tmp_path: Path,
                                                          admin: SigningKey) -> None:
    client = make_client(tmp_path, admin, open_registration=True, max_upload=1000)
    requester = SigningKey.generate()
    post_json(client, requester, "/v1/identities", {"role": "requester"})
    data = b"video bytes" * 10
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert signed(client, requester, "PUT", f"/v1/blobs/{digest}", data).status_code == 200
    assert client.get(f"/v1/blobs/{digest}").content == data
    wrong = "sha256:" + "0" * 64
    reply = signed(client, requester, "PUT", f"/v1/blobs/{wrong}", data)
    assert reply.status_code == 400 and "digest" in reply.json()["message"]
    big = b"x" * 2000
    big_digest = "sha256:" + hashlib.sha256(big).hexdigest()
    reply = signed(client, requester, "PUT", f"/v1/blobs/{big_digest}", big)
    assert reply.status_code == 413
    stranger = SigningKey.generate()
    assert signed(client, stranger, "PUT", f"/v1/blobs/{digest}", data).status_code == 403
    assert client.get(f"/v1/blobs/{big_digest}").status_code == 404


def test_the_public_log_serves_checkpoints_entries_and_proofs(tmp_path: Path,
                                                              admin: SigningKey) -> None:
    client = make_client(tmp_path, admin, open_registration=True)
    for _ in range(3):
        post_json(client, SigningKey.generate(), "/v1/identities", {"role": "worker"})
    note = client.get("/v1/ledger/checkpoint").text
    key = client.get("/v1/ledger/key").text.strip()
    checkpoint = verify.verify_checkpoint(note, key)
    assert checkpoint.size == 4  # the admin grant and three workers
    entry = client.get("/v1/ledger/entries/2").content
    proof = client.get("/v1/ledger/proof/inclusion", params={"index": 2}).json()
    verify.verify_entry_in_checkpoint(entry, proof, note, key)
    consistency = client.get("/v1/ledger/proof/consistency",
                             params={"first": 1, "second": 4}).json()
    assert consistency["size1"] == 1 and consistency["size2"] == 4
    assert client.get("/v1/ledger/entries/99").status_code == 404
    assert "/v1/identities" in client.get("/openapi.json").json()["paths"]


def test_malformed_json_is_a_clear_400(tmp_path: Path, admin: SigningKey) -> None:
    client = make_client(tmp_path, admin, open_registration=True)
    reply = signed(client, SigningKey.generate(), "POST", "/v1/identities", b"{role: worker")
    assert reply.status_code == 400 and "not valid JSON" in reply.json()["message"]


def test_every_refusal_has_one_shape(tmp_path: Path, admin: SigningKey) -> None:
    """A path nobody serves, a missing export and a parameter of the wrong type answer
    {error, message} like every other refusal (not FastAPI's {detail}), a bad parameter
    with 400."""
    client = make_client(tmp_path, admin, open_registration=True)
    for path, status, error in (("/v1/nothing-here", 404, "not-found"),
                                ("/v1/jobs/j/export/passwd", 404, "not-found"),
                                ("/v1/ledger/entries/abc", 400, "bad-request"),
                                ("/v1/ledger/proof/inclusion?index=x", 400, "bad-request")):
        reply = client.get(path)
        assert reply.status_code == status, path
        assert set(reply.json()) == {"error", "message"} and reply.json()["error"] == error
        assert reply.json()["message"], path
    assert "index" in client.get("/v1/ledger/proof/inclusion?index=x").json()["message"]


def test_out_of_role_requests_get_403_and_change_nothing(tmp_path: Path,
                                                         admin: SigningKey) -> None:
    client = make_client(tmp_path, admin, open_registration=True)
    worker, requester = SigningKey.generate(), SigningKey.generate()
    post_json(client, worker, "/v1/identities", {"role": "worker"})
    post_json(client, requester, "/v1/identities", {"role": "requester"})
    job = {"asset": "sha256:" + "0" * 64, "analyzers": ["technical"], "budget": 10}
    assert post_json(client, worker, "/v1/jobs", job).status_code == 403
    assert post_json(client, requester, "/v1/tasks/lease", {"capabilities": ["technical"]}
                     ).status_code == 403
    missing = post_json(client, requester, "/v1/jobs", job)
    assert missing.status_code == 400 and "upload it first" in missing.json()["message"]
    assert client.get("/v1/jobs").json() == []
    assert post_json(client, worker, "/v1/tasks/lease", {"capabilities": ["technical"]}
                     ).status_code == 204
    assert post_json(client, worker, "/v1/leases/nope/result",
                     {"entry": "{}", "output": {}}).status_code == 409


def ledger_size(tmp_path: Path) -> int:
    with Log.open(tmp_path / "coord.db") as log:
        return log.size


def test_a_json_body_over_1_mib_gets_413_and_changes_nothing(tmp_path: Path,
                                                           admin: SigningKey) -> None:
    client = make_client(tmp_path, admin, open_registration=True)
    requester = SigningKey.generate()
    post_json(client, requester, "/v1/identities", {"role": "requester"})
    size = ledger_size(tmp_path)
    body = json.dumps({"name": "x" * (1 << 20), "sensitive": False}).encode()
    declared = signed(client, requester, "POST", "/v1/libraries", body)
    assert declared.status_code == 413 and declared.json()["error"] == "too-large"
    # Chunked (no Content-Length): refused as the body streams past the limit.
    headers = sign_request(requester, "POST", "/v1/libraries", body)
    chunked = client.post("/v1/libraries", headers=headers,
                          content=iter([body[i:i + 65536] for i in range(0, len(body), 65536)]))
    assert chunked.status_code == 413 and chunked.json()["error"] == "too-large"
    assert ledger_size(tmp_path) == size
    assert post_json(client, requester, "/v1/libraries", {"name": "ok"}).status_code == 200


def decision_entry(key: SigningKey, body: dict[str, Any]) -> str:
    """An ai.decision entry signed over ``body`` as it is, valid or not (as an attacker
    would: sign_entry refuses an invalid body)."""
    import base64

    from aiwork.model import utc_now
    from aiwork.model.entry import ENTRY_SIGNING_DOMAIN

    stamp = utc_now()
    unsigned = Entry.unsigned_bytes("ai.decision/v1", body, key.did, stamp)
    signature = base64.b64encode(key.sign(ENTRY_SIGNING_DOMAIN + unsigned)).decode()
    return Entry.assemble("ai.decision/v1", body, key.did, stamp, signature,
                          unsigned).to_bytes().decode()


def test_inputs_that_once_crashed_the_coordinator_get_400_with_a_reason(
        tmp_path: Path, admin: SigningKey) -> None:
    client = make_client(tmp_path, admin, open_registration=True)
    key = SigningKey.generate()
    post_json(client, key, "/v1/identities", {"role": "requester"})
    post_json(client, key, "/v1/identities", {"role": "worker"})
    data = b"video bytes"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert signed(client, key, "PUT", f"/v1/blobs/{digest}", data).status_code == 200
    size = ledger_size(tmp_path)

    surrogate = signed(client, key, "POST", "/v1/libraries", b'{"name": "a\\ud800b"}')
    assert surrogate.status_code == 400 and "lone surrogate" in surrogate.json()["message"]

    job = {"asset": digest, "analyzers": ["technical"], "budget": 10}
    late = post_json(client, key, "/v1/jobs", {**job, "deadline": "tomorrow"})
    assert late.status_code == 400 and "'deadline'" in late.json()["message"]
    assert client.get("/v1/jobs").json() == []
    assert ledger_size(tmp_path) == size

    assert post_json(client, key, "/v1/jobs", job).status_code == 200
    lease = post_json(client, key, "/v1/tasks/lease", {"capabilities": ["technical"]}).json()
    body = {"analyzer": "technical", "analyzer_version": "1", "insight": "technical",
            "model": {"name": "m", "version": "1"}, "parameters_digest": digest,
            "input": "not an object", "output_digest": digest, "output_items": 0}
    size = ledger_size(tmp_path)
    bad = post_json(client, key, f"/v1/leases/{lease['lease']}/result",
                    {"entry": decision_entry(key, body), "output": {}})
    assert bad.status_code == 400 and "'input'" in bad.json()["message"]
    assert ledger_size(tmp_path) == size


def test_an_unexpected_fault_is_a_json_500_with_a_reason(tmp_path: Path, admin: SigningKey,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from aiwork.coordinator.service import Coordinator

    def broken(self: Coordinator) -> list[dict[str, Any]]:
        raise RuntimeError("a fault nobody foresaw")

    monkeypatch.setattr(Coordinator, "workers", broken)
    settings = ServerSettings(db=tmp_path / "coord.db", key=SigningKey.generate())
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    reply = client.get("/v1/workers")
    assert reply.status_code == 500
    assert reply.json()["error"] == "internal" and "RuntimeError" in reply.json()["message"]


def test_uploads_cut_off_by_a_crash_are_swept_when_the_coordinator_starts(
        tmp_path: Path, admin: SigningKey) -> None:
    import os

    blobs = tmp_path / "blobs"
    blobs.mkdir()
    stale, fresh = blobs / ".upload-stale", blobs / ".upload-fresh"
    stale.write_bytes(b"half a video")
    fresh.write_bytes(b"an upload going on now")
    os.utime(stale, (0, 0))
    make_client(tmp_path, admin, open_registration=True)
    assert not stale.exists() and fresh.exists()
