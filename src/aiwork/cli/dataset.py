"""``aiwork dataset export``: human-validated items from a coordinator's store as a dataset."""

from __future__ import annotations

from pathlib import Path

import click

from aiwork.cli.options import db_option, resolve_db


@click.group("dataset")
def dataset_group() -> None:
    """Datasets of human-validated items, released on the ledger."""


@dataset_group.command("export")
@click.option("--insight", "insights", multiple=True, help="Only this insight; repeatable.")
@click.option("--library", help="Only this library's items (a sensitive one: for its owner "
                                "and readers).")
@click.option("--format", "fmt", type=click.Choice(["parquet", "jsonl", "hf", "webvtt"]), default="jsonl",
              show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="A new folder: data/SPLIT.EXT (hf: Parquet in the Hub's layout; webvtt: JSON "
                   "Lines and webvtt/SPLIT/VIDEO.vtt), README.md (dataset card), "
                   "croissant.json.")
@click.option("--key", "keyfile", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Your key file: who exports (a sensitive library's items are exported for "
                   "its owner and readers, each read logged).")
@click.option("--name", default="aiwork-validated", show_default=True)
@click.option("--version", "version", default="1.0.0", show_default=True)
@db_option
def export_cmd(insights: tuple[str, ...], library: str | None, fmt: str, out: Path,
               keyfile: Path, name: str, version: str, db: str | None) -> None:
    """Export the decided review items of the coordinator's store (--db, or
    $AIWORK_HOME/aiwork.db), split by video, and record them as a dataset.released entry
    signed by the coordinator's key ($AIWORK_HOME/coordinator.key)."""
    from aiwork.coordinator.identities import coordinator_key
    from aiwork.crypto import read_key_file
    from aiwork.dataset import export
    from aiwork.errors import InputError
    from aiwork.ledger.log import Log

    path = resolve_db(db)
    if not Log.is_ledger(path):
        raise InputError(f"no coordinator store at {path}", hint="give --db PATH_OR_URL")
    reader = read_key_file(keyfile).did
    with Log.open(path) as log:
        result = export(log, coordinator_key(), reader=reader, out=out, fmt=fmt,
                        insights=insights, library=library, name=name, version=version)
    splits = ", ".join(f"{split} {n}" for split, n in result.rows.items())
    click.echo(f"{out}: {sum(result.rows.values())} item(s) ({splits})")
    if result.skipped_sensitive:
        click.echo(f"left out {result.skipped_sensitive} item(s) of sensitive libraries you "
                   "may not read")
    if result.access_reads:
        click.echo(f"logged {len(result.access_reads)} read(s) as access.read entries")
    click.echo(f"dataset.released entry {result.released}: {result.digest}")
    click.echo(f"a model trained on it: aiwork models register ... --dataset "
               f"{result.released}:{result.digest}")
