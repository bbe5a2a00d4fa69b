"""``aiwork serve``, ``aiwork register``, ``aiwork admin approve``."""

from __future__ import annotations

from pathlib import Path

import click

from aiwork.app.ledger import load_key
from aiwork.cli.options import db_option, resolve_db

coordinator_option = click.option("--coordinator", required=True, metavar="URL",
                                  help="The coordinator, e.g. http://127.0.0.1:8700")
key_option = click.option("--key", "keyfile", required=True,
                          type=click.Path(dir_okay=False, path_type=Path),
                          help="Your key file (aiwork keys new --out FILE).")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8700, show_default=True, type=int)
@click.option("--open-registration", is_flag=True,
              help="Grant every requested role at once (devnet); otherwise an admin approves.")
@click.option("--admin", "admin_did", help="A did:key to hold the admin role.")
@db_option
def serve_cmd(host: str, port: int, open_registration: bool, admin_did: str | None,
              db: Path | None) -> None:
    """Run the coordinator's HTTP API over the store (AIWORK_HOME or --db)."""
    import uvicorn

    from aiwork.api import ServerSettings, create_app
    from aiwork.app.identities import coordinator_key

    path = resolve_db(db)
    settings = ServerSettings(db=path, key=coordinator_key(), open_registration=open_registration,
                              admin=admin_did)
    click.echo(f"aiwork coordinator on http://{host}:{port} (store {path}; "
               f"registration {'open' if open_registration else 'by admin approval'})", err=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


@click.command("register")
@coordinator_option
@key_option
@click.option("--role", required=True,
              type=click.Choice(["requester", "worker", "expert", "auditor"]))
def register_cmd(coordinator: str, keyfile: Path, role: str) -> None:
    """Ask the coordinator for a role; prints granted or pending."""
    from aiwork.app.client import CoordinatorClient

    key = load_key(keyfile)
    with CoordinatorClient(coordinator, key) as client:
        reply = client.post("/v1/identities", {"role": role})
    click.echo(f"{reply['did']} {reply['role']}: {reply['status']}")


@click.group("admin")
def admin_group() -> None:
    """Coordinator administration."""


@admin_group.command("approve")
@click.argument("did")
@click.option("--role", required=True,
              type=click.Choice(["requester", "worker", "expert", "auditor", "admin"]))
@coordinator_option
@key_option
def approve_cmd(did: str, role: str, coordinator: str, keyfile: Path) -> None:
    """Grant ROLE to DID (needs the admin role)."""
    from aiwork.app.client import CoordinatorClient

    with CoordinatorClient(coordinator, load_key(keyfile)) as client:
        client.post("/v1/admin/approve", {"did": did, "role": role})
    click.echo(f"{did} {role}: granted")
