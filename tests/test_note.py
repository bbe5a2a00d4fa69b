"""Signed notes match Go's golang.org/x/mod/sumdb/note byte for byte."""

from __future__ import annotations

import base64

import pytest

from aiwork.crypto import SigningKey
from aiwork.errors import NoteError
from aiwork.ledger.note import Checkpoint, SignedNote, VerifierKey, sign_note

# The reference example of the Go note package's documentation.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = GO_TEXT + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"


def go_key() -> SigningKey:
    raw = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert raw[0] == 1
    return SigningKey(raw[1:])


def test_signing_reproduces_the_go_reference_note() -> None:
    key = go_key()
    assert VerifierKey("PeterNeumann", key.public_key).to_text() == GO_VKEY
    assert sign_note(GO_TEXT, "PeterNeumann", key).to_text() == GO_NOTE


def test_the_go_reference_note_verifies_and_tampering_does_not() -> None:
    vkey = VerifierKey.from_text(GO_VKEY)
    SignedNote.from_text(GO_NOTE).verify(vkey)
    with pytest.raises(NoteError, match="does not verify"):
        SignedNote.from_text(GO_NOTE.replace("cryptography", "cryptographY")).verify(vkey)
    other = VerifierKey("PeterNeumann", SigningKey.generate().public_key)
    with pytest.raises(NoteError, match="not signed by"):
        SignedNote.from_text(GO_NOTE).verify(other)
    with pytest.raises(NoteError, match="key id"):
        VerifierKey.from_text(GO_VKEY.replace("c74f20a3", "c74f20a4"))


def test_checkpoint_round_trip_and_malformed_bodies() -> None:
    cp = Checkpoint("example.com/log", 42, bytes(range(32)), ("ext line",))
    assert Checkpoint.from_body(cp.to_body()) == cp
    for body in ["example.com/log\n042\n" + base64.b64encode(bytes(32)).decode() + "\n",
                 "example.com/log\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n",
                 "example.com/log\n1\n" + base64.b64encode(bytes(31)).decode() + "\n",
                 "example.com/log\n1\n"]:
        with pytest.raises(NoteError):
            Checkpoint.from_body(body)


def test_checkpoint_for_another_origin_is_refused() -> None:
    key = SigningKey.generate()
    note = sign_note(Checkpoint("a.example", 1, bytes(32)).to_body(), "a.example", key)
    with pytest.raises(NoteError, match="not 'b.example'"):
        Checkpoint.from_note(note.to_text(), VerifierKey("a.example", key.public_key),
                             origin="b.example")
