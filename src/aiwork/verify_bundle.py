"""``aiwork-verify``: check an aiwork audit bundle offline.

This module stands alone on purpose: it needs the Python standard library and PyNaCl
(Ed25519), and imports nothing else from aiwork, so an auditor can read all of it and run it
without trusting the rest of the system. It re-implements, from the published formats, what
it checks:

- the log's checkpoint: a C2SP signed note (tlog-checkpoint), Ed25519 key type 0x01;
- witness cosignatures on it: C2SP tlog-cosignature ``cosignature/v1``, key type 0x04;
- every entry: its author's Ed25519 signature over ``"aiwork entry v1\\n"`` followed by the
  RFC 8785 JSON of ``{author, body, kind, time}`` (the author is a ``did:key``);
- every entry's inclusion in the checkpoint's tree: RFC 9162 section 2.1.3.2;
- every metadata item: SHA-256 of the RFC 8785 JSON of its items (without their ``decision``
  fields) equals its decision's ``output_digest``, and the decision is about that asset;
- the asset's latest ``asset.summary`` in the bundle (the log's list of each insight's latest
  decision): every insight it lists that the bundle covers is among the items, with that
  decision, so an insight cut out of the bundle (items and decision) is named;
- sealed entries (about a sensitive library): each opening the bundle carries (``openings``:
  ledger index -> field -> ``{value, salt}``) matches its commitment, SHA-256 of the 32-byte
  salt followed by the value's RFC 8785 JSON; a sealed decision's items are checked against
  its opened output and input;
- the anchor receipt, when there is one: it names this checkpoint's origin, size and root;
  with ``--rpc URL`` the chain is asked (``eth_call root_of(log_id, size)``) whether the
  contract holds that root.

What it is checked against. Everything above can be made up, consistently, by anyone with a
key of their own: a bundle alone proves only that it is self-consistent. It is checked
against a trust root the user gives: ``--log-key VKEY`` (or ``AIWORK_LOG_KEY``: the log's
verifier key, as ``aiwork ledger key`` prints it), which must have signed the checkpoint;
``--witness-key VKEY``, a witness whose cosignature the checkpoint must carry; or
``--contract ADDRESS`` with ``--rpc URL``, an anchor contract that must hold the checkpoint's
root. Without one, the verdict is ``OK (self-consistent only: no trusted log key given)``.

Exit status 0 when everything checked holds, 1 when anything fails (the first failure is
named), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import math
import os
import struct
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SELF_CONSISTENT_ONLY", "BundleError", "Report", "canonical_json", "main",
           "verify_bundle"]

BUNDLE_FORMAT = "aiwork audit bundle v1"
ENTRY_DOMAIN = b"aiwork entry v1\n"
_SIG_PREFIX = "\u2014 "  # em dash, space
_ALG_ED25519 = 0x01
_ALG_COSIGNATURE_V1 = 0x04
#: 4-byte selector of ``root_of(bytes32,uint256)``: keccak256 of that signature (a test
#: recomputes it).
ROOT_OF_SELECTOR = "0x2269f4ab"
#: Topic 0 of ``Anchored(bytes32,uint256,bytes32)`` (keccak256; a test recomputes it).
ANCHORED_TOPIC = "0xe2da6f87348f28aaa485d3df6ffe8bb7fd6212504c21b3ec54dc01191acf2c92"
_MAX_FUTURE_SECONDS = 600
#: The verdict line when no trust root was given.
SELF_CONSISTENT_ONLY = "OK (self-consistent only: no trusted log key given)"


class BundleError(Exception):
    """A check failed; the message says which and where."""


# -- RFC 8785 (JCS) -------------------------------------------------------------------------


def _number(value: float) -> str:
    """ECMAScript Number::toString, as RFC 8785 section 3.2.2.3 requires."""
    if not math.isfinite(value):
        raise BundleError(f"{value} cannot be written in canonical JSON")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    text = repr(abs(value))  # the shortest digits that round-trip, as ECMAScript uses
    mantissa, _, exp = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    # value = 0.digits x 10^n
    n = len(whole.lstrip("0")) if whole.strip("0") else -(len(frac) - len(frac.lstrip("0")))
    n += int(exp or 0)
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * -n + digits
    else:
        e = n - 1
        out = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e > 0 else "-") \
            + str(abs(e))
    return sign + out


def canonical_json(value: Any) -> str:
    """RFC 8785 canonical JSON of a parsed JSON value."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canonical_json(value[k])
                              for k in keys) + "}"
    raise BundleError(f"not a JSON value: {type(value).__name__}")


def _sha256_json(value: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(value).encode()).hexdigest()


# -- commitments (sealed entries of sensitive libraries) ------------------------------------

#: Sealed kinds and the fields they hold as commitments ``{"commitment": "sha256:..."}``.
SEALED_FIELDS = {
    "ai.decision.sealed/v1": ("input", "output", "output_items", "confidence", "evidence"),
    "human.verdict.sealed/v1": ("value", "rationale"),
    "consensus.result.sealed/v1": ("value",),
    "asset.summary.sealed/v1": ("asset",),
}


