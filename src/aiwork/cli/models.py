"""``aiwork models``: the model registry (``model.registered`` and ``model.promoted``
entries) of a ledger, and ``aiwork lineage``: which model made a decision, trained on which
dataset, validated by which experts."""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from aiwork.analyzers.store import ModelStore, StoredModel
from aiwork.cli.options import db_option, resolve_db
from aiwork.config import blobs_path
from aiwork.crypto import SigningKey, read_key_file
from aiwork.dataset.released import Released, open_released
from aiwork.digests import DIGEST_PATTERN
from aiwork.errors import InputError, NotFoundError
from aiwork.ledger.home import open_ledger
from aiwork.ledger.log import Log
from aiwork.ledger.registry import models as list_models
from aiwork.ledger.registry import lineage, promote_model, register_model, registration
from aiwork.store.blobs import BlobStore

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


#: The analyzers ``aiwork models train`` learns a new version of from a released dataset.
TRAINABLE = ("custom_tags", "transcript")


@dataclass(frozen=True)
class Training:
    """What every ``aiwork models train`` branch is given: the ledger, the approver's key,
    the released dataset (checked against its ``dataset.released`` entry), the store's blobs
    (the media and keyframes the dataset's rows name), the new version's name, its parent
    registration, the model store that keeps its files and a folder for a copy of them."""

    log: Log
    key: SigningKey
    dataset: Released
    blobs: BlobStore
    version: str
    parent: int | None
    store: ModelStore
    out: Path | None

    def keep(self, analyzer: str, files: list[Path], digest: str) -> StoredModel:
        """Keep a new version's files in the model store (and copy them to ``out``)."""
        kept = self.store.put(analyzer, files, digest)
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            for path in kept.files:
                shutil.copyfile(path, self.out / path.name)
        return kept


#: The largest keyframe a custom tags example is read from.
MAX_KEYFRAME_BYTES = 32 << 20


def _train_custom_tags(job: Training) -> dict[str, Any]:
    """Custom tags: a classifier on the tag items' keyframes with their final tags, fitted on
    the train split and measured on the validation and test splits (held out by video)."""
    from aiwork.learn.tags import (examples_from_rows, picture_from_bytes,
                                   register_custom_tags, train_custom_tags)

    def picture(digest: str) -> Any:
        if not job.blobs.has(digest):
            raise NotFoundError(f"the store holds no keyframe {digest}, which a custom_tags "
                                "item of the dataset names",
                                hint="train with the store (--db) the dataset was exported "
                                "from")
        if job.blobs.size(digest) > MAX_KEYFRAME_BYTES:
            raise InputError(f"keyframe {digest} is over {MAX_KEYFRAME_BYTES} bytes: not a "
                             "keyframe")
        return picture_from_bytes(job.blobs.get(digest), f"keyframe {digest}")

    found = examples_from_rows(job.dataset.rows(("custom_tags",)), picture)
    if not found.examples:
        raise InputError(f"{job.dataset.folder}: no custom_tags items with a tag and a "
                         f"keyframe (left out: {found.skipped or 'none'})",
                         hint="export a store whose custom_tags items were reviewed")
    with tempfile.TemporaryDirectory(prefix="aiwork-train-") as work:
        trained = train_custom_tags(found.examples, Path(work), name="custom-tags",
                                    held=[split != "train" for split in found.splits],
                                    refit=False, meta={"dataset": {
                                        "released": job.dataset.index,
                                        "digest": job.dataset.digest}})
        kept = job.keep("custom_tags", [trained.path], trained.digest)
    index = register_custom_tags(job.log, job.key, trained, version=job.version,
                                 parent=job.parent, dataset=job.dataset.ref)
    return {"index": index, "weights_digest": trained.digest, "weights": str(kept.files[0]),
            "tags": list(trained.labels), "metrics": trained.metrics,
            "left_out": found.skipped}


#: The Whisper model a trained glossary is measured and registered with.
GLOSSARY_MODEL = "tiny.en"


