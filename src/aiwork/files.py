"""Writing a file whole or not at all: the one way aiwork replaces a file on disk.

A file is written to a temporary file in its own folder and renamed over its name, so a reader
sees the old file or the new one, never half of either, a process killed mid-write leaves the
old file, and a symbolic link already at that name is replaced, never followed. ``durable``
writes also reach the disk (the file and its folder are synced) before the call returns, for
state that must survive a power cut (a witness's memory, a key).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["sync_folder", "write_atomically"]


def write_atomically(path: Path, data: bytes | str, *, mode: int = 0o600,
                     durable: bool = False) -> Path:
    """Replace ``path`` with ``data`` (text is written as UTF-8), readable as ``mode``."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".aiwork-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(raw)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if durable:
        sync_folder(path.parent)
    return path


def sync_folder(folder: Path) -> None:
    """Make a folder's entries (a file just renamed or linked into it) reach the disk; a
    file system that cannot sync folders is left as it is."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