def _opened(body: dict[str, Any], field_name: str, opening: Any, where: str) -> Any:
    """The value of an opening ``{value, salt}`` of ``body[field_name]``, once checked."""
    committed = body.get(field_name)
    if not isinstance(committed, dict) or not isinstance(committed.get("commitment"), str):
        raise BundleError(f"{where}: {field_name!r} is not a commitment")
    if not isinstance(opening, dict) or set(opening) != {"value", "salt"}:
        raise BundleError(f"{where}: the opening of {field_name!r} is not {{value, salt}}")
    salt = opening["salt"]
    if not isinstance(salt, str) or len(salt) != 64 or salt.strip("0123456789abcdef"):
        raise BundleError(f"{where}: the salt of {field_name!r} is not 32 bytes of hex")
    digest = hashlib.sha256(bytes.fromhex(salt) + canonical_json(opening["value"]).encode())
    if "sha256:" + digest.hexdigest() != committed["commitment"]:
        raise BundleError(f"{where}: the opening of {field_name!r} does not match its "
                          "commitment (altered value or salt)")
    return opening["value"]


def _open_all(bundle: dict[str, Any], entries: dict[int, dict[str, Any]], report: Report
              ) -> dict[int, dict[str, Any]]:
    """Every opening in the bundle, checked: ledger index -> field -> opened value."""
    raw = bundle.get("openings") or {}
    if not isinstance(raw, dict):
        raise BundleError("the bundle's openings are not an object by ledger index")
    opened: dict[int, dict[str, Any]] = {}
    for key, fields in raw.items():
        where = f"entry {key}"
        if not str(key).isdigit() or int(key) not in entries:
            raise BundleError(f"{where}: an opening for an entry that is not in the bundle")
        value = entries[int(key)]
        names = SEALED_FIELDS.get(str(value["kind"]))
        if names is None:
            raise BundleError(f"{where}: an opening for a {value['kind']} entry, which is not"
                              " sealed")
        if not isinstance(fields, dict) or set(fields) - set(names):
            raise BundleError(f"{where}: openings for fields other than {', '.join(names)}")
        opened[int(key)] = {name: _opened(value["body"], name, fields[name], where)
                            for name in names if name in fields}
    sealed = [i for i, v in entries.items() if str(v["kind"]) in SEALED_FIELDS]
    if sealed:
        closed = [i for i in sealed if len(opened.get(i, {})) < len(SEALED_FIELDS[
            str(entries[i]["kind"])])]
        report.ok(f"sealed entries: {len(sealed)} (a sensitive library's), "
                  f"{sum(len(v) for v in opened.values())} opening(s) match their commitments")
        if closed:
            report.warnings.append(f"{len(closed)} sealed entr{'y' if len(closed) == 1 else 'ies'}"
                                   " not fully opened in the bundle: their hidden values are "
                                   "unchecked")
    return opened


# -- keys and signatures --------------------------------------------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        index = _B58.find(char)
        if index < 0:
            raise BundleError(f"{char!r} is not a base58 character")
        number = number * 58 + index
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + raw


def did_public_key(did: str) -> bytes:
    """The Ed25519 public key of a ``did:key:z6Mk...`` (multicodec 0xed01)."""
    if not did.startswith("did:key:z"):
        raise BundleError(f"{did[:40]!r} is not an Ed25519 did:key")
    raw = _b58decode(did[len("did:key:z"):])
    if len(raw) != 34 or raw[:2] != b"\xed\x01":
        raise BundleError(f"{did[:40]}... is not an Ed25519 did:key")
    return raw[2:]


def _verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey

    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError):
        return False
    return True


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BundleError(f"{what} is not base64") from exc


@dataclass(frozen=True)
class NoteKey:
    """A C2SP verifier key ``<name>+<hex key id>+<base64(type || public key)>``."""

    name: str
    key_id: bytes
    alg: int
    public_key: bytes

    @classmethod
    def parse(cls, text: str) -> NoteKey:
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise BundleError(f"verifier key {text.strip()[:60]!r} is not name+id+key")
        name, hex_id, encoded = parts
        raw = _b64(encoded, f"verifier key {name}")
        if len(raw) != 33:
            raise BundleError(f"verifier key {name} is not an Ed25519 key")
        key = cls(name, bytes.fromhex(hex_id), raw[0], raw[1:])
        expected = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
        if key.key_id != expected:
            raise BundleError(f"verifier key {name}: its key id does not match the key")
        return key


@dataclass(frozen=True)
class Checkpoint:
    body: str  # the note text up to the blank line, with its final newline
    origin: str
    size: int
    root: bytes
    signatures: list[tuple[str, bytes]]  # (key name, key id || signature)

    @classmethod
    def parse(cls, note: str) -> Checkpoint:
        body, sep, sigs = note.partition("\n\n")
        if not sep:
            raise BundleError("the checkpoint has no signature lines")
        body += "\n"
        lines = body.split("\n")[:-1]
        if len(lines) < 3:
            raise BundleError("the checkpoint body needs origin, size and root lines")
        try:
            size = int(lines[1])
        except ValueError as exc:
            raise BundleError(f"checkpoint size {lines[1]!r} is not a number") from exc
        root = _b64(lines[2], "the checkpoint root")
        signatures = []
        for line in sigs.rstrip("\n").split("\n"):
            if not line.startswith(_SIG_PREFIX):
                raise BundleError(f"checkpoint signature line {line[:40]!r} is malformed")
            name, _, encoded = line[len(_SIG_PREFIX):].rpartition(" ")
            signatures.append((name, _b64(encoded, f"signature of {name}")))
        return cls(body, lines[0], size, root, signatures)


