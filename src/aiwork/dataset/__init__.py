"""Datasets of human-validated items: exported from a coordinator's store, released on the
ledger (``dataset.released``) so a trained model can name the data it learned from."""

from aiwork.dataset.export import FORMATS, ExportResult, export, release, split_of

__all__ = ["FORMATS", "ExportResult", "export", "release", "split_of"]
