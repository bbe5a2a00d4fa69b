"""Checking a sensitive library's access log with nothing but the listing and the log's key.

The coordinator's listing (``GET /v1/libraries/ID/access``) holds a signed checkpoint and,
each with an inclusion proof to it, the library's ``library.*`` entries and its
``access.read`` entries. :func:`verify_access_log` checks that

- the checkpoint is signed by the log's key, and every entry is well signed, by the same
  identity that created the library, and included in that checkpoint at its index;
- the changes run from ``library.created`` through each ``library.updated``, each naming the
  one before (``prev``), and each update's ``reads`` equals the reads listed before it;
- the reads run from ``seq`` 0 with no gap, each naming the ledger index (``prev``) and leaf
  hash (``prev_leaf``) of the one before, and their number is the listing's ``reads``;
- every read the caller already knows of (``known``: a read receipt, or the last read of a
  listing verified before) is still listed.

A read left out, reordered or altered, or a purpose changed, fails one of these. Reads cut
off the end of the chain are caught against what the caller knew (``known``) — and the entries
themselves stay in the append-only log, which anyone can scan. It returns the verified log or
raises :class:`AccessLogError`, also for a malformed listing.

The coordinator serves the listing in pages (``from``, ``limit``, and ``size`` to keep every
page on the first page's checkpoint); :func:`fetch_access_log` follows them and returns the
whole listing, which :func:`verify_access_log` then checks as one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiwork.client.coordinator import CoordinatorClient
from aiwork.contract.responses import AccessListing
from aiwork.errors import AccessLogError, AiworkError
from aiwork.ledger import merkle
from aiwork.ledger.note import VerifierKey
from aiwork.ledger.proofs import InclusionProof
from aiwork.ledger.verify import verify_checkpoint, verify_entry, verify_inclusion
from aiwork.model import Entry

__all__ = [
    "LibraryChange",
    "ReadRecord",
    "VerifiedAccessLog",
    "fetch_access_log",
    "verify_access_log",
]


@dataclass(frozen=True)
class ReadRecord:
    """One verified ``access.read`` entry."""

    index: int
    time: str
    reader: str
    job: str
    resource: str
    purpose: str
    seq: int


@dataclass(frozen=True)
class LibraryChange:
    """One verified ``library.created`` or ``library.updated`` entry."""

    index: int
    time: str
    by: str
    sensitive: bool  # after this change
    reader: str | None  # a reader added by this change
    reads: int  # access.read entries of the library before this one


@dataclass(frozen=True)
class VerifiedAccessLog:
    library: str
    issuer: str  # the coordinator identity that signed every entry
    size: int  # the checkpoint's tree size
    reads: tuple[ReadRecord, ...]
    changes: tuple[LibraryChange, ...]


def _field(value: Mapping[str, Any], name: str, kind: type, what: str) -> Any:
    item = value.get(name)
    if not isinstance(item, kind) or (kind is int and isinstance(item, bool)):
        raise AccessLogError(f"{what}: {name!r} is missing or not a {kind.__name__}")
    return item


def _proven(item: Any, size: int, root: bytes, what: str) -> tuple[int, bytes, Entry]:
    """An entry of the listing: well signed, and at its index in the checkpoint's tree."""
    if not isinstance(item, Mapping):
        raise AccessLogError(f"{what} is not an object")
    index = _field(item, "index", int, what)
    data = _field(item, "entry", str, what).encode()
    try:
        entry = verify_entry(data)
        proof = InclusionProof.from_json(_field(item, "proof", dict, what))
        if proof.leaf_index != index or proof.tree_size != size:
            raise AccessLogError(f"{what}: its proof is for entry {proof.leaf_index} of a tree "
                                 f"of size {proof.tree_size}, not {index} of {size}")
        leaf = merkle.leaf_hash(data)
        verify_inclusion(proof, leaf, root)
    except AccessLogError:
        raise
    except AiworkError as exc:
        raise AccessLogError(f"{what} (ledger index {index}): {exc}") from exc
    return index, leaf, entry


def verify_access_log(listing: Mapping[str, Any], key: VerifierKey | str, *, library: str,
                      issuer: str | None = None, known: Iterable[int] = ()) -> VerifiedAccessLog:
    """Check a library's access listing against the log's verifier key ``key``.

    ``library`` is the library asked for; ``issuer`` pins the coordinator's did (by default,
    whoever signed ``library.created``); ``known`` are ledger indexes of this library's reads
    that must still be listed.
    """
    if not isinstance(listing, Mapping):
        raise AccessLogError("the listing is not an object")
    try:
        checkpoint = verify_checkpoint(_field(listing, "checkpoint", str, "the listing"), key)
    except AccessLogError:
        raise
    except AiworkError as exc:
        raise AccessLogError(f"the listing's checkpoint: {exc}") from exc
    size, root = checkpoint.size, checkpoint.root_hash
    signer, changes = _changes(listing, size, root, library, issuer)
    reads = _reads(listing, size, root, library, signer)
    _counted(listing, changes, reads, known)
    return VerifiedAccessLog(library, signer, size, tuple(reads), tuple(changes))


