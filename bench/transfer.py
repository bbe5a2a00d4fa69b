"""Benchmark of the coordinator's memory while media goes through it: one big upload, one
big download, over loopback.

Run it from the repository root::

    .venv/bin/python bench/transfer.py                 # 1 GiB
    .venv/bin/python bench/transfer.py --mib 256
    .venv/bin/python bench/transfer.py --json bench/out/transfer.json

It starts a real coordinator (``aiwork serve``, its own process, SQLite and blobs in a
temporary folder, open registration), registers a requester and warms up the upload and
download paths with a small blob. Then it uploads ``--mib`` MiB generated piece by piece
(signed over the body's SHA-256, computed first: ``CoordinatorClient.upload_stream``) and
downloads it back, hashing as it reads. The body is never held whole by the client or the
server.

Reported: the server's resident set before (VmRSS), its peak after the upload and after the
download (VmHWM, from /proc), their growth over the baseline, and throughput. Target (from
the issue): the peak grows by less than 64 MiB for a 1 GiB upload or download. Memory is
measured here; tests/test_transfer.py asserts a bounded ratio with a smaller body.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx2 as httpx

from aiwork.client.coordinator import CoordinatorClient
from aiwork.crypto import SigningKey
from aiwork.digests import Sha256Stream

MIB = 1 << 20
PIECE = MIB
TARGET_GROWTH_MIB = 64.0


def proc_status(pid: int, field: str) -> int:
    """A /proc/PID/status memory field, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise SystemExit(f"no {field} in /proc/{pid}/status (Linux only)")


def pieces(size: int) -> Iterator[bytes]:
    for number in range(size // PIECE):
        yield hashlib.sha256(number.to_bytes(8, "big")).digest() * (PIECE // 32)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024, help="body size in MiB (default 1024)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    size = args.mib * MIB

    with tempfile.TemporaryDirectory(prefix="aiwork-transfer-") as folder:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "aiwork", "serve", "--port", str(port), "--open-registration"],
            env={**os.environ, "AIWORK_HOME": folder}, stdout=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(url + "/v1/ledger/key", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the coordinator did not start")
                time.sleep(0.2)
            key = SigningKey.generate()
            with CoordinatorClient(url, key, timeout=600) as client:
                client.post("/v1/identities", {"role": "requester"})
                small = client.upload_blob(b"warm-up")
                client.get(f"/v1/blobs/{small}")
                baseline_rss = proc_status(proc.pid, "VmRSS")
                baseline_hwm = proc_status(proc.pid, "VmHWM")

                sha = Sha256Stream()
                for piece in pieces(size):
                    sha.update(piece)
                digest = sha.digest
                started = time.perf_counter()
                client.upload_stream(pieces(size), digest, size)
                upload_s = time.perf_counter() - started
                after_upload = proc_status(proc.pid, "VmHWM")

                started = time.perf_counter()
                sha, received = Sha256Stream(), 0
                with httpx.stream("GET", f"{url}/v1/blobs/{digest}", timeout=600) as reply:
                    reply.raise_for_status()
                    for chunk in reply.iter_bytes():
                        sha.update(chunk)
                        received += len(chunk)
                download_s = time.perf_counter() - started
                after_download = proc_status(proc.pid, "VmHWM")
                if (sha.digest, received) != (digest, size):
                    raise SystemExit("the download does not match the upload")
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    base = max(baseline_rss, baseline_hwm)
    figures = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "body_mib": args.mib,
        "server_rss_before_mib": round(baseline_rss / MIB, 1),
        "server_peak_before_mib": round(baseline_hwm / MIB, 1),
        "upload_peak_growth_mib": round((after_upload - base) / MIB, 1),
        "download_peak_growth_mib": round((after_download - base) / MIB, 1),
        "upload_mib_per_s": round(args.mib / upload_s, 1),
        "download_mib_per_s": round(args.mib / download_s, 1),
        "target_growth_mib": TARGET_GROWTH_MIB,
    }
    worst = max(figures["upload_peak_growth_mib"], figures["download_peak_growth_mib"])
    print(f"coordinator memory while {args.mib} MiB goes through it ({figures['machine']})")
    print(f"  resident before: {figures['server_rss_before_mib']} MiB "
          f"(peak so far {figures['server_peak_before_mib']} MiB)")
    print(f"  upload:   peak grew by {figures['upload_peak_growth_mib']} MiB, "
          f"{figures['upload_mib_per_s']} MiB/s")
    print(f"  download: peak grew by {figures['download_peak_growth_mib']} MiB, "
          f"{figures['download_mib_per_s']} MiB/s")
    print(f"  target: < {TARGET_GROWTH_MIB:g} MiB growth: "
          f"{'met' if worst < TARGET_GROWTH_MIB else 'MISSED'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
