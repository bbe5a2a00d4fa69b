"""A local development chain: anvil (Foundry's EVM node) on loopback, for tests and benchmarks.

anvil comes from the npm package ``@foundry-rs/anvil``, whose platform package carries the
binary; ``scripts/anvil`` installs it into ``.evm/`` and starts one. Its first default
accounts are funded and their keys are public (:data:`ANVIL_KEYS`): never use them elsewhere.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiwork.errors import ConfigError

__all__ = ["ANVIL_KEYS", "find_anvil", "run_anvil"]

#: The private keys of anvil's first two default accounts (its public test mnemonic).
ANVIL_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
)

_LISTENING = re.compile(r"Listening on (\d+\.\d+\.\d+\.\d+):(\d+)")


def find_anvil(evm_dir: Path) -> Path | None:
    """The anvil binary installed under ``evm_dir`` (``npm install --prefix evm_dir
    @foundry-rs/anvil``), else one on ``PATH``, else ``None``."""
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower())
    system = platform.system().lower()
    name = "anvil.exe" if system == "windows" else "anvil"
    candidate = evm_dir / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / name
    if candidate.is_file():
        return candidate
    found = shutil.which("anvil")
    return Path(found) if found else None


@contextmanager
def run_anvil(binary: Path, *, timeout: float = 30.0) -> Iterator[str]:
    """Start anvil on 127.0.0.1 at a free port; yield its URL; stop it on exit."""
    process = subprocess.Popen(
        [str(binary), "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
    )
    drain: threading.Thread | None = None
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        url = None
        for line in process.stdout:
            seen.append(line)
            match = _LISTENING.search(line)
            if match:
                url = f"http://{match.group(1)}:{match.group(2)}"
                break
            if time.monotonic() > deadline:
                break
        if url is None:
            raise ConfigError(f"anvil did not start: {''.join(seen[-5:]).strip()}")
        # Keep reading its output so that it never blocks on a full pipe.
        stream = process.stdout
        drain = threading.Thread(target=lambda: [None for _ in stream], daemon=True)
        drain.start()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if drain is not None:
            drain.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
