"""Where anchors live: an EVM chain over JSON-RPC (web3.py), or one kept in memory.

:class:`Chain` is the one interface; :class:`EvmChain` talks to a node (anvil, a testnet,
mainnet) and checks that the contract at an address runs exactly the committed Anchor code;
:class:`MemoryChain` applies the same rules in memory, for tests and offline development.
Every failure is an :class:`~aiwork.errors.AnchorError` subclass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from web3 import Web3
from web3.contract import Contract
from web3.exceptions import (
    ContractLogicError,
    TimeExhausted,
    Web3Exception,
    Web3RPCError,
)
from web3.types import TxParams, TxReceipt

from aiwork.anchor.artifact import anchor_artifact
from aiwork.errors import (
    AnchorRefusedError,
    ChainUnreachableError,
    ContractError,
    TransactionFailedError,
)
from aiwork.anchor.keys import EthKey

__all__ = ["Chain", "EvmChain", "MemoryChain", "Sent", "checksum_address"]

T = TypeVar("T")

#: Topic 0 of the contract's event ``Anchored(bytes32 indexed, uint256, bytes32)``.
_ANCHORED = bytes(Web3.keccak(text="Anchored(bytes32,uint256,bytes32)"))

#: Revert reasons of contracts/Anchor.vy, and what to do about each.
_REFUSALS = {
    "anchor: not the owner": "anchor with the key that deployed the contract",
    "anchor: size below the latest anchored":
        "this log is anchored at a larger size already; anchor a newer checkpoint",
    "anchor: different root for an anchored size":
        "the chain holds another root for this size: the log forked or was rewritten; "
        "find out why before anchoring again",
    "anchor: empty root": "a checkpoint's root is never zero",
}


def checksum_address(address: str) -> str:
    """``address`` in checksummed form; :class:`ContractError` if it is not an address."""
    if not isinstance(address, str) or not Web3.is_address(address):
        raise ContractError(f"{address!r} is not an Ethereum address (0x and 40 hex digits)")
    return str(Web3.to_checksum_address(address))


def _cause(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "timed out", "Name or service not known",
                   "No route to host", "Connection reset"):
        if marker in text:
            return marker.lower()
    return f"{type(exc).__name__}: {text[:120]}"


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


@dataclass(frozen=True)
class Sent:
    """A mined, successful transaction."""

    transaction: str
    block: int
    block_hash: str
    gas_used: int
    contract_address: str | None = None


class Chain(Protocol):
    """An EVM chain holding Anchor contracts."""

    @property
    def chain_id(self) -> int: ...

    @property
    def name(self) -> str:
        """How to name this chain in messages (its RPC URL)."""
        ...

    def deploy(self, key: EthKey) -> Sent:
        """Deploy a new Anchor contract owned by ``key``; ``contract_address`` is set."""
        ...

    def check_contract(self, contract: str) -> str:
        """The checksummed address if it holds the Anchor contract; else :class:`ContractError`."""
        ...

    def anchor(self, key: EthKey, contract: str, log_id: bytes, size: int, root: bytes) -> Sent:
        ...

    def root_of(self, contract: str, log_id: bytes, size: int) -> bytes:
        """The root anchored for ``size``; 32 zero bytes when none was."""
        ...

    def latest_size(self, contract: str, log_id: bytes) -> int: ...

    def owner(self, contract: str) -> str: ...


class EvmChain:
    """A chain reached over HTTP JSON-RPC. Connecting asks the node for its chain id."""

    def __init__(self, rpc_url: str, *, timeout: float = 10.0,
                 receipt_timeout: float = 120.0) -> None:
        if not isinstance(rpc_url, str) or not rpc_url.startswith(("http://", "https://")):
            raise ChainUnreachableError(f"{rpc_url!r} is not an http(s):// JSON-RPC URL")
        self._url = rpc_url
        self.receipt_timeout = receipt_timeout
        provider = Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout},
                                     exception_retry_configuration=None)
        self.w3 = Web3(provider)
        self._chain_id = self._rpc(lambda: int(self.w3.eth.chain_id))
        self._artifact = anchor_artifact()

    @property
    def chain_id(self) -> int:
        return self._chain_id

    @property
    def name(self) -> str:
        return self._url

    def _rpc(self, call: Callable[[], T]) -> T:
        """Run one JSON-RPC exchange; a node that does not answer becomes one typed error."""
        try:
            return call()
        except (ContractLogicError, Web3RPCError):
            raise
        except (OSError, ValueError, Web3Exception) as exc:
            raise ChainUnreachableError(
                f"no Ethereum JSON-RPC node answers at {self._url} ({_cause(exc)})"
            ) from exc

    def _contract(self, contract: str) -> Contract:
        address = self.check_contract(contract)
        return self.w3.eth.contract(address=Web3.to_checksum_address(address),
                                    abi=self._artifact.abi)

    def check_contract(self, contract: str) -> str:
        address = checksum_address(contract)
        code = self._rpc(lambda: bytes(self.w3.eth.get_code(Web3.to_checksum_address(address))))
        if not code:
            raise ContractError(f"no contract at {address} on chain {self.chain_id} "
                                f"({self._url})")
        if _hex(code) != self._artifact.runtime_bytecode:
            raise ContractError(
                f"{address} on chain {self.chain_id} is not an aiwork Anchor contract "
                f"(its code differs from the {self._artifact.compiler} build)"
            )
        return address

    def _send(self, key: EthKey, build: Callable[[TxParams], TxParams], what: str) -> TxReceipt:
        sender = Web3.to_checksum_address(key.address)
        try:
            nonce = self._rpc(lambda: self.w3.eth.get_transaction_count(sender, "pending"))
            params: TxParams = {"from": sender, "nonce": nonce, "chainId": self.chain_id}
            tx = self._rpc(lambda: build(params))
            signed = key.account.sign_transaction(cast(dict[str, Any], tx))
            tx_hash = self._rpc(lambda: self.w3.eth.send_raw_transaction(
                signed.raw_transaction))
        except ContractLogicError as exc:
            reason = str(exc.message or exc).removeprefix("execution reverted: ")
            raise AnchorRefusedError(
                f"the contract refused {what}: {reason.removeprefix('anchor: ')}", reason=reason,
                hint=_REFUSALS.get(reason, "see the contract's revert reason"),
            ) from None
        except Web3RPCError as exc:
            raise TransactionFailedError(
                f"the node at {self._url} refused {what} from {key.address}: "
                f"{exc.message or exc}",
                hint="does the account hold enough ether for gas?",
            ) from None
        try:
            receipt = self._rpc(lambda: self.w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=self.receipt_timeout))
        except TimeExhausted:
            raise TransactionFailedError(
                f"{what}: transaction {_hex(tx_hash)} was not mined within "
                f"{self.receipt_timeout:.0f} s", hint="check it later; nothing was recorded",
            ) from None
        if receipt["status"] != 1:
            raise TransactionFailedError(
                f"{what}: transaction {_hex(tx_hash)} reverted in block "
                f"{receipt['blockNumber']}", hint="nothing was anchored; see the contract's rules",
            )
        return receipt

    @staticmethod
    def _sent(receipt: TxReceipt) -> Sent:
        address = receipt.get("contractAddress")
        return Sent(
            transaction=_hex(receipt["transactionHash"]), block=int(receipt["blockNumber"]),
            block_hash=_hex(receipt["blockHash"]), gas_used=int(receipt["gasUsed"]),
            contract_address=str(Web3.to_checksum_address(address)) if address else None,
        )

    def deploy(self, key: EthKey) -> Sent:
        factory = self.w3.eth.contract(abi=self._artifact.abi, bytecode=self._artifact.bytecode)
        sent = self._sent(self._send(key, factory.constructor().build_transaction,
                                     "the deployment"))
        if sent.contract_address is None:
            raise TransactionFailedError(f"deployment {sent.transaction} created no contract")
        self.check_contract(sent.contract_address)
        return sent

    def anchor(self, key: EthKey, contract: str, log_id: bytes, size: int, root: bytes) -> Sent:
        target = self._contract(contract)
        function = target.functions.anchor(log_id, size, root)
        receipt = self._send(key, function.build_transaction, "the anchor")
        # The transaction must prove itself: the contract's Anchored event for exactly this.
        data = size.to_bytes(32, "big") + root
        if not any(str(entry["address"]).lower() == str(target.address).lower()
                   and [bytes(topic) for topic in entry["topics"][:2]] == [_ANCHORED, log_id]
                   and bytes(entry["data"]) == data for entry in receipt["logs"]):
            raise TransactionFailedError(
                f"the anchor: transaction {_hex(receipt['transactionHash'])} emitted no "
                f"Anchored event for this log, size and root", hint="nothing was recorded")
        return self._sent(receipt)

    def _call(self, contract: str, name: str, *args: Any) -> Any:
        function = getattr(self._contract(contract).functions, name)
        return self._rpc(lambda: function(*args).call())

    def root_of(self, contract: str, log_id: bytes, size: int) -> bytes:
        return bytes(self._call(contract, "root_of", log_id, size))

    def latest_size(self, contract: str, log_id: bytes) -> int:
        return int(self._call(contract, "latest_size", log_id))

    def owner(self, contract: str) -> str:
        return str(Web3.to_checksum_address(self._call(contract, "owner")))


@dataclass
class _MemoryContract:
    owner: str
    roots: dict[tuple[bytes, int], bytes]
    latest: dict[bytes, int]


class MemoryChain:
    """The Anchor contract's rules over dictionaries: a chain for tests, no node needed."""

    def __init__(self, chain_id: int = 1337, name: str = "memory") -> None:
        self._chain_id = chain_id
        self._name = name
        self._contracts: dict[str, _MemoryContract] = {}
        self._block = 0
        self.reachable = True

    @property
    def chain_id(self) -> int:
        return self._chain_id

    @property
    def name(self) -> str:
        return self._name

    def _mine(self) -> Sent:
        if not self.reachable:
            raise ChainUnreachableError(f"{self._name} is switched off")
        self._block += 1
        tag = f"{self._chain_id}/{self._block}".encode()
        return Sent(transaction=_hex(hashlib.sha256(b"tx " + tag).digest()), block=self._block,
                    block_hash=_hex(hashlib.sha256(b"block " + tag).digest()), gas_used=0)

    def deploy(self, key: EthKey) -> Sent:
        sent = self._mine()
        address = checksum_address(_hex(hashlib.sha256(sent.transaction.encode()).digest()[:20]))
        self._contracts[address] = _MemoryContract(key.address, {}, {})
        return Sent(sent.transaction, sent.block, sent.block_hash, 0, address)

    def _get(self, contract: str) -> _MemoryContract:
        if not self.reachable:
            raise ChainUnreachableError(f"{self._name} is switched off")
        address = checksum_address(contract)
        if address not in self._contracts:
            raise ContractError(f"no contract at {address} on chain {self._chain_id}")
        return self._contracts[address]

    def check_contract(self, contract: str) -> str:
        self._get(contract)
        return checksum_address(contract)

    def anchor(self, key: EthKey, contract: str, log_id: bytes, size: int, root: bytes) -> Sent:
        state = self._get(contract)

        def refuse(reason: str) -> AnchorRefusedError:
            return AnchorRefusedError(
                f"the contract refused the anchor: {reason.removeprefix('anchor: ')}",
                reason=reason, hint=_REFUSALS[reason])

        if key.address != state.owner:
            raise refuse("anchor: not the owner")
        if root == bytes(32):
            raise refuse("anchor: empty root")
        known = state.roots.get((log_id, size))
        if known is not None:
            if known != root:
                raise refuse("anchor: different root for an anchored size")
            return self._mine()
        if size < state.latest.get(log_id, 0):
            raise refuse("anchor: size below the latest anchored")
        state.roots[(log_id, size)] = root
        state.latest[log_id] = size
        return self._mine()

    def root_of(self, contract: str, log_id: bytes, size: int) -> bytes:
        return self._get(contract).roots.get((log_id, size), bytes(32))

    def latest_size(self, contract: str, log_id: bytes) -> int:
        return self._get(contract).latest.get(log_id, 0)

    def owner(self, contract: str) -> str:
        return self._get(contract).owner
