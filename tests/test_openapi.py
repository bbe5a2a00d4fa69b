"""The coordinator's OpenAPI document: complete, published, and true of a live coordinator.

The document is built from the contract (aiwork.contract). These tests check that it declares
what a client needs (each operation's body, answers, media types and signing), that
docs/openapi.json is that document, and -- with Schemathesis -- that a real coordinator
process answers as it says, signed and unsigned: no 5xx, no status it does not declare, no
answer that does not match its declared schema or media type.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aiwork.api import ServerSettings, create_app
from aiwork.api.openapi import published
from aiwork.contract import AUTH_HEADERS, OPERATIONS
from aiwork.crypto import SigningKey

from .conftest import running_coordinator

DOCUMENT = Path(__file__).parents[1] / "docs" / "openapi.json"


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    db = tmp_path_factory.mktemp("openapi") / "coord.db"
    doc: dict[str, Any] = create_app(ServerSettings(db=db, key=SigningKey.generate())).openapi()
    return doc


def test_the_published_openapi_document_is_current(document: dict[str, Any]) -> None:
    """docs/openapi.json is what the coordinator serves at /openapi.json (regenerate it with
    `python -m aiwork.api > docs/openapi.json` if this fails)."""
    assert json.loads(DOCUMENT.read_text()) == json.loads(json.dumps(document))
    assert json.loads(published()) == json.loads(json.dumps(document))


def test_every_operation_declares_its_body_answers_and_signing(
        document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert sorted(s["name"] for s in schemes.values()) == sorted(AUTH_HEADERS)
    assert all(s["type"] == "apiKey" and s["in"] == "header" for s in schemes.values())
    for op in OPERATIONS:
        entry = document["paths"][op.path][op.method.lower()]
        assert entry["operationId"] == op.id
        answers = entry["responses"]
        assert set(answers) == {"200", *(["204"] if op.empty else []),
                                *map(str, op.errors)}, op.id
        for status in op.errors:
            assert answers[str(status)]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorBody"}
        if op.request is not None:  # a named model, in the components
            ref = entry["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[1] in document["components"]["schemas"]
        if op.response is not None and not op.many:
            ref = answers["200"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[1] in document["components"]["schemas"]
        signed = [set(s) for s in entry["security"]]
        assert signed == {"signed": [set(schemes)], "optional": [set(), set(schemes)],
                          "none": []}[op.auth], op.id
        if op.auth != "none":
            assert {401, 413} <= set(op.errors), op.id
    exports = document["paths"]["/v1/jobs/{job_id}/export/{name}"]["get"]["responses"]["200"]
    assert {"text/vtt", "application/x-subrip", "application/ld+json",
            "application/ttml+xml", "application/json"} == set(exports["content"])
    blob = document["paths"]["/v1/blobs/{digest}"]
    assert set(blob["get"]["responses"]["200"]["content"]) == {"application/octet-stream"}
    assert set(blob["put"]["requestBody"]["content"]) == {"application/octet-stream"}
    assert "HTTPValidationError" not in document["components"]["schemas"]  # 422 is never sent


def test_a_live_coordinator_answers_as_its_document_says(tmp_path: Path) -> None:
    """Schemathesis over every operation, unsigned and signed by a key that holds every role
    (positive and negative data, a few examples each): any 5xx, any status the operation does
    not declare, any answer off its declared schema or media type fails the test."""
    from .schemathesis_run import run_everywhere

    admin = SigningKey.generate()
    with running_coordinator(tmp_path / "home", "--open-registration",
                             "--admin", admin.did) as url:
        failures = run_everywhere(url, admin)
    assert not failures, "\n\n".join(failures)
