"""Identities and accounts: ``aiwork register``, ``aiwork admin``, ``aiwork credits``."""

from __future__ import annotations

from pathlib import Path

import click

from aiwork.cli.options import connect, coordinator_option, key_option
from aiwork.model.roles import REQUESTABLE_ROLES, ROLES


@click.command("register")
@coordinator_option
@key_option
@click.option("--role", required=True, type=click.Choice(REQUESTABLE_ROLES))
def register_cmd(coordinator: str, keyfile: Path, role: str) -> None:
    """Ask the coordinator for a role; prints granted or pending."""
    with connect(coordinator, keyfile) as client:
        reply = client.request_role(role)
    click.echo(f"{reply.did} {reply.role}: {reply.status}")


@click.group("admin")
def admin_group() -> None:
    """Coordinator administration."""


@admin_group.command("approve")
@click.argument("did")
@click.option("--role", required=True, type=click.Choice(ROLES))
@coordinator_option
@key_option
def approve_cmd(did: str, role: str, coordinator: str, keyfile: Path) -> None:
    """Grant ROLE to DID (needs the admin role)."""
    with connect(coordinator, keyfile) as client:
        client.approve_role(did, role)
    click.echo(f"{did} {role}: granted")


@admin_group.command("grant")
@click.argument("did")
@click.argument("amount", type=click.IntRange(1))
@click.option("--reason", help="Recorded in the credits.granted entry.")
@coordinator_option
@key_option
def grant_cmd(did: str, amount: int, reason: str | None, coordinator: str, keyfile: Path) -> None:
    """Grant AMOUNT credits to DID (needs the admin role)."""
    with connect(coordinator, keyfile) as client:
        reply = client.grant_credits(did, amount, reason)
    click.echo(f"{did}: +{amount} credits, balance {reply.balance}, "
               f"available {reply.available} (entry {reply.entry})")


@click.command("credits")
@click.argument("did", required=False)
@coordinator_option
@click.option("--key", "keyfile", type=click.Path(dir_okay=False, path_type=Path),
              help="Show this key's account (instead of DID).")
def credits_cmd(did: str | None, coordinator: str, keyfile: Path | None) -> None:
    """An account's credits: balance (from the ledger), held by open jobs, available."""
    from aiwork.client.coordinator import CoordinatorClient
    from aiwork.crypto import read_key_file

    if did is None:
        if keyfile is None:
            raise click.UsageError("give a DID or --key KEYFILE")
        did = read_key_file(keyfile).did
    with CoordinatorClient(coordinator, None) as client:
        account = client.get_credits(did)
    click.echo(f"{did}: balance {account.balance}, held {account.held}, "
               f"available {account.available}")
