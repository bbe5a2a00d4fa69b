"""``aiwork dataset export``: the review engine's decided items as a dataset.

Each row is one decided review item (accepted, corrected or rejected) with the AI's value
beside the final one, where in which video it is (asset digest, time range, keyframe digest),
and the ledger indices behind it (the decision, the verdicts, the consensus). Rows are split
by video: the sha256 of the asset digest picks train, validation or test, so no video is in
two splits. A sensitive library's items are exported only for its owner and its readers, each
of its jobs read logged as an ``access.read`` entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from aiwork.canonical import canonical_bytes
from aiwork.coordinator.libraries import Libraries
from aiwork.coordinator.review.items import kept_in
from aiwork.crypto import SigningKey
from aiwork.digests import sha256_bytes, sha256_file
from aiwork.errors import InputError, RoleError
from aiwork.dataset.released import RELEASED_FILE
from aiwork.export.captions import vtt_cue_text, vtt_stamp
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.market.engine import Market
from aiwork.model.commitment import commit

__all__ = ["FORMATS", "SEALED_FILE", "SPLITS", "ExportResult", "export", "release",
           "split_of"]

#: The formats ``aiwork dataset export`` writes.
FORMATS = ("jsonl", "parquet", "hf", "webvtt")
SPLITS = ("train", "validation", "test")
#: The file of an export folder holding the opening of its ``dataset.released`` entry's
#: ``sealed_consensus`` (when it holds sensitive libraries' items): ``{"released": INDEX,
#: "sealed_consensus": {"value": [consensus entries], "salt": HEX}}``.
SEALED_FILE = "sealed-consensus.json"
#: What a dataset's exports say they were read for (the access log's purpose).
PURPOSE = "a dataset export of validated items"
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")
COLUMNS = ("id", "insight", "job", "library", "asset", "start", "end", "keyframe", "question",
           "ai_value", "outcome", "final_value", "decision", "verdicts", "consensus", "split")


def split_of(asset: str) -> str:
    """The split of every item of the video ``asset``: 80 % train, 10 % validation, 10 % test
    by the sha256 of its digest (stable across exports and machines)."""
    bucket = int(hashlib.sha256(asset.encode("ascii")).hexdigest()[:8], 16) % 10
    return "train" if bucket < 8 else "validation" if bucket == 8 else "test"


def check_name(name: str) -> str:
    if not name or len(name) > 64 or not set(name) <= _NAME_CHARS or name[0] in "._-":
        raise InputError(f"{name!r} is not a dataset name",
                         hint="use lower-case letters, digits, '-', '_' and '.' (64 at most)")
    return name


@dataclass
class ExportResult:
    out: Path
    rows: dict[str, int]
    files: dict[str, str]  # path under out -> sha256
    consensus: list[int]
    access_reads: list[int] = field(default_factory=list)
    skipped_sensitive: int = 0
    released: int | None = None
    digest: str | None = None


def _rows(log: Log, libraries: Libraries, reader: str, insights: Sequence[str],
          library: str | None) -> tuple[list[dict[str, Any]], dict[str, str], int]:
    """The decided items ``reader`` may export; the sensitive jobs among them (job -> library);
    how many sensitive items were left out."""
    if not kept_in(log.db):
        raise InputError("this store holds no review items",
                         hint="export from a coordinator's store (--db)")
    conn = log.db.conn
    sql = ("SELECT i.id, i.insight, i.job, i.evidence, i.question, i.value, o.outcome,"
           " o.value, i.decision, o.consensus FROM review_outcomes o JOIN review_items i"
           " ON i.id = o.item WHERE i.gold IS NULL AND i.job IS NOT NULL")
    args: list[Any] = []
    if insights:
        sql += f" AND i.insight IN ({', '.join('?' for _ in insights)})"
        args += list(insights)
    wanted = None if library is None else libraries.get(library)
    if wanted is not None and wanted.sensitive and not wanted.is_reader(reader):
        raise RoleError(f"{reader} may not export the sensitive library {wanted.id}",
                        hint="its owner adds readers with POST /v1/libraries/ID/readers")
    rows: list[dict[str, Any]] = []
    sensitive: dict[str, str] = {}
    skipped = 0
    for (item, insight, job, evidence, question, ai_value, outcome, value, decision,
         consensus) in conn.execute(sql + " ORDER BY o.consensus", args).fetchall():
        held = libraries.library_of(job)
        if wanted is not None and (held is None or held.id != wanted.id):
            continue
        if held is not None and held.sensitive:
            if not held.is_reader(reader):
                skipped += 1
                continue
            sensitive[job] = held.id
        verdicts = [int(r[0]) for r in conn.execute(
            "SELECT verdict FROM review_assignments WHERE item = ? AND verdict IS NOT NULL"
            " ORDER BY verdict", (item,))]
        ev = json.loads(evidence)
        ai = json.loads(ai_value)
        final = ai if outcome == "accepted" else json.loads(value) if value else None
        rows.append({
            "id": item, "insight": insight, "job": job,
            "library": None if held is None else held.id, "asset": ev.get("asset"),
            "start": ev.get("start"), "end": ev.get("end"), "keyframe": ev.get("keyframe"),
            "question": question,
            # JSON text: an insight's values differ in type (a time, a label, a transcript).
            "ai_value": json.dumps(ai), "outcome": outcome,
            "final_value": None if final is None else json.dumps(final),
            "decision": int(decision), "verdicts": verdicts, "consensus": int(consensus),
            "split": split_of(str(ev.get("asset")))})
    return rows, sensitive, skipped


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    try:
        import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]
        import pyarrow.parquet as pq  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        raise InputError("writing parquet needs pyarrow",
                         hint="install aiwork with its 'dataset' extra") from None
    schema = pa.schema([("id", pa.string()), ("insight", pa.string()), ("job", pa.string()),
                        ("library", pa.string()), ("asset", pa.string()),
                        ("start", pa.float64()), ("end", pa.float64()),
                        ("keyframe", pa.string()), ("question", pa.string()),
                        ("ai_value", pa.string()), ("outcome", pa.string()),
                        ("final_value", pa.string()), ("decision", pa.int64()),
                        ("verdicts", pa.list_(pa.int64())), ("consensus", pa.int64()),
                        ("split", pa.string())])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def export(log: Log, key: SigningKey, *, reader: str, out: Path, fmt: str = "jsonl",
           insights: Sequence[str] = (), library: str | None = None, name: str = "aiwork",
           version: str = "1.0.0", purpose: str = PURPOSE, signer: SigningKey | None = None,
           url: str | None = None, license: str = "https://spdx.org/licenses/CC-BY-4.0.html",
           ) -> ExportResult:
    """Write the decided items ``reader`` may read under ``out`` (data files, README.md with
    the splits, croissant.json), log the sensitive jobs read, and record a ``dataset.released``
    entry signed by ``signer`` (default ``key``, the coordinator's, which signs the reads)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}", hint=f"one of {', '.join(FORMATS)}")
    check_name(name)
    if not version or len(version) > 64 or not set(version) <= _NAME_CHARS:
        raise InputError(f"{version!r} is not a dataset version", hint="e.g. 1.0.0")
    libraries = Libraries(log, key, Market(log.db))
    rows, sensitive, skipped = _rows(log, libraries, reader, insights, library)
    if not rows:
        raise InputError("no validated items to export",
                         hint="items are exported once their consensus is recorded")
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    if os.listdir(data):
        raise InputError(f"{data} is not empty", hint="export into a new folder")
    reads = [index for job in sorted(sensitive)
             if (index := libraries.record_read(job, reader, f"export/{name}", purpose))
             is not None]
    counts: dict[str, int] = {}
    files: dict[str, str] = {}
    # hf: the Hugging Face Hub's layout (Parquet shards named SPLIT-00000-of-00001); webvtt:
    # JSON Lines for the splits and, per video, a WebVTT file of its items' final values.
    columnar = fmt in ("parquet", "hf")
    for split in SPLITS:
        part = [r for r in rows if r["split"] == split]
        if not part:
            continue
        counts[split] = len(part)
        stem = f"{split}-00000-of-00001" if fmt == "hf" else split
        path = data / f"{stem}.{'parquet' if columnar else 'jsonl'}"
        (_write_parquet if columnar else _write_jsonl)(path, part)
        files[f"data/{path.name}"] = sha256_file(path)
    extra: dict[str, str] = {}
    if fmt == "webvtt":
        extra = _write_webvtt(out, rows)
    consensus = sorted(r["consensus"] for r in rows)
    sealed = sorted(r["consensus"] for r in rows if r["job"] in sensitive)
    (out / "README.md").write_text(card(name, version, fmt, counts, files), encoding="utf-8")
    # Croissant's url: where the dataset is published (default: the folder it was written to).
    croissant = croissant_jsonld(name, version, fmt, files, url=url or out.resolve().as_uri(),
                                 license=license, extra=extra)
    (out / "croissant.json").write_text(json.dumps(croissant, indent=1) + "\n",
                                        encoding="utf-8")
    result = ExportResult(out, counts, {**files, **extra}, consensus, reads, skipped)
    for described in ("README.md", "croissant.json"):
        result.files[described] = sha256_file(out / described)
    # A sensitive library's consensus entries are committed to, not listed: the opening
    # stays with the reader, beside the data it describes (not one of the released files).
    commitment, opening = commit(sealed) if sealed else (None, None)
    result.released, result.digest = release(
        log, signer or key, name=name, version=version, files=result.files,
        consensus=[c for c in consensus if c not in set(sealed)],
        sealed_consensus=commitment)
    # Which entry released these files (not one of them: the entry lists their digests);
    # aiwork models train reads it and checks the folder against that entry.
    (out / RELEASED_FILE).write_text(json.dumps(
        {"released": result.released, "digest": result.digest, "name": name,
         "version": version}, sort_keys=True) + "\n", encoding="utf-8")
    if opening is not None:
        (out / SEALED_FILE).write_text(json.dumps(
            {"released": result.released, "sealed_consensus": opening}, sort_keys=True) + "\n",
            encoding="utf-8")
    return result


def _write_webvtt(out: Path, rows: list[dict[str, Any]]) -> dict[str, str]:
    """Per video, ``webvtt/SPLIT/HEX.vtt``: a cue per item over its time range, saying its
    insight, outcome and final value (the AI's, struck out, when rejected)."""
    files: dict[str, str] = {}
    for asset in sorted({str(r["asset"]) for r in rows}):
        items = sorted((r for r in rows if r["asset"] == asset),
                       key=lambda r: (r["start"] or 0.0, r["id"]))
        lines = ["WEBVTT", ""]
        for r in items:
            start = float(r["start"] or 0.0)
            end = max(float(r["end"] or start), start + 0.001)
            value = r["ai_value"] if r["final_value"] is None else r["final_value"]
            lines += [r["id"], f"{vtt_stamp(start)} --> {vtt_stamp(end)}",
                      vtt_cue_text(f"{r['insight']} {r['outcome']}: {value}"), ""]
        hexdigest = asset.removeprefix("sha256:")
        if not hexdigest.isalnum():  # a digest checked on the way in; never a path
            raise InputError(f"{asset!r} is not an asset digest")
        path = out / "webvtt" / split_of(asset) / f"{hexdigest}.vtt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines), encoding="utf-8")
        files[path.relative_to(out).as_posix()] = sha256_file(path)
    return files


def release(log: Log, key: SigningKey, *, name: str, version: str, files: dict[str, str],
            consensus: Sequence[int], sealed_consensus: dict[str, str] | None = None
            ) -> tuple[int, str]:
    """Record a ``dataset.released`` entry signed by ``key``: the dataset's ``name``,
    ``version``, its ``files`` (path -> sha256), the consensus entries it covers and, when it
    holds sensitive libraries' items, ``sealed_consensus`` (a commitment to their consensus
    entries, from :func:`aiwork.model.commitment.commit`); return its ledger index and the
    dataset's digest (the sha256 of the RFC 8785 canonical JSON of its name, version and
    files), which a ``model.registered`` entry names."""
    listing = [{"path": path, "sha256": files[path]} for path in sorted(files)]
    digest = sha256_bytes(canonical_bytes({"name": name, "version": version,
                                           "files": listing}))
    body: dict[str, Any] = {"name": name, "version": version, "digest": digest,
                            "files": listing, "consensus": sorted(set(consensus))}
    if sealed_consensus is not None:
        body["sealed_consensus"] = sealed_consensus
    entry = sign_entry(key, "dataset.released", body, kinds=log.kinds)
    return log.append([entry])[0].index, digest


def card(name: str, version: str, fmt: str, counts: dict[str, int],
         files: dict[str, str]) -> str:
    """The dataset card: YAML front matter whose ``configs`` name each split's file, so
    ``datasets.load_dataset(DIR)`` loads the splits."""
    lines = ["---", f"pretty_name: {name}", "license: other", "configs:",
             "- config_name: default", "  data_files:"]
    for split in counts:
        path = next(p for p in files if p.startswith(f"data/{split}"))
        lines += [f"  - split: {split}", f"    path: {path}"]
    lines += ["---", "", f"# {name} {version}", "",
              f"Human-validated items exported by aiwork ({fmt}), split by video (no video is "
              "in two splits):", ""]
    lines += [f"- {split}: {n} item(s)" for split, n in counts.items()]
    lines += ["", "Each row: the AI's value (`ai_value`, JSON) and the final one after review "
              "(`final_value`, JSON; empty when rejected), the `outcome` (accepted, corrected, "
              "rejected), where it is (`asset` sha256, `start`, `end`, `keyframe` sha256) and "
              "the ledger indices behind it (`decision`, `verdicts`, `consensus`). Its files' "
              "digests are in a `dataset.released` ledger entry.", ""]
    return "\n".join(lines)


_CONTEXT: dict[str, Any] = {
    "@language": "en", "@vocab": "https://schema.org/", "citeAs": "cr:citeAs",
    "column": "cr:column", "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"}, "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty", "samplingRate": "cr:samplingRate",
    "examples": {"@id": "cr:examples", "@type": "@json"}, "extract": "cr:extract",
    "field": "cr:field", "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet", "format": "cr:format", "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset", "jsonPath": "cr:jsonPath", "key": "cr:key",
    "md5": "cr:md5", "parentField": "cr:parentField", "path": "cr:path",
    "recordSet": "cr:recordSet", "references": "cr:references", "regex": "cr:regex",
    "repeated": "cr:repeated", "replace": "cr:replace", "sc": "https://schema.org/",
    "separator": "cr:separator", "source": "cr:source", "subField": "cr:subField",
    "transform": "cr:transform"}

