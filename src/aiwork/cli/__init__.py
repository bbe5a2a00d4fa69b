"""The ``aiwork`` command line: parse, call the services and the client, print; one module
per command group.

:func:`main` is the console script and is callable from tests with ``argv``. An aiwork error is
printed as one line on stderr with exit status 1; a usage error exits 2; no traceback is shown
for a user's mistake.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import click

from aiwork.errors import AiworkError

__all__ = ["COMMANDS", "cli", "main"]

#: Each command (or group) of ``aiwork``: the module that defines it, and its name there. A
#: module is imported only when its command runs (or ``--help`` lists them all), so a small
#: command (``aiwork keys show``) loads neither the media stack nor the analyzers' models.
COMMANDS: dict[str, tuple[str, str]] = {
    "keys": ("aiwork.cli.keys", "keys"),
    "ledger": ("aiwork.cli.ledger", "ledger"),
    "anchor": ("aiwork.cli.anchor", "anchor_group"),
    "process": ("aiwork.cli.process", "process_cmd"),
    "show": ("aiwork.cli.process", "show_cmd"),
    "analyzers": ("aiwork.cli.process", "analyzers_cmd"),
    "schema": ("aiwork.cli.process", "schema_cmd"),
    "audit": ("aiwork.cli.audit", "audit_cmd"),
    "explain": ("aiwork.cli.audit", "explain_cmd"),
    "serve": ("aiwork.cli.serve", "serve_cmd"),
    "devnet": ("aiwork.cli.devnet", "devnet_cmd"),
    "register": ("aiwork.cli.identities", "register_cmd"),
    "admin": ("aiwork.cli.identities", "admin_group"),
    "credits": ("aiwork.cli.identities", "credits_cmd"),
    "worker": ("aiwork.cli.worker", "worker_cmd"),
    "submit": ("aiwork.cli.jobs", "submit_cmd"),
    "results": ("aiwork.cli.jobs", "results_cmd"),
    "jobs": ("aiwork.cli.jobs", "jobs_cmd"),
    "library": ("aiwork.cli.libraries", "library_group"),
    "review": ("aiwork.cli.review", "review_group"),
    "witness": ("aiwork.cli.witness", "witness_group"),
    "quality": ("aiwork.cli.quality", "quality_group"),
    "search": ("aiwork.cli.search", "search_cmd"),
    "videos": ("aiwork.cli.search", "videos_cmd"),
    "index": ("aiwork.cli.search", "index_group"),
    "models": ("aiwork.cli.models", "models_group"),
    "lineage": ("aiwork.cli.models", "lineage_cmd"),
    "dataset": ("aiwork.cli.dataset", "dataset_group"),
}


class _LazyGroup(click.Group):
    """A group whose commands are imported from :data:`COMMANDS` when first asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, name = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), name)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aiwork")
def cli() -> None:
    """aiwork: trustworthy video metadata with a verifiable ledger."""


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
