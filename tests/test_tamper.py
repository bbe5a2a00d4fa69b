"""Tampering with the SQLite file behind the log's back is found, and the place is named."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from aiwork.cli import main
from aiwork.crypto import SigningKey
from aiwork.errors import IntegrityError
from aiwork.ledger import merkle
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log

SIZE = 40


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.db"
    author = SigningKey.generate()
    with Log.create(path, SigningKey.generate()) as log:
        log.append([sign_entry(author, "generic", {"n": n}) for n in range(SIZE // 2)])
        log.checkpoint()
        log.append([sign_entry(author, "generic", {"n": n}) for n in range(SIZE // 2, SIZE)])
        log.checkpoint()
    return path


def raw(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(db, isolation_level=None)


def entry_data(db: Path, idx: int) -> bytes:
    with raw(db) as conn:
        return bytes(conn.execute("SELECT data FROM ledger_entries WHERE idx = ?", (idx,))
                     .fetchone()[0])


def set_entry(db: Path, idx: int, data: bytes) -> None:
    conn = raw(db)
    conn.execute("UPDATE ledger_entries SET data = ? WHERE idx = ?", (data, idx))
    conn.close()


def fails_at(db: Path, index: int | None, capsys: pytest.CaptureFixture[str],
             text: str = "") -> None:
    """`aiwork ledger verify` exits 1 naming the place; the API names the same index."""
    assert main(["ledger", "verify", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    if index is not None:
        assert f"ledger entry {index}:" in err, err
    assert text in err, err
    with Log.open(db) as log, pytest.raises(IntegrityError) as caught:
        log.verify()
    assert caught.value.index == index


def test_untouched_file_verifies(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ledger", "verify", "--db", str(db)]) == 0
    assert capsys.readouterr().out.startswith(f"ok: {SIZE} entries, 2 checkpoints")


def test_one_byte_of_an_entry_changed(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = entry_data(db, 17)
    assert b'"n":17' in data
    set_entry(db, 17, data.replace(b'"n":17', b'"n":71'))
    fails_at(db, 17, capsys)


def test_one_byte_changed_to_break_the_json(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = bytearray(entry_data(db, 3))
    data[0] = ord("[")
    set_entry(db, 3, bytes(data))
    fails_at(db, 3, capsys, "not a valid entry")


def test_a_row_deleted(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with raw(db) as conn:
        conn.execute("DELETE FROM ledger_entries WHERE idx = 9")
    fails_at(db, 9, capsys, "missing")


def test_the_last_row_deleted(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with raw(db) as conn:
        conn.execute("DELETE FROM ledger_entries WHERE idx = ?", (SIZE - 1,))
    fails_at(db, SIZE - 1, capsys, "missing")


def test_two_rows_swapped(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = entry_data(db, 5), entry_data(db, 30)
    set_entry(db, 5, b)
    set_entry(db, 30, a)
    fails_at(db, 5, capsys, "does not match")


def test_a_row_appended_bypassing_the_api(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    forged = sign_entry(SigningKey.generate(), "generic", {"n": "extra"}).to_bytes()
    with raw(db) as conn:
        conn.execute("INSERT INTO ledger_entries (idx, data) VALUES (?, ?)", (SIZE, forged))
    fails_at(db, SIZE, capsys, "beyond the tree")


def test_a_row_inserted_in_the_middle(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    forged = sign_entry(SigningKey.generate(), "generic", {"n": "inserted"}).to_bytes()
    conn = raw(db)
    for idx in range(SIZE - 1, 11, -1):  # shift 12.. up by one, then fill the gap
        conn.execute("UPDATE ledger_entries SET idx = idx + 1 WHERE idx = ?", (idx,))
    conn.execute("INSERT INTO ledger_entries (idx, data) VALUES (12, ?)", (forged,))
    conn.close()
    fails_at(db, 12, capsys)


def test_a_stored_tree_node_changed(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    node_id = (2 << 56) | 3  # level 2, index 3: entries 12..15
    with raw(db) as conn:
        conn.execute("UPDATE ledger_tree SET hash = ? WHERE id = ?", (b"\x11" * 32, node_id))
    fails_at(db, 12, capsys, "level 2")


def test_a_checkpoint_signature_altered(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with raw(db) as conn:
        note = conn.execute("SELECT note FROM ledger_checkpoints WHERE size = 20").fetchone()[0]
        sig = note.rsplit(" ", 1)[1]
        forged = note.replace(sig, sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:])
        conn.execute("UPDATE ledger_checkpoints SET note = ? WHERE size = 20", (forged,))
    fails_at(db, None, capsys, "checkpoint at size 20")


def test_a_consistent_rewrite_without_the_log_key(db: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Entry replaced and the whole tree recomputed: only the signed checkpoints catch it."""
    set_entry(db, 4, sign_entry(SigningKey.generate(), "generic", {"n": 4}).to_bytes())
    conn = raw(db)
    rows = conn.execute("SELECT data FROM ledger_entries ORDER BY idx").fetchall()
    compact = merkle.CompactRange()
    conn.execute("DELETE FROM ledger_tree")
    for (data,) in rows:
        for level, index, digest in compact.append(merkle.leaf_hash(bytes(data))):
            conn.execute("INSERT INTO ledger_tree (id, hash) VALUES (?, ?)",
                         ((level << 56) | index, digest))
    conn.close()
    fails_at(db, None, capsys, "one of entries 0 to 19 was altered")
