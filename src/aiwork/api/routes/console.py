"""The web console's pages and static files (``/explorer``, ``/explorer/entry/N``,
``/explorer/item``, ``/review``, ``/jobs``, ``/static/NAME``): no operations of the API (left
out of its document), public and read-only.

The pages are static: ES modules from ``aiwork/console/`` that talk to the documented API
only. Every answer carries a Content-Security-Policy that allows scripts, styles and requests
from this origin alone (no inline script, no third-party origin). A static name is looked up in
a fixed table, so no name from a request reaches the disk.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from aiwork.errors import NotFoundError

__all__ = ["CONTENT_SECURITY_POLICY", "router"]

router = APIRouter()

CONSOLE = Path(__file__).resolve().parents[2] / "console"

CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; "
                           "connect-src 'self'; img-src 'self'; media-src 'self'; base-uri 'none'; "
                           "form-action 'none'; frame-ancestors 'none'")

#: What /static/NAME serves: the file of aiwork/console/ and its media type.
STATIC = {"explorer.js": "text/javascript", "verify.js": "text/javascript",
          "review.js": "text/javascript", "sign.js": "text/javascript",
          "session.js": "text/javascript", "correct.js": "text/javascript",
          "player.js": "text/javascript", "timeline.js": "text/javascript",
          "jobs.js": "text/javascript", "upload.js": "text/javascript",
          "libraries.js": "text/javascript", "access.js": "text/javascript",
          "search.js": "text/javascript",
          "console.css": "text/css", "player.css": "text/css"}


@cache
def _read(name: str) -> bytes:
    return (CONSOLE / name).read_bytes()


def _page(name: str, media_type: str) -> Response:
    return Response(_read(name), media_type=media_type, headers={
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    })


@router.get("/explorer", include_in_schema=False)
async def explorer() -> Response:
    return _page("explorer.html", "text/html; charset=utf-8")


@router.get("/explorer/entry/{index}", include_in_schema=False)
async def explorer_entry(index: int) -> Response:
    # The page verifies the entry itself; the index is only checked to be a number here.
    return _page("explorer.html", "text/html; charset=utf-8")


@router.get("/explorer/item", include_in_schema=False)
async def explorer_item() -> Response:
    # ?job=J&insight=I&item=K: the page finds the item's decision in the job's public results.
    return _page("explorer.html", "text/html; charset=utf-8")


@router.get("/review", include_in_schema=False)
async def review() -> Response:
    # The expert's key never reaches the server: the page signs every request and verdict.
    return _page("review.html", "text/html; charset=utf-8")


@router.get("/jobs", include_in_schema=False)
async def jobs() -> Response:
    # The requester's dashboard: uploads, jobs and libraries, every request signed in the page.
    return _page("jobs.html", "text/html; charset=utf-8")


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    media_type = STATIC.get(name)
    if media_type is None:
        raise NotFoundError(f"no console file {name!r}")
    return _page(name, media_type)
