"""The command line as a user meets it: names, outputs, exit codes, one-line errors."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from aiwork.cli import main
from aiwork.ledger import verify

from .conftest import missing


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.fixture
def key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "author.pem"
    assert run(capsys, "keys", "new", "--out", str(path))[0] == 0
    return path


@pytest.fixture
def db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "ledger.db"
    code, out, _ = run(capsys, "ledger", "init", "--db", str(path), "--origin", "cli.example/log")
    assert code == 0 and out.startswith("cli.example/log+")
    return path


def test_keys_new_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "k.pem"
    code, out, _ = run(capsys, "keys", "new", "--out", str(path))
    did = out.strip()
    assert code == 0 and did.startswith("did:key:z6Mk")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert run(capsys, "keys", "show", str(path))[1].strip() == did
    code, _, err = run(capsys, "keys", "new", "--out", str(path))
    assert code == 1 and "already exists" in err
    assert run(capsys, "keys", "show", str(path))[1].strip() == did  # not overwritten


def test_key_file_problems_are_one_line_errors(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "keys", "show", str(tmp_path / "none.pem"))
    assert code == 1 and "does not exist" in err
    loose = tmp_path / "loose.pem"
    run(capsys, "keys", "new", "--out", str(loose))
    loose.chmod(0o644)
    code, _, err = run(capsys, "keys", "show", str(loose))
    assert code == 1 and "chmod 600" in err
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    junk.chmod(0o600)
    code, _, err = run(capsys, "keys", "show", str(junk))
    assert code == 1 and "not a PEM private key" in err


def test_openssl_reads_our_key_files(key: Path) -> None:
    """Key files are standard PKCS#8: OpenSSL derives the same public key."""
    openssl = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"],
                             capture_output=True, check=False)
    if openssl.returncode != 0 and b"not found" in openssl.stderr:
        missing("openssl is not installed")
    assert openssl.returncode == 0, openssl.stderr
    from aiwork.crypto import read_key_file

    assert openssl.stdout[-32:] == read_key_file(key).public_key


def test_append_get_proof_checkpoint_verify(tmp_path: Path, key: Path, db: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    body = tmp_path / "body.json"
    body.write_text('{"title": "première", "n": 1}')
    code, out, _ = run(capsys, "ledger", "append", "--db", str(db), "--kind", "generic",
                       "--key", str(key), "--body-file", str(body))
    assert code == 0
    first = json.loads(out)
    assert first["index"] == 0 and len(first["leaf_hash"]) == 64

    lines = tmp_path / "bodies.jsonl"
    lines.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(2, 12)))
    code, out, _ = run(capsys, "ledger", "append", "--db", str(db), "--kind", "generic",
                       "--key", str(key), "--jsonl", str(lines))
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["index"] for r in results] == list(range(1, 11))

    # `get` prints the exact hashed bytes and one newline: anyone can recompute the leaf.
    main(["ledger", "get", "--db", str(db), "--index", "0"])
    raw = capsys.readouterr().out.encode()
    assert raw.endswith(b"\n")
    assert hashlib.sha256(b"\x00" + raw[:-1]).hexdigest() == first["leaf_hash"]

    code, note, _ = run(capsys, "ledger", "checkpoint", "--db", str(db))
    assert code == 0 and note.startswith("cli.example/log\n11\n")
    vkey = run(capsys, "ledger", "key", "--db", str(db))[1].strip()
    checkpoint = verify.verify_checkpoint(note, vkey)

    proof = json.loads(run(capsys, "ledger", "proof", "--db", str(db), "--index", "0")[1])
    assert set(proof) == {"leaf_index", "tree_size", "hashes"}
    verify.verify_entry_in_checkpoint(raw[:-1], proof, note, vkey)

    code, out, _ = run(capsys, "ledger", "proof", "--db", str(db), "--consistency",
                       "--from", "3", "--to", "11")
    consistency = json.loads(out)
    assert set(consistency) == {"size1", "size2", "hashes"}
    assert code == 0 and consistency["size1"] == 3 and checkpoint.size == 11

    code, out, _ = run(capsys, "ledger", "verify", "--db", str(db))
    assert code == 0 and out.startswith("ok: 11 entries, 1 checkpoints")


def _size(db: Path, capsys: pytest.CaptureFixture[str]) -> str:
    main(["ledger", "verify", "--db", str(db)])
    return capsys.readouterr().out.split(",")[0]


@pytest.mark.parametrize(
    ("content", "option", "message"),
    [
        ("{not json", "--body-file", "not valid JSON"),
        ('{"a": 1, "a": 2}', "--body-file", "duplicate key"),
        ("[1, 2]", "--body-file", "must be a JSON object"),
        ('{"a": NaN}', "--body-file", "NaN is not valid JSON"),
        ('{"n": 1}\n{"n": 2}\n{"n": \n', "--jsonl", "line 3"),
        ("\n\n", "--jsonl", "holds no bodies"),
    ],
)
def test_malformed_input_changes_nothing(tmp_path: Path, key: Path, db: Path,
                                         capsys: pytest.CaptureFixture[str], content: str,
                                         option: str, message: str) -> None:
    before = _size(db, capsys)
    bad = tmp_path / "bad"
    bad.write_text(content)
    code, out, err = run(capsys, "ledger", "append", "--db", str(db), "--kind", "generic",
                         "--key", str(key), option, str(bad))
    assert code == 1 and out == "" and message in err and err.startswith("error: ")
    assert _size(db, capsys) == before


