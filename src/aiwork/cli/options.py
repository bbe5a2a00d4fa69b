"""Options shared by several commands; one source of truth for their defaults."""

from __future__ import annotations

from pathlib import Path

import click

from aiwork.config import default_db_path

db_option = click.option(
    "--db",
    "db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Ledger database (default: $AIWORK_HOME/aiwork.db, AIWORK_HOME defaults to ~/.aiwork).",
)

log_key_option = click.option(
    "--log-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The log's signing key (default: the database path plus '.logkey').",
)


def resolve_db(db: Path | None) -> Path:
    return db if db is not None else default_db_path()
