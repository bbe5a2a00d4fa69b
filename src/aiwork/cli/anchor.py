"""``aiwork anchor``: anchor the ledger's checkpoints on an EVM chain, deploy the contract,
re-check what was anchored."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar, cast

import click

from aiwork.ledger.home import open_ledger
from aiwork.cli.options import db_option, log_key_option, resolve_db

rpc_option = click.option("--rpc", metavar="URL",
                          help="The chain's JSON-RPC endpoint, e.g. http://127.0.0.1:8545")
eth_key_option = click.option(
    "--eth-key", type=click.Path(dir_okay=False, path_type=Path),
    help="The operator's Ethereum key file: a hex secp256k1 private key, mode 0600.")


T = TypeVar("T")


def _inherit(ctx: click.Context, name: str, value: T | None) -> T | None:
    """A subcommand's option, or the same option given to the group before it."""
    if value is not None:
        return value
    parent = ctx.parent.params if ctx.parent is not None else {}
    return cast("T | None", parent.get(name))


def _required(**options: object) -> None:
    absent = [f"--{name.replace('_', '-')}" for name, value in options.items() if value is None]
    if absent:
        raise click.UsageError(f"missing {', '.join(absent)}")


@click.group("anchor", invoke_without_command=True)
@rpc_option
@eth_key_option
@click.option("--contract", metavar="ADDRESS", help="The Anchor contract (aiwork anchor deploy).")
@db_option
@log_key_option
@click.pass_context
def anchor_group(ctx: click.Context, rpc: str | None, eth_key: Path | None,
                 contract: str | None, db: str | None, log_key: Path | None) -> None:
    """Anchor the latest checkpoint on an EVM chain and record it in the log.

    \b
    aiwork anchor --rpc URL --eth-key FILE --contract ADDRESS [--db PATH]
    aiwork anchor deploy --rpc URL --eth-key FILE
    aiwork anchor check --rpc URL [--db PATH]

    Without a subcommand: sign a checkpoint of the current tree if there is none, anchor it
    (size and root under sha256 of the log's origin), append an anchor/v1 entry that records
    chain, contract, transaction and block, and print what was done.
    """
    if ctx.invoked_subcommand is not None:
        return
    _required(rpc=rpc, eth_key=eth_key, contract=contract)
    assert rpc is not None and eth_key is not None and contract is not None
    from aiwork.anchor import read_eth_key
    from aiwork.anchor.service import anchor_latest

    key = read_eth_key(eth_key)
    with open_ledger(resolve_db(db), signing=True, log_key=log_key) as log:
        done = anchor_latest(log, rpc, key, contract)
        if done is None:
            click.echo("nothing to anchor: the log is empty" if log.size == 0 else
                       f"nothing new to anchor: the log's {log.size} entries are covered by "
                       f"the last anchor on {contract} and the anchor entries after it")
            return
    click.echo(done.describe())


@anchor_group.command("deploy")
@rpc_option
@eth_key_option
@click.pass_context
def deploy_cmd(ctx: click.Context, rpc: str | None, eth_key: Path | None) -> None:
    """Deploy a new Anchor contract owned by the key; print its address."""
    rpc = _inherit(ctx, "rpc", rpc)
    eth_key = _inherit(ctx, "eth_key", eth_key)
    _required(rpc=rpc, eth_key=eth_key)
    assert rpc is not None and eth_key is not None
    from aiwork.anchor import anchor_artifact, connect, read_eth_key

    key = read_eth_key(eth_key)
    chain = connect(rpc)
    sent = chain.deploy(key)
    click.echo(f"deployed Anchor ({anchor_artifact().compiler}) on chain {chain.chain_id}, "
               f"owner {key.address}: tx {sent.transaction}, block {sent.block}, "
               f"gas {sent.gas_used}", err=True)
    click.echo(sent.contract_address)


@anchor_group.command("check")
@rpc_option
@db_option
@click.pass_context
def check_cmd(ctx: click.Context, rpc: str | None, db: str | None) -> None:
    """Re-check every anchor recorded in the log against the chain (exit 1 if any is
    missing, different or cannot be checked)."""
    rpc = _inherit(ctx, "rpc", rpc)
    db = _inherit(ctx, "db", db)
    _required(rpc=rpc)
    assert rpc is not None
    from aiwork.errors import AnchorError
    from aiwork.anchor.service import recheck

    with open_ledger(resolve_db(db)) as log:
        results = recheck(log, rpc)
    if not results:
        click.echo("no anchors recorded")
        return
    for result in results:
        click.echo(result.describe())
    bad = [result for result in results if result.bad]
    if bad:
        raise AnchorError(f"{len(bad)} of {len(results)} anchors are not confirmed by {rpc}",
                          hint="see the lines above")
