"""What an anchor leaves behind: the receipt of the transaction, and a later check of it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiwork.errors import ReceiptError

__all__ = ["AnchorCheck", "AnchorReceipt", "CheckStatus", "log_id_of"]

_HASH = re.compile(r"0x[0-9a-f]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def log_id_of(origin: str) -> bytes:
    """The contract's name for a log: SHA-256 of its checkpoint origin line (UTF-8)."""
    return hashlib.sha256(origin.encode("utf-8")).digest()


def hex32(value: bytes) -> str:
    return "0x" + value.hex()


@dataclass(frozen=True)
class AnchorReceipt:
    """One anchored checkpoint: where (chain, contract, transaction, block) and what (the log's
    id and origin, the tree size and root). Hashes are ``0x`` and 64 lowercase hex digits.

    ``gas_used`` is ``None`` when read back from an ``anchor/v1`` entry, which leaves it out.
    """

    chain_id: int
    contract: str
    transaction: str
    block: int
    block_hash: str
    log_id: str
    origin: str
    size: int
    root: str
    gas_used: int | None = None

    def __post_init__(self) -> None:
        for name in ("chain_id", "block", "size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ReceiptError(f"anchor receipt: {name} must be a non-negative integer")
        for name in ("transaction", "block_hash", "log_id", "root"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _HASH.fullmatch(value):
                raise ReceiptError(f"anchor receipt: {name} must be 0x and 64 lowercase hex digits")
        if not isinstance(self.contract, str) or not _ADDRESS.fullmatch(self.contract):
            raise ReceiptError("anchor receipt: contract must be 0x and 40 hex digits")
        if not isinstance(self.origin, str) or not self.origin:
            raise ReceiptError("anchor receipt: origin must be a non-empty string")
        if hex32(log_id_of(self.origin)) != self.log_id:
            raise ReceiptError(f"anchor receipt: log_id is not sha256 of {self.origin!r}")

    @property
    def log_id_bytes(self) -> bytes:
        return bytes.fromhex(self.log_id[2:])

    @property
    def root_bytes(self) -> bytes:
        return bytes.fromhex(self.root[2:])

    def to_json(self) -> dict[str, Any]:
        """The receipt as a JSON object (with ``gas_used`` when it is known)."""
        data = self.to_body()
        if self.gas_used is not None:
            data["gas_used"] = self.gas_used
        return data

    def to_body(self) -> dict[str, Any]:
        """The body of the ``anchor/v1`` ledger entry that records this anchor."""
        return {
            "chain_id": self.chain_id, "contract": self.contract,
            "transaction": self.transaction, "block": self.block,
            "block_hash": self.block_hash, "log_id": self.log_id, "origin": self.origin,
            "size": self.size, "root": self.root,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AnchorReceipt:
        """A receipt from :meth:`to_json` or an ``anchor/v1`` body (``gas_used`` optional)."""
        if not isinstance(data, Mapping):
            raise ReceiptError("an anchor receipt is a JSON object")
        fields = ("chain_id", "contract", "transaction", "block", "block_hash", "log_id",
                  "origin", "size", "root")
        absent = [name for name in fields if name not in data]
        if absent:
            raise ReceiptError(f"anchor receipt lacks {', '.join(absent)}")
        gas = data.get("gas_used")
        if gas is not None and (not isinstance(gas, int) or isinstance(gas, bool) or gas < 0):
            raise ReceiptError("anchor receipt: gas_used must be a non-negative integer")
        return cls(**{name: data[name] for name in fields}, gas_used=gas)


class CheckStatus(StrEnum):
    """What the chain says about a recorded anchor."""

    OK = "ok"  # the contract holds that root for that size
    MISSING = "missing"  # no such contract, or it holds nothing for that size
    DIFFERENT = "different"  # another root for that size (or the log disagrees)
    UNREACHABLE = "unreachable"  # the chain did not answer
    OTHER_CHAIN = "other-chain"  # made on another chain than the one asked; not checked

    @property
    def bad(self) -> bool:
        """Whether this status shows the anchor is not (or no longer) what was recorded."""
        return self in (CheckStatus.MISSING, CheckStatus.DIFFERENT, CheckStatus.UNREACHABLE)


@dataclass(frozen=True)
class AnchorCheck:
    """The chain's answer for one receipt. ``chain_root`` is what the contract holds for the
    size (``None`` when nothing, or when it could not be asked); ``detail`` says it in words."""

    status: CheckStatus
    detail: str
    chain_root: bytes | None = None

    @property
    def ok(self) -> bool:
        return self.status is CheckStatus.OK
