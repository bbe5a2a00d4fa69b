"""What the library search finds: passages of text with their time codes.

:func:`passages_of` is the one place that turns a stored analyzer output (one insight of one
video) into searchable passages. The output is treated as hostile: it may come from a
worker's result or an old store, so every value is checked, text is bounded and cleaned of
control characters, and a malformed item is skipped, never an error.

An item's id is the one the review and the decision explorer use (``/explorer/item?...&item=K``):
the item's ``id`` field, else its position within the insight.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

__all__ = ["INSIGHTS", "MAX_INSTANCES", "MAX_PASSAGES", "MAX_TEXT", "Passage", "fold",
           "passages_of"]

#: The insights the search indexes (the names of metadata.json's keys) and ``name``, the
#: video's file name.
INSIGHTS = ("transcript", "ocr", "keywords", "chapters", "tags", "custom_tags", "name")

#: Characters kept of one passage's text; the rest is cut (a segment is a sentence or two).
MAX_TEXT = 2000
#: Passages kept of one output (one insight of one video).
MAX_PASSAGES = 50_000
#: Time-coded instances of one item indexed (each a passage: a moment of the video).
MAX_INSTANCES = 50
#: Words of one transcript segment whose times are kept.
MAX_WORDS = 500

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ue000-\uf8ff]+")


@dataclass(frozen=True)
class Passage:
    """One searchable stretch of one insight of one video."""

    video: str  #: the asset's digest
    insight: str  #: one of :data:`INSIGHTS`
    item: str | None  #: the item's id within its decision's output; None for ``name``
    start: float | None  #: seconds into the video; None when the passage has no time
    end: float | None
    text: str
    decision: int | None  #: the ledger index of the decision it came from
    language: str | None = None  #: ISO 639-1 code of the text, when known
    job: str | None = None  #: the coordinator's job; None on the embedded store
    #: Transcript words: (first character, end character, start, end) within ``text``.
    words: tuple[tuple[int, int, float, float], ...] = ()


def fold(text: str) -> str:
    """``text`` with diacritics taken off, character for character (``café`` -> ``cafe``):
    the same length, so an offset into the folded text is an offset into ``text``. Both
    backends index and query the folded text."""
    out = []
    for char in text:
        if char.isascii():
            out.append(char)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char)
                       if not unicodedata.combining(c))
        out.append(base if len(base) == 1 else char)
    return "".join(out)


def _clean(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(_CONTROL.sub(" ", value[:MAX_TEXT * 2]).split())[:MAX_TEXT]
    return text or None


def _time(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and 0 <= number < 1e9 else None


def _item_id(item: dict[str, Any], position: int) -> str:
    value = item.get("id")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53:
        return str(value)
    return str(position)


def _decision(item: dict[str, Any], default: int | None) -> int | None:
    value = item.get("decision")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    return default


def _language(value: Any) -> str | None:
    if isinstance(value, str) and re.fullmatch(r"[a-z]{2,3}", value):
        return value
    return None


def _spans(item: dict[str, Any]) -> list[tuple[float | None, float | None]]:
    """The item's time-coded instances (at most :data:`MAX_INSTANCES`); one untimed span
    when it has none."""
    spans: list[tuple[float | None, float | None]] = []
    instances = item.get("instances")
    if isinstance(instances, list):
        for instance in instances[:MAX_INSTANCES]:
            if not isinstance(instance, dict):
                continue
            start, end = _time(instance.get("start")), _time(instance.get("end"))
            if start is not None and end is not None and end >= start:
                spans.append((start, end))
    if not spans:
        start, end = _time(item.get("start")), _time(item.get("end"))
        spans.append((start, end) if start is not None and end is not None and end >= start
                     else (None, None))
    return spans


def _words(text: str, words: Any) -> tuple[tuple[int, int, float, float], ...]:
    """Each word's characters in ``text`` (found in order) and its times."""
    if not isinstance(words, list):
        return ()
    found: list[tuple[int, int, float, float]] = []
    at = 0
    for word in words[:MAX_WORDS]:
        if not isinstance(word, dict):
            continue
        spoken = _clean(word.get("text"))
        start, end = _time(word.get("start")), _time(word.get("end"))
        if spoken is None or start is None or end is None or end < start:
            continue
        where = text.find(spoken, at)
        if where < 0:
            continue
        found.append((where, where + len(spoken), start, end))
        at = where + len(spoken)
    return tuple(found)


def passages_of(video: str, insight: str, output: Any, decision: int | None,
                job: str | None = None) -> list[Passage]:
    """The searchable passages of one insight's stored ``output`` (as ``metadata.json``
    holds it; ``name``: the file name, a string). ``decision``: the ledger index of the
    decision, used where an item carries none. An insight the search does not index gives
    no passages; malformed items are skipped."""
    passages: list[Passage] = []

    def add(item: str | None, spans: list[tuple[float | None, float | None]], text: str,
            at: int | None, language: str | None = None,
            words: tuple[tuple[int, int, float, float], ...] = ()) -> None:
        for start, end in spans:
            if len(passages) < MAX_PASSAGES:
                passages.append(Passage(video, insight, item, start, end, text, at, language,
                                        job, words))

    if insight == "name":
        text = _clean(output)
        if text is not None:
            add(None, [(None, None)], text, decision)
        return passages
    if insight == "transcript":
        if not isinstance(output, dict) or not isinstance(output.get("segments"), list):
            return passages
        language = _language(output.get("language"))
        for position, segment in enumerate(output["segments"][:MAX_PASSAGES]):
            if not isinstance(segment, dict):
                continue
            text = _clean(segment.get("text"))
            if text is None:
                continue
            spans = _spans(segment)[:1]
            add(_item_id(segment, position), spans, text, _decision(segment, decision),
                _language(segment.get("language")) or language,
                _words(text, segment.get("words")))
        return passages
    field = {"ocr": "text", "keywords": "text", "chapters": "title", "tags": "label",
             "custom_tags": "label"}.get(insight)
    if field is None or not isinstance(output, list):
        return passages
    for position, item in enumerate(output[:MAX_PASSAGES]):
        if not isinstance(item, dict):
            continue
        text = _clean(item.get(field))
        if text is None:
            continue
        if insight == "chapters" and isinstance(item.get("keywords"), list):
            extra = [k for k in (_clean(k) for k in item["keywords"][:20]) if k]
            if extra:
                text = _clean(text + " — " + ", ".join(extra)) or text
        add(_item_id(item, position), _spans(item), text, _decision(item, decision))
    return passages
