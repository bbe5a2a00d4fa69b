"""The metadata format aiwork publishes for a video (schema version below).

Video-Indexer-like: an *insight* (``shots``, ``transcript``, ``ocr`` ...) holds *items*; an
item holds *instances*, each a time range in seconds (``start``, ``end``) with a
``confidence``. Every item carries ``decision``: the ledger index of the signed
``ai.decision`` entry that produced it, so each field traces to proof.

The JSON Schema of this format is :func:`json_schema` (``aiwork schema`` prints it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aiwork.model.names import KeyframeFile, Sha256Digest

__all__ = [
    "SCHEMA_VERSION",
    "AssetInfo",
    "AudioEvent",
    "Chapter",
    "Face",
    "FaceDetection",
    "Instance",
    "Keyframe",
    "Keyword",
    "Language",
    "Metadata",
    "OcrBox",
    "OcrText",
    "SafetyFlag",
    "Shot",
    "ShotTransition",
    "SpokenLanguage",
    "StaleInsight",
    "Tag",
    "Technical",
    "Transcript",
    "TranscriptSegment",
    "Word",
    "json_schema",
    "stale_insights",
]

SCHEMA_VERSION = "1.1"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Instance(_Model):
    """Where an item occurs: seconds from the start of the video."""

    start: float = Field(ge=0)
    end: float = Field(ge=0)
    confidence: float | None = Field(default=None, ge=0, le=1)


class _Item(_Model):
    id: int = Field(ge=0, description="position of the item within its insight")
    decision: int | None = Field(
        default=None, description="ledger index of the ai.decision entry that made this item"
    )
    confidence: float | None = Field(default=None, ge=0, le=1)
    instances: list[Instance] = Field(default_factory=list)


class AssetInfo(_Model):
    digest: str = Field(description="sha256 of the file's bytes: the asset's identity")
    name: str
    size: int = Field(ge=0)
    media_type: str | None = None
    registered: int | None = Field(default=None, description="ledger index of asset.registered")
    uploaded: str | None = Field(
        default=None, description="when the video came to aiwork (UTC, RFC 3339): the time of "
        "its asset.registered entry, or of the job a coordinator ran over it; the JSON-LD's "
        "uploadDate")


class Technical(_Model):
    container: str
    duration: float = Field(ge=0)
    size: int = Field(ge=0)
    bitrate: int | None = None
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    frame_count: int | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    decision: int | None = None


class Keyframe(_Model):
    time: float = Field(ge=0)
    file: KeyframeFile = Field(description="keyframes/ and a plain file name (no separator, "
                                           "no leading '.', no control character, at most 128 "
                                           "characters): where the keyframe is in the video's "
                                           "output folder")
    digest: Sha256Digest = Field(description="sha256 of the keyframe's bytes")


class ShotTransition(_Model):
    """How a shot begins: a hard ``cut`` (start = end), or a gradual ``dissolve`` or ``fade``
    (through black) spanning ``start`` to ``end``; the shot's instance starts at its middle."""

    kind: Literal["cut", "dissolve", "fade"]
    start: float = Field(ge=0)
    end: float = Field(ge=0)


class Shot(_Item):
    keyframe: Keyframe | None = None
    transition: ShotTransition | None = Field(
        default=None, description="how the shot begins (none for the first shot)")


class Word(_Model):
    text: str
    start: float
    end: float
    confidence: float | None = None


class TranscriptSegment(_Item):
    text: str
    language: str | None = Field(default=None, description="ISO 639-1 code of the speech")
    language_confidence: float | None = Field(
        default=None, ge=0, le=1,
        description="probability of that language as identified (None: assumed or set)")
    words: list[Word] = Field(default_factory=list)


class SpokenLanguage(_Model):
    """A stretch of speech in one language, and how it was transcribed."""

    start: float = Field(ge=0)
    end: float = Field(ge=0)
    language: str = Field(description="ISO 639-1 code, as identified")
    confidence: float | None = Field(default=None, ge=0, le=1)
    served: bool = Field(description="false: a language the models do not serve well, or "
                         "identified with too little confidence; not transcribed")
    model: str | None = Field(default=None, description="the model that transcribed it")


class Transcript(_Model):
    language: str | None = Field(default=None, description="the language spoken longest")
    language_confidence: float | None = None
    model: str | None = None
    segments: list[TranscriptSegment] = Field(default_factory=list)
    languages: list[SpokenLanguage] = Field(
        default_factory=list,
        description="the spoken language, stretch by stretch, where it was identified")


class OcrBox(_Model):
    """A text box in relative coordinates (0..1) of the frame, at one time."""

    time: float
    x: float
    y: float
    width: float
    height: float


