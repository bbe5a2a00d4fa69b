"""Where aiwork keeps its state. The environment is read here, at the edge, and nowhere else.

``AIWORK_HOME`` (default ``~/.aiwork``) holds the embedded store ``aiwork.db`` and, beside
any ledger database ``X``, the log's signing key ``X.logkey`` (mode 0600).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["DB_NAME", "default_db_path", "home", "log_key_path"]

DB_NAME = "aiwork.db"


def home(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    value = env.get("AIWORK_HOME")
    return Path(value).expanduser() if value else Path.home() / ".aiwork"


def default_db_path(environ: Mapping[str, str] | None = None) -> Path:
    return home(environ) / DB_NAME


def log_key_path(db_path: Path) -> Path:
    """The log key file that belongs to the ledger in ``db_path``."""
    return db_path.with_name(db_path.name + ".logkey")
