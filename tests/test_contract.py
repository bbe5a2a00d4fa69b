"""The API contract (aiwork.contract) and the coordinator's routes are the same list."""

from __future__ import annotations

import re
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.openapi.utils import get_openapi
from fastapi.testclient import TestClient

from aiwork.api import ServerSettings, create_app
from aiwork.contract import OPERATIONS, ErrorBody, Operation
from aiwork.crypto import SigningKey
from aiwork.errors import CoordinatorError
from aiwork.export.layout import EXPORTS

from .conftest import make_two_scene_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_two_scene_clip(tmp_path_factory.mktemp("contract") / "scenes.mp4")


def test_every_route_is_an_operation_of_the_contract_and_back(tmp_path: Path) -> None:
    """What FastAPI itself sees of the routes (not the document the contract completes):
    each (method, path) served is one operation of the contract, under its operationId."""
    app = create_app(ServerSettings(db=tmp_path / "coord.db", key=SigningKey.generate()))
    raw = get_openapi(title="raw", version="1", routes=app.routes)
    served = {(method.upper(), path, entry["operationId"])
              for path, methods in raw["paths"].items() for method, entry in methods.items()}
    assert served == {(op.method, op.path, op.id) for op in OPERATIONS}
    assert len({op.id for op in OPERATIONS}) == len(OPERATIONS)


class ContractCheck:
    """Checks every answer a client gets against the contract's operation for its request:
    a 200 parses as the operation's model (or has one of its media types), a 204 only where
    the operation may have nothing, any other status is one the operation declares, with the
    {error, message} body."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.patterns = sorted(((re.compile(re.sub(r"\{[^}]+\}", "[^/]+", op.path) + "$"), op)
                                for op in OPERATIONS), key=lambda p: p[1].path.count("{"))

    def operation(self, method: str, path: str) -> Operation:
        for pattern, op in self.patterns:
            if op.method == method and pattern.match(path):
                return op
        raise AssertionError(f"{method} {path} is no operation of the contract")

    def __call__(self, response: httpx.Response) -> None:
        response.read()
        op = self.operation(response.request.method, response.request.url.path)
        self.seen.add(op.id)
        status, media = response.status_code, response.headers.get("content-type", "")
        if status == 200 and op.response is not None:
            value = response.json()
            for item in value if op.many else [value]:
                op.response.model_validate(item)
        elif status == 200:
            assert media.split(";")[0] in op.media, (op.id, media)
        elif status == 204:
            assert op.empty, op.id
        else:
            assert status in op.errors, (op.id, status, response.text)
            ErrorBody.model_validate(response.json())


def test_the_answers_of_a_whole_job_match_the_contract(tmp_path: Path, clip: Path) -> None:
    """A job over a real clip, from registration to its exports, audit bundle and review,
    through the real client: every answer, success or refusal, is what the contract says."""
    from aiwork.client.coordinator import CoordinatorClient
    from aiwork.client.worker import Worker

    check = ContractCheck()
    admin, requester, worker, expert = (SigningKey.generate() for _ in range(4))
    app = create_app(ServerSettings(db=tmp_path / "coord.db", key=SigningKey.generate(),
                                    open_registration=True, starting_credits=1000,
                                    admin=admin.did, public_url="http://testserver"))

    def client(key: SigningKey) -> CoordinatorClient:
        http = TestClient(app)
        http.event_hooks["response"] = [check]
        return CoordinatorClient("http://testserver", key, http=http)

    req, work, exp, adm = client(requester), client(worker), client(expert), client(admin)
    for who, role in ((req, "requester"), (work, "worker"), (exp, "expert")):
        who.post("/v1/identities", {"role": role})
    adm.post("/v1/admin/approve", {"did": expert.did, "role": "auditor"})
    adm.post("/v1/admin/credits", {"to": requester.did, "amount": 5})
    library = req.post("/v1/libraries", {"name": "Archive", "sensitive": False})["id"]
    req.post(f"/v1/libraries/{library}/readers", {"did": expert.did})
    digest = req.upload_blob(clip.read_bytes())
    job = req.post("/v1/jobs", {"asset": digest, "analyzers": ["technical", "shots"],
                                "library": library})["id"]
    runner = Worker(work, worker, tmp_path / "worker", ["technical", "shots"])
    for _ in range(20):
        if not runner.run_once():
            break
    exp.post("/v1/identities/owned", {"keys": [worker.did]})
    exp.request("POST", "/v1/review/next", b"{}")
    exp.get(f"/v1/experts/{expert.did}/verdicts?limit=5", signed=True)
    for path in (f"/v1/jobs/{job}", "/v1/jobs", f"/v1/jobs/{job}/results",
                 f"/v1/jobs/{job}/audit", f"/v1/jobs/{job}/review", f"/v1/libraries/{library}",
                 f"/v1/credits/{requester.did}", f"/v1/identities/{expert.did}",
                 f"/v1/experts/{expert.did}", "/v1/review/rules", "/v1/workers",
                 "/v1/analyzers", "/v1/libraries",
                 f"/v1/blobs/{digest}", "/v1/ledger/checkpoint", "/v1/ledger/key",
                 "/v1/ledger/entries/0", "/v1/ledger/proof/inclusion?index=0",
                 "/v1/ledger/proof/consistency?first=1", "/v1/jobs/nope",
                 "/v1/ledger/entries/999999", f"/v1/libraries/{library}/access",
                 "/v1/ledger/entries/0/related", "/v1/ledger/entries/999999/related?limit=1",
                 "/v1/ledger/entries/0/lineage", "/v1/ledger/entries/999999/lineage",
                 "/v1/ledger/anchors?covering=0", "/v1/ledger/anchors", "/v1/models",
                 "/v1/search?q=video", "/v1/search?q=%22%22&limit=0"):
        req.http.get(path)
    req.get(f"/v1/libraries/{library}/access", signed=True)
    req.get("/v1/libraries", signed=True)
    for name in EXPORTS:
        req.http.get(f"/v1/jobs/{job}/export/{name}")
    adm.request("PUT", "/v1/review/rules/tags", b'{"experts": 2}')
    req.http.get("/v1/review/calibrations")
    with pytest.raises(CoordinatorError):  # nothing verified to fit on yet: a 400
        adm.fit_calibration("shots", "model:none@sha256:" + "0" * 64)
    req.request("PATCH", f"/v1/libraries/{library}", b'{"sensitive": true}')
    req.http.get(f"/v1/jobs/{job}")  # now sensitive: unsigned is refused, as declared
    assert req.get(f"/v1/jobs/{job}", signed=True).json()["state"] == "done"
    # A sensitive library's video by a media grant, and a wrong token's 403.
    req.http.get(req.grant_blob(digest, job, "contract check").url)
    req.http.get(f"/v1/blobs/{digest}?grant=wrong")
    # Refusals are answers too: a lease, an item, a verdict and a witness that do not exist.
    for who, method, path, body in (
            (work, "POST", "/v1/leases/nope/heartbeat", b"{}"),
            (exp, "GET", "/v1/review/items/nope", b""),
            (exp, "POST", "/v1/review/items/nope/verdict", b'{"entry": "{}"}'),
            (exp, "POST", "/v1/review/items/nope/release", b"{}")):
        with pytest.raises(CoordinatorError):
            who.request(method, path, body)
    req.http.post("/v1/ledger/cosignatures", content=b'{"size": 1, "cosignature": "x"}')
    assert check.seen == {op.id for op in OPERATIONS}
