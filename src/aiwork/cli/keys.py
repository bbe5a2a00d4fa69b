"""``aiwork keys``: Ed25519 identities as did:key."""

from __future__ import annotations

from pathlib import Path

import click

from aiwork.ledger.home import load_key, new_key


@click.group()
def keys() -> None:
    """Create and inspect Ed25519 identity keys."""


@keys.command("new")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the private key (PEM, mode 0600).")
@click.option("--force", is_flag=True, help="Overwrite an existing key file.")
def keys_new(out: Path, force: bool) -> None:
    """Create a key; print its did:key."""
    click.echo(new_key(out, force=force).did)


@keys.command("show")
@click.argument("keyfile", type=click.Path(dir_okay=False, path_type=Path))
def keys_show(keyfile: Path) -> None:
    """Print the did:key of KEYFILE."""
    click.echo(load_key(keyfile).did)
