"""Deploy the contract, anchor a signed checkpoint, check an anchor later.

Each function takes the chain as an RPC URL (``http://127.0.0.1:8545``) or a :class:`Chain`
already connected, and the operator's key as an :class:`EthKey` or the path of its key file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aiwork.anchor.chain import Chain, EvmChain
from aiwork.errors import ChainUnreachableError, ContractError
from aiwork.anchor.keys import EthKey, read_eth_key
from aiwork.anchor.receipt import AnchorCheck, AnchorReceipt, CheckStatus, hex32, log_id_of
from aiwork.ledger.note import Checkpoint, VerifierKey

__all__ = ["anchor_checkpoint", "check_anchor", "connect", "deploy"]


def connect(rpc: str | Chain) -> Chain:
    """A chain from an RPC URL (connecting now), or the chain given."""
    return EvmChain(rpc) if isinstance(rpc, str) else rpc


def _key(eth_key: EthKey | str | os.PathLike[str]) -> EthKey:
    return eth_key if isinstance(eth_key, EthKey) else read_eth_key(eth_key)


def deploy(rpc: str | Chain, eth_key: EthKey | str | os.PathLike[str]) -> str:
    """Deploy a new Anchor contract owned by ``eth_key``; return its checksummed address."""
    sent = connect(rpc).deploy(_key(eth_key))
    assert sent.contract_address is not None
    return sent.contract_address


def anchor_checkpoint(
    rpc: str | Chain,
    eth_key: EthKey | str | os.PathLike[str],
    contract: str,
    note: str,
    verifier_key: VerifierKey | str,
) -> dict[str, Any]:
    """Anchor a signed checkpoint note: check its signature by the log's ``verifier_key``,
    then record ``(sha256(origin), size, root)`` in the contract.

    Sending a checkpoint that is already anchored again is accepted and changes nothing.
    Returns the receipt as a JSON object: ``chain_id``, ``contract``, ``transaction``,
    ``block``, ``block_hash``, ``log_id``, ``origin``, ``size``, ``root``, ``gas_used``.
    """
    key = _key(eth_key)
    verifier = verifier_key if isinstance(verifier_key, VerifierKey) else \
        VerifierKey.from_text(verifier_key)
    checkpoint = Checkpoint.from_note(note, verifier)
    chain = connect(rpc)
    address = chain.check_contract(contract)
    log_id = log_id_of(checkpoint.origin)
    sent = chain.anchor(key, address, log_id, checkpoint.size, checkpoint.root_hash)
    return AnchorReceipt(
        chain_id=chain.chain_id, contract=address, transaction=sent.transaction,
        block=sent.block, block_hash=sent.block_hash, log_id=hex32(log_id),
        origin=checkpoint.origin, size=checkpoint.size, root=hex32(checkpoint.root_hash),
        gas_used=sent.gas_used,
    ).to_json()


def check_anchor(rpc: str | Chain, receipt: Mapping[str, Any] | AnchorReceipt) -> AnchorCheck:
    """Whether the chain holds the receipt's root for its size.

    Never raises for what the chain says: the answer is ``ok``, ``missing`` (no such contract
    there, or nothing anchored for that size), ``different`` (another root), ``other-chain``
    (the URL serves another chain than the receipt's) or ``unreachable``.
    """
    anchored = receipt if isinstance(receipt, AnchorReceipt) else AnchorReceipt.from_json(receipt)
    try:
        chain = connect(rpc)
        if chain.chain_id != anchored.chain_id:
            return AnchorCheck(CheckStatus.OTHER_CHAIN,
                               f"anchored on chain {anchored.chain_id}; {chain.name} serves "
                               f"chain {chain.chain_id}")
        try:
            held = chain.root_of(anchored.contract, anchored.log_id_bytes, anchored.size)
        except ContractError as exc:
            return AnchorCheck(CheckStatus.MISSING, str(exc))
    except ChainUnreachableError as exc:
        return AnchorCheck(CheckStatus.UNREACHABLE, str(exc))
    where = f"contract {anchored.contract} on chain {anchored.chain_id}"
    if held == bytes(32):
        return AnchorCheck(CheckStatus.MISSING,
                           f"{where} holds no root for {anchored.origin} size {anchored.size}")
    if held != anchored.root_bytes:
        return AnchorCheck(CheckStatus.DIFFERENT,
                           f"{where} holds root {hex32(held)} for {anchored.origin} size "
                           f"{anchored.size}, not {anchored.root}", chain_root=held)
    return AnchorCheck(CheckStatus.OK,
                       f"{where} holds root {anchored.root} for {anchored.origin} size "
                       f"{anchored.size}", chain_root=held)
