"""``aiwork models``: the model registry (``model.registered`` and ``model.promoted``
entries) of a ledger, and ``aiwork lineage``: which model made a decision, trained on which
dataset, validated by which experts."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import click

from aiwork.analyzers.store import ModelStore
from aiwork.cli.options import db_option, resolve_db
from aiwork.crypto import read_key_file
from aiwork.digests import DIGEST_PATTERN
from aiwork.errors import InputError
from aiwork.ledger.home import open_ledger
from aiwork.ledger.registry import models as list_models
from aiwork.ledger.registry import lineage, promote_model, register_model

__all__ = ["lineage_cmd", "models_group"]


def _metric(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not sep or not name or not math.isfinite(number):
        raise InputError(f"a metric is NAME=NUMBER (e.g. accuracy=0.93), not {text!r}")
    return name, number


def _dataset(text: str | None) -> tuple[int, str] | None:
    if text is None:
        return None
    index, sep, digest = text.partition(":")
    if not sep or not index.isdigit() or not re.fullmatch(DIGEST_PATTERN, digest):
        raise InputError(f"--dataset is INDEX:sha256:HEX (the dataset.released entry and the "
                         f"dataset's digest), not {text!r}")
    return int(index), digest


@click.group("models", invoke_without_command=True)
@db_option
@click.option("--analyzer", default=None, help="Only this analyzer's versions.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def models_group(ctx: click.Context, db: str | None, analyzer: str | None,
                 as_json: bool) -> None:
    """The registered model versions with their held-out metrics; * marks the one in use."""
    if ctx.invoked_subcommand is not None:
        return
    with open_ledger(resolve_db(db), readonly=True) as log:
        found = list_models(log, analyzer)
    for model in found:
        if as_json:
            click.echo(json.dumps(model.to_json(), sort_keys=True))
            continue
        metrics = " ".join(f"{k}={v:g}" for k, v in sorted(model.body["metrics"].items()))
        click.echo(f"{'*' if model.in_use else ' '} {model.index:>6} {model.analyzer} "
                   f"{model.body['version']} {model.weights_digest[:19]} {metrics}".rstrip())


@models_group.command("register")
@db_option
@click.argument("analyzer")
@click.argument("version")
@click.option("--weights", "weights", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A weight file the analyzer loads (repeat for several): kept in the model "
              "store ($AIWORK_HOME/models), their digest computed as the analyzer computes it.")
@click.option("--key", "keyfile", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The approver's key file.")
@click.option("--metric", "metrics", multiple=True, help="A held-out metric NAME=NUMBER.")
@click.option("--parent", type=click.IntRange(min=0), default=None,
              help="The model.registered entry this model was derived from.")
@click.option("--dataset", default=None, metavar="INDEX:DIGEST",
              help="The dataset.released entry it was trained on, and the dataset's digest.")
def register_cmd(db: str | None, analyzer: str, version: str, weights: tuple[Path, ...],
                 keyfile: Path, metrics: tuple[str, ...], parent: int | None,
                 dataset: str | None) -> None:
    """Register weights as a version of ANALYZER, its files kept in the model store; print the
    entry's index and the weights digest."""
    parsed = dict(_metric(text) for text in metrics)
    training = _dataset(dataset)
    key = read_key_file(keyfile)
    with open_ledger(resolve_db(db)) as log:
        # Kept first (content-addressed: a refused registration leaves only a copy that a
        # later one reuses), so a registered version always has its files in the store.
        digest = ModelStore.default().put(analyzer, list(weights)).digest
        index = register_model(log, key, analyzer=analyzer, version=version,
                               weights_digest=digest, metrics=parsed, parent=parent,
                               dataset=training)
    click.echo(json.dumps({"index": index, "weights_digest": digest}))


@models_group.command("promote")
@db_option
@click.argument("analyzer")
@click.argument("index", type=click.IntRange(min=0))
@click.option("--key", "keyfile", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Your key file.")
def promote_cmd(db: str | None, analyzer: str, index: int, keyfile: Path) -> None:
    """Make the registered version at INDEX the one ANALYZER uses; print the entry's index."""
    key = read_key_file(keyfile)
    with open_ledger(resolve_db(db)) as log:
        promoted = promote_model(log, key, analyzer, index)
    click.echo(json.dumps({"index": promoted, "registration": index}))


@click.command("lineage")
@db_option
@click.argument("item")
def lineage_cmd(db: str | None, item: str) -> None:
    """Which model made ITEM, trained on which dataset, validated by which experts: from the
    ledger alone, as JSON. ITEM is a decision's ledger index (one lineage), or VIDEO or a
    coordinator JOB id, optionally #INSIGHT (insight -> lineage)."""
    from aiwork.audit.subjects import resolve
    from aiwork.pipeline.catalog import Catalog

    with open_ledger(resolve_db(db)) as log:
        if item.isdigit():
            found: dict[str, Any] = lineage(log, int(item))
        else:
            subject = resolve(Catalog(log.db), log, item)
            found = {name: lineage(log, subject.results[name][0])
                     for name in subject.chosen if name in subject.results}
    click.echo(json.dumps(found, indent=2, sort_keys=True))
