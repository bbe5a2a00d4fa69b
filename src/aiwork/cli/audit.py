"""``aiwork audit`` (a self-contained bundle for outsiders) and ``aiwork explain``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from aiwork.cli.options import db_option, log_key_option, resolve_db


@click.command("audit")
@click.argument("video_or_item")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the bundle (JSON); check it with `aiwork-verify FILE`.")
@db_option
@log_key_option
def audit_cmd(video_or_item: str, out: Path, db: str | None, log_key: Path | None) -> None:
    """Write an audit bundle for VIDEO (path, name or digest) or a coordinator JOB id, each
    optionally #INSIGHT, or a decision's ledger index: the items, the entries behind them, proofs to one signed checkpoint, its
    cosignatures and anchor, and the keys."""
    from aiwork.app.anchoring import anchor_receipts
    from aiwork.app.audit import build_bundle, resolve
    from aiwork.app.catalog import Catalog
    from aiwork.app.ledger import open_ledger

    with open_ledger(resolve_db(db), signing=True, log_key=log_key) as log:
        catalog = Catalog(log.db)
        subject = resolve(catalog, log, video_or_item)
        bundle = build_bundle(log, subject, anchors=anchor_receipts)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(bundle, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    click.echo(f"{out}: {len(bundle['items'])} item(s), {len(bundle['entries'])} entries, "
               f"checkpoint size {bundle['checkpoint'].splitlines()[1]}"
               f"{', anchored' if bundle['anchor'] else ''}")


@click.command("explain")
@click.argument("video_or_item")
@db_option
def explain_cmd(video_or_item: str, db: str | None) -> None:
    """Say, for each insight of VIDEO (or one item), which model made it from what, how
    sure it was, who checked it, and where its proof stands."""
    from aiwork.app.anchoring import anchor_receipts
    from aiwork.app.audit import explain, resolve
    from aiwork.app.catalog import Catalog
    from aiwork.app.ledger import open_ledger

    with open_ledger(resolve_db(db)) as log:
        catalog = Catalog(log.db)
        for line in explain(log, resolve(catalog, log, video_or_item),
                            anchors=anchor_receipts):
            click.echo(line)