# -- RFC 9162 -------------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\0" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\1" + left + right).digest()


def root_from_inclusion(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.3.2: the root an inclusion proof leads to."""
    if not 0 <= index < size:
        raise BundleError(f"leaf index {index} is outside a tree of {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise BundleError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise BundleError("the inclusion proof is too short")
    return r


# -- the bundle -----------------------------------------------------------------------------


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: The trust roots the user gave that the bundle was checked against (empty: it is
    #: only self-consistent).
    trusted: list[str] = field(default_factory=list)

    def ok(self, line: str) -> None:
        self.lines.append(line)


def _entry_fields(data: bytes, where: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise BundleError(f"{where}: not JSON") from exc
    if not isinstance(value, dict) or sorted(value) != ["author", "body", "kind", "signature",
                                                         "time"]:
        raise BundleError(f"{where}: not an aiwork entry (author, body, kind, signature, time)")
    return value


def check_entry_signature(data: bytes, where: str) -> dict[str, Any]:
    """The entry's fields, once its author's signature is checked."""
    value = _entry_fields(data, where)
    signature, stamp = value["signature"], value["time"]
    suffix = f',"signature":"{signature}","time":"{stamp}"}}'.encode()
    if not data.endswith(suffix):
        raise BundleError(f"{where}: the entry is not in canonical form")
    unsigned = data[: -len(suffix)] + f',"time":"{stamp}"}}'.encode()
    if canonical_json({k: v for k, v in value.items() if k != "signature"}).encode() != unsigned:
        raise BundleError(f"{where}: the entry is not in canonical form")
    key = did_public_key(str(value["author"]))
    if not _verify(key, ENTRY_DOMAIN + unsigned, _b64(str(signature), f"{where}: signature")):
        raise BundleError(f"{where}: the author's signature does not verify (altered entry)")
    return value


def _unstamp(items: Any) -> Any:
    # aiwork.model.decision.unstamp_decision, copied: this verifier imports nothing from aiwork.
    if isinstance(items, list):
        return [{k: v for k, v in item.items() if k != "decision"} for item in items]
    if isinstance(items, dict) and "segments" in items:
        return {**items, "segments": [{k: v for k, v in s.items() if k != "decision"}
                                      for s in items["segments"]]}
    if isinstance(items, dict):
        return {k: v for k, v in items.items() if k != "decision"}
    raise BundleError("an item's output is neither a list nor an object")


def _stamps(items: Any) -> set[Any]:
    """The decision indexes an output's items carry."""
    if isinstance(items, list):
        return {item.get("decision") for item in items}
    if isinstance(items, dict) and "segments" in items:
        return {s.get("decision") for s in items["segments"]}
    return {items.get("decision")}


def verify_bundle(bundle: Any, *, rpc: str | None = None,
                  rpc_call: Callable[[str, str, list[Any]], Any] | None = None,
                  now: float | None = None, log_key: str | None = None,
                  witness_keys: Sequence[str] = (), contract: str | None = None) -> Report:
    """Check everything in ``bundle`` (parsed JSON); raise :class:`BundleError` at the first
    failure. ``rpc`` asks an EVM node about the anchor.

    Trust roots (each the user's, never the bundle's): ``log_key``, the log's verifier key,
    must have signed the checkpoint; each of ``witness_keys`` must have cosigned it;
    ``contract`` (with ``rpc``) must hold its root on chain. The report's ``trusted`` lists
    those that held; empty, the bundle is only self-consistent."""
    report = Report()
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"not an aiwork audit bundle (format {BUNDLE_FORMAT!r} expected)")
    if contract is not None and rpc is None:
        raise BundleError("a trusted anchor contract is checked on chain: give --rpc URL too")
    checkpoint = _check_checkpoint(bundle, log_key, report)
    _check_witnesses(bundle, checkpoint, witness_keys, time.time() if now is None else now,
                     report)
    entries = _check_entries(bundle, checkpoint, report)
    opened = _open_all(bundle, entries, report)
    asset = _check_asset(bundle, entries, report)
    _check_items(bundle, entries, asset, opened, report)
    _check_summary(bundle, entries, asset, checkpoint, report, opened)
    _check_provenance(entries, {str(i.get("insight")): i.get("decision")
                                for i in bundle.get("items", [])}, report, opened)
    _check_reviews(entries, {int(i.get("decision", -1)) for i in bundle.get("items", [])},
                   report)
    _check_lineage(entries, report)
    _check_bundle_anchor(bundle, checkpoint, report, contract, rpc, rpc_call)
    return report


