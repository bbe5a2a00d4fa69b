"""The ``aiwork`` command line: parse, call :mod:`aiwork.app`, print.

:func:`main` is the console script and is callable from tests with ``argv``. An aiwork error is
printed as one line on stderr with exit status 1; a usage error exits 2; no traceback is shown
for a user's mistake.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from aiwork.cli.anchor import anchor_group
from aiwork.cli.audit import audit_cmd, explain_cmd
from aiwork.cli.keys import keys
from aiwork.cli.ledger import ledger
from aiwork.cli.libraries import library_group
from aiwork.cli.network import (
    admin_group,
    credits_cmd,
    devnet_cmd,
    jobs_cmd,
    register_cmd,
    results_cmd,
    serve_cmd,
    submit_cmd,
    worker_cmd,
)
from aiwork.cli.review import review_group
from aiwork.cli.process import analyzers_cmd, process_cmd, schema_cmd, show_cmd
from aiwork.cli.quality import quality_group
from aiwork.cli.witness import witness_group
from aiwork.errors import AiworkError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aiwork")
def cli() -> None:
    """aiwork: trustworthy video metadata with a verifiable ledger."""


cli.add_command(keys)
cli.add_command(ledger)
cli.add_command(anchor_group)
cli.add_command(process_cmd)
cli.add_command(show_cmd)
cli.add_command(analyzers_cmd)
cli.add_command(schema_cmd)
cli.add_command(audit_cmd)
cli.add_command(explain_cmd)
cli.add_command(serve_cmd)
cli.add_command(register_cmd)
cli.add_command(admin_group)
cli.add_command(worker_cmd)
cli.add_command(submit_cmd)
cli.add_command(results_cmd)
cli.add_command(jobs_cmd)
cli.add_command(credits_cmd)
cli.add_command(library_group)
cli.add_command(review_group)
cli.add_command(devnet_cmd)
cli.add_command(witness_group)
cli.add_command(quality_group)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 ok, 1 aiwork error, 2 usage error)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="aiwork",
                 standalone_mode=False)
    except AiworkError as exc:
        click.echo(f"error: {exc.diagnostics()}", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    return 0


def _entry_point() -> None:
    sys.exit(main())
