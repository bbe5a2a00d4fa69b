"""``aiwork audit`` (a self-contained bundle for outsiders) and ``aiwork explain``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from aiwork.cli.options import db_option, log_key_option, resolve_db


@click.command("audit")
@click.argument("video_or_item")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the bundle (JSON); check it with `aiwork-verify FILE`.")
@click.option("--coordinator", metavar="URL",
              help="Fetch a JOB's bundle from this coordinator (GET /v1/jobs/ID/audit) "
                   "instead of building it from a local store.")
@click.option("--key", "keyfile", type=click.Path(dir_okay=False, path_type=Path),
              help="With --coordinator: sign the request (needed for a job in a sensitive "
                   "library, by one who may read it).")
@click.option("--purpose", default="an audit of the job's metadata", show_default=True,
              help="With --coordinator and --key: why you read it (logged for a job in a "
                   "sensitive library).")
@db_option
@log_key_option
def audit_cmd(video_or_item: str, out: Path, coordinator: str | None, keyfile: Path | None,
              purpose: str, db: str | None, log_key: Path | None) -> None:
    """Write an audit bundle for VIDEO (path, name or digest) or a coordinator JOB id, each
    optionally #INSIGHT, or a decision's ledger index: the items, the entries behind them,
    proofs to one signed checkpoint, its cosignatures and anchor, and the keys. With
    --coordinator URL, JOB[#INSIGHT] is fetched from that coordinator."""
    if coordinator is not None:
        bundle = _remote_bundle(coordinator, video_or_item, keyfile, purpose)
    else:
        from aiwork.anchor.service import anchor_receipts
        from aiwork.audit.bundle import build_bundle
        from aiwork.audit.subjects import resolve
        from aiwork.pipeline.catalog import Catalog
        from aiwork.ledger.home import open_ledger

        from aiwork.errors import InputError
        from aiwork.ledger.log import Log

        path = resolve_db(db)
        if not Log.is_ledger(path):
            raise InputError(f"no local store at {path} to build {video_or_item}'s bundle from",
                             hint="for a coordinator job, add --coordinator URL (and --key "
                                  "KEYFILE for a job in a sensitive library)")
        with open_ledger(path, signing=True, log_key=log_key) as log:
            catalog = Catalog(log.db)
            subject = resolve(catalog, log, video_or_item)
            bundle = build_bundle(log, subject, anchors=anchor_receipts)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(bundle, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    size = (bundle["checkpoint"].splitlines() + ["", "?"])[1]
    click.echo(f"{out}: {len(bundle['items'])} item(s), {len(bundle.get('entries') or [])} "
               f"entries, checkpoint size {size}{', anchored' if bundle.get('anchor') else ''}")
    if coordinator is not None:
        click.echo(f"check it against the log's key: aiwork-verify {out} --log-key VKEY "
                   f"(VKEY: `aiwork ledger key` on the coordinator's host)")


def _remote_bundle(url: str, what: str, keyfile: Path | None, purpose: str
                   ) -> dict[str, Any]:
    from aiwork.client.coordinator import CoordinatorClient
    from aiwork.crypto import read_key_file
    from aiwork.errors import InputError

    job, _, insight = what.partition("#")
    if not job or "/" in job or "?" in job:
        raise InputError(f"{what!r} is not a job id",
                         hint="give JOB or JOB#INSIGHT (`aiwork jobs` lists them)")
    key = read_key_file(keyfile) if keyfile else None
    with CoordinatorClient(url, key) as client:
        # Read with a bound (aiwork.client.transport.MAX_REPLY_BYTES): a coordinator cannot
        # fill this process's memory with an endless answer.
        bundle = client.get_audit_bundle(job, insight or None, signed=key is not None,
                                         purpose=purpose)
    if not isinstance(bundle.get("items"), list) or not isinstance(bundle.get("checkpoint"), str):
        raise InputError(f"{url} answered the audit of job {job} with something that is not "
                         "an audit bundle")
    return bundle


@click.command("explain")
@click.argument("video_or_item")
@db_option
def explain_cmd(video_or_item: str, db: str | None) -> None:
    """Say, for each insight of VIDEO (or one item), which model made it from what, how
    sure it was, who checked it, and where its proof stands."""
    from aiwork.anchor.service import anchor_receipts
    from aiwork.audit.explain import explain
    from aiwork.audit.subjects import resolve
    from aiwork.pipeline.catalog import Catalog
    from aiwork.ledger.home import open_ledger

    with open_ledger(resolve_db(db)) as log:
        catalog = Catalog(log.db)
        for line in explain(log, resolve(catalog, log, video_or_item),
                            anchors=anchor_receipts):
            click.echo(line)
