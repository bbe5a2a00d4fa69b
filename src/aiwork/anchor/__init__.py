"""Anchoring signed checkpoints on an EVM chain.

The Anchor contract (``contracts/Anchor.vy``, compiled into the committed ``Anchor.json``)
keeps, per log, the root hash of each anchored tree size: ``anchor(log_id, size, root)``
(the owner only; never a smaller size than the latest; never another root for an anchored
size), ``root_of(log_id, size)``, ``latest_size(log_id)``, ``owner()`` and the event
``Anchored(log_id, size, root)``. ``log_id`` is SHA-256 of the checkpoint's origin line.
Each anchor writes the same storage, so its gas is the same for a log of ten entries or ten
million.

:func:`deploy`, :func:`anchor_checkpoint` and :func:`check_anchor` are the operations; they
reach the chain through :class:`EvmChain` (web3.py over JSON-RPC) or, for tests,
:class:`MemoryChain`. Errors derive from :class:`AnchorError` (tree in
:mod:`aiwork.errors`).
"""

from aiwork.anchor.artifact import ContractArtifact, anchor_artifact
from aiwork.anchor.chain import Chain, EvmChain, MemoryChain, Sent, checksum_address
from aiwork.anchor.keys import EthKey, read_eth_key
from aiwork.anchor.operations import anchor_checkpoint, check_anchor, connect, deploy
from aiwork.anchor.receipt import AnchorCheck, AnchorReceipt, CheckStatus, log_id_of

__all__ = [
    "AnchorCheck",
    "AnchorReceipt",
    "Chain",
    "CheckStatus",
    "ContractArtifact",
    "EthKey",
    "EvmChain",
    "MemoryChain",
    "Sent",
    "anchor_artifact",
    "anchor_checkpoint",
    "check_anchor",
    "checksum_address",
    "connect",
    "deploy",
    "log_id_of",
    "read_eth_key",
]
