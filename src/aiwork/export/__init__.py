"""Standard exports of a video's metadata: schema.org JSON-LD, WebVTT, SRT, TTML."""

from aiwork.export.captions import (
    CAPTION_FORMATS,
    caption_cues,
    captions_srt,
    captions_ttml,
    captions_vtt,
    chapters_vtt,
)
from aiwork.export.jsonld import check_base_url, to_jsonld

__all__ = ["CAPTION_FORMATS", "caption_cues", "captions_srt", "captions_ttml", "captions_vtt",
           "chapters_vtt", "check_base_url", "to_jsonld"]
