"""The output layout of one video: metadata.json, metadata.jsonld, captions (WebVTT, SRT,
TTML), chapters.vtt and keyframes/, written under one folder whose name is checked."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from aiwork.digests import sha256_bytes
from aiwork.errors import InputError, IntegrityError
from aiwork.export.captions import CAPTION_FORMATS, captions_srt, captions_ttml, captions_vtt, chapters_vtt
from aiwork.export.jsonld import check_base_url, to_jsonld
from aiwork.model.metadata import Metadata
from aiwork.model.names import MAX_NAME_CHARS, check_file_name, inside, plain_name, write_inside

__all__ = ["EXPORTS", "caption_formats", "claim_folder", "export_files", "folder_name",
           "read_metadata", "write_outputs"]


#: The text files of the output layout, and their media types.
EXPORTS = {
    "metadata.json": "application/json",
    "metadata.jsonld": "application/ld+json",
    "captions.vtt": "text/vtt",
    "captions.srt": "application/x-subrip",
    "captions.ttml": "application/ttml+xml",
    "chapters.vtt": "text/vtt",
}

_CAPTION_WRITERS: dict[str, Callable[[Metadata], str]] = {
    "vtt": captions_vtt, "srt": captions_srt, "ttml": captions_ttml}


def caption_formats(text: str) -> tuple[str, ...]:
    """``--caption-format``: a comma-separated list of vtt, srt, ttml (in that order)."""
    chosen = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = chosen - set(CAPTION_FORMATS)
    if unknown or not chosen:
        raise InputError(f"unknown caption format {', '.join(sorted(unknown)) or text!r}",
                         hint="give one or more of vtt, srt, ttml, comma-separated")
    return tuple(f for f in CAPTION_FORMATS if f in chosen)


def export_files(metadata: Metadata, *, caption_formats: Sequence[str] = ("vtt", "srt"),
                 base_url: str | None = None, content_url: str | None = None,
                 keyframe_url: Mapping[str, str] | None = None) -> dict[str, str]:
    """The text files of the output layout (see :data:`EXPORTS`), by name: the caption
    files of ``caption_formats``. ``base_url``: where this output folder is served (the
    JSON-LD's keyframe URLs become absolute under it); ``content_url``: the video's URL;
    ``keyframe_url``: a keyframe's URL by its digest (see :func:`aiwork.export.to_jsonld`)."""
    jsonld = to_jsonld(metadata, content_url=content_url, base_url=base_url,
                       keyframe_url=dict(keyframe_url) if keyframe_url else None)
    files = {
        "metadata.json": json.dumps(metadata.model_dump(mode="json"), indent=2,
                                    ensure_ascii=False) + "\n",
        "metadata.jsonld": json.dumps(jsonld, indent=2, ensure_ascii=False) + "\n",
    }
    for fmt in CAPTION_FORMATS:
        if fmt in caption_formats:
            files[CAPTION_FORMATS[fmt]] = _CAPTION_WRITERS[fmt](metadata)
    files["chapters.vtt"] = chapters_vtt(metadata)
    return files


def read_metadata(doc: Any, source: str) -> Metadata:
    """A metadata document that came from elsewhere (a coordinator), checked against the
    published schema — keyframe names included — before anything of it is used."""
    try:
        return Metadata.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InputError(f"{source}: the results do not match the metadata schema "
                         f"({exc.error_count()} problems; {where}: {first['msg']})") from None


def write_outputs(metadata: Metadata, folder: Path,
                  keyframe: Callable[[str], bytes], *,
                  caption_formats: Sequence[str] = ("vtt", "srt"),
                  base_url: str | None = None) -> Path:
    """Write the public output layout for one video: metadata.json, metadata.jsonld,
    captions.vtt, captions.srt (captions.ttml: the ``caption_formats`` asked for),
    chapters.vtt and keyframes/ (``keyframe`` fetches a file's bytes by digest; bytes that
    are not that digest are refused). ``base_url``: the public URL the output folders are
    served from, with the videos beside them: the JSON-LD names the video as
    ``BASE/FILE`` and this folder's keyframes as ``BASE/FOLDER/keyframes/...``.

    Every name is resolved under ``folder`` before anything is written
    (:func:`aiwork.model.names.inside`): a keyframe file named outside it is refused, even
    one that got past the schema, and nothing of this video is written then."""
    content_url = folder_url = None
    if base_url:
        base = check_base_url(base_url)
        content_url = f"{base}/{quote(metadata.asset.name, safe='')}"
        folder_url = f"{base}/{quote(folder.name, safe='')}"
    files: dict[str, str | None] = dict(export_files(
        metadata, caption_formats=caption_formats, base_url=folder_url,
        content_url=content_url))
    frames: dict[str, str] = {}
    for shot in metadata.shots:
        if shot.keyframe is not None:
            if frames.setdefault(shot.keyframe.file, shot.keyframe.digest) != shot.keyframe.digest:
                raise IntegrityError(f"two keyframes are named {shot.keyframe.file} with "
                                     "different digests")
    for name in [*files, *frames]:
        inside(folder, name)
    folder.mkdir(parents=True, exist_ok=True)
    for name, digest in frames.items():
        data = keyframe(digest)
        if sha256_bytes(data) != digest:
            raise IntegrityError(f"the bytes fetched for keyframe {name} are not {digest}")
        write_inside(folder, name, data)
    for name, text in files.items():
        assert text is not None
        write_inside(folder, name, text)
    return folder


def folder_name(path: Path) -> str:
    """The output folder's name for a local video: its file name without the suffix, made a
    plain file name (see :func:`aiwork.model.names.plain_name`)."""
    return plain_name(path.stem or path.name)


def claim_folder(out: Path, name: str, digest: str, claimed: set[Path]) -> Path:
    """The folder under ``out`` for one video's outputs: ``out/name``, or ``out/name-2``,
    ``-3``... when that folder is taken — by another video of this batch (``claimed``, which
    the folder is added to) or by another video's earlier outputs (its metadata.json names
    another digest, or it holds no metadata.json at all). The same video goes back to its
    own folder."""
    base = check_file_name(name)
    for n in range(1, 10_000):
        candidate = inside(out, base if n == 1 else f"{base[:MAX_NAME_CHARS - 6]}-{n}")
        if candidate in claimed:
            continue
        if candidate.exists() and _outputs_of(candidate) != digest:
            continue
        claimed.add(candidate)
        return candidate
    raise InputError(f"{out}: no free folder name for {name!r}")


def _outputs_of(folder: Path) -> str | None:
    """The asset digest a folder of outputs holds (None: not one)."""
    try:
        doc = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
        digest = doc["asset"]["digest"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return digest if isinstance(digest, str) else None
