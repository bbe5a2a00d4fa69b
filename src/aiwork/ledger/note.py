"""C2SP signed notes and tlog checkpoints.

A checkpoint is the note body ``<origin>\\n<tree size>\\n<base64 root hash>\\n`` followed by a
blank line and one signature line per signer: ``— <key name> <base64(key id || signature)>``.
The Ed25519 key id is the first 4 bytes of ``SHA-256(key name || 0x0A || 0x01 || public key)``
and a verifier key is written ``<name>+<hex key id>+<base64(0x01 || public key)>``, so Go's
``golang.org/x/mod/sumdb/note`` and the witnesses of the C2SP ecosystem read them as they are.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from aiwork.crypto import SigningKey, verify_signature
from aiwork.errors import NoteError, SignatureError

__all__ = [
    "Checkpoint",
    "NoteSignature",
    "SignedNote",
    "VerifierKey",
    "key_id",
    "parse_vkey",
    "sign_note",
    "vkey_text",
]

_ALG_ED25519 = 0x01
_SIG_PREFIX = "\u2014 "  # em dash, space
_MAX_NOTE_BYTES = 1 << 16


def key_id(name: str, public_key: bytes, alg: int = _ALG_ED25519) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


def vkey_text(name: str, alg: int, public_key: bytes) -> str:
    """A C2SP verifier key: ``<name>+<hex key id>+<base64(type || public key)>``."""
    encoded = base64.b64encode(bytes([alg]) + public_key).decode()
    return f"{name}+{key_id(name, public_key, alg).hex()}+{encoded}"


def parse_vkey(text: str, alg: int, *, what: str,
               wrong_type: str = "not an Ed25519 key") -> tuple[str, bytes]:
    """The name and 32-byte public key of a verifier key of type ``alg``; the key id must
    match. ``wrong_type`` says what a key of another type is."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or len(parts[1]) != 8:
        raise NoteError(f"{text!r} is not a {what} (name+keyid+base64key)")
    name, hex_id, encoded = parts
    try:
        raw = base64.b64decode(encoded, validate=True)
        expected_id = bytes.fromhex(hex_id)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what} {name!r} is not well encoded") from exc
    if len(raw) != 33 or raw[0] != alg:
        raise NoteError(f"{what} {name!r} is {wrong_type}")
    _check_name(name)
    if key_id(name, raw[1:], alg) != expected_id:
        raise NoteError(f"{what} {name!r}: key id does not match the key")
    return name, raw[1:]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"note key name {name!r} must be non-empty, without spaces or '+'")


@dataclass(frozen=True)
class VerifierKey:
    """A note verifier key: a name and an Ed25519 public key."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_key) != 32:
            raise NoteError("an Ed25519 note key has 32 bytes")

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def to_text(self) -> str:
        return vkey_text(self.name, _ALG_ED25519, self.public_key)

    @classmethod
    def from_text(cls, text: str) -> VerifierKey:
        name, raw = parse_vkey(text, _ALG_ED25519, what="verifier key")
        return cls(name, raw)


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes

    def to_line(self) -> str:
        encoded = base64.b64encode(self.key_id + self.signature).decode()
        return f"{_SIG_PREFIX}{self.name} {encoded}\n"


@dataclass(frozen=True)
class SignedNote:
    """A note body (ending in a newline) and its signature lines."""

    body: str
    signatures: tuple[NoteSignature, ...]

    def to_text(self) -> str:
        return self.body + "\n" + "".join(sig.to_line() for sig in self.signatures)

    @classmethod
    def from_text(cls, text: str) -> SignedNote:
        if len(text.encode("utf-8", "surrogatepass")) > _MAX_NOTE_BYTES:
            raise NoteError("note is larger than 64 KiB")
        if any(ord(c) < 0x20 and c != "\n" for c in text):
            raise NoteError("note holds control characters")
        split = text.rfind("\n\n")
        if split < 0 or not text.endswith("\n"):
            raise NoteError("malformed note: no blank line before the signatures")
        body, sig_block = text[: split + 1], text[split + 2 :]
        signatures = []
        for line in sig_block.splitlines():
            if not line.startswith(_SIG_PREFIX):
                raise NoteError(f"malformed note signature line {line!r}")
            try:
                name, encoded = line[len(_SIG_PREFIX) :].split(" ")
                raw = base64.b64decode(encoded, validate=True)
            except (ValueError, binascii.Error) as exc:
                raise NoteError(f"malformed note signature line {line!r}") from exc
            if len(raw) < 5:
                raise NoteError(f"note signature by {name!r} is too short")
            signatures.append(NoteSignature(name, raw[:4], raw[4:]))
        if not signatures:
            raise NoteError("note has no signatures")
        return cls(body, tuple(signatures))

    def verify(self, key: VerifierKey) -> None:
        """Return if ``key`` signed this note; raise :class:`NoteError` if it did not."""
        matching = [s for s in self.signatures if s.name == key.name and s.key_id == key.key_id]
        if not matching:
            raise NoteError(f"note is not signed by {key.name} (key id {key.key_id.hex()})")
        for sig in matching:
            try:
                verify_signature(key.public_key, self.body.encode(), sig.signature)
            except SignatureError as exc:
                raise NoteError(f"note signature by {key.name} does not verify") from exc

    def add_signature(self, signature: NoteSignature) -> SignedNote:
        return SignedNote(self.body, (*self.signatures, signature))


def sign_note(body: str, name: str, key: SigningKey) -> SignedNote:
    _check_name(name)
    if not body.endswith("\n") or "\n\n" in body:
        raise NoteError("a note body ends with one newline and has no blank lines")
    signature = key.sign(body.encode())
    return SignedNote(body, (NoteSignature(name, key_id(name, key.public_key), signature),))


@dataclass(frozen=True)
class Checkpoint:
    """A tlog checkpoint: origin, tree size and root hash (and optional extension lines)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def to_body(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"

    @classmethod
    def from_body(cls, body: str) -> Checkpoint:
        lines = body.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("a checkpoint has an origin, a size and a root hash line")
        origin, size_text, root_text, *extensions = lines[:-1]
        if not origin:
            raise NoteError("checkpoint origin line is empty")
        if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
            raise NoteError(f"checkpoint size {size_text!r} is not a decimal number")
        try:
            root = base64.b64decode(root_text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise NoteError("checkpoint root hash is not base64") from exc
        if len(root) != 32:
            raise NoteError("checkpoint root hash is not 32 bytes")
        return cls(origin, int(size_text), root, tuple(extensions))

    @classmethod
    def from_note(cls, text: str, key: VerifierKey, *, origin: str | None = None) -> Checkpoint:
        """Parse a signed checkpoint note, check ``key``'s signature (and the origin)."""
        note = SignedNote.from_text(text)
        note.verify(key)
        checkpoint = cls.from_body(note.body)
        if origin is not None and checkpoint.origin != origin:
            raise NoteError(f"checkpoint is for log {checkpoint.origin!r}, not {origin!r}")
        return checkpoint
