"""The typed coordinator client against the API it calls: one method per operation of the
contract, named as its operationId and sending to its path; no path written anywhere else."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from aiwork.api import ServerSettings, create_app
from aiwork.client.coordinator import CoordinatorClient, operation_path
from aiwork.contract.operations import OPERATIONS
from aiwork.crypto import SigningKey

SRC = Path(__file__).parent.parent / "src" / "aiwork"


def openapi_operations(tmp_path: Path) -> dict[tuple[str, str], str]:
    """(method, path) -> operationId of every operation of the app's OpenAPI document."""
    settings = ServerSettings(db=tmp_path / "coord.db", key=SigningKey.generate())
    document = create_app(settings).openapi()
    return {(method.upper(), path): operation["operationId"]
            for path, methods in document["paths"].items()
            for method, operation in methods.items()}


def test_every_operation_of_the_api_has_its_client_method(tmp_path: Path) -> None:
    """Each operation the app serves is one of the contract's, under its operationId, and
    the typed client has a method of that name."""
    contract = {(op.method, op.path): op.id for op in OPERATIONS}
    served = openapi_operations(tmp_path)
    assert served == contract
    for op in OPERATIONS:
        assert callable(getattr(CoordinatorClient, op.id, None)), \
            f"CoordinatorClient has no method {op.id} ({op.method} {op.path})"


def test_each_method_sends_to_its_own_operation() -> None:
    """A method sends its request to the route of the operation of its name (the one route
    its source names): a method cannot call another operation's path."""
    for op in OPERATIONS:
        source = inspect.getsource(getattr(CoordinatorClient, op.id))
        called = {node.args[0].value for node in ast.walk(ast.parse(source.strip()))
                  if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "route"
                  and isinstance(node.args[0], ast.Constant)}
        assert called == {op.id}, f"{op.id} sends to {called}"


def test_ids_are_percent_encoded_into_the_path() -> None:
    assert operation_path("get_job", job_id="../../admin/credits") == \
        "/v1/jobs/..%2F..%2Fadmin%2Fcredits"
    assert operation_path("get_audit_bundle", {"insight": "a&b=c", "purpose": None},
                          job_id="j") == "/v1/jobs/j/audit?insight=a%26b%3Dc"


def _paths_written(tree: ast.AST) -> list[int]:
    """Lines of string literals (or f-strings) that begin with an API path."""
    lines = []
    for node in ast.walk(tree):
        first = node.values[0] if isinstance(node, ast.JoinedStr) and node.values else node
        if isinstance(first, ast.Constant) and isinstance(first.value, str) \
                and first.value.startswith("/v1/"):
            lines.append(node.lineno)
    return lines


def test_no_api_path_is_written_outside_the_contract_and_the_api() -> None:
    allowed = {SRC / "contract" / "operations.py"}
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path in allowed or (SRC / "api") in path.parents:
            continue
        for line in _paths_written(ast.parse(path.read_text(encoding="utf-8"))):
            found.append(f"{path.relative_to(SRC)}:{line}")
    assert not found, f"API paths written outside aiwork.contract.operations: {found}"
