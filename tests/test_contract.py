"""The API contract (aiwork.contract) and the coordinator's routes are the same list."""

from __future__ import annotations

from pathlib import Path

from fastapi.routing import APIRoute

from aiwork.api import ServerSettings, create_app
from aiwork.contract import OPERATIONS
from aiwork.crypto import SigningKey


def test_every_route_is_an_operation_of_the_contract_and_back(tmp_path: Path) -> None:
    app = create_app(ServerSettings(db=tmp_path / "coord.db", key=SigningKey.generate()))
    served = {(method, route.path) for route in app.routes if isinstance(route, APIRoute)
              for method in route.methods}
    declared = {(op.method, op.path) for op in OPERATIONS}
    assert served == declared
    assert len({op.id for op in OPERATIONS}) == len(OPERATIONS)
