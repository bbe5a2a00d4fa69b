"""``aiwork library``: create libraries, make them sensitive, add readers, and list and
verify who read what."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aiwork.cli.options import connect, coordinator_option, key_option
from aiwork.errors import ConfigError

if TYPE_CHECKING:
    from aiwork.contract.responses import LibraryView


@click.group("library")
def library_group() -> None:
    """Libraries of your jobs; reads of a sensitive one are logged in the ledger."""


def _describe(library: LibraryView) -> str:
    sensitive = "sensitive" if library.sensitive else "not sensitive"
    readers = f", readers {', '.join(library.readers)}" if library.readers else ""
    return (f"library {library.id} ({library.name}): {sensitive}, owner "
            f"{library.owner}, {len(library.jobs)} jobs{readers}")


@library_group.command("create")
@click.argument("name")
@click.option("--sensitive", is_flag=True,
              help="Log every read of its metadata (who, what, when, why) in the ledger.")
@coordinator_option
@key_option
def create_cmd(name: str, sensitive: bool, coordinator: str, keyfile: Path) -> None:
    """Create a library named NAME (needs the requester role); prints its id."""
    with connect(coordinator, keyfile) as client:
        library = client.create_library(name, sensitive=sensitive)
    click.echo(_describe(library))


@library_group.command("list")
@coordinator_option
@key_option
def list_cmd(coordinator: str, keyfile: Path) -> None:
    """Your libraries and those you were made a reader of, newest first."""
    with connect(coordinator, keyfile) as client:
        libraries = client.list_libraries().libraries
    if not libraries:
        click.echo("no library: create one with `aiwork library create NAME`")
    for library in libraries:
        click.echo(_describe(library))


@library_group.command("show")
@click.argument("library_id", metavar="ID")
@coordinator_option
@click.option("--key", "keyfile", type=click.Path(dir_okay=False, path_type=Path),
              help="Your key file (a sensitive library is shown to its readers only).")
def show_cmd(library_id: str, coordinator: str, keyfile: Path | None) -> None:
    """A library, its readers and its jobs."""
    from aiwork.client.coordinator import CoordinatorClient
    from aiwork.crypto import read_key_file

    key = read_key_file(keyfile) if keyfile else None
    with CoordinatorClient(coordinator, key) as client:
        library = client.get_library(library_id, signed=key is not None)
    click.echo(_describe(library))
    for job in library.jobs:
        click.echo(f"  job {job}")


@library_group.command("set")
@click.argument("library_id", metavar="ID")
@click.option("--sensitive/--not-sensitive", required=True,
              help="Log reads from now on, or stop logging them (a library.updated entry).")
@coordinator_option
@key_option
def set_cmd(library_id: str, sensitive: bool, coordinator: str, keyfile: Path) -> None:
    """Make your library sensitive or not."""
    with connect(coordinator, keyfile) as client:
        library = client.update_library(library_id, sensitive=sensitive)
    click.echo(_describe(library))


@library_group.command("grant")
@click.argument("library_id", metavar="ID")
@click.argument("did")
@coordinator_option
@key_option
def grant_cmd(library_id: str, did: str, coordinator: str, keyfile: Path) -> None:
    """Let DID read your sensitive library (its reads are logged like anyone's)."""
    with connect(coordinator, keyfile) as client:
        library = client.add_reader(library_id, did)
    click.echo(_describe(library))


@library_group.command("access")
@click.argument("library_id", metavar="ID")
@coordinator_option
@key_option
@click.option("--log-key", "log_key", metavar="KEY",
              help="The log's verifier key (default: the one pinned at the first listing of "
                   "this library, else the coordinator's).")
def access_cmd(library_id: str, coordinator: str, keyfile: Path, log_key: str | None) -> None:
    """Who read what of a library, when and why, verified against the signed log.

    The log key, the coordinator's identity and the last read seen are remembered under
    AIWORK_HOME/libraries/, so a later listing that drops reads already seen is refused.
    """
    from aiwork.client.access_log import fetch_access_log, verify_access_log
    from aiwork.config import home

    if not re.fullmatch(r"[0-9a-f]{32}", library_id):
        raise click.BadParameter(f"{library_id!r} is not a library id", param_hint="ID")
    seen_path = home() / "libraries" / f"{library_id}.json"
    try:
        seen: dict[str, Any] = json.loads(seen_path.read_text()) if seen_path.exists() else {}
    except ValueError as exc:
        raise ConfigError(f"{seen_path} is not what `aiwork library access` wrote: {exc}",
                          hint="remove it to trust the next listing afresh") from exc
    with connect(coordinator, keyfile) as client:
        listing = fetch_access_log(client, library_id)
        key = log_key or seen.get("verifier_key") or client.get_verifier_key()
    known = [seen["last_read"]] if seen.get("last_read") is not None else []
    verified = verify_access_log(listing, key, library=library_id, issuer=seen.get("issuer"),
                                 known=known)
    library = listing["library"]
    click.echo(f"library {library_id} ({library['name']}), owner {verified.changes[0].by}")
    lines = []  # in log order
    for n, change in enumerate(verified.changes):
        what = ("created" if n == 0 else
                f"{change.by} added reader {change.reader}" if change.reader else
                f"{change.by} changed it")
        state = "sensitive" if change.sensitive else "not sensitive"
        lines.append((change.index, f"{change.time}  {what}: {state}  (entry {change.index})"))
    for read in verified.reads:
        lines.append((read.index, f"{read.time}  {read.reader} read {read.resource} of job "
                                  f"{read.job}, purpose {read.purpose!r}  (entry {read.index})"))
    for _, line in sorted(lines):
        click.echo(line)
    click.echo(f"verified: {len(verified.reads)} reads, chain complete, all included in "
               f"checkpoint size {verified.size}")
    seen_path.parent.mkdir(parents=True, exist_ok=True)
    seen_path.write_text(json.dumps({
        "verifier_key": key, "issuer": verified.issuer,
        "last_read": verified.reads[-1].index if verified.reads else None}) + "\n")
