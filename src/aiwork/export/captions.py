"""Captions from the transcript (WebVTT, SRT, TTML) and a WebVTT chapters track.

Cues follow the Netflix Timed Text Style Guide (General Requirements): at most
:data:`MAX_LINE_CHARS` (42) characters a line and :data:`MAX_LINES` (2) lines a cue, each cue
on screen at least :data:`MIN_CUE_SECONDS` (5/6 s, 20 frames at 24 fps) and at most
:data:`MAX_CUE_SECONDS` (7 s). A cue is cut at a sentence end first, then at a clause
boundary (after ``,`` ``;`` ``:``, before a conjunction), and at a pause in the speech; a
line is broken at the same points, keeping the two lines near in length. Cues are timed by
the transcript's word times (segment times shared out by characters where a segment has no
words). Every writer is a pure function of the metadata.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from aiwork.model.metadata import Metadata, TranscriptSegment

__all__ = ["CAPTION_FORMATS", "vtt_cue_text", "vtt_stamp", "MAX_CUE_SECONDS", "MAX_LINES", "MAX_LINE_CHARS",
           "MIN_CUE_SECONDS", "Cue", "caption_cues", "captions_srt", "captions_ttml",
           "captions_vtt", "chapters_vtt"]

#: Netflix Timed Text Style Guide, General Requirements: 42 characters a line (Latin
#: alphabets), two lines at most, 5/6 s (20 frames at 24 fps) to 7 s on screen.
MAX_LINE_CHARS = 42
MAX_LINES = 2
MIN_CUE_SECONDS = 5 / 6
MAX_CUE_SECONDS = 7.0
#: A silence this long between two words ends a cue: text is not left up over a pause.
PAUSE_SECONDS = 1.5
#: The caption files ``aiwork process --caption-format`` may write, by format.
CAPTION_FORMATS = {"vtt": "captions.vtt", "srt": "captions.srt", "ttml": "captions.ttml"}

#: Languages written without spaces between words.
_UNSPACED = {"zh", "ja", "th", "lo", "km", "my", "yue", "bo"}
_SENTENCE_END = (".", "?", "!", "…", "。", "？", "！", ".\"", "?\"", "!\"", ".»", "?»", "!»")
_CLAUSE_END = (",", ";", ":", "—", "–", "、", "，", "；", "：", ")")
#: Words a line or cue break goes before (a clause starts there) ...
_BEFORE = {"and", "but", "or", "nor", "so", "yet", "because", "although", "though", "while",
           "when", "where", "which", "who", "whom", "whose", "that", "if", "unless", "until",
           "since", "after", "before", "then", "et", "mais", "ou", "donc", "car", "que", "qui",
           "y", "pero", "o", "porque", "und", "aber", "oder", "weil", "dass", "e", "ma",
           "perché", "и", "но", "или", "что"}
#: ... and words it never comes after (an article or preposition stays with its noun).
_NEVER_AFTER = {"a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "with", "from",
                "my", "your", "his", "her", "its", "our", "their", "this", "these", "those",
                "le", "la", "les", "un", "une", "des", "du", "de", "el", "los", "las", "der",
                "die", "das", "ein", "eine", "il", "lo", "gli", "i"}


@dataclass(frozen=True)
class Cue:
    """One caption: its time on screen and its lines (at most :data:`MAX_LINES`)."""

    start: float
    end: float
    lines: tuple[str, ...]


@dataclass(frozen=True)
class _Token:
    text: str
    start: float
    end: float
    last_of_segment: bool = False
    #: Written against the token before, without a space ("open" "-source", "it" "'s").
    glued: bool = False


def _stamp(seconds: float, comma: bool = False) -> str:
    millis = int(round(max(seconds, 0.0) * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    sep = "," if comma else "."
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


#: WebVTT's timestamp and cue-text escaping, for the other WebVTT writers (aiwork.dataset).
def vtt_stamp(seconds: float) -> str:
    return _stamp(seconds)


def _plain(text: str) -> str:
    # A cue may not contain "-->" or a blank line.
    return " ".join(text.replace("-->", "->").split())


def _cue_text(text: str) -> str:
    # & < > must be escaped in WebVTT.
    return _plain(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def vtt_cue_text(text: str) -> str:
    return _cue_text(text)


def _tokens(segment: TranscriptSegment, start: float, end: float) -> list[_Token]:
    """The segment's words with their times; without word times, the segment's words with
    its time shared out by their length."""
    words = [w for w in segment.words if _plain(w.text)]
    tokens: list[_Token] = []
    if words:
        # Where the segment's text has no space before a word, the word is glued to the one
        # before it (word texts come without their leading space).
        text, pos = _plain(segment.text), 0
        for n, w in enumerate(words):
            word = _plain(w.text)
            found = text.find(word, pos)
            glued = n > 0 and found == pos and found > 0 and not text[found - 1].isspace()
            if found >= 0:
                pos = found + len(word)
            tokens.append(_Token(word, max(w.start, 0.0), max(w.end, w.start, 0.0),
                                 glued=glued))
    else:
        parts = _plain(segment.text).split(" ")
        parts = [p for p in parts if p]
        total = sum(len(p) + 1 for p in parts) or 1
        at = start
        for part in parts:
            length = (end - start) * (len(part) + 1) / total
            tokens.append(_Token(part, at, at + length))
            at += length
    if tokens:
        last = tokens[-1]
        tokens[-1] = _Token(last.text, last.start, last.end, True, last.glued)
    return tokens


def _strength(tokens: list[_Token], k: int) -> int:
    """How good a break is between ``tokens[k-1]`` and ``tokens[k]``: 3 a sentence end,
    2 a clause end, 1 before a conjunction, 0 anywhere else, -1 after an article or a
    preposition, -3 inside a written word."""
    before, after = tokens[k - 1], tokens[k]
    if after.glued:
        return -3
    if before.last_of_segment or before.text.endswith(_SENTENCE_END):
        return 3
    if before.text.endswith(_CLAUSE_END):
        return 2
    if after.text.lower().strip("¿¡\"'«") in _BEFORE:
        return 1
    if before.text.lower() in _NEVER_AFTER:
        return -1
    return 0


def _join(tokens: list[_Token], sep: str) -> str:
    return "".join(("" if n == 0 or t.glued else sep) + t.text for n, t in enumerate(tokens))


def _lines(tokens: list[_Token], sep: str) -> tuple[str, ...] | None:
    """The tokens on one line, or on two broken at the best point; None if they do not fit
    in :data:`MAX_LINES` lines of :data:`MAX_LINE_CHARS` characters (a single word longer
    than a line is cut)."""
    text = _join(tokens, sep)
    if len(text) <= MAX_LINE_CHARS:
        return (text,)
    if len(tokens) == 1:
        cut = [text[i:i + MAX_LINE_CHARS] for i in range(0, len(text), MAX_LINE_CHARS)]
        return tuple(cut) if len(cut) <= MAX_LINES else None
    best: tuple[float, tuple[str, str]] | None = None
    for k in range(1, len(tokens)):
        first, second = _join(tokens[:k], sep), _join(tokens[k:], sep)
        if len(first) > MAX_LINE_CHARS or len(second) > MAX_LINE_CHARS:
            continue
        score = 20 * _strength(tokens, k) - abs(len(first) - len(second))
        if best is None or score > best[0]:
            best = (score, (first, second))
    return best[1] if best is not None else None


def _fits(tokens: list[_Token], sep: str) -> bool:
    if len(tokens) <= 1:
        return True
    return (tokens[-1].end - tokens[0].start <= MAX_CUE_SECONDS
            and _lines(tokens, sep) is not None)


def _best_cut(tokens: list[_Token], sep: str) -> int:
    """Where to end a cue that has grown too long: the strongest break whose first part
    fits, the later the better among equals."""
    best_k, best_score = 1, float("-inf")
    total = len(_join(tokens, sep)) or 1
    for k in range(1, len(tokens)):
        if not _fits(tokens[:k], sep):
            break
        score = _strength(tokens, k) + len(_join(tokens[:k], sep)) / total
        if score >= best_score:
            best_k, best_score = k, score
    return best_k


def _groups(tokens: list[_Token], sep: str) -> list[list[_Token]]:
    groups: list[list[_Token]] = []
    current: list[_Token] = []
    for token in tokens:
        if current and (token.start - current[-1].end >= PAUSE_SECONDS
                        or (_strength([current[-1], token], 1) == 3
                            and current[-1].end - current[0].start >= MIN_CUE_SECONDS)):
            groups.append(current)
            current = []
        current.append(token)
        while not _fits(current, sep):
            cut = _best_cut(current, sep)
            groups.append(current[:cut])
            current = current[cut:]
    if current:
        groups.append(current)
    return groups


def caption_cues(metadata: Metadata) -> list[Cue]:
    """The transcript as caption cues that keep the limits above, in time order, never
    overlapping."""
    transcript = metadata.transcript
    if transcript is None:
        return []
    runs: list[tuple[str, list[_Token]]] = []
    for segment in transcript.segments:
        if not _plain(segment.text):
            continue
        language = (segment.language or transcript.language or "").split("-")[0].lower()
        sep = "" if language in _UNSPACED else " "
        for inst in segment.instances:
            if inst.end > inst.start:
                tokens = _tokens(segment, inst.start, inst.end)
                if segment.words and len(segment.instances) > 1:
                    shift = inst.start - tokens[0].start
                    tokens = [_Token(t.text, t.start + shift, t.end + shift, t.last_of_segment,
                                     t.glued) for t in tokens]
                if tokens:
                    runs.append((sep, tokens))
    runs.sort(key=lambda run: run[1][0].start)
    raw: list[tuple[float, float, tuple[str, ...]]] = []
    for sep, tokens in runs:
        for group in _groups(tokens, sep):
            lines = _lines(group, sep) or (_join(group, sep),)
            raw.append((group[0].start, max(group[-1].end, group[0].start), lines))
    raw.sort(key=lambda cue: cue[0])
    cues: list[Cue] = []
    for i, (start, end, lines) in enumerate(raw):
        if cues and start < cues[-1].end:
            start = cues[-1].end
        limit = raw[i + 1][0] if i + 1 < len(raw) else float("inf")
        if end - start < MIN_CUE_SECONDS:  # longer, up to the next cue
            end = max(end, min(start + MIN_CUE_SECONDS, limit))
        if end - start < MIN_CUE_SECONDS:  # earlier, back to the cue before
            start = max(cues[-1].end if cues else 0.0, min(start, end - MIN_CUE_SECONDS))
        if end - start < MIN_CUE_SECONDS:  # and the next cue waits
            end = start + MIN_CUE_SECONDS
        end = min(end, start + MAX_CUE_SECONDS)
        if end > start:
            cues.append(Cue(round(start, 3), round(end, 3), lines))
    return cues


def captions_vtt(metadata: Metadata) -> str:
    """WebVTT (W3C): one cue per :class:`Cue`, its lines as they are broken."""
    lines = ["WEBVTT", ""]
    for number, cue in enumerate(caption_cues(metadata), start=1):
        lines += [str(number), f"{_stamp(cue.start)} --> {_stamp(cue.end)}",
                  *(_cue_text(line) for line in cue.lines), ""]
    return "\n".join(lines)


def captions_srt(metadata: Metadata) -> str:
    """SubRip: the cues of :func:`captions_vtt`, numbered, with comma decimal marks."""
    lines: list[str] = []
    for number, cue in enumerate(caption_cues(metadata), start=1):
        lines += [str(number), f"{_stamp(cue.start, True)} --> {_stamp(cue.end, True)}",
                  *(_plain(line) for line in cue.lines), ""]
    return "\n".join(lines)


_TT = "http://www.w3.org/ns/ttml"
_TTP = "http://www.w3.org/ns/ttml#parameter"
_TTS = "http://www.w3.org/ns/ttml#styling"
_XML = "http://www.w3.org/XML/1998/namespace"
#: The IMSC1 Text Profile's designator (W3C TTML Profiles for Internet Media Subtitles and
#: Captions 1.0.1, a profile of TTML: a document of this profile is valid TTML2).
IMSC1_TEXT = "http://www.w3.org/ns/ttml/profile/imsc1/text"


def captions_ttml(metadata: Metadata) -> str:
    """TTML (IMSC1 Text Profile): the cues of :func:`captions_vtt` as ``<p>`` elements in one
    bottom region, their lines separated by ``<br/>``; media time base."""
    ET.register_namespace("", _TT)
    ET.register_namespace("ttp", _TTP)
    ET.register_namespace("tts", _TTS)
    language = ""
    if metadata.transcript is not None and metadata.transcript.language:
        language = metadata.transcript.language
    tt = ET.Element(f"{{{_TT}}}tt", {
        f"{{{_XML}}}lang": language, f"{{{_TTP}}}profile": IMSC1_TEXT,
        f"{{{_TTP}}}timeBase": "media"})
    head = ET.SubElement(tt, f"{{{_TT}}}head")
    styling = ET.SubElement(head, f"{{{_TT}}}styling")
    ET.SubElement(styling, f"{{{_TT}}}style", {
        f"{{{_XML}}}id": "caption", f"{{{_TTS}}}textAlign": "center",
        f"{{{_TTS}}}color": "white", f"{{{_TTS}}}backgroundColor": "black",
        f"{{{_TTS}}}fontFamily": "proportionalSansSerif", f"{{{_TTS}}}fontSize": "100%"})
    layout = ET.SubElement(head, f"{{{_TT}}}layout")
    ET.SubElement(layout, f"{{{_TT}}}region", {
        f"{{{_XML}}}id": "bottom", f"{{{_TTS}}}origin": "10% 75%",
        f"{{{_TTS}}}extent": "80% 20%", f"{{{_TTS}}}displayAlign": "after"})
    body = ET.SubElement(tt, f"{{{_TT}}}body", {"region": "bottom", "style": "caption"})
    div = ET.SubElement(body, f"{{{_TT}}}div")
    for number, cue in enumerate(caption_cues(metadata), start=1):
        p = ET.SubElement(div, f"{{{_TT}}}p", {
            f"{{{_XML}}}id": f"c{number}", "begin": _stamp(cue.start), "end": _stamp(cue.end)})
        lines = [_plain(line) for line in cue.lines]
        p.text = lines[0]
        for line in lines[1:]:
            br = ET.SubElement(p, f"{{{_TT}}}br")
            br.tail = line
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(tt, encoding="unicode") + "\n")


def chapters_vtt(metadata: Metadata) -> str:
    lines = ["WEBVTT", ""]
    for chapter in metadata.chapters:
        for inst in chapter.instances:
            lines += [f"chapter-{chapter.id + 1}", f"{_stamp(inst.start)} --> {_stamp(inst.end)}",
                      _cue_text(chapter.title), ""]
    return "\n".join(lines)
