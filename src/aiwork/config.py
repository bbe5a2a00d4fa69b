"""Where aiwork keeps its state. The environment is read here, at the edge, and nowhere else.

``AIWORK_HOME`` (default ``~/.aiwork``) holds the embedded store ``aiwork.db`` and, beside
any ledger database ``X``, the log's signing key ``X.logkey`` (mode 0600). aiwork creates
these folders readable by their owner only (0700), its databases and blobs likewise (0600).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["DB_NAME", "blobs_path", "default_db_path", "embed_model", "home", "log_key_path",
           "private_folder", "tighten_private",
           "resolve_db"]

DB_NAME = "aiwork.db"


def home(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    value = env.get("AIWORK_HOME")
    return Path(value).expanduser() if value else Path.home() / ".aiwork"


def embed_model(environ: Mapping[str, str] | None = None) -> Path | None:
    """``AIWORK_EMBED_MODEL``: a local folder holding the search index's sentence embedding
    model (instead of the one inside the installed package), or None."""
    env = os.environ if environ is None else environ
    value = env.get("AIWORK_EMBED_MODEL")
    return Path(value).expanduser() if value else None


def default_db_path(environ: Mapping[str, str] | None = None) -> Path:
    return home(environ) / DB_NAME


def _is_url(db: Path | str) -> bool:
    return isinstance(db, str) and db.startswith(("postgresql://", "postgres://"))


def log_key_path(db_path: Path | str) -> Path:
    """The log key file that belongs to the ledger in ``db_path`` (for a PostgreSQL URL:
    ``$AIWORK_HOME/postgres.logkey``)."""
    if _is_url(db_path):
        return home() / "postgres.logkey"
    path = Path(db_path)
    return path.with_name(path.name + ".logkey")


def blobs_path(db_path: Path | str) -> Path:
    """The content-addressed blob folder beside a store (``$AIWORK_HOME/blobs`` for a URL)."""
    if _is_url(db_path):
        return home() / "blobs"
    return Path(db_path).parent / "blobs"


def resolve_db(db: str | Path | None) -> Path | str:
    """A database given on the command line: a file path, or a ``postgresql://`` URL."""
    if db is None:
        return default_db_path()
    return str(db) if _is_url(db) else Path(db)


def private_folder(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by its owner only; return it. A folder
    that already exists keeps its mode."""
    missing = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(folder, 0o700)  # mkdir's mode is cut by the umask; this is not
    return path


def tighten_private(*paths: Path) -> list[Path]:
    """Make each of ``paths`` that exists and belongs to this user readable by its owner only
    (a folder 0700, a file 0600); return those that were open to others. Folders made by an
    older aiwork (``~/.aiwork`` at 0755) are closed this way; a folder's mode is enough to
    keep others out of everything under it."""
    tightened = []
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            continue
        if (info.st_uid != os.getuid() or not info.st_mode & 0o077
                or info.st_mode & 0o1000):  # a shared folder such as /tmp (sticky) is left be
            continue
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
        tightened.append(path)
    return tightened
