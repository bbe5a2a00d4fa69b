"""``aiwork worker``: lease analysis tasks from a coordinator, run them, submit the results."""

from __future__ import annotations

from pathlib import Path

import click

from aiwork.cli.options import (coordinator_option, key_option, weights_given_option,
                                weights_settings)


@click.command("worker")
@coordinator_option
@key_option
@click.option("--analyzers", "names", help="Comma-separated analyzers to offer (default: all but "
              "custom_tags). Each runs the version the coordinator promoted (aiwork models "
              "promote), its files from $AIWORK_HOME/models.")
@click.option("--once", is_flag=True,
              help="Do the tasks on offer, then stop (an unreachable coordinator is an error, "
                   "not retried).")
@weights_given_option
def worker_cmd(coordinator: str, keyfile: Path, names: str | None, once: bool,
               weights: tuple[str, ...]) -> None:
    """Lease analysis tasks, run them, sign and submit the results.

    While the coordinator cannot be reached the worker retries, forever, waiting 1 s, then
    doubling up to 60 s (with jitter); a finished result is kept on disk under its home until
    the coordinator takes it, also across a restart of the worker."""
    from rich.console import Console
    from rich.live import Live

    from aiwork.analyzers.store import ModelStore
    from aiwork.client.coordinator import CoordinatorClient
    from aiwork.client.worker import Worker, WorkerStats
    from aiwork.config import home
    from aiwork.crypto import read_key_file

    key = read_key_file(keyfile)
    capabilities = [n.strip() for n in names.split(",")] if names else None
    console = Console(stderr=True)
    with CoordinatorClient(coordinator, key) as client:
        worker = Worker(client, key, home() / f"worker-{key.public_key.hex()[:12]}", capabilities,
                        settings=weights_settings(weights), models=ModelStore.default())

        def line(stats: WorkerStats) -> str:
            doing = stats.current or stats.waiting or "waiting for work"
            credits = "?" if stats.credits is None else str(stats.credits)
            return (f"worker {key.did[:24]}... | {doing} | done {stats.done} | "
                    f"failed {stats.failed} | credits {credits}")

        console.print(f"offering: {', '.join(worker.capabilities)}", soft_wrap=True)
        try:
            if once:
                while worker.run_once():
                    console.print(line(worker.stats), soft_wrap=True)
            else:
                with Live(line(worker.stats), console=console, refresh_per_second=2) as live:
                    worker.run(on_change=lambda s: live.update(line(s)))
        except KeyboardInterrupt:
            pass
        finally:
            for error in worker.stats.errors[-5:]:
                console.print(f"failed task: {error}", soft_wrap=True)
            worker.close()
    click.echo(line(worker.stats))
