"""schema.org ``VideoObject`` JSON-LD, chapters as ``hasPart`` ``Clip``s.

It carries what Google's video rich results require (``name``, ``description``,
``thumbnailUrl``, ``uploadDate``) and recommend (``contentUrl``, ``duration`` in ISO 8601,
``hasPart`` clips each with a ``url`` to its start). URLs are absolute when the place the
files are served from is known: ``thumbnailUrl`` resolves the keyframe file against
``base_url``, and each ``Clip``'s ``url`` is ``contentUrl`` with a W3C Media Fragment
(``#t=start,end``, seconds).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from aiwork.errors import InputError
from aiwork.model.metadata import Metadata

__all__ = ["check_base_url", "to_jsonld"]


def check_base_url(url: str) -> str:
    """A base URL as given (``http``/``https``, a host, no query, no fragment), without its
    trailing ``/``; anything else is refused."""
    parsed = urlsplit(url)
    if (parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query
            or parsed.fragment or any(c.isspace() or ord(c) < 32 for c in url)
            or len(url) > 2000):
        raise InputError(f"{url!r} is not a base URL",
                         hint="give an absolute http:// or https:// URL without ?query or "
                              "#fragment, e.g. https://media.example.org/videos")
    return url.rstrip("/")


def _iso_duration(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    frac = seconds - whole
    sec_text = f"{secs + frac:.3f}".rstrip("0").rstrip(".")
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + f"{sec_text}S"


def _seconds(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _under(base_url: str, path: str) -> str:
    """``path`` (a relative, ``/``-separated file path) under ``base_url``, each segment
    percent-encoded."""
    return base_url.rstrip("/") + "/" + "/".join(quote(part, safe="") for part in
                                                 path.split("/"))


def _description(metadata: Metadata) -> str:
    """A plain description (Google requires one): the transcript's opening, else what the
    analyzers found."""
    if metadata.transcript is not None:
        text = " ".join(s.text.strip() for s in metadata.transcript.segments if s.text.strip())
        if text:
            return text if len(text) <= 300 else text[:297].rsplit(" ", 1)[0] + "…"
    found = []
    if metadata.technical is not None:
        found.append(f"{_seconds(round(metadata.technical.duration, 1))} s video")
    if metadata.shots:
        found.append(f"{len(metadata.shots)} shots")
    if metadata.keywords:
        found.append("keywords: " + ", ".join(k.text for k in metadata.keywords[:5]))
    return f"{metadata.asset.name}" + (f": {'; '.join(found)}" if found else "")


def to_jsonld(metadata: Metadata, *, content_url: str | None = None,
              base_url: str | None = None, keyframe_url: dict[str, str] | None = None
              ) -> dict[str, Any]:
    """The VideoObject of ``metadata``. ``content_url``: the video's own URL (``contentUrl``
    and each clip's ``url``); ``base_url``: the URL the output folder is served from
    (keyframes become absolute under it); ``keyframe_url``: a keyframe's URL by its digest,
    where keyframes are served by digest (the coordinator's blobs)."""
    asset = metadata.asset
    doc: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "VideoObject",
        "name": asset.name,
        "description": _description(metadata),
        "identifier": asset.digest,
        "contentSize": str(asset.size),
    }
    if asset.uploaded:
        doc["uploadDate"] = asset.uploaded
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
    keyframes = [s.keyframe for s in metadata.shots if s.keyframe is not None]
    if keyframes:
        first = keyframes[0]
        if keyframe_url and first.digest in keyframe_url:
            doc["thumbnailUrl"] = keyframe_url[first.digest]
        elif base_url:
            doc["thumbnailUrl"] = _under(base_url, first.file)
        else:  # relative to the output folder: where metadata.jsonld itself is
            doc["thumbnailUrl"] = first.file
    if metadata.chapters:
        doc["hasPart"] = [
            {
                "@type": "Clip",
                "name": chapter.title,
                "position": chapter.id + 1,
                "startOffset": round(inst.start, 3),
                "endOffset": round(inst.end, 3),
                **({"url": f"{content_url.split('#')[0]}#t={_seconds(inst.start)},{_seconds(inst.end)}"}
                   if content_url else {}),
            }
            for chapter in metadata.chapters
            for inst in chapter.instances[:1]
        ]
    return doc
