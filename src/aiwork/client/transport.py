"""The coordinator client's transport: signed requests, answers read within a bound.

Paths are given by :class:`aiwork.client.coordinator.CoordinatorClient`, which builds each
operation's path in one place; this module knows HTTP, the request signature
(:mod:`aiwork.auth`) and the limits, not the API's routes."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple, NoReturn, Self

import httpx2 as httpx

from aiwork.auth import sign_request
from aiwork.crypto import SigningKey
from aiwork.errors import ConfigError, CoordinatorError, IntegrityError

__all__ = ["MAX_KEYFRAME_BYTES", "MAX_REPLY_BYTES", "Reply", "Transport"]

#: Largest JSON answer the client reads (a job's results, export or audit bundle), in bytes:
#: a larger one is refused as it streams in, so neither a coordinator nor anyone posing as
#: one can fill the memory of the process that asked.
MAX_REPLY_BYTES = 256 << 20
#: Largest keyframe the client fetches, in bytes (a JPEG of an 8K frame is well under it).
MAX_KEYFRAME_BYTES = 32 << 20


class Reply(NamedTuple):
    """An answer read within its bound: status, headers and body."""

    status: int
    headers: httpx.Headers
    body: bytes


class Transport:
    """Requests to one coordinator, signed with ``key`` when one is held."""

    def __init__(self, url: str, key: SigningKey | None = None, *, timeout: float = 30.0,
                 http: httpx.Client | None = None) -> None:
        """``http`` replaces the HTTP client (e.g. FastAPI's in-process TestClient)."""
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"coordinator URL {url!r} must start with http:// or https://")
        self.key = key
        self.http = http or httpx.Client(base_url=url.rstrip("/"), timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: bytes = b"", *, signed: bool = True,
                content_type: str = "application/json") -> httpx.Response:
        headers = {"content-type": content_type} if body else {}
        if signed:
            if self.key is None:
                raise ConfigError("this request must be signed: give --key KEYFILE")
            headers.update(sign_request(self.key, method, path, body))
        return self._send(method, path, body, headers)

    def _send(self, method: str, path: str, content: bytes | Iterable[bytes],
              headers: dict[str, str]) -> httpx.Response:
        try:
            reply = self.http.request(method, path, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise CoordinatorError(f"cannot reach the coordinator at {self.http.base_url}: "
                                   f"{exc}") from exc
        if reply.status_code >= 400:
            self._refusal(method, path, reply)
        return reply

    @staticmethod
    def _refusal(method: str, path: str, reply: httpx.Response) -> NoReturn:
        try:
            detail = reply.json()
            message = detail.get("message") or detail.get("detail") or reply.text
            reason = detail.get("error")
        except (ValueError, AttributeError):
            message, reason = reply.text, None
        raise CoordinatorError(f"coordinator refused {method} {path} "
                               f"({reply.status_code}): {message}",
                               status=reply.status_code, reason=reason)

    def post(self, path: str, value: dict[str, Any]) -> Any:
        return self.request("POST", path, json.dumps(value).encode()).json()

    def get(self, path: str, *, signed: bool = False) -> httpx.Response:
        return self.request("GET", path, signed=signed)

    def read(self, path: str, *, signed: bool = False, limit: int | None = None) -> bytes:
        """GET ``path`` and return its body, at most ``limit`` bytes (default
        :data:`MAX_REPLY_BYTES`): a longer answer is refused with :class:`CoordinatorError`
        as soon as it passes the limit, before the rest is read."""
        if signed and self.key is None:
            raise ConfigError("this request must be signed: give --key KEYFILE")
        return self.bounded("GET", path, signed=signed, limit=limit)[1]

    def bounded(self, method: str, path: str, body: bytes = b"", *, signed: bool = True,
                limit: int | None = None) -> tuple[int, bytes]:
        """Send a request (signed when ``signed`` and a key is held) and return its status
        and body, reading at most ``limit`` bytes of the answer (see :meth:`read`)."""
        reply = self.exchange(method, path, body, signed=signed, limit=limit)
        return reply.status, reply.body

    def exchange(self, method: str, path: str, body: bytes = b"", *, signed: bool = True,
                 limit: int | None = None) -> Reply:
        """:meth:`bounded`, with the answer's headers."""
        limit = MAX_REPLY_BYTES if limit is None else limit
        headers = {"content-type": "application/json"} if body else {}
        if signed and self.key is not None:
            headers.update(sign_request(self.key, method, path, body))
        held = bytearray()
        try:
            with self.http.stream(method, path, content=body, headers=headers) as reply:
                if reply.status_code >= 400:
                    reply.read()
                    self._refusal(method, path, reply)
                declared = reply.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise CoordinatorError(f"the coordinator answered {method} {path} with "
                                           f"{declared} bytes; at most {limit} are read")
                for chunk in reply.iter_bytes(1 << 20):
                    held += chunk
                    if len(held) > limit:
                        raise CoordinatorError(f"the coordinator's answer to {method} {path} "
                                               f"runs past {limit} bytes; the rest was not read")
                status, answer_headers = reply.status_code, reply.headers
        except httpx.HTTPError as exc:
            raise CoordinatorError(f"cannot reach the coordinator at {self.http.base_url}: "
                                   f"{exc}") from exc
        return Reply(status, answer_headers, bytes(held))

    def read_json(self, path: str, *, signed: bool = False, limit: int | None = None) -> Any:
        """:meth:`read`, parsed as JSON (a :class:`CoordinatorError` when it is not)."""
        body = self.read(path, signed=signed, limit=limit)
        try:
            return json.loads(body)
        except ValueError:
            raise CoordinatorError(f"the coordinator answered GET {path} with something "
                                   "that is not JSON") from None

    def stream_to(self, path: str, target: Path, digest: str) -> Path:
        """GET ``path`` (signed when a key is held) into ``target``, streamed to disk and hashed
        as it comes; the file appears only if its bytes are ``digest``."""
        headers = {} if self.key is None else sign_request(self.key, "GET", path, b"")
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        sha = hashlib.sha256()
        try:
            with self.http.stream("GET", path, headers=headers) as reply:
                if reply.status_code >= 400:
                    reply.read()
                    self._refusal("GET", path, reply)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as out:
                    for chunk in reply.iter_bytes(1 << 20):
                        sha.update(chunk)
                        out.write(chunk)
            if "sha256:" + sha.hexdigest() != digest:
                raise IntegrityError(f"the coordinator sent bytes that are not {digest}")
            os.replace(tmp, target)
        except httpx.HTTPError as exc:
            raise CoordinatorError(f"cannot reach the coordinator at {self.http.base_url}: "
                                   f"{exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def put_stream(self, path: str, chunks: Iterable[bytes], digest: str, size: int) -> None:
        """PUT ``size`` bytes, given in pieces, whose sha256 is ``digest`` (computed
        beforehand: the signature covers it); the bytes are never all held in memory."""
        if self.key is None:
            raise ConfigError("this request must be signed: give --key KEYFILE")
        headers = sign_request(self.key, "PUT", path, b"",
                               body_sha256=digest.removeprefix("sha256:"))
        headers.update({"content-type": "application/octet-stream",
                        "content-length": str(size)})
        self._send("PUT", path, chunks, headers)
