"""Options shared by several commands; one source of truth for their defaults."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aiwork.config import resolve_db as config_resolve_db

if TYPE_CHECKING:
    from aiwork.client.coordinator import CoordinatorClient

db_option = click.option(
    "--db",
    "db",
    type=str,
    default=None,
    help="Store: a SQLite file (default: $AIWORK_HOME/aiwork.db, AIWORK_HOME defaults to "
    "~/.aiwork) or a postgresql:// URL.",
)

coordinator_option = click.option("--coordinator", required=True, metavar="URL",
                                  help="The coordinator, e.g. http://127.0.0.1:8700")
key_option = click.option("--key", "keyfile", required=True,
                          type=click.Path(dir_okay=False, path_type=Path),
                          help="Your key file (aiwork keys new --out FILE).")

log_key_option = click.option(
    "--log-key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The log's signing key (default: the database path plus '.logkey').",
)


weights_given_option = click.option(
    "--weights", "weights", multiple=True, metavar="ANALYZER=PATH",
    help="Run ANALYZER with these weights (a file or folder, as aiwork models register takes "
    "them: a custom_tags .npz, a transcript glossary.json) instead of its promoted version; "
    "repeat for several analyzers.")


def weights_settings(given: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``--weights ANALYZER=PATH`` options as per-analyzer options."""
    from aiwork.analyzers.store import weights_options
    from aiwork.errors import InputError

    settings: dict[str, dict[str, Any]] = {}
    for text in given:
        analyzer, sep, path = text.partition("=")
        if not sep or not analyzer or not path:
            raise InputError(f"--weights is ANALYZER=PATH (e.g. custom_tags=head.npz), not "
                             f"{text!r}")
        if analyzer in settings:
            raise InputError(f"--weights names {analyzer} twice")
        settings[analyzer] = weights_options(analyzer, Path(path).expanduser())
    return settings


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


def renamed(folder: Path, wanted: str) -> str:
    """Why outputs went to ``folder`` rather than the folder named ``wanted`` beside it ("" when
    they did not)."""
    if folder.name == wanted:
        return ""
    return f" (not {folder.parent / wanted}: that folder holds another video's outputs)"


def connect(coordinator: str, keyfile: Path | None = None) -> CoordinatorClient:
    """The client of ``--coordinator``, signing with ``--key`` when one is given (imported
    here, when a command runs, so commands that do not talk to a coordinator never load it)."""
    from aiwork.client.coordinator import CoordinatorClient
    from aiwork.crypto import read_key_file

    return CoordinatorClient(coordinator, read_key_file(keyfile) if keyfile else None)
