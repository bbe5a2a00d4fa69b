"""The coordinator's HTTP API as data: what each operation takes and gives.

:mod:`~aiwork.contract.requests` holds the request bodies, :mod:`~aiwork.contract.responses`
the answers (and the error body every refusal has), :mod:`~aiwork.contract.operations` the
table of operations (method, path, ``operationId``, models, statuses). The API
(:mod:`aiwork.api`) serves this contract and the typed client (:mod:`aiwork.client`) calls it;
both import it, so neither can drift from the other. Its only dependency is pydantic (and the
routing rules model of :mod:`aiwork.quality`).
"""

from aiwork.contract.operations import (AUTH_HEADERS, EXPORT_MEDIA_TYPES, OPERATIONS, Operation,
                                        operation)
from aiwork.contract.requests import RequestModel
from aiwork.contract.responses import ErrorBody, ResponseModel

__all__ = ["AUTH_HEADERS", "EXPORT_MEDIA_TYPES", "OPERATIONS", "ErrorBody", "Operation",
           "RequestModel", "ResponseModel", "operation"]
