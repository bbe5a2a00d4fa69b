"""The log's API: appends (atomic, idempotent, checked), reads, checkpoints, refusals."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from aiwork.crypto import SigningKey
from aiwork.errors import (
    InvalidBodyError,
    LedgerNotFoundError,
    OutOfRangeError,
    SignatureError,
    TooLargeError,
    UnknownKindError,
)
from aiwork.ledger import merkle, verify
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.ledger.note import Checkpoint, SignedNote
from aiwork.model import MAX_BODY_BYTES, Entry


def snapshot(log: Log) -> tuple[int, bytes, list[bytes]]:
    return log.size, log.root(), [log.get(i) for i in range(log.size)]


def test_append_returns_indices_and_leaf_hashes(log: Log, author: SigningKey) -> None:
    entries = [sign_entry(author, "generic", {"n": n}) for n in range(5)]
    appended = log.append(entries)
    assert [a.index for a in appended] == [0, 1, 2, 3, 4]
    for a, entry in zip(appended, entries, strict=True):
        assert a.new
        assert a.leaf_hash == hashlib.sha256(b"\x00" + entry.to_bytes()).digest()
        assert log.get(a.index) == entry.to_bytes()
        assert log.leaf_hash(a.index) == a.leaf_hash
    assert log.size == 5
    assert log.entry(3).body == {"n": 3}


def test_resubmitting_a_signed_entry_returns_its_index(log: Log, author: SigningKey) -> None:
    first = sign_entry(author, "generic", {"n": 1})
    second = sign_entry(author, "generic", {"n": 2})
    log.append([first, second])
    again = log.append([second, sign_entry(author, "generic", {"n": 3}), second])
    assert [(a.index, a.new) for a in again] == [(1, False), (2, True), (1, False)]
    assert log.size == 3


def test_a_batch_with_one_bad_entry_writes_nothing(log: Log, author: SigningKey) -> None:
    log.append([sign_entry(author, "generic", {"n": 0})])
    before = snapshot(log)
    good = [sign_entry(author, "generic", {"n": n}) for n in range(1, 100)]
    forged = Entry.from_json({**good[50].to_json(), "body": {"n": 999}})
    with pytest.raises(SignatureError, match="batch entry 50"):
        log.append([*good[:50], forged, *good[50:]])
    assert snapshot(log) == before


def test_unknown_kind_is_refused(log: Log, author: SigningKey) -> None:
    with pytest.raises(UnknownKindError, match="no.such.kind"):
        sign_entry(author, "no.such.kind", {})
    entry = sign_entry(author, "generic", {"a": 1})
    # A correctly signed entry of an unregistered kind version is refused too.
    payload = Entry.payload_for("generic/v9", entry.body, entry.author, entry.time)
    other = Entry("generic/v9", entry.body, entry.author, entry.time,
                  base64.b64encode(author.sign(payload)).decode())
    with pytest.raises(UnknownKindError):
        log.append([other])
    assert log.size == 0


def test_invalid_body_is_refused_before_signing_and_on_append(log: Log, author: SigningKey) -> None:
    with pytest.raises(InvalidBodyError, match="digest"):
        sign_entry(author, "asset.registered", {"digest": "md5:abc", "size": 1})
    body = {"digest": "sha256:" + "0" * 64, "size": -1}
    payload = Entry.payload_for("asset.registered/v1", body, author.did, "2026-01-01T00:00:00Z")
    entry = Entry("asset.registered/v1", body, author.did, "2026-01-01T00:00:00Z",
                  base64.b64encode(author.sign(payload)).decode())
    with pytest.raises(InvalidBodyError, match="size"):
        log.append([entry])
    assert log.size == 0
    ok = sign_entry(author, "asset.registered", {"digest": "sha256:" + "a" * 64, "size": 10,
                                                 "name": "clip.mp4", "media_type": "video/mp4"})
    assert log.append([ok])[0].index == 0


def test_entry_signed_by_another_key_is_refused(log: Log, author: SigningKey) -> None:
    mallory = SigningKey.generate()
    genuine = sign_entry(author, "generic", {"pay": "alice"})
    payload = genuine.signing_payload()  # claims author's identity, signed by mallory
    impostor = Entry(genuine.kind, genuine.body, genuine.author, genuine.time,
                     base64.b64encode(mallory.sign(payload)).decode())
    with pytest.raises(SignatureError, match=author.did):
        log.append([impostor])
    assert log.size == 0


def test_oversized_body_is_refused(log: Log, author: SigningKey) -> None:
    with pytest.raises(TooLargeError, match=str(MAX_BODY_BYTES)):
        sign_entry(author, "generic", {"blob": "x" * MAX_BODY_BYTES})
    with pytest.raises(TooLargeError):
        Entry.from_bytes(b"{" + b" " * (MAX_BODY_BYTES + 5000) + b"}")
    assert log.size == 0


def test_checkpoint_is_a_c2sp_signed_note(log: Log, author: SigningKey) -> None:
    log.append([sign_entry(author, "generic", {"n": n}) for n in range(7)])
    note = log.checkpoint()
    body, signature_line = note.split("\n\n")
    origin, size, root = body.split("\n")
    assert (origin, size) == ("test.example/log", "7")
    assert base64.b64decode(root) == log.root()
    assert signature_line.startswith("\u2014 test.example/log ")
    raw = base64.b64decode(signature_line.split(" ")[2])
    assert raw[:4] == log.verifier_key.key_id and len(raw) == 68
    cp = verify.verify_checkpoint(note, log.verifier_key.to_text())
    assert cp == Checkpoint("test.example/log", 7, log.root())
    assert log.checkpoint() == note  # same size: the same checkpoint
    log.append([sign_entry(author, "generic", {"n": 7})])
    assert verify.verify_checkpoint(log.checkpoint(), log.verifier_key).size == 8
    assert [size for size, _ in log.checkpoints()] == [7, 8]


def test_entry_proof_and_checkpoint_verify_offline(log: Log, author: SigningKey) -> None:
    log.append([sign_entry(author, "generic", {"n": n}) for n in range(20)])
    note = log.checkpoint()
    key = log.verifier_key.to_text()
    proof = log.inclusion_proof(13).to_json()
    entry = verify.verify_entry_in_checkpoint(log.get(13), proof, note, key)
    assert entry.body == {"n": 13}
    with pytest.raises(Exception) as caught:
        verify.verify_entry_in_checkpoint(log.get(12), proof, note, key)
    assert type(caught.value).__name__ == "ProofError"


def test_proofs_refuse_sizes_beyond_the_log(log: Log, author: SigningKey) -> None:
    log.append([sign_entry(author, "generic", {"n": n}) for n in range(3)])
    with pytest.raises(OutOfRangeError, match="valid: 0 to 2"):
        log.inclusion_proof(3)
    with pytest.raises(OutOfRangeError):
        log.inclusion_proof(0, 4)
    with pytest.raises(OutOfRangeError):
        log.consistency_proof(0, 3)
    with pytest.raises(OutOfRangeError):
        log.get(-1)


def test_opening_a_missing_or_foreign_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LedgerNotFoundError, match="no ledger"):
        Log.open(tmp_path / "missing.db")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LedgerNotFoundError):
        Log.open(junk)


def test_verify_accepts_an_untouched_log(log: Log, author: SigningKey) -> None:
    for batch in range(3):
        log.append([sign_entry(author, "generic", {"b": batch, "n": n}) for n in range(100)])
        log.checkpoint()
    report = log.verify(chunk=64)
    assert report.size == 300 and report.checkpoints == 3 and report.root == log.root()


def test_note_parser_refuses_garbage() -> None:
    from aiwork.errors import NoteError

    for text in ["", "a\nb\n", "origin\n1\nAAAA\n\n— k c2ln\n", "x\n\n- wrong dash\n"]:
        with pytest.raises(NoteError):
            SignedNote.from_text(text)


def test_root_matches_naive_merkle_tree_hash(log: Log, author: SigningKey) -> None:
    entries = [sign_entry(author, "generic", {"n": n}) for n in range(37)]
    log.append(entries)
    leaves = [merkle.leaf_hash(e.to_bytes()) for e in entries]
    from .test_proof_properties import naive_root

    for size in range(38):
        assert log.root(size) == naive_root(leaves[:size])
