"""Media grants: a sensitive library's video played by a ``<video>`` element, which cannot sign.

A reader asks for a grant (``POST /v1/blobs/DIGEST/grant``, signed, with the job and a
purpose); the read is logged as an ``access.read`` entry before the grant exists; the grant's
URL (``/v1/blobs/DIGEST?grant=TOKEN``) then serves that one blob, with HTTP ranges, until it
expires. A stranger gets no grant, and a wrong, expired or other blob's token gets 403 and no
byte.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from aiwork.auth import sign_request
from aiwork.client.worker import Worker
from aiwork.coordinator.grants import GRANT_SECONDS
from aiwork.coordinator.libraries import Libraries, with_purpose
from aiwork.crypto import SigningKey
from aiwork.errors import AiworkError

from .test_libraries import PURPOSE, Network, build, clip  # noqa: F401 (the clip fixture)


class Clock:
    """The coordinator's clock for grants, moved by the test (no sleeping)."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def net(tmp_path: Path, clip: Path, clock: Clock) -> Network:  # noqa: F811
    return build(tmp_path, clip, clock=clock)


def asset_of(net: Network) -> str:
    return str(net.client(net.owner).get(f"/v1/jobs/{net.job}", signed=True).json()["asset"])


def ask(net: Network, key: SigningKey | None, digest: str, body: dict[str, Any]) -> Any:
    """POST /v1/blobs/DIGEST/grant as sent (signed by ``key``, unsigned if None)."""
    data = json.dumps(body).encode()
    path = f"/v1/blobs/{digest}/grant"
    headers = sign_request(key, "POST", path, data) if key else {}
    return net.http.post(path, content=data,
                         headers={**headers, "Content-Type": "application/json"})


def test_a_reader_gets_a_grant_logged_first_and_plays_the_video_with_ranges(
        net: Network, clip: Path, clock: Clock) -> None:  # noqa: F811
    asset = asset_of(net)
    video = clip.read_bytes()
    before = len(net.entries())
    grant = net.client(net.owner).grant_blob(asset, net.job, PURPOSE)
    assert grant.url.startswith(f"/v1/blobs/{asset}?grant=")
    assert grant.expires == clock.now + GRANT_SECONDS
    # The read is in the log, with who, what and why, before any byte went out.
    entries = net.entries()
    assert len(entries) == before + 1
    index, entry = entries[-1]
    assert index == grant.access_entry and entry.kind == "access.read/v1"
    assert {k: entry.body[k] for k in ("reader", "library", "job", "resource", "purpose")} == {
        "reader": net.owner.did, "library": net.library, "job": net.job,
        "resource": "media", "purpose": PURPOSE}
    token = grant.url.split("grant=")[1]
    # Neither the token nor the digest (hidden in the public log) is in the entry.
    assert token.encode() not in entry.to_bytes() and asset.encode() not in entry.to_bytes()

    # The grant's URL plays without a signature, whole or by ranges, as often as a player asks.
    whole = net.http.get(grant.url)
    assert whole.status_code == 200 and whole.content == video
    assert whole.headers["cache-control"] == "private, no-store"
    for first, last in ((0, 99), (100, 1099), (len(video) - 50, len(video) - 1)):
        part = net.http.get(grant.url, headers={"Range": f"bytes={first}-{last}"})
        assert part.status_code == 206, part.text
        assert part.content == video[first:last + 1]
        assert part.headers["content-range"] == f"bytes {first}-{last}/{len(video)}"
    clock.now += GRANT_SECONDS - 1  # still within its lifetime
    assert net.http.get(grant.url, headers={"Range": "bytes=0-9"}).status_code == 206
    assert len(net.entries()) == before + 1  # the uses are not logged one by one

    # Only the token's SHA-256 is kept: the token itself is nowhere in the store.
    with closing(sqlite3.connect(net.db)) as conn:
        dump = "\n".join(conn.iterdump())
    assert token not in dump


def test_an_auditor_and_a_reader_get_one_a_stranger_gets_403_and_nothing_is_logged(
        net: Network) -> None:
    asset = asset_of(net)
    reader = SigningKey.generate()
    net.client(net.owner).post(f"/v1/libraries/{net.library}/readers", {"did": reader.did})
    assert net.client(reader).grant_blob(asset, net.job, "editing").url
    assert net.client(net.auditor).grant_blob(asset, net.job, "audit").url
    before = len(net.entries())

    refused = ask(net, net.stranger, asset, {"job": net.job, "purpose": "curious"})
    assert refused.status_code == 403, refused.text
    assert "may not read the sensitive library" in refused.json()["message"]
    unsigned = ask(net, None, asset, {"job": net.job, "purpose": "curious"})
    assert unsigned.status_code == 401
    # The same purpose rules as every other read of a sensitive library.
    for purpose in ("", " ", "x" * 201, "a\nb"):
        bad = ask(net, net.owner, asset, {"job": net.job, "purpose": purpose})
        assert bad.status_code == 400 and "purpose" in bad.json()["message"], bad.text
    missing = ask(net, net.owner, asset, {"job": net.job})
    assert missing.status_code == 400 and "purpose" in missing.json()["message"]
    # A blob the job does not hold: 404, and no grant.
    other = ask(net, net.owner, "sha256:" + "1" * 64, {"job": net.job, "purpose": "x"})
    assert other.status_code == 404
    assert len(net.entries()) == before  # no refusal logged a read or gave a grant


