"""aiwork's frozen data model: ledger entries, their kinds and body schemas."""

from aiwork.model.entry import MAX_BODY_BYTES, Entry, utc_now
from aiwork.model.kinds import DEFAULT_KINDS, AssetRegistered, EntryKind, KindRegistry

__all__ = [
    "DEFAULT_KINDS",
    "MAX_BODY_BYTES",
    "AssetRegistered",
    "Entry",
    "EntryKind",
    "KindRegistry",
    "utc_now",
]
