"""C2SP tlog-cosignature/v1 (Ed25519): a witness's timestamped signature on a checkpoint.

A cosignature is one more signature line of the checkpoint's signed note::

    — <witness name> base64(key id || u64 big-endian timestamp || Ed25519 signature)

The key id is ``SHA-256(name || 0x0A || 0x04 || public key)[:4]`` (signature type 0x04) and the
witness's verifier key is ``<name>+<hex key id>+<base64(0x04 || public key)>``. The signed
message is ``cosignature/v1\\ntime <timestamp>\\n`` followed by the whole checkpoint body
(origin, size, root hash and any extension lines, each ending in a newline; no signature
lines). A cosignature states that, as of its time, this is the largest tree the witness has
seen for that log, consistent with every earlier tree it saw.

Pure: no store, no server. Every refusal is a :class:`NoteError`.
"""

from __future__ import annotations

import base64
import binascii
import struct
import time
from dataclasses import dataclass

from aiwork.crypto import SigningKey, verify_signature
from aiwork.errors import NoteError, SignatureError
from aiwork.ledger.note import (
    Checkpoint,
    NoteSignature,
    SignedNote,
    key_id,
    parse_vkey,
    vkey_text,
)

__all__ = [
    "COSIGNATURE_V1",
    "FUTURE_TOLERANCE_SECONDS",
    "MAX_TIMESTAMP",
    "Cosignature",
    "WitnessKey",
    "cosign",
    "cosigned_message",
    "verify_cosignature",
    "verify_cosigned_note",
]

#: The signature type byte of Ed25519 cosignature/v1 keys (c2sp.org/signed-note).
COSIGNATURE_V1 = 0x04
#: The largest timestamp a cosignature may carry (2^63 - 1).
MAX_TIMESTAMP = (1 << 63) - 1
#: How far past the verifier's clock a cosignature's time may lie before it is refused.
FUTURE_TOLERANCE_SECONDS = 600.0

_SIG_PREFIX = "\u2014 "  # em dash, space
_HEADER = b"cosignature/v1\n"
_RAW_SIZE = 4 + 8 + 64  # key id, timestamp, Ed25519 signature


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"witness name {name!r} must be non-empty, without spaces or '+'")


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise NoteError(f"a cosignature timestamp is a whole number, not {timestamp!r}")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp} is outside 0 to 2^63-1")


def _checkpoint_body(note: str) -> str:
    """The body of a signed checkpoint note, or ``note`` itself when it is a bare body."""
    body = SignedNote.from_text(note).body if "\n\n" in note else note
    Checkpoint.from_body(body)
    return body


