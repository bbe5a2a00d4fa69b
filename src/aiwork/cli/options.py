"""Options shared by several commands; one source of truth for their defaults."""

from __future__ import annotations

from pathlib import Path

import click

from aiwork.config import resolve_db as config_resolve_db

db_option = click.option(
    "--db",
    "db",
    type=str,
    default=None,
    help="Store: a SQLite file (default: $AIWORK_HOME/aiwork.db, AIWORK_HOME defaults to "
    "~/.aiwork) or a postgresql:// URL.",
)

log_key_option = click.option(
    "--log-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The log's signing key (default: the database path plus '.logkey').",
)


def resolve_db(db: str | Path | None) -> Path | str:
    return config_resolve_db(db)


def close_to_others(db: Path | str) -> None:
    """Close AIWORK_HOME, a SQLite store (with its -wal and -shm) and the blob folder to
    other users if an older aiwork left them open, saying so in one line."""
    from aiwork.config import blobs_path, home, tighten_private

    store = [] if isinstance(db, str) else [db, db.with_name(db.name + "-wal"),
                                            db.with_name(db.name + "-shm")]
    closed = tighten_private(home(), *store, blobs_path(db))
    if closed:
        click.echo(f"made {', '.join(map(str, closed))} readable by their owner only (they "
                   "were open to other users)", err=True)
