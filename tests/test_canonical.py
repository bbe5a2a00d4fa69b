"""Canonical JSON (RFC 8785) and the entry encoding built on it."""

from __future__ import annotations

import json
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from aiwork.canonical import canonical_bytes, parse_canonical, parse_json
from aiwork.crypto import SigningKey
from aiwork.errors import EntryError, MalformedJSONError
from aiwork.ledger.entries import check_entry_signature, sign_entry
from aiwork.model import Entry

KEY = SigningKey.generate()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def test_rfc8785_examples() -> None:
    # Key order by UTF-16 code units; numbers in their shortest ES6 form.
    value = {"b": 1, "a": [1.0, 1e21, 0.1], "\ufb01": 1, "\U0001f600": 2, "\r": 3}
    expected = '{"\\r":3,"a":[1,1e+21,0.1],"b":1,"\U0001f600":2,"\ufb01":1}'.encode()
    assert canonical_bytes(value) == expected
    assert parse_canonical(expected) == value
    with pytest.raises(MalformedJSONError):
        canonical_bytes({"x": float("nan")})


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_parse_canonical_accepts_exactly_the_rfc8785_form(value: Any) -> None:
    try:
        canonical = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return
    assert canonical_bytes(parse_canonical(canonical)) == canonical
    for other in (json.dumps(value).encode(), json.dumps(value, sort_keys=True).encode(),
                  json.dumps(value, separators=(",", ":"), sort_keys=True,
                             ensure_ascii=False).encode()):
        if other != canonical:
            with pytest.raises(MalformedJSONError):
                parse_canonical(other)


@pytest.mark.parametrize("text", [b'{"a":1,"a":2}', b'{"a":1} ', b'{"a":1.0}', b'{"b":1,"a":2}',
                                  b'{"a":"\\u0041"}', b"[NaN]", b"{", b'"\\ud800"',
                                  b'{"a":9007199254740993}'])
def test_parse_canonical_refuses(text: bytes) -> None:
    with pytest.raises(MalformedJSONError):
        parse_canonical(text)


def test_parse_json_is_strict() -> None:
    assert parse_json('{"a": [1, 2.5]}') == {"a": [1, 2.5]}
    for text in ['{"a": 1, "a": 2}', "[Infinity]", "{'a': 1}", ""]:
        with pytest.raises(MalformedJSONError):
            parse_json(text)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(), json_values, max_size=5))
def test_entry_bytes_round_trip_and_payload_derivation(body: dict[str, Any]) -> None:
    try:
        entry = sign_entry(KEY, "generic", body)
    except MalformedJSONError:
        return  # values JSON cannot carry exactly (e.g. integers beyond 2**53)
    data = entry.to_bytes()
    assert data == rfc8785.dumps(entry.to_json())
    again = Entry.from_bytes(data)
    assert again == entry
    expected = Entry.payload_for(entry.kind, entry.body, entry.author, entry.time)
    assert again.signing_payload() == expected == entry.signing_payload()
    check_entry_signature(again)


def test_entry_refuses_malformed_fields() -> None:
    entry = sign_entry(KEY, "generic", {"a": 1})
    fields = entry.to_json()
    for change in ({"time": "2026-11-25 10:00:00"}, {"time": "yesterday"},
                   {"signature": "not base64!"}, {"body": [1]}, {"kind": 3}):
        with pytest.raises(EntryError):
            Entry.from_json({**fields, **change})
    with pytest.raises(EntryError):
        Entry.from_json({**fields, "extra": 1})