def _check_checkpoint(bundle: dict[str, Any], log_key: str | None, report: Report) -> Checkpoint:
    """The checkpoint, signed by the bundle's log key (and that key the trusted one)."""
    bundled_key = NoteKey.parse(str(bundle.get("log_key", "")))
    if bundled_key.alg != _ALG_ED25519:
        raise BundleError("the log key is not an Ed25519 note key")
    if log_key is not None:
        trusted_key = NoteKey.parse(log_key)
        if trusted_key.alg != _ALG_ED25519:
            raise BundleError(f"the trusted log key {trusted_key.name} is not an Ed25519 note"
                              " verifier key (`aiwork ledger key` prints the log's)")
        if trusted_key != bundled_key:
            raise BundleError(f"the checkpoint is not signed by the trusted log key "
                              f"{trusted_key.name}+{trusted_key.key_id.hex()}: the bundle's "
                              f"log key is {bundled_key.name}+{bundled_key.key_id.hex()} "
                              "(another log's bundle, or a forged one)")
    checkpoint = Checkpoint.parse(str(bundle.get("checkpoint", "")))
    if checkpoint.origin != bundled_key.name:
        raise BundleError(f"the checkpoint is for {checkpoint.origin}, the log key for "
                          f"{bundled_key.name}")
    signed = [raw for name, raw in checkpoint.signatures
              if name == bundled_key.name and raw[:4] == bundled_key.key_id]
    if not signed or not _verify(bundled_key.public_key, checkpoint.body.encode(), signed[0][4:]):
        raise BundleError("the checkpoint's log signature does not verify (altered checkpoint"
                          " or another log key)")
    if log_key is not None:
        report.trusted.append(f"the trusted log key {bundled_key.name}")
    report.ok(f"checkpoint: {checkpoint.origin}, size {checkpoint.size}, root "
              f"{checkpoint.root.hex()[:16]}..., signed by the log"
              + (" (the trusted key)" if log_key is not None else "") + ": ok")
    return checkpoint


def _check_witnesses(bundle: dict[str, Any], checkpoint: Checkpoint, witness_keys: Sequence[str],
                     now: float, report: Report) -> None:
    """Witness cosignatures: those the bundle names, then those the user trusts."""
    witnesses = [NoteKey.parse(str(text)) for text in bundle.get("witness_keys", [])]
    cosigned = []
    for witness in witnesses:
        cosigned.append(f"{witness.name} at {_cosignature(witness, checkpoint, now)}")
    if witnesses:
        report.ok(f"cosignatures: {len(cosigned)} of {len(witnesses)} witnesses: ok "
                  f"({'; '.join(cosigned)})")
    elif not witness_keys:
        report.warnings.append("no witness cosignatures in the bundle: only the log vouches"
                               " for this checkpoint")
    for text in witness_keys:
        witness = NoteKey.parse(text)
        stamp = _cosignature(witness, checkpoint, now, trusted=True)
        report.ok(f"cosignature of the trusted witness {witness.name} at {stamp}: ok")
        report.trusted.append(f"the trusted witness {witness.name}")


def _check_entries(bundle: dict[str, Any], checkpoint: Checkpoint,
                   report: Report) -> dict[int, dict[str, Any]]:
    """Each entry's signature and inclusion proof; the entries by index."""
    entries: dict[int, dict[str, Any]] = {}
    for item in bundle.get("entries", []):
        index = int(item.get("index", -1))
        where = f"entry {index}"
        data = str(item.get("data", "")).encode()
        entries[index] = check_entry_signature(data, where)
        path = [_b64(str(h), f"{where}: proof hash") for h in item.get("proof", [])]
        if root_from_inclusion(index, checkpoint.size, leaf_hash(data), path) != \
                checkpoint.root:
            raise BundleError(f"{where}: its inclusion proof does not lead to the checkpoint"
                              " root (altered entry or proof)")
    kinds: dict[str, int] = {}
    for value in entries.values():
        kinds[str(value["kind"])] = kinds.get(str(value["kind"]), 0) + 1
    report.ok(f"entries: {len(entries)} signatures and inclusion proofs: ok ("
              + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + ")")
    return entries


def _check_asset(bundle: dict[str, Any], entries: dict[int, dict[str, Any]],
                 report: Report) -> str:
    """The asset the items describe, as registered in the log; its digest."""
    asset_info = bundle.get("asset", {})
    asset = str(asset_info.get("digest", ""))
    registered = [v["body"] for v in entries.values()
                  if v["kind"] == "asset.registered/v1" and v["body"].get("digest") == asset]
    if registered:
        for name in ("name", "size", "media_type"):
            if registered[0].get(name) != asset_info.get(name):
                raise BundleError(f"asset {name} {asset_info.get(name)!r} differs from the"
                                  f" registered {registered[0].get(name)!r}")
    elif set(asset_info) != {"digest"}:
        # Media uploaded to a coordinator is known by its digest alone: nothing else about
        # it may be claimed without a registration entry to back it.
        raise BundleError(f"asset {asset[:24]}...: {sorted(set(asset_info) - {'digest'})}"
                          " claimed without its asset.registered entry")
    authors = sorted({str(v["author"]) for v in entries.values()})
    if sorted(bundle.get("keys", [])) != authors:
        raise BundleError("the bundle's key list is not the set of the entries' authors")
    report.ok(f"asset: {asset_info.get('name', asset)}, "
              + (f"{asset_info.get('size')} bytes, as registered" if registered
                 else "known by its digest") + f"; {len(authors)} signing key(s)")
    return asset


