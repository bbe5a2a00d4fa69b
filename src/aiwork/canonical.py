"""RFC 8785 (JSON Canonicalization Scheme) bytes and digests.

Everything aiwork signs or hashes goes through :func:`canonical_bytes` first, so that two
parties holding the same value always compute the same bytes (a value's digest is
:func:`aiwork.digests.sha256_json`).
"""

from __future__ import annotations

import json
import re
from typing import Any

import rfc8785

from aiwork.errors import MalformedJSONError

__all__ = ["canonical_bytes", "parse_json", "parse_canonical"]

# Where Python's own sorted, compact JSON output can differ from RFC 8785: numbers that are not
# integers, integers beyond 2**53 (JCS writes them as doubles), and keys ordered by UTF-16 code
# units, which differs from code point order only for characters outside the BMP (4-byte UTF-8).
_MAX_EXACT_INT = 2**53 - 1
_ASTRAL = re.compile(rb"[\xf0-\xf4]")


def canonical_bytes(value: Any) -> bytes:
    """The RFC 8785 encoding of ``value`` (UTF-8 bytes).

    Raises :class:`MalformedJSONError` for values JSON cannot carry exactly: NaN, infinities,
    integers beyond IEEE 754 double precision, lone surrogates, non-string keys.
    """
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, UnicodeError) as exc:
        raise MalformedJSONError(f"value cannot be encoded as canonical JSON: {exc}") from exc


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedJSONError(f"duplicate key {key!r} in JSON object")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise MalformedJSONError(f"{name} is not valid JSON")


def parse_json(data: str | bytes, *, what: str = "input") -> Any:
    """Parse strict JSON (I-JSON, RFC 7493): no duplicate keys, no NaN/Infinity, no lone
    surrogates (``"\\ud800"`` is not text: it could never be stored, signed or shown).
    Errors name ``what``."""
    try:
        value = json.loads(
            data, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except MalformedJSONError as exc:
        raise MalformedJSONError(f"{what}: {exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedJSONError(f"{what} is not valid JSON: {exc}") from exc
    suspect = (_SURROGATE_ESCAPE_BYTES.search(data) if isinstance(data, bytes)
               else _SURROGATE_ESCAPE_TEXT.search(data))
    if suspect is not None and _holds_lone_surrogate(value):
        raise MalformedJSONError(
            f"{what} holds a lone surrogate (a \\ud800 to \\udfff escape not in a pair)")
    return value


_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_TEXT = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")


def _holds_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_canonical(data: bytes, *, what: str = "input") -> Any:
    """Parse bytes that must already be in canonical form; anything else is refused.

    Re-encoding and comparing also rejects duplicate keys (they would collapse) and any
    whitespace. Values where Python's compact sorted JSON is provably the RFC 8785 form (no
    fractions, no integers beyond 2**53, no characters outside the BMP) are re-encoded by the
    C encoder; the rest by rfc8785.
    """
    exact = True

    def on_float(text: str) -> float:
        nonlocal exact
        exact = False
        return float(text)

    def on_int(text: str) -> int | float:
        nonlocal exact
        value = int(text)
        if -_MAX_EXACT_INT <= value <= _MAX_EXACT_INT:
            return value
        exact = False  # JCS numbers are doubles: beyond 2**53 this is a double's ES6 form
        return float(value)

    try:
        value = json.loads(
            data, parse_float=on_float, parse_int=on_int, parse_constant=_reject_constant
        )
    except MalformedJSONError as exc:
        raise MalformedJSONError(f"{what}: {exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise MalformedJSONError(f"{what} is not valid JSON: {exc}") from exc
    if exact and not _ASTRAL.search(data):
        try:
            encoded = json.dumps(
                value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise MalformedJSONError(f"{what} holds a lone surrogate") from exc
    else:
        encoded = canonical_bytes(value)
    if encoded != data:
        raise MalformedJSONError(f"{what} is not in RFC 8785 canonical form")
    return value
