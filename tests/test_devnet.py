"""The whole network as real processes: `aiwork devnet`, then `aiwork submit --wait --out`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aiwork.cli import main

from .conftest import free_port

SAMPLE = Path(__file__).parents[1] / "samples" / "sample.mp4"


def test_devnet_processes_a_submitted_video(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    env = {**os.environ, "AIWORK_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    devnet = subprocess.Popen(
        [sys.executable, "-m", "aiwork", "devnet", "--workers", "2", "--port", str(port),
         "--analyzers", "technical,shots"],
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
        assert main(["jobs", "--coordinator", url]) == 0
        assert " done " in capsys.readouterr().out
    finally:
        os.killpg(devnet.pid, signal.SIGINT)
        try:
            devnet.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(devnet.pid, signal.SIGKILL)
            devnet.wait()
        if devnet.stdout:
            devnet.stdout.close()
