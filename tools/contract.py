"""Build the Anchor contract reproducibly: ``contracts/Anchor.vy`` -> ``Anchor.json``.

Run from the root of a checkout (``scripts/build-contract`` does)::

    python -m tools.contract            # write src/aiwork/anchor/Anchor.json
    python -m tools.contract --check    # exit 1 if the committed file differs

The compiler is the ``vyper`` package at exactly :data:`VYPER_VERSION` (the ``test`` extra
installs it); the source pins the same version, the EVM version and the optimisation mode in
its pragmas, and the output holds no paths, so the bytes depend on the source alone.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path

from aiwork.anchor.artifact import ARTIFACT_NAME, ContractArtifact
from aiwork.errors import AiworkError, ConfigError

__all__ = ["ARTIFACT_PATH", "ROOT", "SOURCE_PATH", "VYPER_VERSION", "compile_anchor", "main"]

#: The one compiler version the committed artifact is built with.
VYPER_VERSION = "0.4.3"
#: The source, as named in the artifact (relative to the repository root).
SOURCE = "contracts/Anchor.vy"

#: The checkout this tool is part of.
ROOT = Path(__file__).resolve().parents[1]
SOURCE_PATH = ROOT / SOURCE
#: Where the package reads the artifact from (:func:`aiwork.anchor.anchor_artifact`).
ARTIFACT_PATH = ROOT / "src" / "aiwork" / "anchor" / ARTIFACT_NAME


def compile_anchor(source_path: Path = SOURCE_PATH) -> ContractArtifact:
    """Compile the contract with the pinned vyper; raise :class:`ConfigError` without it."""
    try:
        import vyper
    except ImportError:
        raise ConfigError(f"building the contract needs vyper=={VYPER_VERSION}",
                          hint=f"pip install vyper=={VYPER_VERSION} (the test extra has it)"
                          ) from None
    found = str(vyper.__version__)
    if found != VYPER_VERSION:
        raise ConfigError(f"vyper {found} is installed; the contract is built with "
                          f"{VYPER_VERSION}", hint=f"pip install vyper=={VYPER_VERSION}")
    try:
        source = source_path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {source_path}: {exc.strerror}",
                          hint="run the build from a checkout of the repository") from exc
    out = vyper.compile_code(source, output_formats=["abi", "bytecode", "bytecode_runtime"])
    return ContractArtifact(
        name="Anchor", compiler=f"vyper {found}", source=SOURCE,
        source_sha256=hashlib.sha256(source.encode("utf-8")).hexdigest(),
        abi=list(out["abi"]), bytecode=str(out["bytecode"]),
        runtime_bytecode=str(out["bytecode_runtime"]),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.contract",
                                     description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed artifact instead of writing it")
    args = parser.parse_args(argv)
    try:
        built = compile_anchor()
    except AiworkError as exc:
        print(f"error: {exc.diagnostics()}", file=sys.stderr)
        return 1
    text = built.to_text()
    if args.check:
        same = ARTIFACT_PATH.exists() and ARTIFACT_PATH.read_text("utf-8") == text
        print(f"{ARTIFACT_PATH.name}: {'up to date' if same else 'differs from the source'}")
        return 0 if same else 1
    ARTIFACT_PATH.write_text(text, "utf-8")
    print(f"wrote {ARTIFACT_PATH} ({built.compiler}, source sha256 {built.source_sha256})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
