"""The coordinator's routes, one module per domain, each an ``APIRouter``.

Each route is registered for an operation of the contract (:mod:`aiwork.contract`), names its
caller with a dependency of :mod:`aiwork.api.deps`, and calls the coordinator's services; the
errors those raise become statuses in :mod:`aiwork.api.errors` only. The web console's pages
and static files (:mod:`~aiwork.api.routes.console`) are no operations: the API's document
leaves them out.
"""

from fastapi import APIRouter

from aiwork.api.routes import (blobs, console, identities, jobs, ledger, libraries, review,
                               search, workers)

__all__ = ["ROUTERS"]

#: In the order a request's path is matched against them: the workers' lease and result routes
#: carry nearly all of a busy coordinator's requests, so they are tried first (the paths do
#: not overlap, so the order changes nothing else).
ROUTERS: tuple[APIRouter, ...] = (workers.router, blobs.router, jobs.router, identities.router,
                                  libraries.router, review.router, search.router,
                                  ledger.router, console.router)
