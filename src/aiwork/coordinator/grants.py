"""Media grants: a sensitive library's video played by a ``<video>`` element, which cannot sign.

A reader of a sensitive library asks for a grant for one blob of one job (its video, or a
keyframe its results name), stating a purpose (:meth:`MediaGrants.give`). The read is logged
first, as an ``access.read`` entry whose resource is ``media`` or ``keyframe`` (the digest
stays out of the public log, which keeps it hidden); only then is a token made: 256 random
bits, base64url, handed back once. The coordinator keeps only the token's SHA-256, with the
blob, the reader, the library and the job, and when it expires (:data:`GRANT_SECONDS`).

The blob route takes the token in place of a signature (``?grant=``, :meth:`MediaGrants.check`):
it opens that one blob, for as many HTTP range requests as a player makes, until it expires
and while its reader may still read the library; uses within its lifetime are not logged one
by one (the grant's entry is the read). The token is looked up by its hash, so the lookup's
timing says nothing about any stored token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from aiwork.coordinator.libraries import Libraries
from aiwork.errors import InputError, MediaGrantError, NotFoundError
from aiwork.store import Migration

__all__ = ["GRANT_PARAMETER", "GRANT_SECONDS", "MediaGrant", "MediaGrants"]

#: The query parameter of the blob route that carries a media grant's token.
GRANT_PARAMETER = "grant"
#: How long a media grant may be used, in seconds (5 minutes: a player's range requests while
#: an expert reviews an item; the console asks again, logged again, when one ran out).
GRANT_SECONDS = 300.0
#: A grant's token: 32 random bytes, base64url without padding (43 characters).
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
_HINT = "ask for a new one: POST /v1/blobs/DIGEST/grant, signed, with the job and a purpose"


def _grant_table(conn: sqlite3.Connection) -> None:
    # The SHA-256 of each token (never the token), the one blob it opens, who it was given
    # to, through which library and job, until when, and its access.read entry.
    conn.execute("CREATE TABLE library_grants (token_hash TEXT PRIMARY KEY,"
                 " digest TEXT NOT NULL, reader TEXT NOT NULL, library TEXT NOT NULL,"
                 " job TEXT NOT NULL, expires DOUBLE PRECISION NOT NULL,"
                 " entry INTEGER NOT NULL)")
    conn.execute("CREATE INDEX library_grants_expires ON library_grants (expires)")


MIGRATIONS = [Migration("libraries-0004-grants", _grant_table)]


@dataclass(frozen=True)
class MediaGrant:
    """A media grant as given: the token (shown once, stored only hashed), until when it
    may be used (Unix seconds) and the ``access.read`` entry that logged the read."""

    token: str
    expires: float
    entry: int


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class MediaGrants:
    """The media grants of the libraries in ``libraries``' store."""

    def __init__(self, libraries: Libraries) -> None:
        self.libraries = libraries
        self.db = libraries.log.db
        self.db.migrate(MIGRATIONS)

    def give(self, job: str, digest: str, reader: str, roles: set[str], purpose: str | None,
             *, now: float, seconds: float = GRANT_SECONDS) -> MediaGrant:
        """Let ``reader`` (holding ``roles``) fetch the blob ``digest`` of ``job`` without
        signing, for ``seconds`` from ``now``. The job must be in a sensitive library
        ``reader`` may read (else :class:`RoleError`; :class:`PurposeError` without a usable
        purpose) and hold the blob (else :class:`NotFoundError`). The ``access.read`` entry
        comes first; the grant exists only once it does. Expired grants are dropped here."""
        libraries = self.libraries
        library = libraries.sensitive_library_of(job)
        if library is None:
            raise InputError(f"job {job} is not in a sensitive library: its media needs no "
                             "grant", hint=f"fetch /v1/blobs/{digest} as it is")
        purpose = libraries.check_read(library, reader, roles, purpose)
        resource = libraries.blob_of_job(job, digest)
        if resource is None:
            raise NotFoundError(f"job {job} holds no blob {digest}",
                                hint="a grant is for the job's video or a keyframe its "
                                     "results name")
        token = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
        with self.db.atomic() as conn:
            conn.execute("DELETE FROM library_grants WHERE expires <= ?", (now,))
            entry = libraries.record_read(job, reader, resource, purpose)
            if entry is None:  # made public meanwhile
                raise InputError(f"job {job} is no longer in a sensitive library: its media "
                                 "needs no grant", hint=f"fetch /v1/blobs/{digest} as it is")
            conn.execute("INSERT INTO library_grants (token_hash, digest, reader, library,"
                         " job, expires, entry) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (_token_hash(token), digest, reader, library.id, job, now + seconds,
                          entry))
        return MediaGrant(token, now + seconds, entry)

    def check(self, token: str, digest: str, *, now: float,
              roles_of: Callable[[str], set[str]]) -> str:
        """The reader a grant was given to, if ``token`` opens the blob ``digest`` now; else
        :class:`MediaGrantError` (not a token, unknown, for another blob, expired, or its
        reader may no longer read the library). The digests are compared in constant time."""
        if not _TOKEN.match(token):
            raise MediaGrantError("this media grant is not a grant token (43 base64url "
                                  "characters)", hint=_HINT)
        row = self.db.conn.execute("SELECT digest, reader, library, expires FROM"
                                   " library_grants WHERE token_hash = ?",
                                   (_token_hash(token),)).fetchone()
        if row is None:
            raise MediaGrantError("this media grant is unknown", hint=_HINT)
        granted, reader, library, expires = str(row[0]), str(row[1]), str(row[2]), float(row[3])
        if not hmac.compare_digest(granted.encode(), digest.encode()):
            raise MediaGrantError("this media grant is for another blob", hint=_HINT)
        if now >= expires:
            raise MediaGrantError(f"this media grant expired {now - expires:.0f} s ago",
                                  hint=_HINT)
        found = self.libraries.get(library)
        if found.sensitive and not found.may_read(reader, roles_of(reader)):
            raise MediaGrantError(f"{reader} may no longer read library {library}", hint=_HINT)
        return reader
