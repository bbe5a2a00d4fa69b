"""Ed25519 keys, did:key identities and signatures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiwork.crypto import (
    SigningKey,
    did_from_public_key,
    public_key_from_did,
    verify_signature,
)
from aiwork.errors import KeyFileError, SignatureError

# did:key examples from the W3C did:key method specification.
SPEC_DIDS = [
    "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
    "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf",
]


@pytest.mark.parametrize("did", SPEC_DIDS)
def test_spec_dids_round_trip(did: str) -> None:
    key = public_key_from_did(did)
    assert len(key) == 32
    assert did_from_public_key(key) == did


@given(st.binary(min_size=32, max_size=32))
def test_any_public_key_round_trips(public_key: bytes) -> None:
    did = did_from_public_key(public_key)
    assert did.startswith("did:key:z6Mk")
    assert public_key_from_did(did) == public_key


@pytest.mark.parametrize("did", ["did:web:example.com", "did:key:z0OIl", "did:key:zQ3s",
                                 "did:key:" + "z6Mk", 42])
def test_bad_dids_are_signature_errors(did: object) -> None:
    with pytest.raises(SignatureError):
        public_key_from_did(did)  # type: ignore[arg-type]


def test_sign_verify_and_refuse() -> None:
    key = SigningKey.generate()
    signature = key.sign(b"message")
    verify_signature(key.public_key, b"message", signature)
    with pytest.raises(SignatureError):
        verify_signature(key.public_key, b"messagE", signature)
    with pytest.raises(SignatureError):
        verify_signature(SigningKey.generate().public_key, b"message", signature)
    with pytest.raises(SignatureError):
        verify_signature(key.public_key, b"message", signature[:63])
    assert "seed" not in repr(key) and key.did in repr(key)


def test_pem_round_trip_and_refusals() -> None:
    key = SigningKey.generate()
    assert SigningKey.from_pem(key.to_pem()).public_key == key.public_key
    with pytest.raises(KeyFileError):
        SigningKey.from_pem(key.to_pem().replace("PRIVATE KEY", "PUBLIC KEY"))
    with pytest.raises(KeyFileError):
        SigningKey(b"short")