def test_refusals_exit_1_usage_errors_exit_2(tmp_path: Path, key: Path, db: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    body = tmp_path / "b.json"
    body.write_text("{}")
    code, _, err = run(capsys, "ledger", "append", "--db", str(db), "--kind", "nope",
                       "--key", str(key), "--body-file", str(body))
    assert code == 1 and "unknown entry kind 'nope'" in err
    code, _, err = run(capsys, "ledger", "append", "--db", str(db), "--kind", "asset.registered",
                       "--key", str(key), "--body-file", str(body))
    assert code == 1 and "asset.registered/v1 body is invalid" in err
    assert run(capsys, "ledger", "append", "--db", str(db), "--key", str(key),
               "--body-file", str(body))[0] == 2
    assert run(capsys, "ledger", "append", "--db", str(db), "--kind", "generic", "--key",
               str(key), "--body-file", str(body), "--jsonl", str(body))[0] == 2
    assert run(capsys, "ledger", "proof", "--db", str(db))[0] == 2
    assert run(capsys, "ledger", "frobnicate")[0] == 2
    code, _, err = run(capsys, "ledger", "proof", "--db", str(db), "--index", "5")
    assert code == 1 and "outside a tree of size 0" in err
    code, _, err = run(capsys, "ledger", "verify", "--db", str(tmp_path / "none.db"))
    assert code == 1 and "aiwork ledger init" in err
    code, _, err = run(capsys, "ledger", "init", "--db", str(db))
    assert code == 1 and "already holds a ledger" in err


def test_default_store_lives_under_aiwork_home(tmp_path: Path, key: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    home = Path(os.environ["AIWORK_HOME"])
    assert run(capsys, "ledger", "init")[0] == 0
    assert (home / "aiwork.db").exists()
    assert stat.S_IMODE((home / "aiwork.db.logkey").stat().st_mode) == 0o600
    assert run(capsys, "ledger", "checkpoint")[1].endswith("\n")


def test_console_script_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aiwork", "ledger", "verify", "--db", str(tmp_path / "x.db")],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_a_wrong_key_file_changes_nothing(tmp_path: Path, db: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    body = tmp_path / "b.json"
    body.write_text('{"a": 1}')
    before = _size(db, capsys)
    for wrong, message in [(db, "not a PEM private key"),
                           (tmp_path / "absent.pem", "does not exist")]:
        if wrong.exists():
            wrong.chmod(0o600)
        code, _, err = run(capsys, "ledger", "append", "--db", str(db), "--kind", "generic",
                           "--key", str(wrong), "--body-file", str(body))
        assert code == 1 and message in err
    assert _size(db, capsys) == before


def _file_state(db: Path) -> tuple[bytes, int, list[str]]:
    """The database's bytes and mtime, and which of its files exist beside it."""
    present = sorted(p.name for p in db.parent.iterdir() if p.name.startswith(db.name))
    return db.read_bytes(), db.stat().st_mtime_ns, present


def test_ledger_verify_never_writes_to_the_database_it_checks(
        tmp_path: Path, key: Path, db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    from aiwork.crypto import read_key_file
    from aiwork.ledger.entries import sign_entry
    from aiwork.ledger.log import Log

    body = tmp_path / "b.jsonl"
    body.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(5)))
    assert run(capsys, "ledger", "append", "--db", str(db), "--kind", "generic",
               "--key", str(key), "--jsonl", str(body))[0] == 0
    # As an auditor may receive it: a copy in rollback-journal mode, no -wal, no -shm.
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    before = _file_state(db)
    assert before[2] == ["ledger.db", "ledger.db.logkey"]
    code, out, _ = run(capsys, "ledger", "verify", "--db", str(db))
    assert code == 0 and out.startswith("ok: 5 entries")
    assert _file_state(db) == before

    # While a writer holds entries in the WAL: verify reads them, and leaves every file as
    # it found it.
    with Log.open(db) as writer:
        writer.append([sign_entry(read_key_file(key), "generic", {"n": 5})])
        before = _file_state(db)
        wal = db.with_name(db.name + "-wal").read_bytes()
        assert "ledger.db-wal" in before[2]
        code, out, _ = run(capsys, "ledger", "verify", "--db", str(db))
        assert code == 0 and out.startswith("ok: 6 entries")
        assert _file_state(db) == before
        assert db.with_name(db.name + "-wal").read_bytes() == wal

    # Verify of a file that is not there creates nothing.
    missing_db = tmp_path / "absent" / "none.db"
    assert run(capsys, "ledger", "verify", "--db", str(missing_db))[0] == 1
    assert not missing_db.parent.exists()
