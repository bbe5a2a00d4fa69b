"""``aiwork search``, ``aiwork videos`` and ``aiwork index rebuild``: the embedded store's
library (:mod:`aiwork.pipeline.library`)."""

from __future__ import annotations

import json
from typing import Literal

import click

from aiwork.cli.options import db_option, resolve_db
from aiwork.errors import InputError
from aiwork.search.index import MAX_LIMIT, Hit

__all__ = ["index_group", "search_cmd", "timecode", "videos_cmd"]

_NO_STORE_HINT = ("run `aiwork process` on a video first, or point --db or AIWORK_HOME at the "
                  "store that holds them")


def timecode(seconds: float | None) -> str:
    """``HH:MM:SS.mmm``; ``-`` for no time."""
    if seconds is None:
        return "-"
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}"


def _marked(hit: Hit) -> str:
    """The passage's text with each match between ``[`` and ``]``."""
    text, out, at = hit.passage.text, [], 0
    for start, end in hit.highlights:
        out += [text[at:start], "[", text[start:end], "]"]
        at = end
    out.append(text[at:])
    return "".join(out)


@click.command("search")
@click.argument("query")
@click.option("--insight", "insights", metavar="LIST",
              help="Comma-separated insights to search: transcript, ocr, keywords, chapters, "
                   "tags, custom_tags, name (default: all).")
@click.option("--video", "videos", multiple=True, metavar="V",
              help="Only this video (file name, path or sha256); may be repeated.")
@click.option("--semantic", "mode", flag_value="semantic",
              help="Search by meaning only (needs the embedding model).")
@click.option("--text", "mode", flag_value="text", help="Search by words only.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object: {query, mode, hits: [...]} (see README).")
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=20, show_default=True,
              help="Hits to show.")
@db_option
def search_cmd(query: str, insights: str | None, videos: tuple[str, ...],
               mode: Literal["text", "semantic"] | None, as_json: bool, limit: int,
               db: str | None) -> None:
    """Find the moments of the processed videos that match QUERY: words (all must match),
    "quoted phrases", prefix* ; diacritics do not matter."""
    from aiwork.ledger.home import open_ledger
    from aiwork.ledger.log import Log
    from aiwork.pipeline.library import search_library, semantic_notice

    path = resolve_db(db)
    if not Log.is_ledger(path):
        raise InputError(f"nothing to search: no store at {path}", hint=_NO_STORE_HINT)
    chosen = mode or "hybrid"
    with open_ledger(path) as log:
        hits = search_library(log, query, insights=insights, videos=videos, mode=chosen,
                              limit=limit)
        notice = semantic_notice(log) if chosen != "text" else None
    if notice:
        click.echo(f"note: {notice}", err=True)
    if as_json:
        click.echo(json.dumps({"query": query, "mode": chosen,
                               "hits": [hit.to_json() for hit in hits]}, ensure_ascii=False))
        return
    if not hits:
        click.echo(f"no match for {query!r}", err=True)
        return
    for hit in hits:
        p = hit.passage
        when = (f"{timecode(p.start)}-{timecode(p.end)}" if p.start is not None
                else "(file name)" if p.insight == "name" else "-")
        if hit.moment is not None and p.start is not None and hit.moment != p.start:
            when += f" (heard at {timecode(hit.moment)})"
        item = f" item {p.item}" if p.item is not None else ""
        decision = f"decision {p.decision}" if p.decision is not None else "no decision"
        click.echo(f"{hit.video_name or p.video}  {p.insight}{item}  {when}"
                   f"  score {hit.score:.4g}  {decision}")
        click.echo(f"    {_marked(hit)}")


@click.command("videos")
@click.option("--json", "as_json", is_flag=True,
              help="A JSON list: {name, digest, size, duration, registered, insights: "
                   "[{insight, analyzer, decision, state, items}]} per video.")
@db_option
def videos_cmd(as_json: bool, db: str | None) -> None:
    """List the processed videos: name, digest, duration, insights and their state."""
    from aiwork.ledger.home import open_ledger
    from aiwork.ledger.log import Log
    from aiwork.pipeline.library import videos

    path = resolve_db(db)
    if not Log.is_ledger(path):  # read-only: an empty home stays empty
        if as_json:
            click.echo("[]")
        else:
            click.echo(f"no videos processed yet (no store at {path})", err=True)
        return
    with open_ledger(path) as log:
        found = videos(log)
    if as_json:
        click.echo(json.dumps([v.to_json() for v in found], ensure_ascii=False))
        return
    if not found:
        click.echo("no videos processed yet", err=True)
    for video in found:
        duration = timecode(video.duration) if video.duration is not None else "?"
        click.echo(f"{video.name}  {video.digest}  {duration}")
        states = ", ".join(f"{s.insight} ({s.state}, {s.items} items, decision {s.decision})"
                           for s in video.insights)
        click.echo(f"    {states or 'no insights yet'}")


@click.group("index")
def index_group() -> None:
    """The library search index of the embedded store."""


@index_group.command("rebuild")
@db_option
def rebuild_cmd(db: str | None) -> None:
    """Rebuild the search index from the stored results (in one transaction)."""
    from aiwork.ledger.home import open_ledger
    from aiwork.ledger.log import Log
    from aiwork.pipeline.library import rebuild_index

    path = resolve_db(db)
    if not Log.is_ledger(path):
        raise InputError(f"no store at {path} to index", hint=_NO_STORE_HINT)
    with open_ledger(path) as log:
        count = rebuild_index(log)
    click.echo(f"indexed {count} passages")
