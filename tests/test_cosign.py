"""C2SP tlog-cosignature/v1 (Ed25519): a vector built by hand from the spec, and refusals."""

from __future__ import annotations

import base64
import hashlib
import struct

import nacl.signing
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiwork.crypto import SigningKey
from aiwork.errors import NoteError
from aiwork.ledger.cosign import (
    MAX_TIMESTAMP,
    Cosignature,
    WitnessKey,
    cosign,
    cosigned_message,
    verify_cosignature,
    verify_cosigned_note,
)
from aiwork.ledger.note import SignedNote, VerifierKey, sign_note

SEED = hashlib.sha256(b"aiwork cosignature test vector").digest()
NAME = "witness.example.com/w1"
# The checkpoint body of the spec's example, and the time of its cosignature.
BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
TIME = 1679315147
# Frozen outputs of the independent computation below, so that a change of either shows.
VKEY = "witness.example.com/w1+3f943bca+BMaRcZoMPucmUXFFoRMmqRwZSbLIktgwUJfAmr1VzlsC"
LINE = ("\u2014 witness.example.com/w1 P5Q7ygAAAABkGFDLOvgtFqNy+GorRhdCVtWeYLPVOG8ch6VziaZ8sAB"
        "O1+HGqISmtdoGEuIwO/UMTk2sti5gL0W3Ju5wlBls6+stBw==\n")
# The cosignature line of the spec's own example (its key is not published).
SPEC_LINE = ("\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWX"
             "EhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==")


def by_hand(body: str, timestamp: int) -> tuple[str, str]:
    """The vkey and cosignature line, straight from the spec with nacl, hashlib and struct."""
    signer = nacl.signing.SigningKey(SEED)
    public = signer.verify_key.encode()
    key_id = hashlib.sha256(NAME.encode() + b"\n" + b"\x04" + public).digest()[:4]
    message = b"cosignature/v1\n" + b"time " + str(timestamp).encode() + b"\n" + body.encode()
    signature = signer.sign(message).signature
    vkey = NAME + "+" + key_id.hex() + "+" + base64.b64encode(b"\x04" + public).decode()
    raw = key_id + struct.pack(">Q", timestamp) + signature
    return vkey, "\u2014 " + NAME + " " + base64.b64encode(raw).decode() + "\n"


def log_note(body: str = BODY) -> tuple[str, VerifierKey]:
    log_key = SigningKey(hashlib.sha256(b"aiwork test log").digest())
    return sign_note(body, "example.com/behind-the-sofa", log_key).to_text(), VerifierKey(
        "example.com/behind-the-sofa", log_key.public_key)


def test_cosign_reproduces_the_vector_built_by_hand() -> None:
    vkey, line = by_hand(BODY, TIME)
    assert (vkey, line) == (VKEY, LINE)
    key = SigningKey(SEED)
    assert WitnessKey.of(NAME, key).to_text() == VKEY
    assert cosign(BODY, NAME, key, TIME) == LINE
    note, _ = log_note()
    assert cosign(note, NAME, key, TIME) == LINE  # a signed note: its body is what is signed
    assert cosigned_message(BODY, TIME) == b"cosignature/v1\ntime 1679315147\n" + BODY.encode()
    assert cosigned_message(BODY, 0).startswith(b"cosignature/v1\ntime 0\n")


def test_the_vector_verifies_beside_the_log_signature() -> None:
    note, log_key = log_note()
    cosigned = note + LINE
    parsed = verify_cosignature(LINE, BODY, VKEY)
    assert (parsed.name, parsed.timestamp, parsed.key_id.hex()) == (NAME, TIME, "3f943bca")
    assert verify_cosigned_note(cosigned, VKEY) == parsed
    signed = SignedNote.from_text(cosigned)
    assert len(signed.signatures) == 2
    signed.verify(log_key)  # the log's own signature still checks with a cosignature beside it
    with pytest.raises(NoteError, match="not cosigned"):
        verify_cosigned_note(note, VKEY)


def test_the_spec_example_line_parses() -> None:
    parsed = Cosignature.from_line(SPEC_LINE)
    assert (parsed.name, parsed.key_id.hex(), parsed.timestamp) == (NAME, "8d66cf3f", TIME)
    assert parsed.to_line() == SPEC_LINE + "\n"


def test_witness_keys_round_trip_and_refuse_other_types() -> None:
    key = WitnessKey.from_text(VKEY)
    assert key.to_text() == VKEY and key.public_key == SigningKey(SEED).public_key
    log_vkey = VerifierKey(NAME, key.public_key).to_text()  # type 0x01: a log's key
    with pytest.raises(NoteError, match="checkpoint signing key"):
        WitnessKey.from_text(log_vkey)
    with pytest.raises(NoteError, match="key id"):
        WitnessKey.from_text(VKEY.replace("+3f943bca+", "+3f943bcb+"))
    for bad in ["", "name+12", "a b+3f943bca+" + VKEY.rsplit("+", 1)[1], VKEY + "!"]:
        with pytest.raises(NoteError):
            WitnessKey.from_text(bad)


def test_forged_altered_and_misdated_cosignatures_are_refused() -> None:
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignature(LINE, BODY.replace("20852163", "20852164"), VKEY)
    _, later = by_hand(BODY, TIME + 1)
    parsed = Cosignature.from_line(later)
    moved = Cosignature(parsed.name, parsed.key_id, TIME, parsed.signature).to_line()
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignature(moved, BODY, VKEY)  # a signature of another time
    other = WitnessKey(NAME, SigningKey.generate().public_key)
    with pytest.raises(NoteError, match="not from the witness"):
        verify_cosignature(LINE, BODY, other)
    future = cosign(BODY, NAME, SigningKey(SEED), 2_000_000_000)
    with pytest.raises(NoteError, match="future"):
        verify_cosignature(future, BODY, VKEY, now=1_999_990_000)
    verify_cosignature(future, BODY, VKEY, now=2_000_000_000)
    too_late = base64.b64encode(bytes(4) + struct.pack(">Q", MAX_TIMESTAMP + 1) + bytes(64))
    with pytest.raises(NoteError, match="2\\^63"):
        Cosignature.from_line(f"\u2014 {NAME} {too_late.decode()}")
    with pytest.raises(NoteError):
        cosign(BODY, NAME, SigningKey(SEED), MAX_TIMESTAMP + 1)
    with pytest.raises(NoteError):
        cosign("not a checkpoint\n", NAME, SigningKey(SEED), TIME)
    short = base64.b64encode(bytes(4 + 64)).decode()  # a plain note signature, no timestamp
    for line in [f"\u2014 {NAME} {short}", "- name AAAA", f"\u2014 {NAME}", "\u2014 a b c",
                 f"\u2014 {NAME} !!!!"]:
        with pytest.raises(NoteError):
            Cosignature.from_line(line)


@given(st.integers(0, MAX_TIMESTAMP), st.binary(min_size=4, max_size=4),
       st.binary(min_size=64, max_size=64),
       st.text("abcdefghijklmnopqrstuvwxyz0123456789./-", min_size=1, max_size=40))
def test_cosignature_lines_round_trip(timestamp: int, key_id: bytes, signature: bytes,
                                      name: str) -> None:
    cosignature = Cosignature(name, key_id, timestamp, signature)
    assert Cosignature.from_line(cosignature.to_line()) == cosignature
