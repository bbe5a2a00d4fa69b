from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

from aiwork.crypto import SigningKey
from aiwork.ledger.log import Log

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own AIWORK_HOME; nothing touches the user's real one."""
    home = tmp_path / "aiwork-home"
    monkeypatch.setenv("AIWORK_HOME", str(home))
    return home


@pytest.fixture
def author() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | Path]:
    """Where a test's store lives: a SQLite file, and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield tmp_path / "ledger.db"
        return
    admin_url = os.environ.get("AIWORK_TEST_POSTGRES")
    if not admin_url:
        missing("no PostgreSQL server (set AIWORK_TEST_POSTGRES to a postgresql:// URL)")
    import uuid

    import psycopg

    name = "aiwork_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def log(store_target: str | Path) -> Iterator[Log]:
    ledger = Log.create(store_target, SigningKey.generate(), origin="test.example/log")
    yield ledger
    ledger.close()


def environ_with(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def missing(reason: str) -> NoReturn:
    """A prerequisite the test command installs is absent: a failure in CI, a skip elsewhere
    (also at a test module's top level)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (the test command installs it: run scripts/test)")
    pytest.skip(reason, allow_module_level=True)


def require(*modules: str, tools: tuple[str, ...] = ()) -> None:
    """The packages and programs a test module needs (the test command installs them all):
    :func:`missing` when any is absent."""
    import importlib.util
    import shutil

    absent = [name for name in modules if importlib.util.find_spec(name) is None]
    absent += [tool for tool in tools if shutil.which(tool) is None]
    if absent:
        missing(f"not installed: {', '.join(absent)}")


def bench_module(name: str) -> ModuleType:
    """The benchmark ``bench/<name>.py`` loaded as a module (benches are scripts, not a
    package; the tests run their functions on small corpora)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_two_scene_clip(path: Path) -> Path:
    """A 6 s silent clip: 3 s of red, then 3 s of blue (one cut at 3 s)."""
    import subprocess

    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "color=c=red:s=320x180:d=3:r=25",
         "-f", "lavfi", "-i", "color=c=blue:s=320x180:d=3:r=25",
         "-filter_complex", "[0][1]concat=n=2:v=1:a=0[v]", "-map", "[v]",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def free_port() -> int:
    """A TCP port free on loopback now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_coordinator(home: Path, *args: str) -> Iterator[str]:
    """``aiwork serve --port P ARGS`` as a real process with its state in ``home``; yields
    its URL once it answers, stops it after."""
    with coordinator_process(home, *args) as (url, _):
        yield url


@contextmanager
def coordinator_process(home: Path, *args: str) -> Iterator[tuple[str, int]]:
    """Like :func:`running_coordinator`, yielding the URL and the server's process id (to
    read its memory in /proc)."""
    import subprocess
    import sys
    import time

    import httpx2 as httpx

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "aiwork", "serve", "--port", str(port), *args],
                            env={**os.environ, "AIWORK_HOME": str(home)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/openapi.json", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError(proc.stderr.read().decode() if proc.stderr else "no server")
    try:
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Path:
    """Where a browser test saves its screenshots, kept after the run as test artifacts:
    ``test-artifacts/screenshots/<test name>/`` (``AIWORK_ARTIFACTS`` moves the root)."""
    root = Path(os.environ.get("AIWORK_ARTIFACTS") or Path(__file__).resolve().parents[1] / "test-artifacts")
    folder = root / "screenshots" / "".join(c if c.isalnum() or c in "-_" else "_" for c in request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
