"""WebVTT and SRT from the transcript; a WebVTT chapters track."""

from __future__ import annotations

from aiwork.model.metadata import Metadata


def _stamp(seconds: float, comma: bool = False) -> str:
    millis = int(round(max(seconds, 0.0) * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    sep = "," if comma else "."
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


def _cue_text(text: str) -> str:
    # A cue may not contain "-->" or a blank line; & and < must be escaped in WebVTT.
    text = " ".join(text.replace("-->", "->").split())
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cues(metadata: Metadata) -> list[tuple[float, float, str]]:
    cues = []
    if metadata.transcript is not None:
        for segment in metadata.transcript.segments:
            for inst in segment.instances:
                if segment.text.strip() and inst.end > inst.start:
                    cues.append((inst.start, inst.end, segment.text.strip()))
    return sorted(cues)


def captions_vtt(metadata: Metadata) -> str:
    lines = ["WEBVTT", ""]
    for number, (start, end, text) in enumerate(_cues(metadata), start=1):
        lines += [str(number), f"{_stamp(start)} --> {_stamp(end)}", _cue_text(text), ""]
    return "\n".join(lines)


def captions_srt(metadata: Metadata) -> str:
    lines: list[str] = []
    for number, (start, end, text) in enumerate(_cues(metadata), start=1):
        plain = " ".join(text.split())
        lines += [str(number), f"{_stamp(start, True)} --> {_stamp(end, True)}", plain, ""]
    return "\n".join(lines)


def chapters_vtt(metadata: Metadata) -> str:
    lines = ["WEBVTT", ""]
    for chapter in metadata.chapters:
        for inst in chapter.instances:
            lines += [f"chapter-{chapter.id + 1}", f"{_stamp(inst.start)} --> {_stamp(inst.end)}",
                      _cue_text(chapter.title), ""]
    return "\n".join(lines)