def _check_items(bundle: dict[str, Any], entries: dict[int, dict[str, Any]], asset: str,
                 opened: dict[int, dict[str, Any]], report: Report) -> None:
    """Metadata items against their decisions."""
    names = []
    for item in bundle.get("items", []):
        insight, decision = str(item.get("insight")), int(item.get("decision", -1))
        where = f"item {insight}"
        if decision not in entries:
            raise BundleError(f"{where}: its decision {decision} is not in the bundle")
        body = entries[decision]["body"]
        kind = entries[decision]["kind"]
        if kind not in (*_DECISION_KINDS, "ai.decision.sealed/v1"):
            raise BundleError(f"{where}: entry {decision} is not an ai.decision")
        if body.get("insight") != insight:
            raise BundleError(f"{where}: decision {decision} is about {body.get('insight')}")
        output = item.get("output")
        if kind == "ai.decision.sealed/v1":
            # A sensitive library's decision: its input and output are commitments, opened
            # (and checked) above.
            openings = opened.get(decision, {})
            if "input" not in openings or "output" not in openings:
                raise BundleError(f"{where}: decision {decision} is sealed and the bundle "
                                  "holds no opening of its input and output")
            body = {**body, "input": openings["input"],
                    "output_digest": _sha256_json(openings["output"])}
        span = body.get("input")
        if not isinstance(span, dict) or span.get("asset") != asset:
            raise BundleError(f"{where}: decision {decision} is about another asset")
        if _sha256_json(_unstamp(output)) != body.get("output_digest"):
            raise BundleError(f"{where}: its value does not match the output_digest of "
                              f"decision {decision} (altered value)")
        if _stamps(output) - {decision}:
            raise BundleError(f"{where}: items name another decision than {decision}")
        names.append(insight)
    report.ok(f"items: {len(names)} match their decisions ({', '.join(names) or 'none'})")


def _check_bundle_anchor(bundle: dict[str, Any], checkpoint: Checkpoint, report: Report,
                         contract: str | None, rpc: str | None,
                         rpc_call: Callable[[str, str, list[Any]], Any] | None) -> None:
    """The anchor receipt, and the trusted contract holding the checkpoint's root."""
    anchor = bundle.get("anchor")
    if anchor:
        if contract is not None and str(anchor.get("contract", "")).lower() != \
                contract.lower():
            raise BundleError(f"the anchor receipt is for contract {anchor.get('contract')}, "
                              f"not the trusted contract {contract}")
        _check_anchor(anchor, checkpoint, report, rpc, rpc_call)
        if contract is not None:
            report.trusted.append(f"the trusted anchor contract {contract} on chain "
                                  f"{anchor.get('chain_id')}")
    elif contract is not None:
        raise BundleError(f"the bundle has no anchor receipt: the trusted contract {contract}"
                          " cannot vouch for its checkpoint")
    else:
        report.warnings.append("no anchor receipt: the checkpoint is not anchored on a chain")


def _cosignature(witness: NoteKey, checkpoint: Checkpoint, now: float, *,
                 trusted: bool = False) -> int:
    """The time of ``witness``'s valid cosignature on ``checkpoint`` (C2SP
    tlog-cosignature/v1); a :class:`BundleError` when there is none."""
    who = f"the trusted witness {witness.name}" if trusted else witness.name
    if witness.alg != _ALG_COSIGNATURE_V1:
        raise BundleError(f"witness key {who} is not a cosignature/v1 key")
    lines = [raw for name, raw in checkpoint.signatures
             if name == witness.name and raw[:4] == witness.key_id]
    if not lines:
        raise BundleError(f"no cosignature by {who if trusted else 'witness ' + who} on the"
                          " checkpoint")
    raw = lines[0]
    if len(raw) != 4 + 8 + 64:
        raise BundleError(f"the cosignature of {who} is not 76 bytes")
    (stamp,) = struct.unpack(">Q", raw[4:12])
    if stamp >= 1 << 63 or stamp > now + _MAX_FUTURE_SECONDS:
        raise BundleError(f"the cosignature of {who} is dated in the future")
    message = f"cosignature/v1\ntime {stamp}\n".encode() + checkpoint.body.encode()
    if not _verify(witness.public_key, message, raw[12:]):
        raise BundleError(f"the cosignature of {who} does not verify")
    return int(stamp)


