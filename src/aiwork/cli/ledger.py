"""``aiwork ledger``: the verifiable log from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, BinaryIO

import click

from aiwork.crypto import read_key_file
from aiwork.ledger.home import append_bodies, init_ledger, open_ledger
from aiwork.canonical import parse_json
from aiwork.cli.options import db_option, log_key_option, resolve_db
from aiwork.errors import InputError, MalformedJSONError


@click.group()
def ledger() -> None:
    """The append-only Merkle log of signed entries."""


@ledger.command("init")
@db_option
@log_key_option
@click.option("--origin", default=None, help="The log's origin line (default: aiwork/<key id>).")
def ledger_init(db: str | None, log_key: Path | None, origin: str | None) -> None:
    """Create a ledger and its log key; print the log's verifier key."""
    path = resolve_db(db)
    with init_ledger(path, origin=origin, log_key=log_key) as log:
        click.echo(log.verifier_key.to_text())


def _read_input(path: Path) -> bytes:
    if str(path) == "-":
        stream: BinaryIO = sys.stdin.buffer
        return stream.read()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedJSONError(f"{what} must be a JSON object, not {type(value).__name__}")
    return value


@ledger.command("append")
@db_option
@click.option("--kind", required=True, help="Entry kind, e.g. generic or asset.registered/v1.")
@click.option("--key", "keyfile", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The author's key file.")
@click.option("--body-file", type=click.Path(dir_okay=False, path_type=Path),
              help="One JSON object: the entry's body ('-' for stdin).")
@click.option("--jsonl", type=click.Path(dir_okay=False, path_type=Path),
              help="One body per line, appended atomically as one batch ('-' for stdin).")
def ledger_append(
    db: str | None, kind: str, keyfile: Path, body_file: Path | None, jsonl: Path | None
) -> None:
    """Sign bodies as entries and append them; print {"index", "leaf_hash"} per entry."""
    if (body_file is None) == (jsonl is None):
        raise click.UsageError("give exactly one of --body-file and --jsonl")
    if body_file is not None:
        bodies = [_object(parse_json(_read_input(body_file), what=str(body_file)), "the body")]
    else:
        assert jsonl is not None
        bodies = []
        for number, line in enumerate(_read_input(jsonl).splitlines(), start=1):
            if line.strip():
                where = f"{jsonl} line {number}"
                bodies.append(_object(parse_json(line, what=where), where))
        if not bodies:
            raise InputError(f"{jsonl} holds no bodies")
    key = read_key_file(keyfile)
    with open_ledger(resolve_db(db)) as log:
        for appended in append_bodies(log, key, kind, bodies):
            click.echo(json.dumps(appended.to_json()))


@ledger.command("checkpoint")
@db_option
@log_key_option
def ledger_checkpoint(db: str | None, log_key: Path | None) -> None:
    """Sign a checkpoint of the current tree; print it (C2SP signed note)."""
    with open_ledger(resolve_db(db), signing=True, log_key=log_key) as log:
        click.echo(log.checkpoint(), nl=False)


@ledger.command("proof")
@db_option
@click.option("--index", type=int, help="Inclusion proof for this entry.")
@click.option("--size", type=int, help="Tree size to prove against (default: current).")
@click.option("--consistency", is_flag=True, help="A consistency proof instead.")
@click.option("--from", "size1", type=int, help="Consistency: the older tree size.")
@click.option("--to", "size2", type=int, help="Consistency: the newer tree size (default: current).")
def ledger_proof(
    db: str | None, index: int | None, size: int | None, consistency: bool,
    size1: int | None, size2: int | None,
) -> None:
    """Print an inclusion or consistency proof as JSON."""
    with open_ledger(resolve_db(db)) as log:
        if consistency:
            if size1 is None or index is not None:
                raise click.UsageError("--consistency takes --from M [--to N], not --index")
            click.echo(json.dumps(log.consistency_proof(size1, size2).to_json()))
        else:
            if index is None or size1 is not None or size2 is not None:
                raise click.UsageError("give --index I [--size N], or --consistency --from M")
            click.echo(json.dumps(log.inclusion_proof(index, size).to_json()))


@ledger.command("get")
@db_option
@click.option("--index", type=int, required=True, help="The entry's index.")
def ledger_get(db: str | None, index: int) -> None:
    """Print the entry's bytes exactly as hashed, then one newline."""
    with open_ledger(resolve_db(db)) as log:
        data = log.get(index)
    sys.stdout.buffer.write(data + b"\n")
    sys.stdout.buffer.flush()


@ledger.command("verify")
@db_option
def ledger_verify(db: str | None) -> None:
    """Recompute the tree from the stored entries and check every signature and checkpoint.

    The database is opened read-only: verify never writes to what it checks."""
    with open_ledger(resolve_db(db), readonly=True) as log:
        report = log.verify()
    click.echo(
        f"ok: {report.size} entries, {report.checkpoints} checkpoints, "
        f"root {report.root.hex()}, checked in {report.seconds:.2f}s"
    )


@ledger.command("key")
@db_option
def ledger_key(db: str | None) -> None:
    """Print the log's public verifier key (note format: name+keyid+key)."""
    with open_ledger(resolve_db(db)) as log:
        click.echo(log.verifier_key.to_text())
