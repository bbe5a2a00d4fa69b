"""Content-addressed blob storage in a local folder: ``<root>/sha256/ab/cdef...``.

Media and large outputs never enter the ledger: entries carry their sha256, blobs live here.
The folders are created readable by their owner only (0700), the blobs likewise (0600): a
blob of a sensitive library is no one else's business on a shared machine.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from aiwork.config import private_folder
from aiwork.digests import PREFIX, Sha256Stream, is_digest, sha256_bytes, sha256_file
from aiwork.errors import InputError, IntegrityError

__all__ = ["BlobStore", "IncomingBlob"]

_FILE_MODE = 0o600


class IncomingBlob:
    """A blob being received: bytes are written to a temporary file in the store's folder and
    hashed as they come; :meth:`commit` renames the file into place if its digest is the one
    expected. Made by :meth:`BlobStore.incoming`, which deletes the file unless committed."""

    def __init__(self, store: BlobStore, handle: BinaryIO, path: Path) -> None:
        self._store = store
        self._handle = handle
        self._hash = Sha256Stream()
        self.path = path
        self.size = 0
        self.committed = False

    def write(self, chunk: bytes) -> None:
        self._handle.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    @property
    def digest(self) -> str:
        return self._hash.digest

    def commit(self, expected: str) -> str:
        """Store the bytes received under ``expected`` if they hash to it (else
        :class:`InputError`, and nothing is stored); return the digest."""
        target = self._store.path(expected)
        actual = self.digest
        if actual != expected:
            raise InputError(f"uploaded bytes have digest {actual}, not {expected}")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        if not target.exists():
            private_folder(target.parent)
            os.replace(self.path, target)
            self.committed = True
        return actual


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        if not is_digest(digest):
            raise InputError(f"{digest!r} is not a sha256 digest ('sha256:<64 hex>')")
        hexdigest = digest.removeprefix(PREFIX)
        return self.root / "sha256" / hexdigest[:2] / hexdigest[2:]

    def has(self, digest: str) -> bool:
        return self.path(digest).exists()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise InputError(f"blob {digest} is not in {self.root}") from None

    @contextmanager
    def incoming(self) -> Iterator[IncomingBlob]:
        """A blob to receive in pieces, bounded in memory whatever its size (see
        :class:`IncomingBlob`); its temporary file is gone when the block ends, stored or
        not."""
        private_folder(self.root)
        fd, name = tempfile.mkstemp(prefix=".upload-", dir=self.root)  # mode 0600
        handle = os.fdopen(fd, "wb")
        blob = IncomingBlob(self, handle, Path(name))
        try:
            yield blob
        finally:
            handle.close()
            if not blob.committed:
                blob.path.unlink(missing_ok=True)

    def sweep_incoming(self, older_than: float = 86400.0) -> int:
        """Delete the temporary files of uploads cut off by a crash (untouched for
        ``older_than`` seconds); return how many."""
        removed = 0
        cutoff = time.time() - older_than
        for leftover in self.root.glob(".upload-*") if self.root.is_dir() else []:
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def put_file(self, source: Path) -> str:
        """Copy ``source`` in; return its digest. Idempotent; written atomically."""
        name = sha256_file(source)
        target = self.path(name)
        if not target.exists():
            private_folder(target.parent)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _FILE_MODE)
            os.fchmod(fd, _FILE_MODE)  # a leftover of a crashed copy kept its own mode
            with os.fdopen(fd, "wb") as out, source.open("rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)
            os.replace(tmp, target)
        return name

    def get(self, digest: str) -> bytes:
        path = self.path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise InputError(f"blob {digest} is not in {self.root}") from None
        if sha256_bytes(data) != digest:
            raise IntegrityError(f"blob {digest} in {self.root} was altered")
        return data
