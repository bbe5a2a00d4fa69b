"""The layout a newcomer can read: no module in ``src/aiwork`` over 500 lines (the standalone
``aiwork-verify``, one file by design, excepted) and no function over 80 lines.

The two lists below name what is still over today, while it is being split; they only shrink.
A module or function that is no longer over must leave its list (the test says so), and
nothing new may join them.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80

#: One file by design: it stands alone, importing nothing else from aiwork.
EXEMPT_MODULES = {"aiwork/verify_bundle.py"}

#: Modules still over MAX_MODULE_LINES (lines when listed): remove each once it is split.
OVERSIZED_MODULES: dict[str, int] = {}

#: Functions still over MAX_FUNCTION_LINES (lines when listed): remove each once it is split.
OVERSIZED_FUNCTIONS: dict[str, int] = {}


def _modules() -> list[tuple[str, str]]:
    return [(path.relative_to(SRC).as_posix(), path.read_text("utf-8"))
            for path in sorted((SRC / "aiwork").rglob("*.py"))]


def module_lengths() -> dict[str, int]:
    """Each module's length in lines."""
    return {name: len(text.splitlines()) for name, text in _modules()}


def function_lengths() -> dict[str, int]:
    """Each function's length in lines (``def`` to its last line, docstring included), named
    ``module::Class.function`` (nested functions are counted on their own too)."""
    lengths: dict[str, int] = {}

    def walk(node: ast.AST, module: str, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = prefix + child.name
                assert child.end_lineno is not None
                lengths[f"{module}::{name}"] = child.end_lineno - child.lineno + 1
                walk(child, module, name + ".")
            elif isinstance(child, ast.ClassDef):
                walk(child, module, prefix + child.name + ".")

    for module, text in _modules():
        walk(ast.parse(text), module, "")
    return lengths


def _over(lengths: dict[str, int], limit: int, exempt: set[str]) -> dict[str, int]:
    return {name: n for name, n in lengths.items() if n > limit and name not in exempt}


def test_no_module_over_500_lines() -> None:
    over = _over(module_lengths(), MAX_MODULE_LINES, EXEMPT_MODULES)
    new = {name: n for name, n in over.items() if name not in OVERSIZED_MODULES}
    assert not new, f"modules over {MAX_MODULE_LINES} lines (split them): {new}"
    done = sorted(set(OVERSIZED_MODULES) - set(over))
    assert not done, f"no longer over {MAX_MODULE_LINES} lines: remove from OVERSIZED_MODULES {done}"


def test_no_function_over_80_lines() -> None:
    over = _over(function_lengths(), MAX_FUNCTION_LINES, set())
    new = {name: n for name, n in over.items() if name not in OVERSIZED_FUNCTIONS}
    assert not new, f"functions over {MAX_FUNCTION_LINES} lines (split them): {new}"
    done = sorted(set(OVERSIZED_FUNCTIONS) - set(over))
    assert not done, (f"no longer over {MAX_FUNCTION_LINES} lines: remove from "
                      f"OVERSIZED_FUNCTIONS {done}")


def test_the_measures_see_what_they_measure() -> None:
    # The walk finds methods and nested functions, and counts a module's lines.
    lengths = function_lengths()
    assert lengths["aiwork/ledger/log.py::Log.verify"] > 1
    assert any(name.split("::")[1].count(".") >= 2 for name in lengths)  # Class.method.inner
    assert module_lengths()["aiwork/verify_bundle.py"] > MAX_MODULE_LINES