def test_no_entry_no_grant(net: Network, monkeypatch: pytest.MonkeyPatch) -> None:
    asset = asset_of(net)

    def fail(*_: Any) -> int:
        raise AiworkError("the log is unavailable")

    monkeypatch.setattr(Libraries, "record_read", fail)
    reply = ask(net, net.owner, asset, {"job": net.job, "purpose": PURPOSE})
    assert reply.status_code == 400 and "url" not in reply.json()
    with closing(sqlite3.connect(net.db)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM library_grants").fetchone() == (0,)


def test_an_expired_grant_is_refused_and_serves_nothing(net: Network, clock: Clock) -> None:
    grant = net.client(net.owner).grant_blob(asset_of(net), net.job, PURPOSE)
    clock.now = grant.expires
    for headers in ({}, {"Range": "bytes=0-9"}):
        reply = net.http.get(grant.url, headers=headers)
        assert reply.status_code == 403, reply.text
        assert reply.json()["error"] == "grant-refused"
        assert "expired" in reply.json()["message"]
        assert "POST /v1/blobs/DIGEST/grant" in reply.json()["message"]


def test_a_wrong_or_another_blobs_token_is_refused_with_403_never_a_500(
        net: Network) -> None:
    asset = asset_of(net)
    grant = net.client(net.owner).grant_blob(asset, net.job, PURPOSE)
    token = grant.url.split("grant=")[1]
    # Another blob, public or not, is not opened by this blob's grant.
    other = net.client(net.owner).upload_blob(b"another file")
    reply = net.http.get(f"/v1/blobs/{other}?grant={token}")
    assert reply.status_code == 403 and "another blob" in reply.json()["message"]
    assert reply.content.find(b"another file") == -1
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for wrong in (altered, "", "x" * 43, "x" * 10_000, "%00", token + "A", "../../etc"):
        reply = net.http.get(f"/v1/blobs/{asset}", params={"grant": wrong})
        assert reply.status_code == 403, (wrong, reply.text)
        assert reply.json()["error"] == "grant-refused"
        assert token not in reply.text
    # A grant does not stand in for the job's library on another job's route either.
    assert net.get(None, f"/v1/blobs/{asset}").status_code == 404


def test_a_job_outside_a_sensitive_library_needs_no_grant(
        tmp_path: Path, clip: Path) -> None:  # noqa: F811
    public = build(tmp_path, clip, sensitive=False)
    reply = ask(public, public.owner, asset_of(public), {"job": public.job, "purpose": "x"})
    assert reply.status_code == 400 and "needs no grant" in reply.json()["message"]


def test_a_keyframe_its_results_name_is_granted_as_a_keyframe_and_opens_only_itself(
        net: Network, tmp_path: Path) -> None:
    asset = asset_of(net)
    owner = net.client(net.owner)
    job = owner.post("/v1/jobs", {"asset": asset, "analyzers": ["shots"],
                                  "library": net.library})["id"]
    key = SigningKey.generate()
    net.client(key).post("/v1/identities", {"role": "worker"})
    worker = Worker(net.client(key), key, tmp_path / "shots-worker", ["shots"])
    while worker.run_once():
        pass
    shots = owner.get(with_purpose(f"/v1/jobs/{job}/results", PURPOSE),
                      signed=True).json()["results"]["shots"]
    frame = next(s["keyframe"]["digest"] for s in shots if s.get("keyframe"))
    grant = owner.grant_blob(frame, job, PURPOSE)
    assert net.entries()[-1][1].body["resource"] == "keyframe"
    image = net.http.get(grant.url)
    assert image.status_code == 200 and image.content == owner.download_blob(frame, signed=True)
    # The keyframe's grant does not open the video, nor does the first job hold the keyframe.
    token = grant.url.split("grant=")[1]
    assert net.http.get(f"/v1/blobs/{asset}?grant={token}").status_code == 403
    assert ask(net, net.owner, frame, {"job": net.job, "purpose": "x"}).status_code == 404
