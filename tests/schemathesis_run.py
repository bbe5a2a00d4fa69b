"""Schemathesis over a live coordinator, each request signed with aiwork's request signing.

Kept out of the test module so that importing the tests does not import Schemathesis."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                               negative_data_rejection,
                                               response_headers_conformance,
                                               response_schema_conformance,
                                               status_code_conformance)

from aiwork.auth import sign_request
from aiwork.crypto import SigningKey

#: Examples per operation, per mode (positive, negative) and per caller (unsigned, signed).
EXAMPLES = 3
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
ROLES = ("requester", "worker", "expert", "auditor")


def run_everywhere(url: str, key: SigningKey) -> list[str]:
    """Every operation of the coordinator's own document, unsigned and signed by ``key`` (given
    every role first); the failures, described."""
    with httpx.Client(base_url=url) as client:
        for role in ROLES:
            body = f'{{"role": "{role}"}}'.encode()
            reply = client.post("/v1/identities", content=body,
                                headers=sign_request(key, "POST", "/v1/identities", body))
            assert reply.status_code == 200, reply.text
        document = client.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            entry = document["paths"][operation.path][operation.method.lower()]
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)[
                    :2 if _negatable(entry) else 1]:
                for signer in (None, key):
                    failure = _run(session, url, operation, mode, signer)
                    if failure:
                        failures.append(f"{operation.label} ({mode.value}, "
                                        f"{'signed' if signer else 'unsigned'}): {failure}")
    return failures


def _run(session: requests.Session, url: str, operation: Any, mode: GenerationMode,
         signer: SigningKey | None) -> str | None:
    checks = CHECKS + ([negative_data_rejection] if mode == GenerationMode.NEGATIVE else [])

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url=url)
        request = requests.Request(**{k: v for k, v in kwargs.items() if k in (
            "method", "url", "headers", "params", "json", "data", "cookies")}).prepare()
        if signer is not None and _signable(case):
            body = request.body or b""
            request.headers.update(sign_request(signer, request.method or "GET",
                                                request.path_url, body if isinstance(
                                                    body, bytes) else body.encode()))
        response = session.send(request, timeout=60)
        case.validate_response(response, checks=checks)

    try:
        check()
    except Unsatisfiable:  # nothing in the operation can be made invalid (a bare path)
        assert mode == GenerationMode.NEGATIVE
    except (Exception, BaseExceptionGroup) as exc:  # a check's failure, with its request
        return _described(exc)
    return None


def _negatable(entry: dict[str, Any]) -> bool:
    """Whether an operation has anything a request can get wrong: a body, a query, the
    signed-request headers, a path parameter that is not any text."""
    parameters = entry.get("parameters", [])
    return bool("requestBody" in entry or entry.get("security") or any(
        p["in"] == "query" or p["schema"].get("type") != "string" for p in parameters))


def _signable(case: Any) -> bool:
    """Sign a case that carries the signed-request headers (the operation asks for them),
    unless those headers are what a negative case broke on purpose."""
    headers = {name.lower() for name in (case.headers or {})}
    return "aiwork-key" in headers and not case.meta.is_negative_at(ParameterLocation.HEADER)


def _described(exc: BaseException) -> str:
    parts = [str(exc)] + [str(inner) for inner in getattr(exc, "exceptions", ())]
    notes = getattr(exc, "__notes__", [])
    return "\n".join(parts + notes)[:4000]
