"""``aiwork keys``: Ed25519 identities as did:key."""

from __future__ import annotations

from pathlib import Path

import click

from aiwork.crypto import SigningKey, read_key_file, write_key_file


@click.group()
def keys() -> None:
    """Create and inspect Ed25519 identity keys."""


@keys.command("new")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the private key (PEM, mode 0600).")
@click.option("--force", is_flag=True, help="Overwrite an existing key file.")
def keys_new(out: Path, force: bool) -> None:
    """Create a key; print its did:key."""
    key = SigningKey.generate()
    write_key_file(out, key, force=force)
    click.echo(key.did)


@keys.command("show")
@click.argument("keyfile", type=click.Path(dir_okay=False, path_type=Path))
def keys_show(keyfile: Path) -> None:
    """Print the did:key of KEYFILE."""
    click.echo(read_key_file(keyfile).did)
