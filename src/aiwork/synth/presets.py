"""Ready-made clip specs: the bundled sample (:func:`sample_spec`) and benchmark clips of any
length (:func:`long_spec`)."""

from __future__ import annotations

from aiwork.errors import InputError
from aiwork.synth.spec import Caption, ClipSpec, FaceOverlay, MusicSegment, Scene, SpeechLine

__all__ = ["long_spec", "sample_spec"]


def sample_spec() -> ClipSpec:
    """The bundled sample (``samples/sample.mp4``), 24 s: four scenes (cuts at 5, 12, 18 s),
    three English sentences, captions "AIWORK DEMO" and "VERIFIED METADATA", a face through
    most of scene 2 and 4.5 s of music in scene 4, silence between."""
    return ClipSpec(
        scenes=(
            Scene(5.0, "#1d3557"),
            Scene(7.0, "#2a6041"),
            Scene(6.0, "#6d2e46"),
            Scene(6.0, "#3d405b"),
        ),
        speech=(
            SpeechLine("Welcome to this short demonstration video.", 0.5),
            SpeechLine("Every scene in this clip was made by a computer.", 6.5),
            SpeechLine("The captions and the face appear at known times.", 12.5),
        ),
        captions=(
            Caption("AIWORK DEMO", 1.0, 4.4),
            Caption("VERIFIED METADATA", 13.0, 17.0),
        ),
        faces=(FaceOverlay(6.0, 11.0),),
        music=(MusicSegment(18.5, 4.5),),
    )


_PALETTE = (
    "#1d3557", "#2a6041", "#6d2e46", "#3d405b", "#7a4f01", "#264653", "#5a189a", "#8d0801",
)  # fmt: skip
_SENTENCES = (
    "Welcome to the evening news.",
    "The weather will be sunny tomorrow.",
    "Our reporter is standing by the river.",
    "The market closed higher today.",
    "Thank you for watching this programme.",
    "The train leaves the station at noon.",
    "Scientists found water on a distant moon.",
    "The library opens again next week.",
)
_CAPTIONS = (
    "BREAKING NEWS",
    "CHAPTER ONE",
    "WEATHER REPORT",
    "LIVE COVERAGE",
    "FINAL SCORE",
    "SPECIAL GUEST",
    "MARKET UPDATE",
    "THE END",
)
_BLOCK = (5.0, 7.0, 4.0, 8.0, 6.0)
"""Scene lengths of one 30 s block of :func:`long_spec`."""


def long_spec(seconds: float) -> ClipSpec:
    """A benchmark clip of ``seconds`` (at least 5) repeating a 30 s block of five scenes
    (5, 7, 4, 8, 6 s) with two sentences (at +0.5 s and +12.5 s), a caption at +1..+4.4 s and
    another at +17..+20 s, the face in scene 2 (+6..+11 s) of every other block, and music in
    the last scene (+24.5..+29 s). The last block is cut short at ``seconds``; an event that
    would not fit is left out. Colours, sentences and captions cycle through fixed lists.
    ``seconds`` is rounded to whole frames (1/25 s)."""
    if seconds < 5:
        raise InputError(f"long_spec needs at least 5 seconds, not {seconds}")
    seconds = round(seconds * 25) / 25  # whole frames at the default 25 fps
    scenes: list[Scene] = []
    speech: list[SpeechLine] = []
    captions: list[Caption] = []
    faces: list[FaceOverlay] = []
    music: list[MusicSegment] = []
    start = 0.0
    block = 0
    k = 0
    while start < seconds - 1e-9:
        for length in _BLOCK:
            if start >= seconds - 1e-9:
                break
            length = min(length, seconds - start)
            scenes.append(Scene(length, _PALETTE[k % len(_PALETTE)]))
            k += 1
            start += length
        b0 = block * 30.0
        for offset, n in ((0.5, 2 * block), (12.5, 2 * block + 1)):
            if b0 + offset + 5.0 <= seconds:  # every sentence lasts under 4 s
                speech.append(SpeechLine(_SENTENCES[n % len(_SENTENCES)], b0 + offset))
        for a, z, n in ((1.0, 4.4, 2 * block), (17.0, 20.0, 2 * block + 1)):
            if b0 + z <= seconds:
                captions.append(Caption(_CAPTIONS[n % len(_CAPTIONS)], b0 + a, b0 + z))
        if block % 2 == 0 and b0 + 11.0 <= seconds:
            faces.append(FaceOverlay(b0 + 6.0, b0 + 11.0))
        if b0 + 29.0 <= seconds:
            music.append(MusicSegment(b0 + 24.5, 4.5))
        block += 1
    return ClipSpec(
        scenes=tuple(scenes),
        speech=tuple(speech),
        captions=tuple(captions),
        faces=tuple(faces),
        music=tuple(music),
    )
