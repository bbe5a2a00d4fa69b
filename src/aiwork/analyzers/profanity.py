"""The ``profanity`` safety category: profane words in the transcript, matched against the
word lists of ``glin-profanity`` (English plus the transcript's language where the package has
a list), each timed by its word when the transcript has word times, else by its segment. The
level follows the number of matches in the whole video (:data:`PROFANITY_LEVELS`); a list match
is exact, so its confidence is 1.0.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiwork.analyzers.models import load_once

__all__ = ["PROFANITY_LEVELS", "ProfanityHit", "find_profanity", "profanity_item",
           "profanity_languages", "profanity_level"]

#: Matches in the whole transcript -> ``profanity`` level: the least count for each level.
PROFANITY_LEVELS: dict[str, int] = {"low": 1, "medium": 3, "high": 10}

#: ISO 639-1 code -> glin-profanity word list.
_LISTS = {
    "ar": "arabic", "zh": "chinese", "cs": "czech", "da": "danish", "nl": "dutch",
    "en": "english", "eo": "esperanto", "fi": "finnish", "fr": "french", "de": "german",
    "hi": "hindi", "hu": "hungarian", "it": "italian", "ja": "japanese", "ko": "korean",
    "no": "norwegian", "nb": "norwegian", "fa": "persian", "pl": "polish",
    "pt": "portuguese", "ru": "russian", "es": "spanish", "sv": "swedish", "th": "thai",
    "tr": "turkish",
}
_MAX_LISTED = 100  # hits listed in the item's evidence


def profanity_level(count: int, levels: Mapping[str, int] = PROFANITY_LEVELS) -> str:
    """The ``profanity`` level for ``count`` matches."""
    found = "none"
    for level in ("low", "medium", "high"):
        if count >= levels[level]:
            found = level
    return found


@dataclass(frozen=True)
class ProfanityHit:
    start: float
    end: float
    segment: int
    term: str  # the list entry matched
    text: str  # the words as transcribed
    timing: str  # "word" | "segment"


def _profanity_filter(languages: Sequence[str]) -> Any:
    key = tuple(sorted(set(languages)))

    def load() -> Any:
        glin: Any = importlib.import_module("glin_profanity")
        return glin.Filter({"languages": list(key)})

    return load_once(("glin-profanity", key), load)


_WORD = re.compile(r"\w[\w'*]*", re.UNICODE)


def find_profanity(segments: Sequence[Mapping[str, Any]],
                   languages: Sequence[str] = ("english",)) -> list[ProfanityHit]:
    """Profane words in transcript segments (``{"text", "instances", "words"?}``), each timed
    by its word when the segment has word times, else by the segment."""
    matcher = _profanity_filter(languages)
    hits: list[ProfanityHit] = []
    for n, segment in enumerate(segments):
        instances = segment.get("instances") or []
        if not instances:
            continue
        seg_start, seg_end = float(instances[0]["start"]), float(instances[-1]["end"])
        words = [w for w in segment.get("words") or [] if str(w.get("text", "")).strip()]
        spans: list[tuple[int, int, Mapping[str, Any]]] = []
        if words:
            parts: list[str] = []
            offset = 0
            for word in words:
                text = str(word["text"]).strip()
                spans.append((offset, offset + len(text), word))
                parts.append(text)
                offset += len(text) + 1
            text = " ".join(parts)
        else:
            text = str(segment.get("text", ""))
        result = matcher.check_profanity(text)
        seen: set[int] = set()
        for match in sorted(result.get("matches") or [], key=lambda m: int(m.get("index", 0))):
            index = int(match.get("index", 0))
            if index in seen:  # one place matched by several list entries ("f*ck", "fuck")
                continue
            seen.add(index)
            segment_id = int(segment.get("id", n))
            term = str(match.get("word", ""))
            if spans:
                # The word holding the match (or the last one starting before it).
                word = spans[0][2]
                for begin, _, candidate in spans:
                    if begin <= index:
                        word = candidate
                hits.append(ProfanityHit(float(word["start"]), float(word["end"]), segment_id,
                                         term, str(word["text"]).strip(), "word"))
            else:
                token = _WORD.match(text, index)
                hits.append(ProfanityHit(seg_start, seg_end, segment_id, term,
                                         token.group(0) if token else term, "segment"))
    return sorted(hits, key=lambda h: (h.start, h.end))


def profanity_languages(transcript: Mapping[str, Any], fixed: Sequence[str] | None = None
                        ) -> list[str]:
    """The word lists to match: ``fixed`` when given, else English and the lists of the
    transcript's languages."""
    if fixed:
        return list(fixed)
    found = {"english"}
    codes = {transcript.get("language")} | {s.get("language")
                                             for s in transcript.get("segments") or []}
    for code in codes:
        if code and str(code).split("-")[0].lower() in _LISTS:
            found.add(_LISTS[str(code).split("-")[0].lower()])
    return sorted(found)


def profanity_item(hits: Sequence[ProfanityHit], level: str, levels: Mapping[str, int],
                   languages: Sequence[str]) -> dict[str, Any]:
    """The ``profanity`` item for the hits of a flagged transcript: touching hits merged into
    instances, the terms counted, the first hits listed."""
    terms: dict[str, int] = {}
    for hit in hits:
        terms[hit.term] = terms.get(hit.term, 0) + 1
    instances: list[dict[str, float]] = []
    for hit in hits:
        start, end = round(hit.start, 3), round(hit.end, 3)
        if instances and start <= instances[-1]["end"]:
            instances[-1]["end"] = max(instances[-1]["end"], end)
        else:
            instances.append({"start": start, "end": end, "confidence": 1.0})
    timings = sorted({h.timing for h in hits})
    return {
        "category": "profanity", "level": level, "source": "transcript",
        "confidence": 1.0,
        "instances": instances,
        "evidence": {
            "count": len(hits),
            "terms": dict(sorted(terms.items())),
            "hits": [{"start": round(h.start, 3), "end": round(h.end, 3),
                      "segment": h.segment, "term": h.term, "text": h.text}
                     for h in hits[:_MAX_LISTED]],
            "timing": timings[0] if len(timings) == 1 else "mixed",
            "levels": dict(levels),
            "languages": list(languages),
        },
    }
