"""Standard exports of a video's metadata: schema.org JSON-LD, WebVTT, SRT."""

from aiwork.export.captions import chapters_vtt, captions_srt, captions_vtt
from aiwork.export.jsonld import to_jsonld

__all__ = ["captions_srt", "captions_vtt", "chapters_vtt", "to_jsonld"]
