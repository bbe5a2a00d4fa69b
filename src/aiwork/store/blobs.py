"""Content-addressed blob storage in a local folder: ``<root>/sha256/ab/cdef...``.

Media and large outputs never enter the ledger: entries carry their sha256, blobs live here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from aiwork.errors import InputError, IntegrityError

__all__ = ["BlobStore"]


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        algo, _, hexdigest = digest.partition(":")
        if algo != "sha256" or len(hexdigest) != 64 or not all(c in "0123456789abcdef" for c in hexdigest):
            raise InputError(f"{digest!r} is not a sha256 digest ('sha256:<64 hex>')")
        return self.root / "sha256" / hexdigest[:2] / hexdigest[2:]

    def has(self, digest: str) -> bool:
        return self.path(digest).exists()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise InputError(f"blob {digest} is not in {self.root}") from None

    def put_file(self, source: Path) -> str:
        """Copy ``source`` in; return its digest. Idempotent; written atomically."""
        digest = hashlib.sha256()
        with source.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        name = "sha256:" + digest.hexdigest()
        target = self.path(name)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        return name

    def get(self, digest: str) -> bytes:
        path = self.path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise InputError(f"blob {digest} is not in {self.root}") from None
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise IntegrityError(f"blob {digest} in {self.root} was altered")
        return data
