"""The API contract (aiwork.contract) and the coordinator's routes are the same list."""

from __future__ import annotations

from pathlib import Path

from fastapi.openapi.utils import get_openapi

from aiwork.api import ServerSettings, create_app
from aiwork.contract import OPERATIONS
from aiwork.crypto import SigningKey


def test_every_route_is_an_operation_of_the_contract_and_back(tmp_path: Path) -> None:
    """What FastAPI itself sees of the routes (not the document the contract completes):
    each (method, path) served is one operation of the contract, under its operationId."""
    app = create_app(ServerSettings(db=tmp_path / "coord.db", key=SigningKey.generate()))
    raw = get_openapi(title="raw", version="1", routes=app.routes)
    served = {(method.upper(), path, entry["operationId"])
              for path, methods in raw["paths"].items() for method, entry in methods.items()}
    assert served == {(op.method, op.path, op.id) for op in OPERATIONS}
    assert len({op.id for op in OPERATIONS}) == len(OPERATIONS)
