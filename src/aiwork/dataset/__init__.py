"""Datasets of human-validated items: exported from a coordinator's store, released on the
ledger (``dataset.released``) so a trained model can name the data it learned from."""

from aiwork.dataset.export import FORMATS, ExportResult, export, release, split_of
from aiwork.dataset.released import RELEASED_FILE, Released, open_released

__all__ = ["FORMATS", "RELEASED_FILE", "ExportResult", "Released", "export", "open_released",
           "release", "split_of"]
