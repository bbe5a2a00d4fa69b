"""Witness cosignatures of the log's checkpoints, kept beside the log.

Table ``witness_cosignatures(size, witness, signed_time, line, received_at)``: per checkpoint
the log signed (by tree size) and per witness (its verifier key), the newest cosignature line
it sent. A cosignature is taken only from a configured witness, only for a checkpoint this log
signed and stored, and only when it verifies over that checkpoint; it needs no other
authentication, since it is self-authenticating. Served checkpoints carry the stored
cosignature lines of the configured witnesses after the log's own signature.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from aiwork.errors import (
    AiworkError,
    CheckpointMismatchError,
    ConfigError,
    CosignatureRefused,
    NoteError,
    OutOfRangeError,
    UnknownCheckpointError,
    UnknownWitnessError,
)
from aiwork.ledger.cosign import Cosignature, WitnessKey, verify_cosignature
from aiwork.ledger.log import Log
from aiwork.ledger.note import Checkpoint, SignedNote
from aiwork.store import Migration

__all__ = ["MAX_REQUEST_BYTES", "MIGRATIONS", "Cosignatures", "parse_witnesses"]

#: Largest body accepted by ``POST /v1/ledger/cosignatures`` (a line, a size, a checkpoint).
MAX_REQUEST_BYTES = 16 * 1024


def _tables(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE witness_cosignatures (size BIGINT NOT NULL, witness TEXT NOT NULL,"
        " signed_time BIGINT NOT NULL, line TEXT NOT NULL, received_at TEXT NOT NULL,"
        " PRIMARY KEY (size, witness))"
    )


MIGRATIONS = [Migration("cosignatures-0001-table", _tables)]


def parse_witnesses(texts: Iterable[str]) -> tuple[WitnessKey, ...]:
    """Witness verifier keys as configured (``aiwork serve --witness VKEY``)."""
    keys = []
    for text in texts:
        try:
            keys.append(WitnessKey.from_text(text))
        except NoteError as exc:
            raise ConfigError(f"--witness {text!r}: {exc}",
                              hint="give the key `aiwork witness key` printed") from exc
    return tuple(keys)


def _body(note: str) -> str:
    try:
        body = SignedNote.from_text(note).body if "\n\n" in note else note
        Checkpoint.from_body(body)
    except NoteError as exc:
        raise CosignatureRefused(f"'checkpoint' is not a checkpoint: {exc}",
                                 reason="bad-checkpoint") from exc
    return body


class Cosignatures:
    """The cosignatures of ``log``'s checkpoints by the ``witnesses`` it knows."""

    def __init__(self, log: Log, witnesses: Iterable[WitnessKey | str] = ()) -> None:
        self.log = log
        self.witnesses = tuple(w if isinstance(w, WitnessKey) else WitnessKey.from_text(w)
                               for w in witnesses)
        log.db.migrate(MIGRATIONS)

    def add(self, size: int, line: str, note: str | None = None, *,
            now: float | None = None) -> Cosignature:
        """Verify and store a cosignature of the checkpoint of tree size ``size``.

        ``note``, when given, must be that checkpoint (signed, or its body). Raises
        :class:`CosignatureRefused` and stores nothing when anything is wrong.
        """
        try:
            cosignature = Cosignature.from_line(line)
        except NoteError as exc:
            raise CosignatureRefused(str(exc), reason="bad-cosignature") from exc
        witness = next((w for w in self.witnesses if cosignature.matches(w)), None)
        if witness is None:
            raise UnknownWitnessError(
                f"{cosignature.name!r} (key id {cosignature.key_id.hex()}) is not a witness "
                "of this log", reason="unknown-witness",
                hint="the coordinator's operator adds it with `aiwork serve --witness VKEY`")
        stored = self.log.stored_checkpoint(size)
        if stored is None:
            raise UnknownCheckpointError(f"this log never signed a checkpoint of size {size}",
                                         reason="unknown-checkpoint")
        if note is not None and _body(note) != SignedNote.from_text(stored).body:
            raise CheckpointMismatchError(
                f"the checkpoint given is not the one this log signed for size {size}",
                reason="checkpoint-mismatch")
        try:
            verify_cosignature(cosignature, stored, witness, now=now)
        except NoteError as exc:
            raise CosignatureRefused(str(exc), reason="bad-cosignature") from exc
        received = datetime.fromtimestamp(time.time() if now is None else now, UTC)
        with self.log.db.atomic() as conn:
            conn.execute(
                "INSERT INTO witness_cosignatures (size, witness, signed_time, line, received_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (size, witness) DO UPDATE SET"
                " signed_time = excluded.signed_time, line = excluded.line,"
                " received_at = excluded.received_at"
                " WHERE excluded.signed_time > witness_cosignatures.signed_time",
                (size, witness.to_text(), cosignature.timestamp, cosignature.to_line(),
                 received.isoformat()))
        return cosignature

    def lines(self, size: int) -> list[str]:
        """The stored cosignature lines of the checkpoint of ``size``, by witness name."""
        if not self.witnesses:
            return []
        known = {w.to_text(): w.name for w in self.witnesses}
        marks = ",".join("?" * len(known))
        rows = self.log.db.conn.execute(
            f"SELECT witness, line FROM witness_cosignatures WHERE size = ? AND witness IN"
            f" ({marks})", (size, *known)).fetchall()
        return [str(line) for _, line in sorted(rows, key=lambda r: (known[r[0]], r[0]))]

    def stored(self, size: int) -> list[tuple[str, str]]:
        """Every cosignature stored for the checkpoint of ``size``, whoever the witness:
        ``(witness verifier key, cosignature line)`` pairs (an audit bundle carries both)."""
        rows = self.log.db.conn.execute(
            "SELECT witness, line FROM witness_cosignatures WHERE size = ? ORDER BY witness",
            (size,)).fetchall()
        return [(str(witness), str(line)) for witness, line in rows]

    def cosigned_sizes(self) -> dict[int, int]:
        """How many cosignatures each checkpoint size has."""
        return {int(size): int(n) for size, n in self.log.db.conn.execute(
            "SELECT size, COUNT(*) FROM witness_cosignatures GROUP BY size")}

    def checkpoint(self, size: int | None = None) -> str:
        """The latest checkpoint (signed now if the log grew), or the stored one of ``size``,
        with its cosignatures appended."""
        if size is None:
            note = self.log.checkpoint()
        else:
            stored = self.log.stored_checkpoint(size)
            if stored is None:
                raise OutOfRangeError(f"this log signed no checkpoint of size {size}")
            note = stored
        if not self.witnesses:
            return note
        try:
            note_size = Checkpoint.from_body(SignedNote.from_text(note).body).size
        except AiworkError:  # a damaged stored note is served as it is
            return note
        return note + "".join(self.lines(note_size))
