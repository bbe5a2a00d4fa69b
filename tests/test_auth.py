"""Signed HTTP requests (aiwork request v1): signing, every refusal, replay protection."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiwork.auth import (
    HEADER_KEY,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    MemoryNonceStore,
    NonceStore,
    RequestVerifier,
    SqliteNonceStore,
    sign_request,
    signing_bytes,
)
from aiwork.errors import (
    AiworkError,
    BadKeyError,
    BadRequestSignatureError,
    ConfigError,
    InputError,
    MalformedAuthError,
    ReplayedRequestError,
    RequestAuthError,
    RequestTimeError,
    SignatureError,
    UnsignedRequestError,
)
from aiwork.crypto import SigningKey
from aiwork.store import Database

NOW = 1_700_000_000.0
METHOD = "POST"
PATH = "/v1/jobs?limit=5"
BODY = b'{"title":"cut the trailer"}'


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NonceStore]:
    if request.param == "memory":
        yield MemoryNonceStore()
        return
    db = Database(tmp_path / "nonces.db", create=True)
    yield SqliteNonceStore(db)
    db.close()


@pytest.fixture
def verifier(store: NonceStore) -> RequestVerifier:
    return RequestVerifier(store)


def signed(key: SigningKey, **changes: str) -> dict[str, str]:
    headers = sign_request(key, METHOD, PATH, BODY, now=NOW)
    headers.update(changes)
    return headers


def refused(
    verifier: RequestVerifier,
    headers: dict[str, str],
    *,
    method: str = METHOD,
    path: str = PATH,
    body: bytes = BODY,
    now: float = NOW,
) -> RequestAuthError:
    with pytest.raises(RequestAuthError) as info:
        verifier.verify(method, path, body, headers, now=now)
    return info.value


# --- the scheme -------------------------------------------------------------------------------


def test_signed_request_verifies_and_names_the_caller(
    key: SigningKey, verifier: RequestVerifier
) -> None:
    headers = signed(key)
    assert set(headers) == {HEADER_KEY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE}
    assert headers[HEADER_KEY] == key.did
    assert headers[HEADER_TIMESTAMP] == "1700000000"
    assert verifier.verify(METHOD, PATH, BODY, headers, now=NOW) == key.did


def test_headers_are_case_insensitive_and_method_case_is_ignored(
    key: SigningKey, verifier: RequestVerifier
) -> None:
    headers = {name.lower(): value for name, value in signed(key).items()}
    assert verifier.verify("post", PATH, BODY, headers, now=NOW) == key.did


def test_empty_body_and_default_clock(key: SigningKey) -> None:
    verifier = RequestVerifier()
    headers = sign_request(key, "DELETE", "/v1/jobs/7", b"")
    assert verifier.verify("DELETE", "/v1/jobs/7", b"", headers) == key.did


def test_nonces_are_fresh_random_base64url(key: SigningKey) -> None:
    nonces = {sign_request(key, METHOD, PATH, BODY, now=NOW)[HEADER_NONCE] for _ in range(50)}
    assert len(nonces) == 50
    for nonce in nonces:
        assert len(base64.urlsafe_b64decode(nonce + "==")) == 16
        assert "=" not in nonce


def test_documented_test_vector() -> None:
    """The vector in the module docstring, so another language's client can check itself."""
    key = SigningKey(bytes(range(32)))
    assert key.did == "did:key:z6MkehRgf7yJbgaGfYsdoAsKdBPE3dj2CYhowQdcjqSJgvVd"
    nonce = base64.urlsafe_b64encode(bytes(range(16))).rstrip(b"=").decode()
    assert nonce == "AAECAwQFBgcICQoLDA0ODw"
    message = signing_bytes(
        "post", "/v1/jobs?x=1", b'{"a":1}', timestamp=1700000000, nonce=nonce, key=key.did
    )
    assert message == (
        b"aiwork request v1\n"
        b'{"body":"sha256:015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862",'
        b'"key":"did:key:z6MkehRgf7yJbgaGfYsdoAsKdBPE3dj2CYhowQdcjqSJgvVd","method":"POST",'
        b'"nonce":"AAECAwQFBgcICQoLDA0ODw","path":"/v1/jobs?x=1","timestamp":1700000000}'
    )
    signature = base64.b64encode(key.sign(message)).decode()
    assert signature == (
        "sP3/YpO6sXH1h6lu6/D37dBm2jGLbelOHM1giEjokBIMcbXlr8aJXTVPUOK1lNVk7vcYO+V0N9TI5ZknwAkYCg=="
    )
    headers = {
        HEADER_KEY: key.did,
        HEADER_TIMESTAMP: "1700000000",
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: signature,
    }
    assert RequestVerifier().verify("POST", "/v1/jobs?x=1", b'{"a":1}', headers, now=NOW) == key.did


