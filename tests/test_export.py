"""The published exports on generated metadata: captions within the broadcast limits (read
back with a real WebVTT parser), TTML's structure, and JSON-LD for video rich results."""

from __future__ import annotations

import io
import re
from typing import Any

import defusedxml.ElementTree as SafeET
import pytest
import webvtt

from aiwork.errors import InputError
from aiwork.export import (
    caption_cues,
    captions_srt,
    captions_ttml,
    captions_vtt,
    check_base_url,
    to_jsonld,
)
from aiwork.export.captions import MAX_CUE_SECONDS, MAX_LINE_CHARS, MIN_CUE_SECONDS
from aiwork.model.metadata import Metadata

DIGEST = "sha256:" + "ab" * 32
FRAME = "sha256:" + "cd" * 32
#: The issue's example: one whole segment became one cue line of 111 characters.
LONG = ("So, let's take a look at how we can solve this problem, because it matters a great "
        "deal to everyone who works here.")
TEXT = (LONG + " Then we will see whether the answer holds up when the data are real and not "
        "drawn by us. Yes. And that is all, for today.")


def timed_words(text: str, start: float, per_char: float = 0.055,
                gap: float = 0.08) -> tuple[list[dict[str, Any]], float]:
    """Words of ``text`` spoken one after another from ``start`` (exact, known times)."""
    words, at = [], start
    for word in text.split():
        end = at + per_char * len(word) + 0.1
        words.append({"text": word, "start": round(at, 3), "end": round(end, 3)})
        at = end + gap
    return words, at


def metadata(segments: list[dict[str, Any]], **extra: Any) -> Metadata:
    return Metadata.model_validate({
        "asset": {"digest": DIGEST, "name": "talk <1>.mp4", "size": 1000, **extra.pop("asset", {})},
        "transcript": {"language": "en", "segments": segments}, **extra})


def segment(n: int, text: str, start: float, *, words: bool = True, **kw: Any) -> dict[str, Any]:
    timed, end = timed_words(text, start, **kw)
    return {"id": n, "text": text, "instances": [{"start": start, "end": round(end, 3)}],
            "words": timed if words else []}


def read_vtt(text: str) -> list[Any]:
    return list(webvtt.from_buffer(io.StringIO(text)))


def secs(stamp: str) -> float:
    """A WebVTT time stamp in seconds (webvtt-py's own ``*_in_seconds`` drop the fraction)."""
    hours, minutes, rest = stamp.replace(",", ".").split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)


def words_of(text: str) -> list[str]:
    return text.split()


def assert_conforms(captions: list[Any], spoken: str) -> None:
    """Every cue within the limits, in order, not overlapping, and every word said once."""
    previous_end = 0.0
    for cue in captions:
        lines = cue.text.split("\n")
        assert 1 <= len(lines) <= 2, cue.text
        assert all(len(line) <= MAX_LINE_CHARS for line in lines), lines
        duration = secs(cue.end) - secs(cue.start)
        assert MIN_CUE_SECONDS - 0.002 <= duration <= MAX_CUE_SECONDS + 0.001, (cue.text,
                                                                                 duration)
        assert secs(cue.start) >= previous_end - 0.0005
        previous_end = secs(cue.end)
    assert words_of(" ".join(c.text.replace("\n", " ") for c in captions)) == words_of(spoken)


def test_captions_keep_the_line_and_duration_limits_and_cut_at_sentences() -> None:
    md = metadata([segment(0, TEXT, 0.5)])
    captions = read_vtt(captions_vtt(md))
    assert_conforms(captions, TEXT)
    assert len(captions) >= 4
    # A sentence end never sits inside a cue where the next sentence could start a cue:
    # "here." ends a cue, and the cue after it starts with "Then".
    ends = [c.text.replace("\n", " ") for c in captions]
    assert any(t.endswith("works here.") for t in ends), ends
    assert any(t.startswith("Then we will") for t in ends), ends
    # Lines break at the clause boundary when one is there.
    assert any(c.text.split("\n")[0].endswith("problem,") or "\nbecause" in c.text
               or c.text.startswith("because") for c in captions), ends
    # Each cue is timed by its words: it starts when its first word starts.
    starts = {w["text"]: w["start"] for w in segment(0, TEXT, 0.5)["words"]}
    then = next(c for c in captions if c.text.startswith("Then"))
    assert secs(then.start) == pytest.approx(starts["Then"], abs=0.001)


