"""Errors of anchoring; all derive from :mod:`aiwork.errors`::

    AnchorError                  anchoring cannot do what was asked
    ├── EthKeyError              the Ethereum key file is missing, too open or not a key
    ├── ChainUnreachableError    no Ethereum JSON-RPC answers at that URL
    ├── ContractError            the address is not an address, or holds no Anchor contract
    ├── AnchorRefusedError       the contract refused the anchor (not the owner, a smaller
    │                            size, another root for an anchored size); nothing was sent
    ├── TransactionFailedError   the transaction was sent but reverted, or was not mined
    └── ReceiptError             an anchor receipt is malformed
"""

from __future__ import annotations

from aiwork.errors import AiworkError, InputError, KeyFileError

__all__ = [
    "AnchorError",
    "AnchorRefusedError",
    "ChainUnreachableError",
    "ContractError",
    "EthKeyError",
    "ReceiptError",
    "TransactionFailedError",
]


class AnchorError(AiworkError):
    """Anchoring on the chain cannot do what was asked."""


class EthKeyError(AnchorError, KeyFileError):
    """The Ethereum key file is missing, readable by others, or holds no secp256k1 key."""

    hint = "the file holds one secp256k1 private key as 64 hex digits (0x optional), mode 0600"


class ChainUnreachableError(AnchorError):
    """Nothing answers Ethereum JSON-RPC at the URL given."""

    hint = "check --rpc and that the node is running (scripts/anvil starts a local one)"


class ContractError(AnchorError, InputError):
    """The contract address is malformed, or no Anchor contract lives there on this chain."""

    hint = "check --contract and --rpc, or deploy one with `aiwork anchor deploy`"


class AnchorRefusedError(AnchorError):
    """The contract refused the anchor; ``reason`` is its revert message. Nothing was sent."""

    def __init__(self, message: str, *, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


class TransactionFailedError(AnchorError):
    """A transaction was sent but reverted on chain, or was not mined in time."""


class ReceiptError(AnchorError, InputError):
    """An anchor receipt (or an ``anchor/v1`` body) is malformed."""