# --- refusals ---------------------------------------------------------------------------------


def test_unsigned_request(verifier: RequestVerifier) -> None:
    error = refused(verifier, {"Content-Type": "application/json"})
    assert isinstance(error, UnsignedRequestError)
    assert isinstance(error, InputError)
    assert error.reason == "unsigned"
    assert HEADER_SIGNATURE in str(error)


@pytest.mark.parametrize("missing", [HEADER_KEY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE])
def test_each_missing_header(key: SigningKey, verifier: RequestVerifier, missing: str) -> None:
    headers = signed(key)
    del headers[missing]
    error = refused(verifier, headers)
    assert isinstance(error, UnsignedRequestError)
    assert error.reason == "unsigned"
    assert f"{missing} is missing" in str(error)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        (HEADER_SIGNATURE, "not base64!"),
        (HEADER_SIGNATURE, base64.b64encode(b"\x01" * 63).decode()),  # too short
        (HEADER_SIGNATURE, base64.urlsafe_b64encode(b"\xff" * 64).decode()),  # base64url
        (HEADER_SIGNATURE, base64.b64encode(b"\x01" * 64).decode().rstrip("=")),  # unpadded
        (HEADER_NONCE, "short"),
        (HEADER_NONCE, "AAECAwQFBgcICQoLDA0ODw=="),  # padded
        (HEADER_NONCE, "AAECAwQFBgcICQoLDA0OD+"),  # standard, not url-safe, alphabet
        (HEADER_NONCE, "A" * 90),  # over 64 bytes
        (HEADER_TIMESTAMP, "soon"),
        (HEADER_TIMESTAMP, "-1700000000"),
        (HEADER_TIMESTAMP, "1700000000.5"),
        (HEADER_TIMESTAMP, "01700000000"),
        (HEADER_TIMESTAMP, ""),
    ],
)
def test_malformed_headers(
    key: SigningKey, verifier: RequestVerifier, header: str, value: str
) -> None:
    error = refused(verifier, signed(key, **{header: value}))
    assert isinstance(error, MalformedAuthError)
    assert isinstance(error, InputError)
    assert error.reason == "malformed"
    assert header in str(error)


@pytest.mark.parametrize(
    "did",
    ["did:web:example.com", "did:key:z0OIl", "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",
     "did:key:z" + "6" * 500],
)
def test_not_an_ed25519_did_key(key: SigningKey, verifier: RequestVerifier, did: str) -> None:
    error = refused(verifier, signed(key, **{HEADER_KEY: did}))
    assert isinstance(error, BadKeyError)
    assert isinstance(error, SignatureError)
    assert error.reason == "bad-key"


def test_wrong_key_claimed(key: SigningKey, verifier: RequestVerifier) -> None:
    other = SigningKey.generate()
    error = refused(verifier, signed(key, **{HEADER_KEY: other.did}))
    assert isinstance(error, BadRequestSignatureError)
    assert error.reason == "bad-signature"


def test_forged_signature(key: SigningKey, verifier: RequestVerifier) -> None:
    forged = base64.b64encode(bytes(64)).decode()
    error = refused(verifier, signed(key, **{HEADER_SIGNATURE: forged}))
    assert error.reason == "bad-signature"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (METHOD, PATH, BODY + b" "),  # body altered
        (METHOD, PATH, b""),  # body dropped
        (METHOD, "/v1/jobs?limit=500", BODY),  # query altered
        (METHOD, "/v1/jobs", BODY),  # query dropped
        (METHOD, "/v1/admin?limit=5", BODY),  # path altered
        ("PUT", PATH, BODY),  # method altered
    ],
)
def test_altered_request(
    key: SigningKey, verifier: RequestVerifier, method: str, path: str, body: bytes
) -> None:
    error = refused(verifier, signed(key), method=method, path=path, body=body)
    assert isinstance(error, BadRequestSignatureError)
    assert error.reason == "bad-signature"
    assert key.did in str(error)


@pytest.mark.parametrize("header", [HEADER_TIMESTAMP, HEADER_NONCE])
def test_altered_signed_header(key: SigningKey, verifier: RequestVerifier, header: str) -> None:
    other = sign_request(key, METHOD, PATH, BODY, now=NOW + 1)
    error = refused(verifier, signed(key, **{header: other[header]}))
    assert error.reason == "bad-signature"


def test_expired(key: SigningKey, verifier: RequestVerifier) -> None:
    headers = signed(key)
    error = refused(verifier, headers, now=NOW + 301)
    assert isinstance(error, RequestTimeError)
    assert error.reason == "expired"
    assert "expired" in str(error)
    # At the edge of the window it still verifies.
    assert verifier.verify(METHOD, PATH, BODY, headers, now=NOW + 300) == key.did