def test_a_short_utterance_stays_up_long_enough_and_never_runs_into_the_next() -> None:
    first = segment(0, "Yes.", 1.0)          # 0.32 s of speech
    second = segment(1, "Over there, on the left.", 1.5)
    md = metadata([first, second])
    captions = read_vtt(captions_vtt(md))
    assert [c.text for c in captions] == ["Yes.", "Over there, on the left."]
    assert secs(captions[0].end) - secs(captions[0].start) >= MIN_CUE_SECONDS - 0.002
    assert secs(captions[0].end) <= secs(captions[1].start)
    # Shown a little before the word rather than cut short: the next cue keeps its time.
    assert secs(captions[0].start) <= 1.0 and secs(captions[1].start) == pytest.approx(1.5)


def test_a_long_pause_ends_a_cue_and_a_long_stretch_is_cut_at_seven_seconds() -> None:
    slow_words, end = timed_words("one two three four five six", 0.0, per_char=0.4, gap=0.3)
    later, _ = timed_words("after the pause", end + 3.0)
    text = "one two three four five six after the pause"
    md = metadata([{"id": 0, "text": text, "instances": [{"start": 0.0, "end": later[-1]["end"]}],
                    "words": slow_words + later}])
    captions = read_vtt(captions_vtt(md))
    assert_conforms(captions, text)
    assert captions[-1].text == "after the pause"
    assert secs(captions[-1].start) == pytest.approx(later[0]["start"], abs=0.001)


def test_a_segment_without_word_times_is_shared_out_and_still_conforms() -> None:
    md = metadata([segment(0, TEXT, 2.0, words=False)])
    assert_conforms(read_vtt(captions_vtt(md)), TEXT)


def test_a_word_longer_than_a_line_is_cut_and_markup_is_escaped() -> None:
    long_word = "x" * 60
    text = f"See <b>this</b> & {long_word} now."
    md = metadata([segment(0, text, 0.0)])
    vtt = captions_vtt(md)
    assert "<b>" not in vtt and "&lt;b&gt;this&lt;/b&gt; &amp;" in vtt
    for cue in read_vtt(vtt):
        assert all(len(line) <= MAX_LINE_CHARS for line in cue.raw_text.split("\n")
                   if "&" not in line)


def test_srt_carries_the_same_cues() -> None:
    md = metadata([segment(0, TEXT, 0.5)])
    vtt = [(c.start, c.end, c.text) for c in read_vtt(captions_vtt(md))]
    srt = [(c.start, c.end, c.text) for c in webvtt.from_srt(_srt_file(captions_srt(md)))]
    assert srt == vtt
    assert re.search(r"^00:00:00,500 --> ", captions_srt(md), re.M)


def _srt_file(text: str) -> str:
    import tempfile

    handle = tempfile.NamedTemporaryFile("w", suffix=".srt", delete=False, encoding="utf-8")
    with handle:
        handle.write(text)
    return handle.name


TT = "{http://www.w3.org/ns/ttml}"


def test_ttml_is_well_formed_imsc1_text_with_the_same_cues() -> None:
    md = metadata([segment(0, TEXT + " Fish & <chips>.", 0.5)])
    text = captions_ttml(md)
    root = SafeET.fromstring(text.encode())
    assert root.tag == f"{TT}tt"
    assert root.get("{http://www.w3.org/ns/ttml#parameter}profile") == \
        "http://www.w3.org/ns/ttml/profile/imsc1/text"
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    assert root.get("{http://www.w3.org/ns/ttml#parameter}timeBase") == "media"
    assert [child.tag for child in root] == [f"{TT}head", f"{TT}body"]
    region = root.find(f"{TT}head/{TT}layout/{TT}region")
    assert region is not None
    body = root.find(f"{TT}body")
    assert body is not None and body.get("region") == region.get(
        "{http://www.w3.org/XML/1998/namespace}id")
    paragraphs = root.findall(f"{TT}body/{TT}div/{TT}p")
    cues = caption_cues(md)
    assert len(paragraphs) == len(cues)
    clock = re.compile(r"^\d{2}:\d{2}:\d{2}\.\d{3}$")
    for p, cue in zip(paragraphs, cues, strict=True):
        assert clock.match(p.get("begin", "")) and clock.match(p.get("end", ""))
        assert all(child.tag == f"{TT}br" for child in p)
        lines = [p.text or ""] + [br.tail or "" for br in p]
        assert tuple(lines) == cue.lines
    assert "".join(paragraphs[-1].itertext()).endswith("Fish & <chips>.")


