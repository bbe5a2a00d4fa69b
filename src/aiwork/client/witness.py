"""A witness: it watches a log, checks that the log only grows, and cosigns what it checked.

Its state is one JSON file, ``<state>/witness.json``, replaced atomically: per log origin, the
log's verifier key (pinned on first contact, or given up front as ``log_key``), the URL where it was first seen and the last
checkpoint the witness cosigned. One :meth:`Witness.step`:

1. fetches the log's key and latest checkpoint, and checks the log's signature on it;
2. compares it with the last checkpoint it cosigned for that origin: a smaller tree is a
   rollback, the same size with another root a fork, another key a key change;
3. for a larger tree, fetches the consistency proof from the last size and checks it (RFC 9162);
4. records the checkpoint as cosigned, and only then posts its cosignature to the log.

A failure in 2 or 3 is an alarm: a JSON evidence file (both checkpoints, the proof, the
reason, the time) in ``<state>/alarms/``, :class:`WitnessAlarm` raised, nothing cosigned and the
state left as it was. An unreachable log or a badly signed checkpoint is an ordinary error:
anyone on the path could cause it, so it proves nothing about the log. One process per state
folder.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from aiwork.client.coordinator import CoordinatorClient
from aiwork.crypto import SigningKey
from aiwork.errors import AiworkError, ConfigError, KeyMismatchError, ProofError, WitnessAlarm
from aiwork.files import sync_folder, write_atomically
from aiwork.ledger.cosign import WitnessKey, cosign, verify_cosigned_note
from aiwork.ledger.note import Checkpoint, SignedNote, VerifierKey
from aiwork.ledger.proofs import ConsistencyProof
from aiwork.ledger.verify import verify_consistency

__all__ = ["ALARM_REASONS", "StepResult", "Witness", "default_name"]

STATE_FILE = "witness.json"
ALARMS_FOLDER = "alarms"
#: Why a witness raises an alarm.
ALARM_REASONS = ("key-changed", "rollback", "fork", "inconsistent")
_EVIDENCE_TEXT_LIMIT = 1 << 16  # characters of a served text kept in an evidence file


@dataclass(frozen=True)
class StepResult:
    """What a step did: ``cosigned`` a new checkpoint, or found it ``unchanged``."""

    origin: str
    size: int
    action: str
    previous_size: int | None = None
    cosignature: str | None = None


def default_name(key: SigningKey) -> str:
    return f"aiwork-witness/{key.public_key.hex()[:16]}"


def _clip(text: str) -> str:
    return text if len(text) <= _EVIDENCE_TEXT_LIMIT else text[:_EVIDENCE_TEXT_LIMIT] + "…"


class Witness:
    """A witness signing with ``key`` as ``name``, its state in the folder ``state``."""

    def __init__(self, key: SigningKey, state: Path, name: str | None = None, *,
                 log_key: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """``log_key``: the verifier key the log must present (its note text, as ``aiwork
        ledger key`` prints it); without it the first key seen is pinned."""
        self.name = name or default_name(key)
        self.log_key: VerifierKey | None = None
        if log_key is not None:
            try:
                self.log_key = VerifierKey.from_text(log_key.strip())
            except AiworkError as exc:
                raise ConfigError(f"the log key given is not a verifier key: {exc}",
                                  hint="give the log's key as `aiwork ledger key` or GET "
                                       "/v1/ledger/key prints it") from exc
        self.key = WitnessKey.of(self.name, key)
        self._signer = key
        self.folder = state
        self.alarms = state / ALARMS_FOLDER
        self.clock = clock
        self._logs: dict[str, dict[str, Any]] = self._load()

    # -- state ---------------------------------------------------------------------------

    @property
    def state_file(self) -> Path:
        return self.folder / STATE_FILE

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            text = self.state_file.read_text()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"cannot read the witness state {self.state_file}: "
                              f"{exc.strerror}") from exc
        try:
            value = json.loads(text)
            logs = value["logs"]
            if value.get("version") != 1 or not isinstance(logs, dict):
                raise ValueError("not version 1")
            for entry in logs.values():
                SignedNote.from_text(entry["checkpoint"])
                VerifierKey.from_text(entry["key"])
        except (ValueError, KeyError, TypeError, AiworkError) as exc:
            raise ConfigError(f"the witness state {self.state_file} is damaged: {exc}",
                              hint="restore it from a backup; starting afresh would forget "
                                   "what this witness already cosigned") from exc
        return dict(logs)

    def _save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomically(self.state_file, json.dumps({"version": 1, "logs": self._logs},
                                                     indent=2, sort_keys=True) + "\n",
                         durable=True)

    def last_cosigned(self, origin: str) -> str | None:
        """The last checkpoint note (the log's signature only) cosigned for ``origin``."""
        entry = self._logs.get(origin)
        return None if entry is None else str(entry["checkpoint"])

    # -- one round -----------------------------------------------------------------------

    def step(self, log: str | CoordinatorClient) -> StepResult:
        """Check the log at ``log`` (a URL or a client) once; cosign if it only grew."""
        if isinstance(log, str):
            with CoordinatorClient(log) as client:
                return self._step(client, log.rstrip("/"))
        return self._step(log, str(log.http.base_url).rstrip("/"))

    def _step(self, client: CoordinatorClient, url: str) -> StepResult:
        key_text = client.get_verifier_key()
        log_key = VerifierKey.from_text(key_text)
        expected = self.log_key
        if expected is not None and log_key != expected:
            # Not evidence against the log: a wrong URL or someone on the path can do this.
            raise KeyMismatchError(f"the log at {url} presents the key {key_text}, not the key "
                                   f"this witness was given ({expected.to_text()})",
                                   hint="check --log and --log-key; nothing was cosigned")
        served = client.get_checkpoint()
        origin = log_key.name
        known = self._logs.get(origin)
        if known is None:
            before = next((o for o, e in self._logs.items() if e.get("url") == url), None)
            if before is not None:
                self._alarm("key-changed", f"the log at {url} now presents the key {key_text}; "
                            f"it presented {self._logs[before]['key']} before",
                            url=url, origin=origin, known=self._logs[before], served=served,
                            served_key=key_text)
        elif known["key"] != key_text:
            self._alarm("key-changed", f"the log {origin!r} now presents the key {key_text}; "
                        f"the key pinned is {known['key']}", url=url, origin=origin,
                        known=known, served=served, served_key=key_text)
        checkpoint = Checkpoint.from_note(served, log_key, origin=origin)
        signed = SignedNote.from_text(served)
        log_note = SignedNote(signed.body, tuple(
            s for s in signed.signatures if s.name == origin and s.key_id == log_key.key_id
        )).to_text()
        if known is None:
            return self._cosign(client, url, key_text, log_note, checkpoint, None)
        last = Checkpoint.from_body(SignedNote.from_text(known["checkpoint"]).body)

        def alarm(reason: str, message: str, proof: Any = None) -> NoReturn:
            self._alarm(reason, message, url=url, origin=origin, known=known, served=served,
                        served_key=key_text, proof=proof)

        if checkpoint.size < last.size:
            alarm("rollback", f"the log {origin!r} went back from size {last.size} to "
                  f"{checkpoint.size}")
        if checkpoint.size == last.size:
            if checkpoint.root_hash != last.root_hash:
                alarm("fork", f"the log {origin!r} signed two different roots for size "
                      f"{last.size}")
            try:
                verify_cosigned_note(served, self.key, now=self.clock())
            except AiworkError:  # not served with our cosignature yet: post it (again)
                return self._cosign(client, url, key_text, log_note, checkpoint, last.size)
            return StepResult(origin, checkpoint.size, "unchanged", last.size)
        if last.size > 0:
            reply = client.get_consistency_proof(last.size, checkpoint.size)
            proof: Any = _clip(reply)
            try:
                proof = json.loads(reply)
                parsed = ConsistencyProof.from_json(proof)
                if (parsed.size1, parsed.size2) != (last.size, checkpoint.size):
                    raise ProofError(f"the proof is from size {parsed.size1} to {parsed.size2}, "
                                     f"not {last.size} to {checkpoint.size}")
                verify_consistency(parsed, last.root_hash, checkpoint.root_hash)
            except (ValueError, ProofError) as exc:
                alarm("inconsistent", f"the log {origin!r} gave no valid consistency proof from "
                      f"size {last.size} to {checkpoint.size}: {exc}", proof)
        return self._cosign(client, url, key_text, log_note, checkpoint, last.size)

    def _cosign(self, client: CoordinatorClient, url: str, key_text: str, log_note: str,
                checkpoint: Checkpoint, previous: int | None) -> StepResult:
        known = self._logs.get(checkpoint.origin, {})
        timestamp = max(int(self.clock()), int(known.get("cosigned_at", 0)))
        line = cosign(log_note, self.name, self._signer, timestamp)
        # Recorded before it is released: the witness never signs anything it did not keep.
        self._logs[checkpoint.origin] = {
            "url": known.get("url", url), "key": key_text, "checkpoint": log_note,
            "size": checkpoint.size, "cosigned_at": timestamp,
        }
        self._save()
        client.add_cosignature(checkpoint.size, line, log_note)
        return StepResult(checkpoint.origin, checkpoint.size, "cosigned", previous, line)

    # -- alarms ---------------------------------------------------------------------------

    def _alarm(self, reason: str, message: str, *, url: str, origin: str,
               known: dict[str, Any], served: str, served_key: str,
               proof: Any = None) -> NoReturn:
        now = self.clock()
        evidence = {
            "reason": reason,
            "message": message,
            "time": datetime.fromtimestamp(now, UTC).isoformat(),
            "log": url,
            "origin": origin,
            "witness": self.key.to_text(),
            "pinned_key": known.get("key"),
            "served_key": _clip(served_key),
            "cosigned_checkpoint": known.get("checkpoint"),
            "served_checkpoint": _clip(served),
            "proof": proof,
        }
        self.alarms.mkdir(parents=True, exist_ok=True)
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
        text = json.dumps(evidence, indent=2, ensure_ascii=False) + "\n"
        path = _write_new(self.alarms, f"{stamp}-{reason}", text)
        raise WitnessAlarm(f"ALARM ({reason}): {message}; not cosigned", reason=reason,
                           evidence=path)


def _write_new(folder: Path, stem: str, text: str) -> Path:
    """Write ``text`` whole to a new file ``<stem>[-n].json`` in ``folder``; never overwrite."""
    tmp = folder / f".{stem}.{os.getpid()}.tmp"
    with tmp.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        for n in range(1, 10_000):
            path = folder / (f"{stem}.json" if n == 1 else f"{stem}-{n}.json")
            try:
                os.link(tmp, path)
            except FileExistsError:
                continue
            sync_folder(folder)
            return path
        raise ConfigError(f"too many evidence files named {stem} in {folder}")
    finally:
        tmp.unlink(missing_ok=True)


