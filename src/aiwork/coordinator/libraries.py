"""Libraries: a requester's named collections of jobs, and the access log of sensitive ones.

A library is owned by the requester who creates it (a ``library.created`` entry); only the
owner submits jobs into it, changes its sensitivity or adds readers (``library.updated``
entries). Reading the metadata of a job in a *sensitive* library is allowed to the owner,
the readers it added, auditors and admins, and only as a signed request that states its
purpose in the query string (``?purpose=...``, so the request signature covers it). Each such
read first appends an ``access.read`` entry, signed by the coordinator, and only then is the
data returned.

A library's ``access.read`` entries form a chain inside the Merkle log: each carries ``seq``
(how many came before), ``prev`` (the ledger index of the one before) and ``prev_leaf`` (that
entry's leaf hash). :meth:`Libraries.access_listing` returns them with inclusion proofs to a
signed checkpoint; :func:`aiwork.client.access_log.verify_access_log` checks the listing offline.
The media grants that let a ``<video>`` element play a sensitive library's video are
:mod:`aiwork.coordinator.grants`.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiwork.errors import (
    InputError,
    OutOfRangeError,
    PurposeError,
    RoleError,
    UnknownLibraryError,
)
from aiwork.crypto import SigningKey, public_key_from_did
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.model import Entry
from aiwork.model.commitment import SEALED_FIELDS
from aiwork.store import Database, Migration
from aiwork.store.sqlite import in_chunks

if TYPE_CHECKING:  # (the market imports the analyzer registry: not for a purpose check)
    from aiwork.market import Market

__all__ = [
    "ACCESS_ENTRY_HEADER",
    "ACCESS_PAGE",
    "MAX_NAME",
    "MAX_PURPOSE",
    "PURPOSE_PARAMETER",
    "READ_ROLES",
    "Libraries",
    "Library",
    "check_purpose",
    "keeps_openings",
    "opened_body",
    "stored_openings",
    "with_purpose",
]

#: The query parameter that states why a sensitive library is read.
PURPOSE_PARAMETER = "purpose"
#: The response header that names a logged read's ``access.read`` entry (its ledger index).
ACCESS_ENTRY_HEADER = "Aiwork-Access-Entry"
#: The most reads one page of an access listing holds.
ACCESS_PAGE = 1000
#: Longest stated purpose, in characters.
MAX_PURPOSE = 200
#: Longest library name, in characters.
MAX_NAME = 255
#: The most libraries one listing holds (newest first).
LIST_LIMIT = 500
#: Roles that may read every sensitive library (besides its owner and the readers it added).
READ_ROLES = frozenset({"auditor", "admin"})


_PURPOSE_HINT = (f"state why you read it: add ?{PURPOSE_PARAMETER}=... (at most {MAX_PURPOSE} "
                 "characters) to the signed request")


def check_purpose(value: str | None) -> str:
    """The stated purpose, stripped; raise :class:`PurposeError` if none or unusable."""
    purpose = (value or "").strip()
    if not purpose:
        raise PurposeError("reading a sensitive library needs a stated purpose",
                           hint=_PURPOSE_HINT)
    if len(purpose) > MAX_PURPOSE:
        raise PurposeError(f"the stated purpose is {len(purpose)} characters long, over the "
                           f"limit of {MAX_PURPOSE}", hint=_PURPOSE_HINT)
    if any(not ch.isprintable() for ch in purpose):
        raise PurposeError("the stated purpose holds control characters", hint=_PURPOSE_HINT)
    return purpose


def with_purpose(path: str, purpose: str) -> str:
    """``path`` with the purpose added to its query string (percent-encoded)."""
    separator = "&" if "?" in path else "?"
    return f"{path}{separator}{PURPOSE_PARAMETER}={quote(check_purpose(purpose), safe='')}"


def _tables(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE libraries (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
                 " owner TEXT NOT NULL, sensitive INTEGER NOT NULL, entry INTEGER NOT NULL,"
                 " head INTEGER NOT NULL)")
    conn.execute("CREATE INDEX libraries_owner ON libraries (owner)")
    conn.execute("CREATE TABLE library_readers (library TEXT NOT NULL, did TEXT NOT NULL,"
                 " entry INTEGER NOT NULL, PRIMARY KEY (library, did))")
    conn.execute("CREATE TABLE library_jobs (job TEXT PRIMARY KEY, library TEXT NOT NULL)")
    conn.execute("CREATE INDEX library_jobs_library ON library_jobs (library)")
    # The library's library.* entries, and its access.read entries by seq.
    conn.execute("CREATE TABLE library_changes (library TEXT NOT NULL, idx INTEGER NOT NULL,"
                 " PRIMARY KEY (library, idx))")
    conn.execute("CREATE TABLE library_reads (library TEXT NOT NULL, seq INTEGER NOT NULL,"
                 " idx INTEGER NOT NULL, PRIMARY KEY (library, seq))")


def _blob_table(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE library_blobs (digest TEXT NOT NULL, job TEXT NOT NULL,"
                 " PRIMARY KEY (digest, job))")


def _sealed_tables(conn: sqlite3.Connection) -> None:
    # The openings of sealed entries ({field: {value, salt}} by ledger index): the values
    # the public log holds only as commitments, for those who may read the library.
    conn.execute("CREATE TABLE library_openings (entry INTEGER PRIMARY KEY,"
                 " library TEXT NOT NULL, openings TEXT NOT NULL)")
    # Blobs declared for a library at upload: restricted before any job names them.
    conn.execute("CREATE TABLE library_uploads (digest TEXT NOT NULL, library TEXT NOT NULL,"
                 " PRIMARY KEY (digest, library))")


MIGRATIONS = [Migration("libraries-0001-tables", _tables),
              Migration("libraries-0002-blobs", _blob_table),
              Migration("libraries-0003-sealed", _sealed_tables)]



def keeps_openings(db: Database) -> bool:
    """Whether ``db`` has the table of sealed entries' openings (a coordinator's store that
    holds libraries; a local home does not), without creating it."""
    return "libraries-0003-sealed" in db.applied_migrations()

@dataclass(frozen=True)
class Library:
    id: str
    name: str
    owner: str
    sensitive: bool
    entry: int  # the library.created entry
    readers: tuple[str, ...]

    def may_read(self, did: str, roles: set[str]) -> bool:
        return did == self.owner or did in self.readers or bool(roles & READ_ROLES)

    def is_reader(self, did: str) -> bool:
        """Its owner or a reader it added (auditors and admins read it, but review only
        what its owner let them)."""
        return did == self.owner or did in self.readers

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "owner": self.owner,
                "sensitive": self.sensitive, "entry": self.entry, "readers": list(self.readers)}


class Libraries:
    """Libraries in the log's store; every change is a ledger entry signed by ``key``."""

    def __init__(self, log: Log, key: SigningKey, market: Market) -> None:
        self.log = log
        self.key = key
        # The market owns the jobs: their order, their media, the leases on their tasks.
        self.market = market
        log.db.migrate(MIGRATIONS)

    @property
    def _conn(self) -> sqlite3.Connection:
        return self.log.db.conn

    # -- libraries --------------------------------------------------------------------------

    def create(self, owner: str, name: str, *, sensitive: bool) -> Library:
        public_key_from_did(owner)
        name = name.strip()
        if not name or len(name) > MAX_NAME:
            raise InputError(f"a library's name is 1 to {MAX_NAME} characters, not {len(name)}")
        library = uuid.uuid4().hex
        entry = sign_entry(self.key, "library.created",
                           {"library": library, "owner": owner, "sensitive": sensitive})
        with self.log.db.atomic() as conn:
            index = self.log.append([entry])[0].index
            conn.execute("INSERT INTO libraries (id, name, owner, sensitive, entry, head)"
                         " VALUES (?, ?, ?, ?, ?, ?)",
                         (library, name, owner, int(sensitive), index, index))
            conn.execute("INSERT INTO library_changes (library, idx) VALUES (?, ?)",
                         (library, index))
        return self.get(library)

    def get(self, library: str) -> Library:
        row = self._conn.execute("SELECT id, name, owner, sensitive, entry FROM libraries"
                                 " WHERE id = ?", (library,)).fetchone()
        if row is None:
            raise UnknownLibraryError(f"no library {library}")
        readers = tuple(r[0] for r in self._conn.execute(
            "SELECT did FROM library_readers WHERE library = ? ORDER BY entry", (library,)))
        return Library(row[0], row[1], row[2], bool(row[3]), int(row[4]), readers)

    def of(self, did: str, limit: int = LIST_LIMIT) -> list[Library]:
        """The libraries ``did`` owns or was made a reader of, newest first (at most
        ``limit``)."""
        rows = self._conn.execute(
            "SELECT id FROM libraries WHERE owner = ? OR id IN"
            " (SELECT library FROM library_readers WHERE did = ?) ORDER BY entry DESC LIMIT ?",
            (did, did, limit)).fetchall()
        return [self.get(row[0]) for row in rows]

    def owned(self, library: str, did: str) -> Library:
        """The library, if ``did`` owns it; else :class:`RoleError`."""
        found = self.get(library)
        if found.owner != did:
            raise RoleError(f"{did} does not own the library {library}")
        return found

    def set_sensitive(self, library: str, by: str, sensitive: bool) -> Library:
        """Make a library sensitive or not (its owner only); a ``library.updated`` entry."""
        if self.owned(library, by).sensitive == sensitive:
            return self.get(library)
        return self._update(library, by, sensitive=sensitive)

    def add_reader(self, library: str, by: str, reader: str) -> Library:
        """Let ``reader`` read a sensitive library (its owner only); a ``library.updated``
        entry."""
        found = self.owned(library, by)
        public_key_from_did(reader)
        if reader in found.readers or reader == found.owner:
            return found
        return self._update(library, by, sensitive=found.sensitive, reader=reader)

    def _update(self, library: str, by: str, *, sensitive: bool,
                reader: str | None = None) -> Library:
        with self.log.db.atomic() as conn:
            (head,) = conn.execute("SELECT head FROM libraries WHERE id = ?",
                                   (library,)).fetchone()
            (reads,) = conn.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM library_reads"
                                    " WHERE library = ?", (library,)).fetchone()
            entry = sign_entry(self.key, "library.updated", {
                "library": library, "by": by, "sensitive": sensitive, "reader": reader,
                "reads": int(reads), "prev": int(head)})
            index = self.log.append([entry])[0].index
            conn.execute("UPDATE libraries SET sensitive = ?, head = ? WHERE id = ?",
                         (int(sensitive), index, library))
            conn.execute("INSERT INTO library_changes (library, idx) VALUES (?, ?)",
                         (library, index))
            if reader is not None:
                conn.execute("INSERT INTO library_readers (library, did, entry)"
                             " VALUES (?, ?, ?)", (library, reader, index))
        return self.get(library)

    # -- jobs -------------------------------------------------------------------------------

    def add_job(self, library: str, job: str) -> None:
        """Record ``job`` as part of ``library`` (inside the transaction that creates it; the
        caller checked ownership with :meth:`owned`)."""
        self._conn.execute("INSERT INTO library_jobs (job, library) VALUES (?, ?)",
                           (job, library))

    def library_id_of(self, job: str) -> str | None:
        row = self._conn.execute("SELECT library FROM library_jobs WHERE job = ?",
                                 (job,)).fetchone()
        return None if row is None else str(row[0])

    def library_of(self, job: str) -> Library | None:
        library = self.library_id_of(job)
        return None if library is None else self.get(library)

    def jobs(self, library: str) -> list[str]:
        """The library's jobs, oldest first."""
        return self.market.in_order([str(r[0]) for r in self._conn.execute(
            "SELECT job FROM library_jobs WHERE library = ?", (library,))])

    def _libraries_of(self, jobs: Iterable[str]) -> set[str]:
        """The libraries holding any of ``jobs``."""
        found: set[str] = set()
        for chunk, marks in in_chunks(sorted(set(jobs))):
            found |= {str(row[0]) for row in self._conn.execute(
                f"SELECT DISTINCT library FROM library_jobs WHERE job IN ({marks})", chunk)}
        return found

    def holding(self, digest: str) -> list[Library]:
        """The libraries whose jobs hold the blob ``digest``: as their video, or as a file
        their results name (a keyframe), or that it was uploaded for."""
        found = self._libraries_of(self.market.asset_jobs(digest))
        found |= {str(row[0]) for row in self._conn.execute(
            "SELECT DISTINCT l.library FROM library_jobs l JOIN library_blobs b ON b.job = l.job"
            " WHERE b.digest = ? UNION SELECT library FROM library_uploads WHERE digest = ?",
            (digest, digest))}
        return [self.get(library) for library in sorted(found)]

    def sensitive_holders(self, digest: str) -> list[Library]:
        return [library for library in self.holding(digest) if library.sensitive]

    def declare_upload(self, digest: str, library: str, did: str, *,
                       leasing: bool = False) -> Library:
        """Tie an uploaded blob to ``library`` before it is stored, so a sensitive library's
        media is never public: by its owner, or by a worker holding a live lease on a task
        of one of its jobs (``leasing``, checked by the caller)."""
        found = self.get(library)
        if did != found.owner and not leasing:
            raise RoleError(f"{did} may not upload media for library {library}",
                            hint="its owner uploads its media; a worker, the files of a task "
                                 "it leases in it")
        self._conn.execute("INSERT INTO library_uploads (digest, library) VALUES (?, ?)"
                           " ON CONFLICT (digest, library) DO NOTHING", (digest, library))
        return found

    def blob_of_job(self, job: str, digest: str) -> str | None:
        """What the blob ``digest`` is to ``job``: ``media`` (its video), ``keyframe`` (a file
        its results name), or ``None`` (neither)."""
        if job in self.market.asset_jobs(digest):
            return "media"
        found = self._conn.execute("SELECT 1 FROM library_blobs WHERE digest = ? AND job = ?",
                                   (digest, job)).fetchone()
        return None if found is None else "keyframe"

    def worker_leasing(self, worker: str, library: str, now: float) -> bool:
        """Whether ``worker`` holds a live lease on a task of a job in ``library``."""
        return library in self._libraries_of(self.market.leased_jobs(worker, now))

    def hidden_jobs(self, did: str, jobs: Iterable[str]) -> set[str]:
        """Those of ``jobs`` in a sensitive library whose owner and readers do not include
        ``did`` (auditors and admins read them, but review only what their owner let them)."""
        found: set[str] = set()
        for chunk, marks in in_chunks(sorted(set(jobs))):
            found |= {str(row[0]) for row in self._conn.execute(
                "SELECT lj.job FROM library_jobs lj JOIN libraries lb ON lb.id = lj.library"
                f" WHERE lj.job IN ({marks}) AND lb.sensitive = 1 AND lb.owner != ? AND NOT"
                " EXISTS (SELECT 1 FROM library_readers lr WHERE lr.library = lb.id AND"
                " lr.did = ?)", (*chunk, did, did))}
        return found

    def sensitive_jobs(self, reader: str | None, roles: set[str]) -> set[str]:
        """The jobs of the sensitive libraries that ``reader`` (None: nobody) may not read."""
        found: set[str] = set()
        for library, owner, job in self._conn.execute(
                "SELECT lb.id, lb.owner, lj.job FROM libraries lb JOIN library_jobs lj ON"
                " lj.library = lb.id WHERE lb.sensitive = 1"):
            if reader is None or not (reader == owner or roles & READ_ROLES):
                found.add(str(job))
        if reader is not None and found:  # the readers a library added
            readable = {str(row[0]) for row in self._conn.execute(
                "SELECT lj.job FROM library_readers lr JOIN library_jobs lj ON"
                " lj.library = lr.library WHERE lr.did = ?", (reader,))}
            found -= readable
        return found

    def sensitive_library_of(self, job: str | None) -> Library | None:
        """The job's library, if it is sensitive now."""
        library = None if job is None else self.library_of(job)
        return library if library is not None and library.sensitive else None

    # -- sealed entries -----------------------------------------------------------------------

    def keep_openings(self, entry: int, library: str, openings: dict[str, Any]) -> None:
        """Keep the openings of the sealed entry at ``entry`` (in the caller's transaction)."""
        self._conn.execute("INSERT INTO library_openings (entry, library, openings) VALUES"
                           " (?, ?, ?) ON CONFLICT (entry) DO NOTHING",
                           (entry, library, json.dumps(openings)))

    def openings(self, entries: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The kept openings of those sealed entries that have some, by ledger index (for a
        caller already allowed to read their library)."""
        return stored_openings(self.log, entries)

    def add_blobs(self, job: str, digests: list[str]) -> None:
        """Files a job's results name (keyframes): they are as sensitive as its video."""
        for digest in digests:
            self._conn.execute("INSERT INTO library_blobs (digest, job) VALUES (?, ?)"
                               " ON CONFLICT (digest, job) DO NOTHING", (digest, job))

    # -- the access log -----------------------------------------------------------------------

    @staticmethod
    def check_read(library: Library, reader: str, roles: set[str], purpose: str | None) -> str:
        """The stated purpose, if ``reader`` (holding ``roles``) may read the sensitive
        ``library``; else :class:`RoleError` or :class:`PurposeError`."""
        if not library.may_read(reader, roles):
            raise RoleError(f"{reader} may not read the sensitive library {library.id}",
                            hint="its owner adds readers with POST /v1/libraries/ID/readers;"
                                 " auditors and admins read every library")
        return check_purpose(purpose)

    def check_manage(self, library: str, did: str, roles: set[str]) -> Library:
        """The library, if ``did`` (holding ``roles``) may list its access log: its owner,
        an auditor or an admin; else :class:`RoleError`."""
        found = self.get(library)
        if did != found.owner and not roles & READ_ROLES:
            raise RoleError(f"{did} may not list the access log of library {library}",
                            hint="its owner, auditors and admins may")
        return found

    def record_read(self, job: str, reader: str, resource: str, purpose: str) -> int | None:
        """Log a read of ``job``'s metadata by ``reader`` (allowed, purpose checked) as an
        ``access.read`` entry; return its index, or ``None`` when the job's library is not
        (or no longer) sensitive."""
        purpose = check_purpose(purpose)
        with self.log.db.atomic() as conn:
            library = self.library_of(job)
            if library is None or not library.sensitive:
                return None
            last = conn.execute("SELECT seq, idx FROM library_reads WHERE library = ?"
                                " ORDER BY seq DESC LIMIT 1", (library.id,)).fetchone()
            seq, prev = (0, None) if last is None else (int(last[0]) + 1, int(last[1]))
            entry = sign_entry(self.key, "access.read", {
                "reader": reader, "library": library.id, "job": job, "resource": resource,
                "purpose": purpose, "seq": seq, "prev": prev,
                "prev_leaf": None if prev is None else self.log.leaf_hash(prev).hex()})
            index = self.log.append([entry])[0].index
            conn.execute("INSERT INTO library_reads (library, seq, idx) VALUES (?, ?, ?)",
                         (library.id, seq, index))
        return index

    def access_listing(self, library: str, *, start: int = 0, limit: int = ACCESS_PAGE,
                       size: int | None = None) -> dict[str, Any]:
        """One page of the library's access log: its ``access.read`` entries from ``seq``
        ``start`` (at most ``limit``) and all its ``library.*`` entries, each with an inclusion
        proof to a signed checkpoint of the log: the one of tree size ``size`` (so that the
        pages of one listing prove against one checkpoint), else the latest (made now if the
        log grew). ``next`` is the ``start`` of the following page, or ``None``."""
        if start < 0 or not 1 <= limit <= ACCESS_PAGE:
            raise InputError(f"a page starts at a read's seq (0 or more) and holds 1 to "
                             f"{ACCESS_PAGE} reads")
        found = self.get(library)
        with self.log.db.atomic() as conn:
            if size is None:
                note = self.log.checkpoint()
                size = self.log.size
            else:
                stored = self.log.stored_checkpoint(size)
                if stored is None:
                    raise OutOfRangeError(f"this log signed no checkpoint of size {size}",
                                          hint="start the listing again without 'size'")
                note = stored
            (total,) = conn.execute(
                "SELECT COUNT(*) FROM library_reads WHERE library = ? AND idx < ?",
                (library, size)).fetchone()
            reads = [int(r[0]) for r in conn.execute(
                "SELECT idx FROM library_reads WHERE library = ? AND idx < ? AND seq >= ?"
                " ORDER BY seq LIMIT ?", (library, size, start, limit))]
            changes = [int(r[0]) for r in conn.execute(
                "SELECT idx FROM library_changes WHERE library = ? AND idx < ? ORDER BY idx",
                (library, size))]

            def proven(index: int) -> dict[str, Any]:
                return {"index": index, "entry": self.log.get(index).decode(),
                        "proof": self.log.inclusion_proof(index, size).to_json()}

            end = start + len(reads)
            return {"library": found.to_json(), "checkpoint": note, "size": size,
                    "reads": int(total), "from": start, "next": end if end < total else None,
                    "entries": [proven(i) for i in reads],
                    "changes": [proven(i) for i in changes]}


def opened_body(log: Log, index: int) -> tuple[str, dict[str, Any]]:
    """The kind and body of entry ``index``; a sealed entry's commitments replaced by the
    values its store keeps for them (for the coordinator's own checks, its operator and the
    library's readers). Plain entries are returned as they are."""
    entry = Entry.from_bytes(log.get(index))
    body = dict(entry.body)
    if entry.kind in SEALED_FIELDS:
        for name, opening in stored_openings(log, [index]).get(index, {}).items():
            body[name] = opening["value"]
    return entry.kind, body


def stored_openings(log: Log, entries: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The openings kept in ``log``'s store (which holds libraries) for those of
    ``entries`` that are sealed, by ledger index."""
    out: dict[int, dict[str, Any]] = {}
    for chunk, marks in in_chunks(sorted(set(entries))):
        for entry, text in log.db.conn.execute(
                f"SELECT entry, openings FROM library_openings WHERE entry IN ({marks})",
                chunk):
            out[int(entry)] = json.loads(text)
    return out