def _changes(listing: Mapping[str, Any], size: int, root: bytes, library: str,
             issuer: str | None) -> tuple[str, list[LibraryChange]]:
    """The library's chain of changes, each proven and following the one before; with the
    did that signed them (``issuer`` when given)."""
    changes: list[LibraryChange] = []
    previous: int | None = None
    signer = issuer
    for n, item in enumerate(_field(listing, "changes", list, "the listing")):
        what = f"library change {n}"
        index, _, entry = _proven(item, size, root, what)
        body = entry.body
        expected = "library.created/v1" if n == 0 else "library.updated/v1"
        if entry.kind != expected:
            raise AccessLogError(f"{what} is a {entry.kind} entry, not {expected}")
        if body["library"] != library:
            raise AccessLogError(f"{what} is about library {body['library']}, not {library}")
        signer = signer or entry.author
        if entry.author != signer:
            raise AccessLogError(f"{what} is signed by {entry.author}, not by {signer}")
        if n and body["prev"] != previous:
            raise AccessLogError(f"{what} follows entry {body['prev']}, but the change listed "
                                 f"before it is entry {previous}: a change is missing")
        changes.append(LibraryChange(index, entry.time, body.get("owner") or body["by"],
                                     body["sensitive"], body.get("reader"),
                                     body.get("reads", 0)))
        previous = index
    if signer is None:
        raise AccessLogError(f"the listing has no library.created entry for {library}")
    return signer, changes


def _reads(listing: Mapping[str, Any], size: int, root: bytes, library: str,
           signer: str) -> list[ReadRecord]:
    """The library's reads, each proven, signed by ``signer`` and chained to the one before."""
    reads: list[ReadRecord] = []
    previous, previous_leaf = None, None
    for n, item in enumerate(_field(listing, "entries", list, "the listing")):
        what = f"read {n}"
        index, leaf, entry = _proven(item, size, root, what)
        body = entry.body
        if entry.kind != "access.read/v1":
            raise AccessLogError(f"{what} is a {entry.kind} entry, not access.read/v1")
        if body["library"] != library:
            raise AccessLogError(f"{what} is about library {body['library']}, not {library}")
        if entry.author != signer:
            raise AccessLogError(f"{what} is signed by {entry.author}, not by {signer}")
        if body["seq"] != n:
            raise AccessLogError(f"{what} has seq {body['seq']}: "
                                 + (f"{body['seq'] - n} reads before it are missing"
                                    if body["seq"] > n else "the reads are out of order"))
        if body["prev"] != previous or body["prev_leaf"] != previous_leaf:
            raise AccessLogError(f"{what} follows entry {body['prev']}, but the read listed "
                                 f"before it is entry {previous}")
        reads.append(ReadRecord(index, entry.time, body["reader"], body["job"],
                                body["resource"], body["purpose"], body["seq"]))
        previous, previous_leaf = index, leaf.hex()
    return reads


def _counted(listing: Mapping[str, Any], changes: list[LibraryChange],
             reads: list[ReadRecord], known: Iterable[int]) -> None:
    """No read left out: the listing's count, each change's count of the reads before it,
    and the reads known from before all agree with the reads listed."""
    listed = _field(listing, "reads", int, "the listing")
    if listed != len(reads):
        raise AccessLogError(f"the listing counts {listed} reads but holds {len(reads)}")
    for change in changes:
        before = sum(1 for r in reads if r.index < change.index)
        if change.reads != before:
            raise AccessLogError(f"the library change at entry {change.index} counts "
                                 f"{change.reads} reads before it, the listing {before}: "
                                 "reads are missing")
    indexes = {r.index for r in reads}
    for index in known:
        if index not in indexes:
            raise AccessLogError(f"the read at ledger index {index}, known from before, is not "
                                 "listed: the access log was cut short")


def fetch_access_log(client: CoordinatorClient, library: str, *,
                     limit: int | None = None) -> dict[str, Any]:
    """The whole access listing of ``library``, its pages (``limit`` reads each, by default
    the coordinator's) fetched against the first page's checkpoint and joined."""
    first = _listing(client.get_access_log(library, limit=limit))
    if not isinstance(first.get("entries"), list):
        raise AccessLogError("the coordinator's access listing is not a listing object")
    entries = list(first["entries"])
    page = first
    while page.get("next") is not None:
        start = page["next"]
        if not isinstance(start, int) or start != len(entries):
            raise AccessLogError(f"the listing's page after {len(entries)} reads says the "
                                 f"next starts at {start!r}")
        page = _listing(client.get_access_log(library, start=start, size=first["size"],
                                              limit=limit))
        if not isinstance(page.get("entries"), list):
            raise AccessLogError("a page of the access listing is not a listing object")
        if (page.get("checkpoint"), page.get("reads")) != (first["checkpoint"], first["reads"]):
            raise AccessLogError(f"the listing's page from read {start} is on another "
                                 "checkpoint than its first page")
        if not page["entries"]:
            raise AccessLogError(f"the listing's page from read {start} is empty but the "
                                 f"listing counts {first['reads']} reads")
        entries += page["entries"]
    return {**first, "from": 0, "next": None, "entries": entries}


def _listing(page: AccessListing) -> dict[str, Any]:
    """A page of the listing as the JSON it was (what :func:`verify_access_log` checks)."""
    return page.model_dump(mode="json", by_alias=True)
