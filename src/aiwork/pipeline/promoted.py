"""The versions a store's ledger promoted (``aiwork models promote``), as the options that run
them: what :class:`~aiwork.pipeline.process.Processor` and ``aiwork analyzers`` load."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from aiwork.analyzers.store import ModelStore, registered_options
from aiwork.ledger.home import open_ledger
from aiwork.ledger.log import Log
from aiwork.ledger.registry import models as registered_models

__all__ = ["promoted_settings"]


def promoted_settings(db: Path | str, names: Iterable[str],
                      settings: Mapping[str, Mapping[str, Any]],
                      store: ModelStore) -> dict[str, dict[str, Any]]:
    """``settings`` (per-analyzer options) with, for each of ``names`` that has a promoted
    version in the ledger at ``db`` (``aiwork models promote``), the options that load its
    files from ``store`` (:func:`~aiwork.analyzers.store.registered_options`), unless the
    options given set them already. The ledger is only read (none is created). A promoted
    version whose files are missing from the store is a ModelStoreError."""
    chosen = {name: dict(value) for name, value in settings.items()}
    if not Log.is_ledger(db):
        return chosen
    wanted = set(names)
    with open_ledger(db, readonly=True) as log:
        promoted = [model for model in registered_models(log)
                    if model.in_use and model.analyzer in wanted]
    for model in promoted:
        chosen[model.analyzer] = registered_options(
            store, model.analyzer, model.weights_digest, chosen.get(model.analyzer),
            what=f"the promoted version of {model.analyzer} (entry {model.index})")
    return chosen