class OcrText(_Item):
    text: str
    boxes: list[OcrBox] = Field(default_factory=list)


class FaceDetection(_Model):
    time: float
    x: float
    y: float
    width: float
    height: float
    confidence: float | None = None


class Face(_Item):
    """Presence of faces over time; counted, never identified."""

    max_count: int = 0
    detections: list[FaceDetection] = Field(default_factory=list)


class Tag(_Item):
    label: str
    source: str = Field(description="taxonomy and class, e.g. imagenet:n02123045")


class SafetyFlag(_Item):
    category: str = Field(description="one of the documented risk categories")
    level: str = Field(description="none | low | medium | high")
    source: str = Field(description="visual | transcript")
    evidence: dict[str, Any] = Field(default_factory=dict)


class AudioEvent(_Item):
    label: str = Field(description="speech | music | silence")


class Keyword(_Item):
    text: str
    score: float = Field(description="YAKE score: lower is more relevant")


class Chapter(_Item):
    title: str
    keywords: list[str] = Field(default_factory=list)


class Language(_Model):
    spoken: str | None = None
    spoken_confidence: float | None = None
    text: str | None = None
    text_confidence: float | None = None
    decision: int | None = None


class StaleInsight(_Model):
    """An insight computed from an upstream value that has since changed: it describes the
    old value until it is computed again."""

    insight: str
    decision: int | None = Field(default=None, description="its own decision")
    upstream: str = Field(description="the upstream insight that changed")
    used: int | None = Field(default=None, description="the upstream decision it was computed from")
    current: int | None = Field(default=None, description="the upstream's decision now")
    reason: str


class Metadata(_Model):
    """Everything aiwork knows about one video, in the published layout."""

    schema_version: str = SCHEMA_VERSION
    asset: AssetInfo
    technical: Technical | None = None
    shots: list[Shot] = Field(default_factory=list)
    transcript: Transcript | None = None
    ocr: list[OcrText] = Field(default_factory=list)
    faces: list[Face] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list)
    custom_tags: list[Tag] = Field(
        default_factory=list,
        description="a platform's own tags (source custom:LABEL), from its trained custom tags "
        "model; empty unless that analyzer ran")
    safety: list[SafetyFlag] = Field(default_factory=list)
    audio_events: list[AudioEvent] = Field(default_factory=list)
    keywords: list[Keyword] = Field(default_factory=list)
    chapters: list[Chapter] = Field(default_factory=list)
    language: Language | None = None
    stale: list[StaleInsight] = Field(
        default_factory=list,
        description="insights computed from an upstream value that has changed since "
        "(re-run, other model, or an expert's correction); empty when all are current")


def stale_insights(decisions: Mapping[str, int], derived: Mapping[str, Any],
                   corrected: Mapping[str, int] | None = None) -> list[StaleInsight]:
    """Which insights are stale. ``decisions``: each insight's current decision;
    ``derived``: each insight's ``derived_from`` list (``None`` when unknown);
    ``corrected``: insights whose value an expert consensus changed (insight -> the
    consensus entry's index; what was computed before that entry is stale). An insight computed from a stale one is stale
    too."""
    corrected = corrected or {}
    found: dict[str, StaleInsight] = {}
    for insight, refs in sorted(derived.items()):
        for ref in refs or []:
            upstream, used = str(ref.get("insight")), ref.get("decision")
            current = decisions.get(upstream)
            if current != used:
                reason = (f"{upstream} has a newer decision {current}" if current is not None
                          else f"{upstream} decision {used} is no longer current")
            elif corrected.get(upstream, -1) > (decisions.get(insight) or -1):
                reason = (f"{upstream} was corrected by expert review (consensus "
                          f"{corrected[upstream]})")
            else:
                continue
            found.setdefault(insight, StaleInsight(
                insight=insight, decision=decisions.get(insight), upstream=upstream,
                used=used, current=current, reason=reason))
    changed = True
    while changed:
        changed = False
        for insight, refs in sorted(derived.items()):
            if insight in found:
                continue
            for ref in refs or []:
                upstream = str(ref.get("insight"))
                if upstream in found:
                    found[insight] = StaleInsight(
                        insight=insight, decision=decisions.get(insight), upstream=upstream,
                        used=ref.get("decision"), current=decisions.get(upstream),
                        reason=f"{upstream} is stale")
                    changed = True
                    break
    return [found[name] for name in sorted(found)]


def json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of :class:`Metadata`."""
    schema = Metadata.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://aiwork.dev/schema/metadata/{SCHEMA_VERSION}"
    return schema
