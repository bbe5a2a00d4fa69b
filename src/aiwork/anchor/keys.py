"""The operator's Ethereum key: a secp256k1 private key kept as hex in a file."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from aiwork.errors import EthKeyError

__all__ = ["EthKey", "read_eth_key"]

_HEX_KEY = re.compile(r"(?:0x)?([0-9a-fA-F]{64})")


class EthKey:
    """A secp256k1 private key and its Ethereum address. ``repr`` never shows the key."""

    def __init__(self, secret: bytes) -> None:
        try:
            self.account: LocalAccount = Account.from_key(secret)
        except (ValueError, TypeError) as exc:
            raise EthKeyError("not a valid secp256k1 private key (out of range)") from exc

    @classmethod
    def from_hex(cls, text: str, *, source: str = "key") -> EthKey:
        match = _HEX_KEY.fullmatch(text.strip())
        if match is None:
            raise EthKeyError(f"{source} does not hold a hex secp256k1 private key")
        try:
            return cls(bytes.fromhex(match.group(1)))
        except EthKeyError as exc:
            raise EthKeyError(f"{source}: {exc}") from None

    @property
    def address(self) -> str:
        """The checksummed address (``0x`` and 40 hex digits)."""
        return str(self.account.address)

    def __repr__(self) -> str:
        return f"EthKey(address={self.address!r})"


def read_eth_key(path: str | os.PathLike[str]) -> EthKey:
    """Load an Ethereum key file: 64 hex digits, ``0x`` optional, whitespace around allowed.

    Like aiwork's own key files it must not be readable by other users.
    """
    source = Path(path)
    try:
        mode = source.stat().st_mode
        if not stat.S_ISREG(mode):
            raise EthKeyError(f"Ethereum key file {source} is not a regular file")
        raw = source.read_bytes()
    except FileNotFoundError as exc:
        raise EthKeyError(f"Ethereum key file {source} does not exist") from exc
    except OSError as exc:
        raise EthKeyError(f"cannot read Ethereum key file {source}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise EthKeyError(
            f"Ethereum key file {source} is accessible by other users "
            f"(mode {stat.S_IMODE(mode):04o})",
            hint=f"run `chmod 600 {source}`",
        )
    if len(raw) > 4096:
        raise EthKeyError(f"Ethereum key file {source} is too large to hold one key")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise EthKeyError(f"Ethereum key file {source} is not text") from None
    return EthKey.from_hex(text, source=f"Ethereum key file {source}")