@dataclass(frozen=True)
class WitnessKey:
    """A witness's verifier key: a name and an Ed25519 public key, signature type 0x04."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_key) != 32:
            raise NoteError("an Ed25519 witness key has 32 bytes")

    @classmethod
    def of(cls, name: str, key: SigningKey) -> WitnessKey:
        """The verifier key of the witness ``name`` signing with ``key``."""
        return cls(name, key.public_key)

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key, COSIGNATURE_V1)

    def to_text(self) -> str:
        return vkey_text(self.name, COSIGNATURE_V1, self.public_key)

    @classmethod
    def from_text(cls, text: str) -> WitnessKey:
        wrong = ("a checkpoint signing key (type 0x01), not an Ed25519 cosignature/v1 key"
                 " (type 0x04)" if _type_byte(text) == 0x01 else
                 "not an Ed25519 cosignature/v1 key (type 0x04)")
        name, raw = parse_vkey(text, COSIGNATURE_V1, what="witness key", wrong_type=wrong)
        return cls(name, raw)


def _type_byte(text: str) -> int | None:
    try:
        raw = base64.b64decode(text.strip().split("+", 2)[-1], validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw[0] if raw else None


def cosigned_message(body: str, timestamp: int) -> bytes:
    """The bytes a witness signs: header line, time line, then the checkpoint body."""
    _check_timestamp(timestamp)
    return _HEADER + f"time {timestamp}\n".encode() + body.encode()


@dataclass(frozen=True)
class Cosignature:
    """One cosignature line, parsed: the witness name, key id, time and signature."""

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_timestamp(self.timestamp)
        if len(self.key_id) != 4 or len(self.signature) != 64:
            raise NoteError(f"cosignature by {self.name!r} has a malformed key id or signature")

    def to_note_signature(self) -> NoteSignature:
        raw = self.key_id + struct.pack(">Q", self.timestamp) + self.signature
        return NoteSignature(self.name, raw[:4], raw[4:])

    def to_line(self) -> str:
        """``— <name> <base64>`` and a newline: ready to append to a signed note."""
        return self.to_note_signature().to_line()

    @classmethod
    def from_note_signature(cls, signature: NoteSignature) -> Cosignature:
        raw = signature.key_id + signature.signature
        if len(raw) != _RAW_SIZE:
            raise NoteError(f"signature by {signature.name!r} is not an Ed25519 cosignature "
                            f"({len(raw)} bytes, not {_RAW_SIZE})")
        (timestamp,) = struct.unpack(">Q", raw[4:12])
        if timestamp > MAX_TIMESTAMP:
            raise NoteError(f"cosignature by {signature.name!r}: timestamp is over 2^63-1")
        return cls(signature.name, raw[:4], timestamp, raw[12:])

    @classmethod
    def from_line(cls, line: str) -> Cosignature:
        text = line[:-1] if line.endswith("\n") else line
        if not text.startswith(_SIG_PREFIX) or "\n" in text or len(text) > 1024:
            raise NoteError(f"malformed cosignature line {line[:120]!r}")
        try:
            name, encoded = text[len(_SIG_PREFIX):].split(" ")
            raw = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise NoteError(f"malformed cosignature line {line[:120]!r}") from exc
        if len(raw) < 4:
            raise NoteError(f"cosignature by {name!r} is too short")
        return cls.from_note_signature(NoteSignature(name, raw[:4], raw[4:]))

    def matches(self, key: WitnessKey) -> bool:
        return self.name == key.name and self.key_id == key.key_id


def cosign(note: str, name: str, key: SigningKey, timestamp: int) -> str:
    """Cosign a checkpoint (a signed note, or its body alone); return the signature line.

    The line ends with a newline, so ``note + line`` is the cosigned note.
    """
    body = _checkpoint_body(note)
    signature = key.sign(cosigned_message(body, timestamp))
    return Cosignature(name, key_id(name, key.public_key, COSIGNATURE_V1), timestamp,
                       signature).to_line()


def verify_cosignature(
    cosignature: Cosignature | str,
    note: str,
    key: WitnessKey | str,
    *,
    now: float | None = None,
) -> Cosignature:
    """Check that ``key`` made ``cosignature`` over the checkpoint ``note`` (signed or bare).

    Refuses a cosignature dated more than :data:`FUTURE_TOLERANCE_SECONDS` after ``now``
    (default: this machine's clock). Returns the parsed cosignature.
    """
    witness = key if isinstance(key, WitnessKey) else WitnessKey.from_text(key)
    parsed = cosignature if isinstance(cosignature, Cosignature) else Cosignature.from_line(
        cosignature)
    if not parsed.matches(witness):
        raise NoteError(f"cosignature by {parsed.name!r} (key id {parsed.key_id.hex()}) is not "
                        f"from the witness {witness.name} (key id {witness.key_id.hex()})")
    clock = time.time() if now is None else now
    if parsed.timestamp > clock + FUTURE_TOLERANCE_SECONDS:
        raise NoteError(f"cosignature by {witness.name} is dated {parsed.timestamp}, "
                        f"in the future (now {int(clock)})")
    body = _checkpoint_body(note)
    try:
        verify_signature(witness.public_key, cosigned_message(body, parsed.timestamp),
                         parsed.signature)
    except SignatureError as exc:
        raise NoteError(f"cosignature by {witness.name} does not verify") from exc
    return parsed


def verify_cosigned_note(note: str, key: WitnessKey | str, *, now: float | None = None
                         ) -> Cosignature:
    """Find ``key``'s cosignature among a signed checkpoint's signature lines and check it."""
    witness = key if isinstance(key, WitnessKey) else WitnessKey.from_text(key)
    signed = SignedNote.from_text(note)
    found = [s for s in signed.signatures if s.name == witness.name and s.key_id == witness.key_id]
    if not found:
        raise NoteError(f"checkpoint is not cosigned by {witness.name} "
                        f"(key id {witness.key_id.hex()})")
    cosignatures = [Cosignature.from_note_signature(s) for s in found]
    for parsed in cosignatures:
        verify_cosignature(parsed, signed.body, witness, now=now)
    return max(cosignatures, key=lambda c: c.timestamp)
