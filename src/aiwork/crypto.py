"""Ed25519 keys, ``did:key`` identities and signatures (libsodium through PyNaCl).

Key files are PKCS#8 PEM (RFC 8410), the form OpenSSL reads and writes, created with mode 0600
and refused when other users can read them, as OpenSSH does.
"""

from __future__ import annotations

import base64
import functools
import os
import stat
from pathlib import Path

import nacl.bindings
import nacl.exceptions

from aiwork.config import private_folder
from aiwork.errors import KeyFileError, SignatureError
from aiwork.files import write_atomically

__all__ = [
    "SigningKey",
    "did_from_public_key",
    "public_key_from_did",
    "read_key_file",
    "read_or_make_key_file",
    "verify_signature",
    "write_key_file",
]

# DER prefix of an RFC 8410 PKCS#8 Ed25519 private key; the 32-byte seed follows it.
_PKCS8_ED25519_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
_PEM_BEGIN = "-----BEGIN PRIVATE KEY-----"
_PEM_END = "-----END PRIVATE KEY-----"
# Multicodec varint for ed25519-pub, the prefix did:key puts before the 32 key bytes.
_ED25519_MULTICODEC = b"\xed\x01"
_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58_ALPHABET)}


def _b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rem = divmod(number, 58)
        out.append(_B58_ALPHABET[rem])
    leading = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading + "".join(reversed(out))


def _b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        if char not in _B58_INDEX:
            raise ValueError(f"{char!r} is not a base58btc character")
        number = number * 58 + _B58_INDEX[char]
    leading = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * leading + body


def did_from_public_key(public_key: bytes) -> str:
    """The ``did:key`` of a 32-byte Ed25519 public key (multibase base58btc, ``z6Mk...``)."""
    if len(public_key) != 32:
        raise SignatureError(f"an Ed25519 public key has 32 bytes, not {len(public_key)}")
    return "did:key:z" + _b58encode(_ED25519_MULTICODEC + public_key)


@functools.lru_cache(maxsize=4096)
def public_key_from_did(did: str) -> bytes:
    """The Ed25519 public key inside a ``did:key``; :class:`SignatureError` if it holds none."""
    prefix = "did:key:z"
    if not isinstance(did, str) or not did.startswith(prefix):
        raise SignatureError(f"{did!r} is not an Ed25519 did:key (expected 'did:key:z6Mk...')")
    try:
        raw = _b58decode(did[len(prefix) :])
    except ValueError as exc:
        raise SignatureError(f"{did!r} is not a valid did:key: {exc}") from exc
    if len(raw) != 34 or not raw.startswith(_ED25519_MULTICODEC):
        raise SignatureError(f"{did!r} is not an Ed25519 did:key")
    return raw[2:]


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Return if ``signature`` is ``public_key``'s Ed25519 signature of ``message``; else raise."""
    if len(signature) != 64:
        raise SignatureError(f"an Ed25519 signature has 64 bytes, not {len(signature)}")
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError) as exc:
        raise SignatureError("signature does not verify") from exc


class SigningKey:
    """An Ed25519 private key. Its ``repr`` never shows the secret."""

    __slots__ = ("_secret", "_seed", "public_key")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise KeyFileError(f"an Ed25519 seed has 32 bytes, not {len(seed)}")
        public, secret = nacl.bindings.crypto_sign_seed_keypair(seed)
        self._seed: bytes = seed
        self._secret: bytes = secret
        self.public_key: bytes = public

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(os.urandom(32))

    @property
    def did(self) -> str:
        return did_from_public_key(self.public_key)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        signed: bytes = nacl.bindings.crypto_sign(message, self._secret)
        return signed[:64]

    def to_pem(self) -> str:
        der = _PKCS8_ED25519_PREFIX + self._seed
        body = base64.b64encode(der).decode()
        return f"{_PEM_BEGIN}\n{body}\n{_PEM_END}\n"

    @classmethod
    def from_pem(cls, text: str, *, source: str = "key") -> SigningKey:
        lines = [line.strip() for line in text.strip().splitlines()]
        if len(lines) < 3 or lines[0] != _PEM_BEGIN or lines[-1] != _PEM_END:
            raise KeyFileError(f"{source} is not a PEM private key (expected '{_PEM_BEGIN}')")
        try:
            der = base64.b64decode("".join(lines[1:-1]), validate=True)
        except ValueError as exc:
            raise KeyFileError(f"{source}: PEM body is not base64") from exc
        if len(der) != 48 or not der.startswith(_PKCS8_ED25519_PREFIX):
            raise KeyFileError(f"{source} does not hold an Ed25519 private key")
        return cls(der[len(_PKCS8_ED25519_PREFIX) :])

    def __repr__(self) -> str:
        return f"SigningKey(did={self.did!r})"


def write_key_file(path: str | os.PathLike[str], key: SigningKey, *, force: bool = False) -> None:
    """Write ``key`` as PEM, mode 0600, never following or clobbering an existing file
    unless ``force``."""
    target = Path(path)
    if target.exists() and not force:
        raise KeyFileError(f"{target} already exists; refusing to overwrite a key (use --force)")
    private_folder(target.parent)
    try:
        write_atomically(target, key.to_pem(), mode=0o600, durable=True)
    except OSError as exc:
        raise KeyFileError(f"cannot create key file {target}: {exc.strerror}") from exc


def read_key_file(path: str | os.PathLike[str]) -> SigningKey:
    """Load a key written by :func:`write_key_file` (or ``openssl genpkey -algorithm ed25519``)."""
    source = Path(path)
    try:
        mode = source.stat().st_mode
        raw = source.read_bytes()
    except FileNotFoundError as exc:
        raise KeyFileError(
            f"key file {source} does not exist", hint="create one with `aiwork keys new --out FILE`"
        ) from exc
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {source}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"key file {source} is accessible by other users (mode {stat.S_IMODE(mode):04o})",
            hint=f"run `chmod 600 {source}`",
        )
    return SigningKey.from_pem(raw.decode("ascii", "replace"), source=f"key file {source}")


def read_or_make_key_file(path: str | os.PathLike[str]) -> SigningKey:
    """The key in ``path``; on first use, a new key written there (:func:`write_key_file`)."""
    target = Path(path)
    if target.exists():
        return read_key_file(target)
    key = SigningKey.generate()
    write_key_file(target, key)
    return key