_TYPES = {"start": "sc:Float", "end": "sc:Float", "decision": "sc:Integer",
          "consensus": "sc:Integer"}


def croissant_jsonld(name: str, version: str, fmt: str, files: dict[str, str], *, url: str,
                     license: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    """A Croissant 1.1 description of the export: one FileObject per split file (with its
    sha256) and one RecordSet per split; one FileObject per ``extra`` file (WebVTT)."""
    encoding = ("application/x-parquet" if fmt in ("parquet", "hf")
                else "application/jsonlines")
    distribution: list[dict[str, Any]] = []
    record_sets = []
    for path in sorted(extra or {}):
        distribution.append({"@type": "cr:FileObject", "@id": path, "name": path,
                             "contentUrl": path, "encodingFormat": "text/vtt",
                             "sha256": (extra or {})[path].removeprefix("sha256:")})
    for path in sorted(files):
        split = path.split("/")[-1].split(".")[0].split("-")[0]
        distribution.append({"@type": "cr:FileObject", "@id": path, "name": path,
                             "contentUrl": path, "encodingFormat": encoding,
                             # Croissant's sha256 is the bare hex digest
                             "sha256": files[path].removeprefix("sha256:")})
        fields = [{"@type": "cr:Field", "@id": f"{split}/{column}", "name": column,
                   "dataType": _TYPES.get(column, "sc:Text"),
                   "source": {"fileObject": {"@id": path}, "extract": {"column": column}}}
                  for column in COLUMNS if column != "verdicts"]
        record_sets.append({"@type": "cr:RecordSet", "@id": split, "name": split,
                            "field": fields})
    return {
        "@context": _CONTEXT, "@type": "sc:Dataset",
        "conformsTo": "http://mlcommons.org/croissant/1.1", "name": name,
        "description": "Human-validated AI metadata items exported by aiwork, split by video.",
        "license": license, "url": url,
        "version": version, "citeAs": f"{name} {version}, human-validated items (aiwork)",
        "datePublished": date.today().isoformat(),
        "creator": {"@type": "sc:Organization", "name": "aiwork"},
        "distribution": distribution, "recordSet": record_sets}
