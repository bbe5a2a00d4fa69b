from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
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


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Log]:
    ledger = Log.create(tmp_path / "ledger.db", SigningKey.generate(), origin="test.example/log")
    yield ledger
    ledger.close()


def environ_with(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def missing(reason: str) -> NoReturn:
    """A prerequisite the test command installs is absent: a failure in CI, a skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (the test command installs it: run scripts/test)")
    pytest.skip(reason)