def _check_summary(bundle: dict[str, Any], entries: dict[int, dict[str, Any]], asset: str,
                   checkpoint: Checkpoint, report: Report,
                   opened: dict[int, dict[str, Any]]) -> None:
    """The asset's ``asset.summary`` (of the bundle's job, if any), the latest the bundle
    holds: every insight it lists that the bundle covers is among the items, with the
    decision it names, so an insight cut out of the bundle (items and decision) shows."""
    job = bundle.get("job")
    # A sensitive library's summary holds its asset as a commitment, opened above.
    summaries = {i: v for i, v in entries.items()
                 if str(v["kind"]).startswith(("asset.summary/", "asset.summary.sealed/"))
                 and opened.get(i, v["body"]).get("asset") == asset
                 and v["body"].get("job") == job}
    if not summaries:
        raise BundleError(f"no asset.summary of asset {asset[:24]}..."
                          + (f" in job {job}" if job is not None else "")
                          + " in the bundle: without the log's list of its decisions, an"
                          " insight left out could not be noticed")
    index = max(summaries)
    listed = summaries[index]["body"].get("decisions")
    if not isinstance(listed, dict):
        raise BundleError(f"asset.summary {index} has no list of decisions")
    items = {str(item.get("insight")): int(item.get("decision", -1))
             for item in bundle.get("items", [])}
    scope = bundle.get("insights")
    covered = set(listed) if scope is None else {str(name) for name in scope}
    for name in sorted(covered):
        if name not in listed:
            raise BundleError(f"insight {name}: the bundle says it covers it, but the asset's "
                              f"latest asset.summary ({index}) lists no such insight")
        if name not in items:
            raise BundleError(f"insight {name} is missing: the asset's asset.summary "
                              f"({index}) lists its decision {listed[name]}, and the bundle "
                              "has neither its items nor that decision (left out)")
        if items[name] != listed[name]:
            raise BundleError(f"item {name}: its decision {items[name]} is not the latest; "
                              f"the asset's asset.summary ({index}) lists {listed[name]}")
    for name in sorted(set(items) - covered):
        raise BundleError(f"item {name}: outside the insights the bundle says it covers")
    report.ok(f"summary: asset.summary {index} by {summaries[index]['author'][:24]}... lists "
              f"{len(listed)} insight(s); the bundle covers "
              + ("all of them" if covered == set(listed) else
                 f"{', '.join(sorted(covered)) or 'none'}") + ": ok")
    if covered != set(listed):
        report.warnings.append(
            f"this bundle covers {len(covered)} of the asset's {len(listed)} insights; not "
            f"covered: {', '.join(sorted(set(listed) - covered))}")
    later = checkpoint.size - index - 1
    if not later:
        report.ok(f"summary: asset.summary {index} is the checkpoint's last entry, so no later"
                  " summary of this asset is in this tree")
    else:
        report.warnings.append(
            f"the checkpoint holds {later} entries after asset.summary {index} that are not "
            "all in the bundle: a later summary of this asset cannot be ruled out offline "
            "(a fresh bundle from the log shows the latest)")


_DECISION_KINDS = ("ai.decision/v1", "ai.decision/v2")


def _check_provenance(entries: dict[int, dict[str, Any]], published: dict[str, Any],
                      report: Report, opened: dict[int, dict[str, Any]]) -> None:
    """Every upstream decision an ``ai.decision/v2`` (or a sealed decision, through its
    opened input) names in ``input.derived_from`` is in the bundle, is a decision about the
    named insight, made earlier, for the same asset. An item computed from another decision
    than the one the bundle publishes for that insight is stale: a warning."""

    def body_of(index: int) -> dict[str, Any]:
        return {**entries[index]["body"], **opened.get(index, {})}

    chains = []
    for index, value in sorted(entries.items()):
        if value["kind"] not in ("ai.decision/v2", "ai.decision.sealed/v1"):
            continue
        if value["kind"] == "ai.decision.sealed/v1" and "input" not in opened.get(index, {}):
            continue  # sealed and not opened: nothing to follow
        body = body_of(index)
        name = str(body.get("insight"))
        parts = []
        for ref in body.get("input", {}).get("derived_from", []):
            upstream, insight = ref.get("decision"), ref.get("insight")
            where = f"decision {index} ({name}) derived from {insight} decision {upstream}"
            if not isinstance(upstream, int) or isinstance(upstream, bool) \
                    or upstream not in entries:
                raise BundleError(f"{where}: that decision is not in the bundle")
            kind, other = entries[upstream]["kind"], body_of(upstream)
            if kind == "ai.decision.sealed/v1" and "input" not in opened.get(upstream, {}):
                raise BundleError(f"{where}: that decision is sealed and the bundle does not "
                                  "open its input")
            if kind not in (*_DECISION_KINDS, "ai.decision.sealed/v1"):
                raise BundleError(f"{where}: entry {upstream} is a {kind}, not an"
                                  " ai.decision")
            if other.get("insight") != insight:
                raise BundleError(f"{where}: entry {upstream} is about "
                                  f"{other.get('insight')}")
            span = other.get("input")
            if not isinstance(span, dict) or span.get("asset") != body["input"].get("asset"):
                raise BundleError(f"{where}: that decision was made for another asset")
            if upstream >= index:
                raise BundleError(f"{where}: that decision was logged after it")
            if index in published.values() and insight in published \
                    and published[insight] != upstream:
                report.warnings.append(
                    f"{name} (decision {index}) is stale: it was computed from {insight} "
                    f"decision {upstream}, the bundle publishes {insight} decision "
                    f"{published[insight]}")
            model = other.get("model") or {}
            parts.append(f"{insight} (decision {upstream}, {model.get('name')} "
                         f"{model.get('version')})")
        if parts:
            chains.append(f"{name} (decision {index}) from " + ", ".join(parts))
    if chains:
        report.ok("provenance: every derived_from decision is in the bundle, for the same"
                  " asset: ok")
        report.lines.extend(f"  {line}" for line in chains)


