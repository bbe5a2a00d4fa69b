"""A real coordinator process keeps its memory flat whatever comes over the wire: an unsigned
or unentitled request is refused from its headers alone, uploads stream to disk and downloads
stream from it. Memory is read from /proc (the server's peak resident set, VmHWM)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from aiwork.client.coordinator import CoordinatorClient
from aiwork.auth import sign_request
from aiwork.crypto import SigningKey
from tests.conftest import coordinator_process

MIB = 1 << 20
BODY = 256 * MIB  # big enough that holding it once would show, small enough for a test
PIECE = MIB


def peak_rss(pid: int) -> int:
    """The process's peak resident set size so far, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc (Linux only)")


def pieces(size: int) -> Iterator[bytes]:
    """``size`` bytes of a fixed, non-repeating-per-piece pattern, a piece at a time."""
    for number in range(size // PIECE):
        yield hashlib.sha256(number.to_bytes(8, "big")).digest() * (PIECE // 32)


def digest_of(size: int) -> str:
    sha = hashlib.sha256()
    for piece in pieces(size):
        sha.update(piece)
    return "sha256:" + sha.hexdigest()


def raw_request(url: str, head: str, timeout: float = 30.0) -> tuple[int, dict[str, object]]:
    """Send only a request's head (its body never follows) and read the answer: a server that
    waited for the body would never answer, and the read would time out."""
    host, _, port = url.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1"))
        reply = b""
        while b"\r\n\r\n" not in reply or not _complete(reply):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    _, _, body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(body)


def _complete(reply: bytes) -> bool:
    head, _, body = reply.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    with coordinator_process(tmp_path / "home", "--open-registration") as running:
        yield running


def test_requests_are_refused_from_their_headers_before_any_body_is_read(
        server: tuple[str, int]) -> None:
    url, pid = server
    before = peak_rss(pid)
    big = 50_000_000
    # Unsigned: 401 although the 50 MB body was never sent.
    status, reply = raw_request(url, "POST /v1/identities HTTP/1.1\r\nHost: x\r\n"
                                f"Content-Type: application/json\r\nContent-Length: {big}\r\n\r\n")
    assert (status, reply["error"]) == (401, "unsigned")

    key = SigningKey.generate()
    digest = "sha256:" + "ab" * 32

    def signed_head(method: str, path: str, length: int, *, now: float | None = None) -> str:
        headers = sign_request(key, method, path, b"", now=now, body_sha256="cd" * 32)
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        return f"{method} {path} HTTP/1.1\r\nHost: x\r\n{lines}Content-Length: {length}\r\n\r\n"

    # Expired: 401 from the timestamp alone.
    status, reply = raw_request(url, signed_head("PUT", f"/v1/blobs/{digest}", big, now=1e9))
    assert (status, reply["error"]) == (401, "expired")
    # An identity with no role at all may not upload: 403 before the body.
    status, reply = raw_request(url, signed_head("PUT", f"/v1/blobs/{digest}", big))
    assert (status, reply["error"]) == (403, "forbidden")
    # A JSON body declared over 1 MiB: 413 before the body.
    status, reply = raw_request(url, signed_head("POST", "/v1/identities", MIB + 1))
    assert (status, reply["error"]) == (413, "too-large")
    # An upload declared over the 2 GiB limit, by a requester: 413 before the body.
    with CoordinatorClient(url, key) as client:
        client.post("/v1/identities", {"role": "requester"})
    status, reply = raw_request(url, signed_head("PUT", f"/v1/blobs/{digest}", (2 << 30) + 1))
    assert (status, reply["error"]) == (413, "too-large")

    # And an unsigned 50 MB body actually sent is answered the same, not buffered.
    host, _, port = url.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: {big}\r\n\r\n"
                     .encode())
        sent = 0
        try:
            while sent < big:
                sent += sock.send(b"x" * MIB)
        except OSError:  # the server answered and closed: it will not take the rest
            pass
        assert b" 401 " in sock.recv(65536).split(b"\r\n")[0] + b" "
    assert peak_rss(pid) - before < 16 * MIB


def test_routes_that_need_an_owner_or_an_expert_refuse_others_before_the_body(
        server: tuple[str, int]) -> None:
    """Changing a library, adding its readers, listing its access log, declaring owned keys
    and reading a review item are refused from the headers of one who may not do them; a
    request whose body is not used may not declare more than a kilobyte. None of these
    waits for the body (it is never sent): a server that did would not answer."""
    url, _ = server
    owner, stranger = SigningKey.generate(), SigningKey.generate()
    with CoordinatorClient(url, owner) as client:
        client.post("/v1/identities", {"role": "requester"})
        library = client.post("/v1/libraries", {"name": "Board", "sensitive": True})["id"]

    def head(method: str, path: str, length: int) -> str:
        headers = sign_request(stranger, method, path, b"", body_sha256="cd" * 32)
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        return f"{method} {path} HTTP/1.1\r\nHost: x\r\n{lines}Content-Length: {length}\r\n\r\n"

    for method, path in (("PATCH", f"/v1/libraries/{library}"),
                         ("POST", f"/v1/libraries/{library}/readers"),
                         ("GET", f"/v1/libraries/{library}/access"),
                         ("POST", "/v1/identities/owned"),
                         ("GET", "/v1/review/items/" + "0" * 32)):
        status, reply = raw_request(url, head(method, path, MIB), timeout=10)
        assert (status, reply["error"]) == (403, "forbidden"), (method, path)
    status, reply = raw_request(url, head("GET", "/v1/jobs", MIB), timeout=10)
    assert (status, reply["error"]) == (413, "too-large")
    # Anyone may make a key and ask for a role: that request is small, and refused when not.
    status, reply = raw_request(url, head("POST", "/v1/identities", 4096), timeout=10)
    assert (status, reply["error"]) == (413, "too-large")


def test_every_operation_with_a_body_refuses_before_reading_it(
        server: tuple[str, int]) -> None:
    """Every operation of the contract that takes a body (its routes read it through
    aiwork.api.deps, never as a FastAPI body parameter, which would be read first) answers
    from the head alone: unsigned, 401 (or 400 for a URL it refuses first); one needing no
    signature (a witness's cosignature), 413 for a declared length over its limit."""
    from aiwork.contract import OPERATIONS

    url, _ = server
    values = {"digest": "sha256:" + "ab" * 32}
    for op in OPERATIONS:
        if op.request is None and op.body is None:
            continue
        path = op.path.format_map({name: values.get(name, "x" * 32) for name in
                                   ("digest", "job_id", "library_id", "item_id", "lease_id",
                                    "insight", "did", "name", "index")})
        head = (f"{op.method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                f"\r\nContent-Length: {50 * MIB}\r\n\r\n")
        status, reply = raw_request(url, head, timeout=10)
        expected = (401, "unsigned") if op.auth == "signed" else (413, "too-large")
        assert (status, reply["error"]) == expected, op.id


def test_uploads_and_downloads_stream_through_a_bounded_memory(server: tuple[str, int],
                                                               tmp_path: Path) -> None:
    url, pid = server
    key = SigningKey.generate()
    with CoordinatorClient(url, key, timeout=300) as client:
        client.post("/v1/identities", {"role": "requester"})
        small = client.upload_blob(b"warm up the upload and download paths")
        assert client.get(f"/v1/blobs/{small}").content == b"warm up the upload and download paths"
        before = peak_rss(pid)

        digest = digest_of(BODY)
        assert client.upload_stream(pieces(BODY), digest, BODY) == digest
        after_upload = peak_rss(pid)

        sha, size = hashlib.sha256(), 0
        with httpx.stream("GET", f"{url}/v1/blobs/{digest}", timeout=300) as reply:
            assert reply.status_code == 200
            for chunk in reply.iter_bytes():
                sha.update(chunk)
                size += len(chunk)
        assert ("sha256:" + sha.hexdigest(), size) == (digest, BODY)
        after_download = peak_rss(pid)
        # A worker's download goes the same way, to a file.
        back = client.download(digest, tmp_path / "back.media")
        assert back.stat().st_size == BODY and not list(tmp_path.glob(".back.media.*"))

        claimed = digest_of(4 * MIB)
        wrong = list(pieces(4 * MIB))
        wrong[-1] = b"\0" * PIECE
        path = f"/v1/blobs/{claimed}"
        # Signed over the bytes really sent, but named after other bytes: 400, nothing kept.
        headers = {**sign_request(key, "PUT", path, b"",
                                  body_sha256=hashlib.sha256(b"".join(wrong)).hexdigest()),
                   "content-length": str(4 * MIB)}
        reply = client.http.request("PUT", path, content=iter(wrong), headers=headers)
        assert reply.status_code == 400 and "digest" in reply.json()["message"]
        # Signed over other bytes than those sent: 401, nothing kept.
        headers = {**sign_request(key, "PUT", path, b"", body_sha256=claimed[7:]),
                   "content-length": str(4 * MIB)}
        reply = client.http.request("PUT", path, content=iter(wrong), headers=headers)
        assert (reply.status_code, reply.json()["error"]) == (401, "bad-signature")

    blobs = tmp_path / "home" / "blobs"
    stored = blobs / "sha256" / digest[7:9] / digest[9:]
    assert stored.stat().st_size == BODY
    # The temporary files were renamed into place, or deleted: only the two blobs remain.
    assert sorted(p.name for p in blobs.rglob("*") if p.is_file()) == sorted(
        [small[9:], digest[9:]])
    # Holding the body even once would raise the peak by 256 MiB; streaming keeps it flat.
    assert after_upload - before < BODY // 8, f"upload raised the peak by {after_upload - before}"
    assert after_download - after_upload < BODY // 8, (
        f"download raised the peak by {after_download - after_upload}")


def test_a_download_answers_range_requests(server: tuple[str, int]) -> None:
    url, _ = server
    key = SigningKey.generate()
    data = bytes(range(256)) * 64
    with CoordinatorClient(url, key) as client:
        client.post("/v1/identities", {"role": "requester"})
        digest = client.upload_blob(data)
    reply = httpx.get(f"{url}/v1/blobs/{digest}", headers={"Range": "bytes=100-199"})
    assert reply.status_code == 206 and reply.content == data[100:200]
    assert reply.headers["content-range"] == f"bytes 100-199/{len(data)}"


def test_the_store_and_the_blobs_are_readable_by_their_owner_only(
        server: tuple[str, int], tmp_path: Path) -> None:
    import stat

    url, _ = server
    key = SigningKey.generate()
    with CoordinatorClient(url, key) as client:
        client.post("/v1/identities", {"role": "requester"})
        digest = client.upload_blob(b"private footage")
        home = tmp_path / "home"
        blob = home / "blobs" / "sha256" / digest[7:9] / digest[9:]
        modes = {path.name: stat.S_IMODE(path.stat().st_mode)
                 for path in [home, home / "aiwork.db", home / "aiwork.db-wal",
                              home / "aiwork.db-shm", home / "blobs", blob.parent.parent,
                              blob.parent, blob]}
    assert modes == {home.name: 0o700, "aiwork.db": 0o600, "aiwork.db-wal": 0o600,
                     "aiwork.db-shm": 0o600, "blobs": 0o700, "sha256": 0o700,
                     digest[7:9]: 0o700, digest[9:]: 0o600}


def test_folders_an_older_aiwork_left_open_are_closed_at_start(tmp_path: Path) -> None:
    """~/.aiwork, the store and the blob folder made at 0755 / 0644 by an older aiwork are
    closed to other users when the coordinator starts (only new ones used to be created
    0700), and it says so in one line."""
    import stat
    import subprocess
    import sys

    from aiwork.ledger.log import Log

    home = tmp_path / "home"
    (home / "blobs").mkdir(parents=True)
    Log.create(home / "aiwork.db", SigningKey.generate()).close()
    for path, mode in ((home, 0o755), (home / "blobs", 0o755), (home / "aiwork.db", 0o644)):
        path.chmod(mode)
    # The same start as `aiwork serve`, stopped at once by a port that cannot be bound.
    run = subprocess.run([sys.executable, "-m", "aiwork", "serve", "--port", "-1"],
                         env={**os.environ, "AIWORK_HOME": str(home)}, capture_output=True,
                         text=True, timeout=120)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode)
             for path in (home, home / "blobs", home / "aiwork.db")}
    assert modes == {home.name: 0o700, "blobs": 0o700, "aiwork.db": 0o600}, run.stderr
    assert "readable by their owner only" in run.stderr