def _train_transcript(job: Training) -> dict[str, Any]:
    """Transcript: a glossary of the terms the train split's validated transcript items
    corrected, adopted only if the word error rate on the validation and test splits'
    verified segments (their speech cut from the asset blobs) falls; kept in the model store
    and registered. A refused glossary is an error, and nothing is kept or registered."""
    from aiwork.analyzers.transcript.analyzer import GLOSSARY_FILE, glossary_files
    from aiwork.files import write_atomically
    from aiwork.learn.glossary import train_and_register_glossary
    from aiwork.media.decode import audio_span

    def audio(asset: str, start: float, end: float) -> Any:
        if not job.blobs.has(asset):
            raise NotFoundError(f"the store holds no media {asset}, which a held-out "
                                "transcript item of the dataset names",
                                hint="train with the store (--db) the dataset was exported "
                                "from")
        return audio_span(job.blobs.path(asset), start, end)

    made = train_and_register_glossary(
        job.log, job.key, job.dataset.rows(("transcript",)), audio, version=job.version,
        dataset=job.dataset.ref, store=job.store, parent=job.parent,
        model=GLOSSARY_MODEL)
    decision, examples = made.trained.decision, made.trained.examples
    if made.index is None or made.stored is None:
        raise InputError(f"the glossary learned from {len(examples.corrections)} train items "
                         f"({', '.join(decision.glossary) or 'no term'}) was not adopted: "
                         f"{decision.reason}; nothing registered",
                         hint="a glossary is adopted only where it lowers the word error rate "
                         "on the held-out videos")
    weights = made.stored.folder / GLOSSARY_FILE
    if job.out is not None:
        job.out.mkdir(parents=True, exist_ok=True)
        weights = write_atomically(job.out / GLOSSARY_FILE, glossary_files(
            decision.glossary, decision.glossary_as, GLOSSARY_MODEL)[GLOSSARY_FILE])
    return {"index": made.index, "weights_digest": made.stored.digest,
            "weights": str(weights), "stored": str(made.stored.folder),
            "glossary": list(decision.glossary), "model": GLOSSARY_MODEL,
            "reason": decision.reason, "metrics": {
                **decision.metrics(), "train": len(examples.corrections),
                "train_corrected": examples.corrected},
            "left_out": examples.left_out}


_TRAINERS: dict[str, Callable[[Training], dict[str, Any]]] = {
    "custom_tags": _train_custom_tags,
    "transcript": _train_transcript,
}


@models_group.command("train")
@db_option
@click.argument("analyzer", type=click.Choice(TRAINABLE))
@click.option("--dataset", "folder", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A folder written by aiwork dataset export from this store; its files are "
              "checked against its dataset.released entry before a row is read.")
@click.option("--key", "keyfile", required=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The approver's key file.")
@click.option("--version", "version", required=True, help="The new version's name.")
@click.option("--parent", type=click.IntRange(min=0), default=None,
              help="The model.registered entry this model improves on.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also copy the new weights to this folder (they are kept in the model "
              "store, $AIWORK_HOME/models, in any case).")
def train_cmd(db: str | None, analyzer: str, folder: Path, keyfile: Path, version: str,
              parent: int | None, out: Path | None) -> None:
    """Train a new version of ANALYZER on a released dataset, measure it on the dataset's
    held-out splits (validation and test: other videos than the train split's), keep its files
    in the model store, register it with the dataset it learned from, and print the
    registration as JSON. custom_tags: a classifier of the custom_tags items' keyframes (read
    from the store's blobs) by their final tags. transcript: a glossary of the terms experts corrected in the transcript items
    (Whisper tiny.en), registered only if it lowers the word error rate on the held-out
    items' speech (cut from the videos in the store's blobs); kept in the model store."""
    trainer = _TRAINERS.get(analyzer)
    if trainer is None:
        raise InputError(f"aiwork models train {analyzer} is not available yet",
                         hint=f"one of: {', '.join(sorted(_TRAINERS))}")
    if not 0 < len(version) <= 64 or not version.isprintable():
        raise InputError(f"--version {version[:80]!r}: 1 to 64 printable characters")
    key = read_key_file(keyfile)
    path = resolve_db(db)
    with open_ledger(path) as log:
        # What registering would refuse, refused before any training.
        if parent is not None and registration(log, parent).analyzer != analyzer:
            raise InputError(f"--parent {parent} registers a model of "
                             f"{registration(log, parent).analyzer}, not of {analyzer}")
        released = open_released(log, folder)
        result = trainer(Training(log, key, released, BlobStore(blobs_path(path)), version,
                                  parent, ModelStore.default(), out))
    click.echo(json.dumps({"analyzer": analyzer, "version": version,
                           "dataset": {"released": released.index, "digest": released.digest},
                           **result}, sort_keys=True))


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
