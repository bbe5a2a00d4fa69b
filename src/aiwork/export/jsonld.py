"""schema.org ``VideoObject`` JSON-LD, chapters as ``hasPart`` ``Clip``s."""

from __future__ import annotations

from typing import Any

from aiwork.model.metadata import Metadata


def _iso_duration(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    frac = seconds - whole
    sec_text = f"{secs + frac:.3f}".rstrip("0").rstrip(".")
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + f"{sec_text}S"


def to_jsonld(metadata: Metadata, *, content_url: str | None = None) -> dict[str, Any]:
    asset = metadata.asset
    doc: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "VideoObject",
        "name": asset.name,
        "identifier": asset.digest,
        "contentSize": str(asset.size),
    }
    if content_url:
        doc["contentUrl"] = content_url
    if asset.media_type:
        doc["encodingFormat"] = asset.media_type
    tech = metadata.technical
    if tech is not None:
        doc["duration"] = _iso_duration(tech.duration)
        if tech.width and tech.height:
            doc["width"] = {"@type": "QuantitativeValue", "value": tech.width, "unitCode": "E37"}
            doc["height"] = {"@type": "QuantitativeValue", "value": tech.height, "unitCode": "E37"}
            doc["videoFrameSize"] = f"{tech.width}x{tech.height}"
        if tech.bitrate:
            doc["bitrate"] = f"{tech.bitrate / 1000:.0f} kbps"
    if metadata.language is not None and (metadata.language.spoken or metadata.language.text):
        doc["inLanguage"] = metadata.language.spoken or metadata.language.text
    if metadata.transcript is not None and metadata.transcript.segments:
        doc["transcript"] = " ".join(s.text.strip() for s in metadata.transcript.segments)
    if metadata.keywords:
        doc["keywords"] = [k.text for k in metadata.keywords]
    if metadata.shots and metadata.shots[0].keyframe is not None:
        doc["thumbnailUrl"] = metadata.shots[0].keyframe.file
    if metadata.chapters:
        doc["hasPart"] = [
            {
                "@type": "Clip",
                "name": chapter.title,
                "position": chapter.id + 1,
                "startOffset": round(inst.start, 3),
                "endOffset": round(inst.end, 3),
            }
            for chapter in metadata.chapters
            for inst in chapter.instances[:1]
        ]
    return doc
