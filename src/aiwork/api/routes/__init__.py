"""The coordinator's routes, one module per domain, each an ``APIRouter``.

Each route is registered for an operation of the contract (:mod:`aiwork.contract`), names its
caller with a dependency of :mod:`aiwork.api.deps`, and calls the coordinator's services; the
errors those raise become statuses in :mod:`aiwork.api.errors` only.
"""

from fastapi import APIRouter

from aiwork.api.routes import blobs, identities, jobs, ledger, libraries, review, workers

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (identities.router, blobs.router, jobs.router,
                                  libraries.router, review.router, workers.router,
                                  ledger.router)
