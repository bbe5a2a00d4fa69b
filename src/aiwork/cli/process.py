"""``aiwork process``, ``aiwork show``, ``aiwork analyzers``, ``aiwork schema``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from typing import TYPE_CHECKING, Any

from aiwork.cli.options import (close_to_others, db_option, renamed, resolve_db,
                                weights_given_option, weights_settings)
from aiwork.errors import AnalyzerUnavailable, InputError

if TYPE_CHECKING:
    from aiwork.pipeline.process import VideoReport


def _settings(model: str | None, ocr_every: float | None,
              given: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    settings: dict[str, dict[str, Any]] = given
    if model:
        settings["transcript"] = {**settings.get("transcript", {}), "model": model}
    if ocr_every:
        settings["ocr"] = {"every_seconds": ocr_every}
    return settings


def _summary(report: VideoReport) -> str:
    if report.status == "failed":
        return f"failed: {report.error}"
    md = report.metadata
    assert md is not None
    words = sum(len(s.words) for s in md.transcript.segments) if md.transcript else 0
    parts = [
        f"{len(md.shots)} shots",
        f"{words} words" + (f" ({md.language.spoken})" if md.language and md.language.spoken else ""),
        f"{len(md.ocr)} on-screen texts",
        f"faces {'yes' if md.faces else 'no'}",
        f"{len(md.tags)} tags",
        f"{len(md.safety)} safety flags",
        f"{len(md.keywords)} keywords",
        f"{len(md.chapters)} chapters",
    ]
    ran = f"ran {len(report.ran)} analyzers" if report.ran else "nothing new to run"
    return f"{report.status} ({ran}): " + ", ".join(parts)


@click.command("process")
@click.argument("videos", nargs=-1, required=True,
                type=click.Path(path_type=Path, readable=False))  # each is checked alone
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write metadata.json, metadata.jsonld, captions and keyframes per video here.")
@click.option("--analyzers", "names", help="Comma-separated analyzers (default: all but custom_tags, which runs when named).")
@click.option("--force", is_flag=True, help="Re-run analyzers that already ran on a video.")
@click.option("--model", help="Speech model: auto (default: the spoken language is identified, "
              "English goes to tiny.en, other languages to base), tiny.en, base, or a local "
              "model folder (one model for the whole file).")
@click.option("--ocr-every", type=float, help="Seconds between frames read by OCR.")
@click.option("--caption-format", "caption_format", default="vtt,srt", show_default=True,
              metavar="FORMATS",
              help="Caption files written with --out: vtt, srt, ttml (TTML IMSC1), "
                   "comma-separated.")
@click.option("--base-url", metavar="URL",
              help="The public URL the --out folder is served from, with the videos beside "
                   "their output folders (URL/FILE, URL/FOLDER/): the JSON-LD's contentUrl, "
                   "thumbnailUrl and clip URLs become absolute.")
@weights_given_option
@db_option
def process_cmd(videos: tuple[Path, ...], out: Path | None, names: str | None, force: bool,
                model: str | None, ocr_every: float | None, caption_format: str,
                base_url: str | None, weights: tuple[str, ...], db: str | None) -> None:
    """Analyze VIDEOS (files or folders); every AI output is a signed ledger decision."""
    from aiwork.cli.progress import RichProgress
    from aiwork.export import check_base_url
    from aiwork.export.layout import caption_formats, folder_name
    from aiwork.pipeline.process import ProcessOptions, Processor, expand_inputs

    formats = caption_formats(caption_format)
    if base_url is not None:
        base_url = check_base_url(base_url)
    paths = expand_inputs(videos)
    if not paths:
        raise InputError("no video files found in " + ", ".join(map(str, videos)))
    options = ProcessOptions(
        analyzers=[n.strip() for n in names.split(",") if n.strip()] if names else None,
        force=force, settings=_settings(model, ocr_every, weights_settings(weights)),
        caption_formats=formats,
        base_url=base_url,
    )
    close_to_others(resolve_db(db))
    failed = 0
    from aiwork.search.semantic import load_semantic

    try:
        semantic, no_semantic = load_semantic(), ""
    except AnalyzerUnavailable as exc:
        semantic, no_semantic = None, str(exc)
    with RichProgress() as progress, Processor(options, db=db, progress=progress,
                                               semantic=semantic) as processor:
        if no_semantic:
            progress.note(f"search by meaning off: {no_semantic}")
        for name, reason in processor.unavailable.items():
            progress.note(f"analyzer {name} skipped: {reason}")
        for path in paths:
            report = processor.process(path, out)
            progress.note(f"{path}: {_summary(report)}")
            if report.stale and report.metadata is not None:
                for item in report.metadata.stale:
                    progress.note(f"  {item.insight} is stale: {item.reason}; run `aiwork "
                                  f"process {path} --analyzers {item.insight}` to recompute it")
            if report.out_dir is not None:
                progress.note(f"  outputs in {report.out_dir}"
                              f"{renamed(report.out_dir, folder_name(path))}")
            failed += report.status == "failed"
    if failed:
        raise SystemExit(1)


@click.command("show")
@click.argument("video_or_digest")
@click.option("--insight", help="Print only this top-level key (e.g. transcript, shots).")
@db_option
def show_cmd(video_or_digest: str, insight: str | None, db: str | None) -> None:
    """Print the stored metadata of a processed video (path, file name or sha256)."""
    from aiwork.ledger.home import open_ledger
    from aiwork.ledger.log import Log
    from aiwork.pipeline.process import find_metadata

    path = resolve_db(db)
    if not Log.is_ledger(path):  # read-only: an empty home stays empty
        raise InputError(f"{video_or_digest}: not processed yet (no store at {path})",
                         hint="run `aiwork process` on it first, or point --db or "
                              "AIWORK_HOME at the store that holds it")
    with open_ledger(path) as log:
        metadata = find_metadata(log, video_or_digest).model_dump(mode="json")
    if insight:
        if insight not in metadata:
            raise InputError(f"no insight {insight!r}", hint=f"one of: {', '.join(metadata)}")
        metadata = metadata[insight]
    click.echo(json.dumps(metadata, indent=2, ensure_ascii=False))


@click.command("analyzers")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per analyzer.")
@db_option
def analyzers_cmd(as_json: bool, db: str | None) -> None:
    """List the analyzers with their models, versions and weight digests: the promoted
    version of each (aiwork models promote) where there is one."""
    from aiwork import analyzers
    from aiwork.analyzers.store import ModelStore
    from aiwork.errors import ModelStoreError
    from aiwork.pipeline.promoted import promoted_settings

    settings: dict[str, dict[str, object]] = {}
    broken: dict[str, str] = {}
    for name in analyzers.REGISTRY:  # one promoted version missing leaves the others listed
        try:
            settings.update(promoted_settings(resolve_db(db), [name], {}, ModelStore.default()))
        except ModelStoreError as exc:
            broken[name] = exc.diagnostics()
    for item in analyzers.availability(None, settings):
        if item.name in broken:
            row = {"name": item.name, "available": False, "reason": broken[item.name]}
        elif item.analyzer is None:
            row = {"name": item.name, "available": False, "reason": item.reason}
        else:
            a = item.analyzer
            row = {"name": a.name, "available": True, "version": a.version, "insight": a.insight,
                   "model": a.model().to_json()}
        if as_json:
            click.echo(json.dumps(row))
        elif row["available"]:
            m = row["model"]
            assert isinstance(m, dict)
            click.echo(f"{row['name']:<13} v{row['version']:<3} {m['name']} {m['version']} "
                       f"{m['weights_digest'] or '(no weights)'}")
        else:
            click.echo(f"{row['name']:<13} unavailable: {row['reason']}")


@click.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of metadata.json."""
    from aiwork.model.metadata import json_schema

    click.echo(json.dumps(json_schema(), indent=2))