def _check_reviews(entries: dict[int, dict[str, Any]], decisions: set[int],
                   report: Report) -> None:
    """Human verdicts and consensus results: each about one of the items' decisions, each
    consensus naming verdicts that are in the bundle, by their signers, on the same item."""
    verdicts = {i: v for i, v in entries.items()
                if v["kind"] in ("human.verdict/v1", "human.verdict.sealed/v1")}
    results = {i: v for i, v in entries.items()
               if v["kind"] in ("consensus.result/v1", "consensus.result.sealed/v1")}
    for index, value in {**verdicts, **results}.items():
        if value["body"].get("decision") not in decisions:
            raise BundleError(f"entry {index}: a review of decision "
                              f"{value['body'].get('decision')}, not one of the items'")
    outcomes: dict[str, int] = {}
    for index, value in results.items():
        body = value["body"]
        for person in body.get("participants", []):
            cited = person.get("verdict")
            if cited is None:
                continue
            verdict = verdicts.get(int(cited))
            if verdict is None:
                raise BundleError(f"consensus entry {index} cites verdict {cited}, which is"
                                  " not in the bundle")
            if verdict["author"] != person.get("annotator") or \
                    verdict["body"].get("item") != body.get("item"):
                raise BundleError(f"consensus entry {index} misattributes verdict {cited}")
            answer = "accept" if verdict["body"].get("verdict") == "accept" else "reject"
            if answer != person.get("answer"):
                raise BundleError(f"consensus entry {index} misreports verdict {cited}")
        outcome = str(body.get("outcome"))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if verdicts or results:
        experts = {v["author"] for v in verdicts.values()}
        report.ok(f"reviews: {len(verdicts)} human verdicts by {len(experts)} expert(s), "
                  f"{len(results)} consensus result(s) ("
                  + ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())) + "): ok")


def _check_lineage(entries: dict[int, dict[str, Any]], report: Report) -> None:
    """Model lineage: each decision that names a ``model.registered`` entry
    (``model.registration``) travels with that entry, logged before it, registering the same
    analyzer and weights digest; each registration's parent and training ``dataset.released``
    entry are in the bundle too, earlier, and are what it says they are."""
    lines = []
    for index, value in sorted(entries.items()):
        if not str(value["kind"]).startswith("ai.decision"):
            continue
        body = value["body"]
        model = body.get("model")
        named = model.get("registration") if isinstance(model, dict) else None
        if named is None:
            continue
        where = f"decision {index} ({body.get('analyzer')})"
        child, registration, chain = index, named, []
        while registration is not None:
            if not isinstance(registration, int) or isinstance(registration, bool) \
                    or registration not in entries:
                raise BundleError(f"{where}: its model entry {registration!r} is not in the"
                                  " bundle")
            if registration >= child:
                raise BundleError(f"{where}: model entry {registration} was logged after "
                                  f"entry {child} that names it")
            entry = entries[registration]
            if entry["kind"] != "model.registered/v1":
                raise BundleError(f"{where}: entry {registration} is a {entry['kind']}, not a"
                                  " model.registered entry")
            registered = entry["body"]
            if registered.get("analyzer") != body.get("analyzer"):
                raise BundleError(f"{where}: model entry {registration} registers a model of "
                                  f"{registered.get('analyzer')}")
            if child == index and registered.get("weights_digest") != model.get(
                    "weights_digest"):
                raise BundleError(f"{where}: it ran weights {model.get('weights_digest')}, "
                                  f"but model entry {registration} registers "
                                  f"{registered.get('weights_digest')}")
            dataset = registered.get("dataset")
            if isinstance(dataset, dict):
                released = dataset.get("entry")
                if not isinstance(released, int) or released not in entries:
                    raise BundleError(f"{where}: model entry {registration} was trained on "
                                      f"dataset entry {released!r}, which is not in the bundle")
                data = entries[released]
                if not str(data["kind"]).startswith("dataset.released/") \
                        or data["body"].get("digest") != dataset.get("digest") \
                        or released >= registration:
                    raise BundleError(f"{where}: model entry {registration} names dataset "
                                      f"entry {released}, which is not an earlier "
                                      f"dataset.released with the digest "
                                      f"{dataset.get('digest')}")
            chain.append(f"{registration} ({registered.get('version')}"
                         + (f", trained on dataset {dataset.get('entry')}"
                            if isinstance(dataset, dict) else "") + ")")
            child, registration = registration, registered.get("parent")
        lines.append(f"{where} by model " + " <- ".join(chain))
    if lines:
        report.ok("lineage: every registered model a decision names is in the bundle, with "
                  "the same weights digest, its parents and training datasets: ok")
        report.lines.extend(f"  {line}" for line in lines)