def test_from_the_future(key: SigningKey, verifier: RequestVerifier) -> None:
    headers = signed(key)
    error = refused(verifier, headers, now=NOW - 301)
    assert isinstance(error, RequestTimeError)
    assert error.reason == "future"
    assert "future" in str(error)
    assert verifier.verify(METHOD, PATH, BODY, headers, now=NOW - 300) == key.did


def test_custom_window(key: SigningKey) -> None:
    verifier = RequestVerifier(window=10)
    assert refused(verifier, signed(key), now=NOW + 11).reason == "expired"
    with pytest.raises(ConfigError):
        RequestVerifier(window=0)


def test_replay_with_the_same_nonce(key: SigningKey, verifier: RequestVerifier) -> None:
    headers = signed(key)
    assert verifier.verify(METHOD, PATH, BODY, headers, now=NOW) == key.did
    error = refused(verifier, headers, now=NOW + 5)
    assert isinstance(error, ReplayedRequestError)
    assert error.reason == "replayed"
    # A fresh request from the same key still goes through.
    assert verifier.verify(METHOD, PATH, BODY, signed(key), now=NOW + 5) == key.did


def test_nonces_are_per_key(key: SigningKey, store: NonceStore) -> None:
    assert store.remember(key.did, "n" * 22, expires_at=int(NOW) + 300, now=NOW)
    assert store.remember("did:key:other", "n" * 22, expires_at=int(NOW) + 300, now=NOW)
    assert not store.remember(key.did, "n" * 22, expires_at=int(NOW) + 300, now=NOW)


def test_forged_replay_does_not_burn_the_genuine_nonce(
    key: SigningKey, verifier: RequestVerifier
) -> None:
    genuine = signed(key)
    attacker = SigningKey.generate()
    # An attacker copies the nonce and claims the victim's key, but cannot sign for it.
    forged = sign_request(attacker, METHOD, PATH, BODY, now=NOW)
    forged[HEADER_KEY] = key.did
    forged[HEADER_NONCE] = genuine[HEADER_NONCE]
    assert refused(verifier, forged).reason == "bad-signature"
    # Nor by replaying the genuine headers over a different body.
    assert refused(verifier, genuine, body=b"{}").reason == "bad-signature"
    assert verifier.verify(METHOD, PATH, BODY, genuine, now=NOW) == key.did


def test_old_nonces_are_pruned(key: SigningKey) -> None:
    store = MemoryNonceStore()
    verifier = RequestVerifier(store, window=60)
    for offset in range(5):
        verifier.verify(METHOD, PATH, BODY, signed(key), now=NOW + offset)
    assert len(store) == 5
    later = sign_request(key, METHOD, PATH, BODY, now=NOW + 1000)
    verifier.verify(METHOD, PATH, BODY, later, now=NOW + 1000)
    assert len(store) == 1


def test_sqlite_store_prunes_and_survives_reopen(key: SigningKey, tmp_path: Path) -> None:
    path = tmp_path / "coordinator.db"
    headers = signed(key)
    with Database(path, create=True) as db:
        assert RequestVerifier(SqliteNonceStore(db)).verify(
            METHOD, PATH, BODY, headers, now=NOW
        ) == key.did
    with Database(path) as db:
        verifier = RequestVerifier(SqliteNonceStore(db))
        assert "auth-0001-nonces" in db.applied_migrations()
        error = refused(verifier, headers, now=NOW + 10)
        assert isinstance(error, ReplayedRequestError)
        later = sign_request(key, METHOD, PATH, BODY, now=NOW + 1000)
        verifier.verify(METHOD, PATH, BODY, later, now=NOW + 1000)
        (count,) = db.conn.execute("SELECT count(*) FROM auth_nonces").fetchone()
        assert count == 1


def test_memory_store_is_thread_safe() -> None:
    store = MemoryNonceStore()
    wins: list[bool] = []
    lock = threading.Lock()

    def race() -> None:
        won = store.remember("did:key:x", "same-nonce", expires_at=int(NOW) + 300, now=NOW)
        with lock:
            wins.append(won)

    threads = [threading.Thread(target=race) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 15 + [True]


def test_every_refusal_is_an_aiwork_error_with_a_reason(key: SigningKey) -> None:
    for cls in (UnsignedRequestError, MalformedAuthError, BadKeyError,
                BadRequestSignatureError, RequestTimeError, ReplayedRequestError):
        assert issubclass(cls, AiworkError)
        assert isinstance(cls("x").reason, str)
    assert RequestTimeError("x", reason="future").reason == "future"


def test_signing_refuses_a_bad_method_or_path(key: SigningKey) -> None:
    with pytest.raises(MalformedAuthError):
        sign_request(key, "", PATH, BODY)
    with pytest.raises(MalformedAuthError):
        sign_request(key, METHOD, "v1/jobs", BODY)
