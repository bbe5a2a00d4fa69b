"""The whole network as real processes: `aiwork devnet`, then `aiwork submit --wait --out`."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest

from aiwork.cli import main

from .conftest import free_port

SAMPLE = Path(__file__).parents[1] / "samples" / "sample.mp4"


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, dead but not reaped, is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_devnet_processes_a_submitted_video_shows_review_and_stops_its_children(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    env = {**os.environ, "AIWORK_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    devnet = subprocess.Popen(
        [sys.executable, "-m", "aiwork", "devnet", "--workers", "2", "--port", str(port),
         "--analyzers", "technical,shots", "--audit-share", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        lines: list[str] = []
        assert devnet.stdout is not None
        deadline = time.monotonic() + 90
        while not any(line.startswith("try:") for line in lines):
            line = devnet.stdout.readline()
            assert line or devnet.poll() is None, "".join(lines)
            lines.append(line)
            assert time.monotonic() < deadline, "".join(lines)
        url = next(line.split(": ", 1)[1].strip() for line in lines
                   if line.startswith("devnet coordinator"))
        requester = next(line.split(": ", 1)[1].strip() for line in lines
                         if line.startswith("requester key"))
        admin = next(line.split(": ", 1)[1].split()[0] for line in lines
                     if line.startswith("admin key"))
        children = [int(pid) for line in lines if line.startswith("children:")
                    for pid in line.split(":", 1)[1].split()]
        assert len(children) == 3  # the coordinator and two workers
        # The web console's pages are served and named.
        console = next(line for line in lines if line.startswith("web console:"))
        assert f"{url}/jobs " in console and f"{url}/review " in console
        page = httpx.get(f"{url}/jobs", timeout=10)
        assert page.status_code == 200 and "requester dashboard" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]

        # The devnet's admin key changes the routing rules; its rules route items to review.
        assert main(["review", "rules", "shots", "--coordinator", url, "--key", admin]) == 0
        assert json.loads(capsys.readouterr().out)["audit_share"] == 1.0
        expert = tmp_path / "expert.key"
        assert main(["keys", "new", "--out", str(expert)]) == 0
        assert main(["register", "--coordinator", url, "--key", str(expert),
                     "--role", "expert"]) == 0
        capsys.readouterr()
        # Before any job, an empty queue says so and why.
        assert main(["review", "next", "--coordinator", url, "--key", str(expert)]) == 0
        assert "no job has items routed to review yet" in capsys.readouterr().err
        out = tmp_path / "out"
        code = main(["submit", str(SAMPLE), "--coordinator", url, "--key", requester,
                     "--analyzers", "technical,shots", "--redundancy", "2", "--wait",
                     "--out", str(out)])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        metadata = json.loads((out / "sample" / "metadata.json").read_text())
        assert [round(s["instances"][0]["start"]) for s in metadata["shots"]] == [0, 5, 12, 18]
        for shot in metadata["shots"]:
            assert (out / "sample" / shot["keyframe"]["file"]).read_bytes()[:2] == b"\xff\xd8"
        assert metadata["technical"]["duration"] == pytest.approx(24.0, abs=0.1)
        # The outputs are those of `aiwork process --out`: the JSON-LD says when the video
        # came (the job's time, from the coordinator), under the name it was submitted as.
        assert metadata["asset"]["name"] == "sample.mp4"
        assert metadata["asset"]["media_type"] == "video/mp4"
        jsonld = json.loads((out / "sample" / "metadata.jsonld").read_text())
        assert jsonld["name"] == "sample.mp4"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", jsonld["uploadDate"])
        assert jsonld["uploadDate"] == metadata["asset"]["uploaded"]
        assert main(["jobs", "--coordinator", url]) == 0
        assert " done " in capsys.readouterr().out
        # An expert who registered before the job gets one of its items after it.
        assert main(["review", "next", "--coordinator", url, "--key", str(expert)]) == 0
        item = json.loads(capsys.readouterr().out)
        assert item["insight"] == "shots" and item["evidence"]["asset"].startswith("sha256:")
        # One expert closes the loop: a verdict on one of the job's items becomes a consensus
        # (with three verdicts asked per item, a lone expert's never did).
        asset = "sha256:" + hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
        [job] = [j["id"] for j in httpx.get(url + "/v1/jobs", timeout=10).json()
                 if j["asset"] == asset]
        for _ in range(20):  # past any gold item a newcomer is served first
            if item["evidence"]["asset"] == asset:
                break
            assert main(["review", "next", "--coordinator", url, "--key", str(expert)]) == 0
            item = json.loads(capsys.readouterr().out)
        assert item["evidence"]["asset"] == asset
        assert main(["review", "submit", item["id"], "--verdict", "reject", "--coordinator",
                     url, "--key", str(expert)]) == 0
        review = httpx.get(f"{url}/v1/jobs/{job}/review", timeout=10).json()
        assert review["decided"] == 1, review

        # SIGTERM to the devnet alone stops every process it started.
        assert all(_alive(pid) for pid in children)
        devnet.send_signal(signal.SIGTERM)
        assert devnet.wait(timeout=30) == 0
        assert not [pid for pid in children if _alive(pid)]
    finally:
        if devnet.poll() is None:
            os.killpg(devnet.pid, signal.SIGINT)
        try:
            devnet.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(devnet.pid, signal.SIGKILL)
            devnet.wait()
        if devnet.stdout:
            devnet.stdout.close()


def test_devnet_on_a_busy_port_says_so_and_starts_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "aiwork", "devnet", "--workers", "1", "--port", str(port)],
            env={**os.environ, "AIWORK_HOME": str(home)}, capture_output=True, text=True,
            timeout=60)
    assert done.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr
    assert "nothing was started" in done.stderr
    assert not (home / "devnet").exists()  # no key, no log, no process