def _check_anchor(anchor: dict[str, Any], checkpoint: Checkpoint, report: Report,
                  rpc: str | None, rpc_call: Callable[[str, str, list[Any]], Any] | None
                  ) -> None:
    log_id = hashlib.sha256(checkpoint.origin.encode()).hexdigest()
    if str(anchor.get("log_id", "")).removeprefix("0x") != log_id:
        raise BundleError("the anchor receipt is for another log")
    if int(anchor.get("size", -1)) != checkpoint.size:
        raise BundleError(f"the anchor receipt is for size {anchor.get('size')}, the "
                          f"checkpoint has {checkpoint.size}")
    if str(anchor.get("root", "")).removeprefix("0x") != checkpoint.root.hex():
        raise BundleError("the anchor receipt names another root than the checkpoint's")
    where = (f"chain {anchor.get('chain_id')} contract {anchor.get('contract')} "
             f"tx {str(anchor.get('transaction'))[:18]}... block {anchor.get('block')}")
    if rpc is None:
        report.ok(f"anchor: {where}: consistent with the checkpoint (give --rpc URL to ask"
                  " the chain)")
        return
    call = rpc_call or _json_rpc
    chain = int(str(call(rpc, "eth_chainId", [])), 16)
    if chain != int(anchor.get("chain_id", -1)):
        raise BundleError(f"the node at {rpc} is chain {chain}, the anchor is on chain "
                          f"{anchor.get('chain_id')}")
    data = ROOT_OF_SELECTOR + log_id + f"{checkpoint.size:064x}"
    held = str(call(rpc, "eth_call", [{"to": anchor.get("contract"), "data": data}, "latest"]))
    held = held.removeprefix("0x")
    if not held or int(held, 16) == 0:
        raise BundleError(f"anchor: the contract holds no root for size {checkpoint.size}"
                          " (missing on chain)")
    if held[-64:] != checkpoint.root.hex():
        raise BundleError(f"anchor: the contract holds another root for size "
                          f"{checkpoint.size}: {held[-64:]}")
    receipt = call(rpc, "eth_getTransactionReceipt", [anchor.get("transaction")])
    if not isinstance(receipt, dict) or int(str(receipt.get("status", "0x0")), 16) != 1:
        raise BundleError(f"anchor: transaction {anchor.get('transaction')} is not a"
                          " successful transaction on this chain")
    if int(str(receipt.get("blockNumber", "0x0")), 16) != int(anchor.get("block", -1)):
        raise BundleError(f"anchor: the transaction is in block "
                          f"{int(str(receipt.get('blockNumber')), 16)}, the receipt says "
                          f"{anchor.get('block')}")
    if anchor.get("block_hash") and str(receipt.get("blockHash", "")).lower() != \
            str(anchor["block_hash"]).lower():
        raise BundleError("anchor: the block hash differs from the chain's")
    contract = str(anchor.get("contract", "")).lower()
    event = [entry for entry in receipt.get("logs", [])
             if str(entry.get("address", "")).lower() == contract
             and [str(t).lower() for t in entry.get("topics", [])[:2]]
             == [ANCHORED_TOPIC, "0x" + log_id]
             and str(entry.get("data", "")).lower()
             == "0x" + f"{checkpoint.size:064x}" + checkpoint.root.hex()]
    if not event:
        raise BundleError("anchor: the transaction did not emit Anchored for this log, size"
                          " and root from that contract")
    report.ok(f"anchor: {where}: the chain holds this root, emitted by that transaction: ok")


def _json_rpc(url: str, method: str, params: list[Any]) -> Any:
    request = urllib.request.Request(
        url, json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode(),
        {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            answer = json.loads(reply.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise BundleError(f"cannot ask the chain at {url}: {exc}") from exc
    if "error" in answer:
        raise BundleError(f"the chain at {url} refused {method}: {answer['error']}")
    return answer.get("result")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aiwork-verify",
                                     description="Check an aiwork audit bundle offline.")
    parser.add_argument("bundle", type=Path, help="the bundle (aiwork audit --out FILE)")
    parser.add_argument("--rpc", metavar="URL",
                        help="an EVM JSON-RPC endpoint: also check the anchor on chain")
    parser.add_argument("--log-key", metavar="VKEY", default=os.environ.get("AIWORK_LOG_KEY"),
                        help="the log's verifier key you trust (what `aiwork ledger key` "
                             "prints on the log's host; default: $AIWORK_LOG_KEY): the "
                             "checkpoint must be signed by it")
    parser.add_argument("--witness-key", metavar="VKEY", action="append", default=[],
                        help="a witness you trust (cosignature/v1 verifier key): the "
                             "checkpoint must carry its cosignature; repeatable")
    parser.add_argument("--contract", metavar="ADDRESS",
                        help="an anchor contract you trust: with --rpc, it must hold the "
                             "checkpoint's root")
    args = parser.parse_args(argv)
    if args.contract and not args.rpc:
        parser.error("--contract is checked on chain: give --rpc URL too")
    try:
        bundle = json.loads(args.bundle.read_bytes())
    except OSError as exc:
        print(f"FAIL: cannot read {args.bundle}: {exc.strerror}", file=sys.stderr)
        return 1
    except ValueError:
        print(f"FAIL: {args.bundle} is not JSON", file=sys.stderr)
        return 1
    try:
        report = verify_bundle(bundle, rpc=args.rpc, log_key=args.log_key or None,
                               witness_keys=args.witness_key, contract=args.contract)
    except (BundleError, KeyError, TypeError, ValueError, AttributeError) as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    for line in report.lines:
        print(f"  ok  {line}")
    for line in report.warnings:
        print(f"  --  {line}")
    if report.trusted:
        print(f"OK: {args.bundle} verified against {', '.join(report.trusted)}")
    else:
        print(SELF_CONSISTENT_ONLY)
    return 0


if __name__ == "__main__":
    sys.exit(main())
