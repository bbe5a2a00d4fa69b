"""`aiwork serve` as a real server on loopback, driven by the role CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aiwork.cli import main
from aiwork.crypto import SigningKey, write_key_file

from .conftest import free_port, running_coordinator


@pytest.fixture
def admin_key(tmp_path: Path) -> Path:
    path = tmp_path / "admin.pem"
    write_key_file(path, SigningKey.generate())
    return path


@pytest.fixture
def server(tmp_path: Path, admin_key: Path) -> Iterator[str]:
    from aiwork.crypto import read_key_file

    with running_coordinator(tmp_path / "coordinator",
                             "--admin", read_key_file(admin_key).did) as url:
        yield url


def test_register_pending_then_approved_by_an_admin(tmp_path: Path, server: str,
                                                    admin_key: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "expert.pem"
    assert main(["keys", "new", "--out", str(key)]) == 0
    did = capsys.readouterr().out.strip()
    args = ["--coordinator", server, "--key", str(key)]
    assert main(["register", *args, "--role", "expert"]) == 0
    assert capsys.readouterr().out.strip().endswith("expert: pending")
    assert main(["admin", "approve", did, "--role", "expert", "--coordinator", server,
                 "--key", str(key)]) == 1
    assert "403" in capsys.readouterr().err
    assert main(["admin", "approve", did, "--role", "expert", "--coordinator", server,
                 "--key", str(admin_key)]) == 0
    capsys.readouterr()
    assert main(["register", *args, "--role", "expert"]) == 0
    assert capsys.readouterr().out.strip().endswith("expert: granted")


def test_an_unreachable_coordinator_is_one_clear_line(tmp_path: Path, admin_key: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["register", "--coordinator", url, "--key", str(admin_key),
                 "--role", "worker"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the coordinator" in err and err.count("\n") == 1


def test_an_admin_grants_credits_and_anyone_reads_them(tmp_path: Path, server: str,
                                                       admin_key: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "requester.pem"
    assert main(["keys", "new", "--out", str(key)]) == 0
    did = capsys.readouterr().out.strip()
    grant = ["admin", "grant", did, "25", "--coordinator", server]
    assert main([*grant, "--key", str(key)]) == 1  # not an admin
    assert "403" in capsys.readouterr().err
    assert main([*grant, "--key", str(admin_key), "--reason", "pilot"]) == 0
    assert "+25 credits, balance 25, available 25" in capsys.readouterr().out
    assert main(["credits", "--coordinator", server, "--key", str(key)]) == 0
    assert capsys.readouterr().out.strip() == f"{did}: balance 25, held 0, available 25"
    assert main(["credits", "--coordinator", server]) == 2  # whose?
