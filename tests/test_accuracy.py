"""Accuracy on a generated, labelled clip that no setting was tuned on.

The clip is made here (``aiwork.synth.clips``) with its own colours, sentences and captions,
distinct from the bundled sample whose measurements chose the shot threshold, and processed
by every analyzer through the real pipeline. The same figures are printed by
``bench/pipeline.py``.
"""

from __future__ import annotations

import re

import pytest

from aiwork.pipeline.process import ProcessOptions, Processor, VideoReport
from aiwork.synth.clips import Caption, ClipSpec, FaceOverlay, MusicSegment, Scene, SpeechLine
from aiwork.synth.clips import Truth, make_clip
from aiwork.quality import word_error_rate

SPEC = ClipSpec(
    scenes=(Scene(6.0, "#14213d"), Scene(5.0, "#588157"), Scene(7.0, "#9d0208"),
            Scene(6.0, "#3a5a40"), Scene(6.0, "#5e548e")),
    speech=(
        SpeechLine("The museum opens its new gallery on Friday morning.", 0.5),
        SpeechLine("Visitors can see paintings from the northern coast.", 11.5),
        SpeechLine("Tickets are free for children and students.", 18.5),
    ),
    captions=(Caption("HARBOUR MUSEUM", 2.0, 5.5), Caption("FREE ENTRY TODAY", 19.0, 23.0)),
    faces=(FaceOverlay(6.5, 10.5),),
    music=(MusicSegment(25.0, 4.0),),
)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


wer = word_error_rate  # the same measure the coordinator compares transcripts with


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[Truth, VideoReport]:
    folder = tmp_path_factory.mktemp("accuracy")
    truth = make_clip(folder / "heldout.mp4", SPEC)
    with Processor(ProcessOptions(), db=folder / "store.db") as processor:
        assert not processor.unavailable, processor.unavailable
        report = processor.process(folder / "heldout.mp4")
    assert report.status == "processed", report.error
    return truth, report


def test_cuts_within_a_fifth_of_a_second(result: tuple[Truth, VideoReport]) -> None:
    truth, report = result
    assert report.metadata is not None
    found = [s.instances[0].start for s in report.metadata.shots[1:]]
    assert len(found) == len(truth.cuts), (found, truth.cuts)
    for cut, got in zip(truth.cuts, found, strict=True):
        assert abs(cut - got) <= 0.2, (cut, got)


def test_transcript_word_error_rate_at_most_15_percent(result: tuple[Truth, VideoReport]) -> None:
    truth, report = result
    assert report.metadata is not None and report.metadata.transcript is not None
    reference = [w for s in truth.speech for w in words(s.text)]
    hypothesis = [w for s in report.metadata.transcript.segments for w in words(s.text)]
    assert wer(reference, hypothesis) <= 0.15, (reference, hypothesis)
    for segment in report.metadata.transcript.segments:
        for word in segment.words:
            assert any(s.start - 0.5 <= word.start <= s.end + 0.5 for s in truth.speech), word


def test_at_least_90_percent_of_caption_words_found(result: tuple[Truth, VideoReport]) -> None:
    truth, report = result
    assert report.metadata is not None
    expected = [(w, c) for c in truth.captions for w in words(c.text)]
    seen = {(w, round(i.start)) for o in report.metadata.ocr for w in words(o.text)
            for i in o.instances}
    found = 0
    for word, caption in expected:
        # Found while the caption is shown (OCR reads one frame every 2 s by default).
        if any(w == word and caption.start - 2 <= t <= caption.end for w, t in seen):
            found += 1
    assert found / len(expected) >= 0.9, (expected, report.metadata.ocr)


def test_face_time_range(result: tuple[Truth, VideoReport]) -> None:
    truth, report = result
    assert report.metadata is not None and truth.face_range is not None
    ranges = [i for face in report.metadata.faces for i in face.instances]
    assert len(ranges) == 1, ranges
    # Frames are sampled once a second: each edge is right to within that.
    assert abs(ranges[0].start - truth.face_range.start) <= 1.0
    assert abs(ranges[0].end - truth.face_range.end) <= 1.0


def test_language(result: tuple[Truth, VideoReport]) -> None:
    truth, report = result
    assert report.metadata is not None and report.metadata.language is not None
    assert report.metadata.language.spoken == truth.language == "en"
    # Identified, not assumed: the default transcript model measures the spoken language.
    assert (report.metadata.language.spoken_confidence or 0) >= 0.5
    assert report.metadata.transcript is not None
    assert [s.language for s in report.metadata.transcript.languages] == ["en"]
    assert all(s.language == "en" and (s.language_confidence or 0) >= 0.5
               for s in report.metadata.transcript.segments)
    assert report.metadata.language.text == "en"


def test_no_tags_or_safety_flags_on_clean_graphics(result: tuple[Truth, VideoReport]) -> None:
    _, report = result
    assert report.metadata is not None
    assert report.metadata.tags == [] and report.metadata.safety == []
