"""``aiwork witness``: cosign a log's checkpoints after checking that it only grew."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from aiwork.crypto import read_key_file

if TYPE_CHECKING:
    from aiwork.client.witness import StepResult

#: Exit status after an alarm (0 ok, 1 error, 2 usage error).
ALARM_EXIT = 3


def _describe(result: StepResult) -> str:
    if result.action == "cosigned":
        since = ("first contact" if result.previous_size is None
                 else f"consistent with size {result.previous_size}")
        return f"cosigned {result.origin} size {result.size} ({since})"
    return f"{result.action} {result.origin} size {result.size}"


@click.group("witness", invoke_without_command=True, subcommand_metavar="[key ...]")
@click.option("--log", "log_url", metavar="URL",
              help="The log's coordinator, e.g. http://127.0.0.1:8700")
@click.option("--key", "keyfile", type=click.Path(dir_okay=False, path_type=Path),
              help="The witness's key file (aiwork keys new --out FILE).")
@click.option("--name", help="The witness's name (default: aiwork-witness/<16 hex of its key>).")
@click.option("--log-key", metavar="VKEY",
              help="The log's verifier key (`aiwork ledger key` on its host): refuse a log "
                   "that presents another (default: pin the first key seen).")
@click.option("--every", default=60.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between checks.")
@click.option("--once", is_flag=True, help="Check once, then stop.")
@click.option("--state", type=click.Path(file_okay=False, path_type=Path),
              help="The witness's state folder (default: $AIWORK_HOME/witness).")
@click.pass_context
def witness_group(ctx: click.Context, log_url: str | None, keyfile: Path | None,
                  name: str | None, log_key: str | None, every: float, once: bool,
                  state: Path | None) -> None:
    """Watch a log; cosign each checkpoint only after checking it extends the last one.

    A rollback, a fork (two roots for one size), a consistency proof that fails or a changed
    log key is an alarm: an evidence file in the state's alarms/ folder, nothing cosigned,
    exit status 3.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not log_url or keyfile is None:
        raise click.UsageError("give --log URL and --key KEYFILE (or a command: key)")
    import time

    from aiwork.client.witness import Witness
    from aiwork.errors import WitnessAlarm
    from aiwork.config import home
    from aiwork.errors import AiworkError

    witness = Witness(read_key_file(keyfile), state or home() / "witness", name, log_key=log_key)
    try:
        while True:
            try:
                click.echo(_describe(witness.step(log_url)))
            except WitnessAlarm as alarm:
                click.echo(f"!!! WITNESS {alarm.diagnostics()}", err=True)
                raise SystemExit(ALARM_EXIT) from None
            except AiworkError as exc:
                if once:
                    raise
                click.echo(f"error: {exc.diagnostics()}", err=True)
            if once:
                return
            time.sleep(every)
    except KeyboardInterrupt:
        pass


@witness_group.command("key")
@click.option("--key", "keyfile", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The witness's key file.")
@click.option("--name", help="The witness's name (default: aiwork-witness/<16 hex of its key>).")
def witness_key_cmd(keyfile: Path, name: str | None) -> None:
    """Print the witness's verifier key, for `aiwork serve --witness VKEY`."""
    from aiwork.client.witness import default_name
    from aiwork.ledger.cosign import WitnessKey

    key = read_key_file(keyfile)
    click.echo(WitnessKey.of(name or default_name(key), key).to_text())