def test_no_transcript_gives_empty_but_valid_files() -> None:
    md = Metadata.model_validate({"asset": {"digest": DIGEST, "name": "a.mp4", "size": 1}})
    assert read_vtt(captions_vtt(md)) == []
    assert captions_srt(md) == ""
    assert SafeET.fromstring(captions_ttml(md).encode()).findall(f".//{TT}p") == []


ISO_DURATION = re.compile(r"^P(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)$")


def full_metadata() -> Metadata:
    return metadata(
        [segment(0, TEXT, 0.5)],
        asset={"uploaded": "2026-11-29T06:00:00.123456Z"},
        technical={"container": "mp4", "duration": 75.5, "size": 1000, "width": 640,
                   "height": 360},
        shots=[{"id": 0, "instances": [{"start": 0, "end": 40}],
                "keyframe": {"time": 1.0, "file": "keyframes/shot 1.jpg", "digest": FRAME}}],
        chapters=[{"id": 0, "title": "Opening", "instances": [{"start": 0, "end": 40}]},
                  {"id": 1, "title": "Answers", "instances": [{"start": 40, "end": 75.5}]}])


def test_jsonld_has_what_video_rich_results_require_with_absolute_urls() -> None:
    md = full_metadata()
    doc = to_jsonld(md, content_url="https://media.example.org/v/talk%20%3C1%3E.mp4",
                    base_url="https://media.example.org/v/talk")
    for required in ("name", "description", "thumbnailUrl", "uploadDate"):
        assert doc.get(required), required
    assert doc["uploadDate"] == "2026-11-29T06:00:00.123456Z"
    assert doc["thumbnailUrl"] == "https://media.example.org/v/talk/keyframes/shot%201.jpg"
    assert ISO_DURATION.match(doc["duration"]) and doc["duration"] == "PT1M15.5S"
    assert doc["contentUrl"].startswith("https://")
    clips = doc["hasPart"]
    assert [c["url"] for c in clips] == [
        "https://media.example.org/v/talk%20%3C1%3E.mp4#t=0,40",
        "https://media.example.org/v/talk%20%3C1%3E.mp4#t=40,75.5"]
    assert all(c["@type"] == "Clip" and c["name"] for c in clips)


def test_jsonld_names_keyframes_served_by_digest_and_describes_a_silent_video() -> None:
    md = full_metadata().model_copy(update={"transcript": None})
    doc = to_jsonld(md, content_url="https://c.example/v1/blobs/" + DIGEST,
                    keyframe_url={FRAME: "https://c.example/v1/blobs/" + FRAME})
    assert doc["thumbnailUrl"] == "https://c.example/v1/blobs/" + FRAME
    assert doc["description"].startswith("talk <1>.mp4: 75.5 s video")


@pytest.mark.parametrize("url", ["javascript:alert(1)", "/relative", "https://h.example/?q=1",
                                 "https://h.example/#f", "ftp://h.example/", "https://",
                                 "https://h.example/a b"])
def test_a_base_url_that_is_not_one_is_refused(url: str) -> None:
    with pytest.raises(InputError, match="is not a base URL"):
        check_base_url(url)


def test_a_base_url_loses_its_trailing_slash() -> None:
    assert check_base_url("https://h.example/videos/") == "https://h.example/videos"


def test_words_written_together_stay_together() -> None:
    """Word texts come without their leading space: where the segment's text has none, the
    caption has none either, and no line or cue is broken there."""
    text = "It's the asterisk open-source PBX, which handles calls for everyone's telephones."
    pieces = ["It", "'s", "the", "asterisk", "open", "-source", "PBX,", "which", "handles",
              "calls", "for", "everyone", "'s", "telephones."]
    words = [{"text": w, "start": round(0.3 * n, 3), "end": round(0.3 * n + 0.25, 3)}
             for n, w in enumerate(pieces)]
    md = metadata([{"id": 0, "text": text, "instances": [{"start": 0.0, "end": 4.5}],
                    "words": words}])
    captions = read_vtt(captions_vtt(md))
    assert " ".join(c.text.replace("\n", " ") for c in captions) == text
    assert all(len(line) <= MAX_LINE_CHARS for c in captions for line in c.text.split("\n"))
