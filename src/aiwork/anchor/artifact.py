"""The compiled Anchor contract, as committed in ``Anchor.json`` (no compiler at run time).

``Anchor.json`` is written by ``scripts/build-contract`` (``python -m tools.contract``)
from ``contracts/Anchor.vy``; a test recompiles the source and compares byte for byte.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from aiwork.errors import ConfigError

__all__ = ["ARTIFACT_NAME", "ContractArtifact", "anchor_artifact"]

ARTIFACT_NAME = "Anchor.json"


@dataclass(frozen=True)
class ContractArtifact:
    """A compiled contract: its ABI, creation and runtime bytecode, and how it was built."""

    name: str
    compiler: str
    source: str
    source_sha256: str
    abi: list[dict[str, Any]]
    bytecode: str
    runtime_bytecode: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContractArtifact:
        try:
            return cls(
                name=str(data["contract"]), compiler=str(data["compiler"]),
                source=str(data["source"]), source_sha256=str(data["source_sha256"]),
                abi=list(data["abi"]), bytecode=str(data["bytecode"]),
                runtime_bytecode=str(data["runtime_bytecode"]),
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"the contract artifact lacks {exc}",
                              hint="rebuild it with scripts/build-contract") from None

    def to_json(self) -> dict[str, Any]:
        return {
            "contract": self.name, "compiler": self.compiler, "source": self.source,
            "source_sha256": self.source_sha256, "abi": self.abi, "bytecode": self.bytecode,
            "runtime_bytecode": self.runtime_bytecode,
        }

    def to_text(self) -> str:
        """The artifact file's exact text (sorted keys, two-space indent, final newline)."""
        return json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"


@cache
def anchor_artifact() -> ContractArtifact:
    """The committed Anchor contract."""
    text = resources.files("aiwork.anchor").joinpath(ARTIFACT_NAME).read_text("utf-8")
    return ContractArtifact.from_json(json.loads(text))
