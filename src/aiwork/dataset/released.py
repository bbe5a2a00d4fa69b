"""A released dataset read back: an export folder checked against its ``dataset.released``
entry before a row of it is read.

``aiwork dataset export`` writes ``released.json`` beside the data (the entry's ledger index,
the dataset's digest, name and version; it cannot be one of the released files, whose digests
the entry lists). :func:`open_released` reads it, finds that entry in the ledger, checks the
digest and that every file the entry lists is in the folder with that sha256, and only then
reads rows (:meth:`Released.rows`), so a model trained on it names exactly the data it
learned from.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiwork.digests import is_digest, sha256_file
from aiwork.errors import InputError, IntegrityError
from aiwork.ledger.log import Log

__all__ = ["RELEASED_FILE", "Released", "open_released"]

#: The file of an export folder that names its ``dataset.released`` entry.
RELEASED_FILE = "released.json"
RELEASED = "dataset.released/v1"
#: The most bytes of ``released.json`` read, of one JSON Lines row, and rows read in all.
MAX_RELEASED_BYTES = 4096
MAX_LINE = 1 << 20
MAX_ROWS = 1_000_000


@dataclass(frozen=True)
class Released:
    """An export folder whose files are the ones its ``dataset.released`` entry lists."""

    folder: Path
    index: int  # the dataset.released entry
    digest: str
    name: str
    version: str
    files: dict[str, str]  # path under folder -> sha256

    @property
    def ref(self) -> tuple[int, str]:
        """What a ``model.registered`` entry names as its training dataset."""
        return self.index, self.digest

    def rows(self, insights: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
        """The rows of the data files (of ``insights`` only, when given), file by file in
        path order."""
        count = 0
        for path in sorted(p for p in self.files if p.startswith("data/")):
            for row in _read(self.folder / path):
                count += 1
                if count > MAX_ROWS:
                    raise InputError(f"{self.folder}: more than {MAX_ROWS} rows")
                if not insights or row.get("insight") in insights:
                    yield row


def _read(path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix == ".jsonl":
        with path.open("rb") as handle:
            while line := handle.readline(MAX_LINE + 1):
                if len(line) > MAX_LINE:
                    raise InputError(f"{path.name}: a row longer than {MAX_LINE} bytes")
                if line.strip():
                    try:
                        row = json.loads(line)
                    except (ValueError, UnicodeDecodeError):
                        row = None
                    if not isinstance(row, dict):
                        raise InputError(f"{path.name}: a row is not a JSON object")
                    yield row
        return
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq  # type: ignore[import-untyped,import-not-found,unused-ignore]
        except ImportError:
            raise InputError("reading parquet needs pyarrow",
                             hint="install aiwork with its 'dataset' extra") from None
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            yield from batch.to_pylist()
        return
    raise InputError(f"{path.name}: not a data file aiwork exports (.jsonl or .parquet)")


def open_released(log: Log, folder: Path) -> Released:
    """The export in ``folder``, checked against the ``dataset.released`` entry its
    ``released.json`` names in ``log``: the entry's kind and digest, and every listed file's
    sha256. A folder that does not match is refused (:class:`IntegrityError`), nothing read."""
    meta_path = folder / RELEASED_FILE
    try:
        with meta_path.open("rb") as handle:
            raw = handle.read(MAX_RELEASED_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        raise InputError(f"{folder} has no {RELEASED_FILE}",
                         hint="give a folder written by aiwork dataset export") from None
    try:
        meta = json.loads(raw) if len(raw) <= MAX_RELEASED_BYTES else None
    except (ValueError, UnicodeDecodeError):
        meta = None
    index = meta.get("released") if isinstance(meta, dict) else None
    digest = meta.get("digest") if isinstance(meta, dict) else None
    if (not isinstance(index, int) or isinstance(index, bool) or index < 0
            or not isinstance(digest, str) or not is_digest(digest)):
        raise InputError(f"{meta_path}: not a released dataset's record",
                         hint='it holds {"released": INDEX, "digest": "sha256:..."}')
    if index >= log.size:
        raise InputError(f"{meta_path}: entry {index} is not in this ledger ({log.size} entries)",
                         hint="give the store (--db) the dataset was exported from")
    entry = log.entry(index)
    if entry.kind != RELEASED or entry.body.get("digest") != digest:
        raise IntegrityError(f"{meta_path}: entry {index} is not the dataset.released entry "
                             f"of {digest}", hint="give the store (--db) the dataset was "
                             "exported from")
    files = {str(f["path"]): str(f["sha256"]) for f in entry.body["files"]}
    for path, expected in sorted(files.items()):
        target = folder / path
        if (Path(path).is_absolute() or ".." in Path(path).parts or not target.is_file() or target.is_symlink()):
            raise IntegrityError(f"{folder}: {path}, listed in entry {index}, is missing")
        if sha256_file(target) != expected:
            raise IntegrityError(f"{folder}: {path} is not the file entry {index} released",
                                 hint="export the dataset again; a released folder is never "
                                 "changed")
    return Released(folder, index, digest, str(entry.body["name"]),
                    str(entry.body["version"]), files)
