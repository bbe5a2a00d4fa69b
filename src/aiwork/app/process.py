"""Process videos: register, decode once, run the analyzers, log a signed decision per run.

For each video: the file is probed and hashed (its sha256 is its identity, registered once
as ``asset.registered``); the analyzers not yet run on it (same version and parameters) are
run over one decoding pass; each run becomes a signed ``ai.decision`` entry and its output is
stored in the same transaction, so an interrupted run resumes where it stopped. When the
video is done, an ``asset.summary`` lists each insight's latest decision. Outputs are
assembled into :class:`~aiwork.model.metadata.Metadata` and, on request, written out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from pydantic import TypeAdapter, ValidationError

from aiwork import analyzers
from aiwork.analyzers.base import AnalysisContext, Analyzer, AnalyzerOutput, AnalyzerUnavailable
from aiwork.app.catalog import Catalog, StoredAsset, StoredResult
from aiwork.app.ledger import init_ledger, open_ledger
from aiwork.app.summaries import Summaries
from aiwork.canonical import sha256_digest
from aiwork.config import blobs_path, default_db_path, home, private_folder
from aiwork.crypto import SigningKey, read_key_file, write_key_file
from aiwork.errors import AiworkError, InputError, IntegrityError
from aiwork.export import (
    CAPTION_FORMATS,
    captions_srt,
    captions_ttml,
    captions_vtt,
    chapters_vtt,
    check_base_url,
    to_jsonld,
)
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.media import decode, measured, probe, sha256_file
from aiwork.media.decode import AudioTrack, FrameStore
from aiwork.media.probe import Probe
from aiwork.model import Entry
from aiwork.model.metadata import Metadata, StaleInsight, stale_insights
from aiwork.model.names import MAX_NAME_CHARS, check_file_name, inside, plain_name, write_inside
from aiwork.store.blobs import BlobStore

__all__ = ["ProcessOptions", "Processor", "Progress", "VideoReport", "VIDEO_SUFFIXES"]

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts",
                  ".mxf", ".flv", ".wmv", ".3gp", ".ogv"}
#: Insights whose value is one object rather than a list of items.
_SINGLE = {"technical", "transcript", "language"}


class Progress(Protocol):
    def stage(self, video: str, stage: str, fraction: float) -> None: ...

    def note(self, message: str) -> None: ...


class _Quiet:
    def stage(self, video: str, stage: str, fraction: float) -> None:
        pass

    def note(self, message: str) -> None:
        pass


@dataclass(frozen=True)
class ProcessOptions:
    analyzers: Sequence[str] | None = None  # None: every registered analyzer
    force: bool = False  # re-run analyzers even when a result exists
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-analyzer options
    sample_fps: float = 1.0
    #: Caption files written with the outputs (of "vtt", "srt", "ttml").
    caption_formats: tuple[str, ...] = ("vtt", "srt")
    #: The public URL the output folders are served from, with the videos beside them (a
    #: video FILE at BASE/FILE, its outputs at BASE/FOLDER/): the JSON-LD's URLs become
    #: absolute. None: keyframes are named relative to the output folder.
    base_url: str | None = None


@dataclass
class VideoReport:
    path: Path
    status: str  # "processed" | "already processed" | "failed"
    digest: str | None = None
    error: str | None = None
    ran: dict[str, float] = field(default_factory=dict)  # analyzer -> seconds
    reused: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    metadata: Metadata | None = None
    out_dir: Path | None = None
    #: Insights left computed from an upstream value that changed (re-run them).
    stale: list[str] = field(default_factory=list)


def expand_inputs(inputs: Iterable[Path]) -> list[Path]:
    """Files as given; folders become the video files inside them (recursively, sorted). A
    path that cannot be looked at, and a folder with no video in it, stay as given, so that
    processing reports them alone and goes on with the others."""
    result: list[Path] = []
    for path in inputs:
        try:
            folder = path.is_dir()
        except OSError:
            folder = False
        if folder:
            found = sorted(p for p in path.rglob("*")
                           if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            result += found or [path]
        else:
            result.append(path)
    return result


def _worker_key() -> SigningKey:
    path = home() / "worker.key"
    if path.exists():
        return read_key_file(path)
    key = SigningKey.generate()
    write_key_file(path, key)
    return key


def open_store(db: Path | str | None = None) -> Log:
    """The embedded store's ledger (created on first use)."""
    path = db or default_db_path()
    if not Log.is_ledger(path):
        init_ledger(path).close()
    return open_ledger(path)


def stamp_decision(items: Any, decision: int) -> Any:
    """Give every item of an output the ledger index of its decision."""
    if isinstance(items, list):
        return [{**item, "decision": decision} for item in items]
    if isinstance(items, dict) and "segments" in items:
        return {**items, "segments": [{**s, "decision": decision} for s in items["segments"]]}
    return {**items, "decision": decision}


def unstamp_decision(items: Any) -> Any:
    """The items without their ``decision`` fields."""
    if isinstance(items, list):
        return [{k: v for k, v in item.items() if k != "decision"} for item in items]
    if isinstance(items, dict) and "segments" in items:
        return {**items, "segments": [{k: v for k, v in s.items() if k != "decision"}
                                      for s in items["segments"]]}
    return {k: v for k, v in items.items() if k != "decision"}


@functools.cache
def _adapter(insight: str) -> TypeAdapter[Any]:
    field = Metadata.model_fields.get(insight)
    if field is None or field.annotation is None:
        raise InputError(f"analyzer output for unknown insight {insight!r}")
    return TypeAdapter(field.annotation)


def normalize(insight: str, items: Any) -> Any:
    """The items as the published schema writes them (defaults filled in, types checked),
    so anyone can recompute the output digest from metadata.json."""
    adapter = _adapter(insight)
    try:
        return unstamp_decision(adapter.dump_python(adapter.validate_python(items), mode="json"))
    except ValidationError as exc:
        raise InputError(f"{insight} output does not match the metadata schema: {exc}") from exc


def output_digest(items: Any) -> str:
    """What an ``ai.decision`` entry records of its output: sha256 of the canonical items
    without their ``decision`` fields."""
    return sha256_digest(unstamp_decision(items))


class Processor:
    """Processes videos into one store; reuse it for a batch."""

    def __init__(
        self,
        options: ProcessOptions | None = None,
        *,
        db: Path | str | None = None,
        progress: Progress | None = None,
        key: SigningKey | None = None,
    ) -> None:
        self.options = options or ProcessOptions()
        self.log = open_store(db)
        self.catalog = Catalog(self.log.db)
        self.summaries = Summaries(self.log)
        self.blobs = BlobStore(blobs_path(db or default_db_path()))
        self.key = key or _worker_key()
        self.progress = progress or _Quiet()
        #: Output folders given to the videos of this batch (see :func:`claim_folder`).
        self.claimed: set[Path] = set()
        names = analyzers.order(self.options.analyzers or list(analyzers.REGISTRY))
        self.analyzers: dict[str, Analyzer] = {}
        self.unavailable: dict[str, str] = {}
        for item in analyzers.availability(names, self.options.settings):
            if item.analyzer is None:
                self.unavailable[item.name] = item.reason or "unavailable"
            else:
                self.analyzers[item.name] = item.analyzer

    def close(self) -> None:
        self.log.close()

    def __enter__(self) -> Processor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one video -----------------------------------------------------------------------

    def process(self, path: Path, out: Path | None = None) -> VideoReport:
        """Process one video; a bad file is reported, never raised."""
        report = VideoReport(path=path, status="failed", unavailable=dict(self.unavailable))
        try:
            self._process(path, report)
            if report.metadata is not None:
                report.stale = [s.insight for s in report.metadata.stale]
            if out is not None and report.metadata is not None:
                folder = claim_folder(out, folder_name(path), report.metadata.asset.digest,
                                      self.claimed)
                report.out_dir = self.export(report.metadata, folder)
        except AiworkError as exc:
            report.error = exc.diagnostics()
            report.status = "failed"
        except OSError as exc:  # the file or the output folder failed while in use
            report.error = f"{exc.filename or path}: {exc.strerror or exc}"
            report.status = "failed"
        return report

    def _process(self, path: Path, report: VideoReport) -> None:
        name = path.name
        self.progress.stage(name, "probe", 0.0)
        facts = measured(probe(path))  # the duration the file holds, not its header's
        digest = sha256_file(path)
        report.digest = digest
        self.progress.stage(name, "probe", 1.0)
        asset = self._register(facts, digest)
        stored = self.catalog.results(digest)
        stale = {s.insight for s in _stale(stored)}
        # An analyzer runs again when asked to, when its version or settings changed, when
        # an upstream value it was computed from changed since (stale), or when an upstream
        # analyzer runs again now: its output is then computed from the new value.
        pending: list[str] = []
        for n, a in self.analyzers.items():
            if (self.options.force or not self._current(stored.get(n), a)
                    or a.insight in stale or any(d in pending for d in a.after)):
                pending.append(n)
        report.reused = [n for n in self.analyzers if n not in pending]
        if not pending:
            self._summarize(digest)  # a store from before summaries gets its first here
            report.status = "already processed"
            report.metadata = self.metadata(asset)
            return
        outputs: dict[str, AnalyzerOutput] = {
            n: AnalyzerOutput(items=unstamp_decision(r.output)) for n, r in stored.items()
        }
        # Analyzer -> (insight, decision) of the output in ``outputs``.
        decisions = {n: (r.insight, r.decision) for n, r in stored.items()}
        with work_folder() as work_dir:
            frames, audio, facts = self._decode(path, facts, pending, work_dir)
            for analyzer_name in pending:
                analyzer = self.analyzers[analyzer_name]
                self.progress.stage(name, analyzer_name, 0.0)
                started = time.perf_counter()
                ctx = AnalysisContext(
                    asset=digest, probe=facts, frames=frames, audio=audio,
                    upstream={d: outputs[d] for d in analyzer.after if d in outputs},
                    keyframe_dir=work_dir / "keyframes", options=analyzer.options,
                )
                output = analyzer.analyze(ctx)
                outputs[analyzer_name] = output
                derived_from = [{"insight": decisions[d][0], "decision": decisions[d][1]}
                                for d in analyzer.after if d in ctx.upstream]
                decisions[analyzer_name] = (
                    analyzer.insight,
                    self._record(digest, facts, analyzer, output, derived_from))
                report.ran[analyzer_name] = round(time.perf_counter() - started, 3)
                self.progress.stage(name, analyzer_name, 1.0)
        self._summarize(digest)
        report.status = "processed"
        report.metadata = self.metadata(asset)

    def _decode(self, path: Path, facts: Probe, names: list[str], work_dir: Path
                ) -> tuple[FrameStore | None, AudioTrack | None, Probe]:
        """One decoding pass for the analyzers ``names``: sampled frames and audio, as
        they need (``None`` where none does), and ``facts`` with the duration decoded."""
        want_frames = any(self.analyzers[n].needs_frames for n in names)
        want_audio = any(self.analyzers[n].needs_audio for n in names)
        if not (want_frames or want_audio):
            return None, None, facts
        scanning = [(a, v) for n in names
                    if (v := (a := self.analyzers[n]).frame_visitor(facts)) is not None]
        visitors = [v for _, v in scanning]
        every = min((a.scan_every for a, _ in scanning), default=1)
        decoded = decode(
            facts, work_dir / "frames", visitors=visitors, scan_every=every,
            sample_fps=self.options.sample_fps, want_audio=want_audio,
            progress=lambda f: self.progress.stage(path.name, "decode", f),
        )
        if want_audio and decoded.audio is None:
            self.progress.note(f"{path}: no audio track; audio analyzers see silence")
        # Every analyzer sees the duration of what was decoded, not the header's.
        return decoded.frames, decoded.audio, dataclasses.replace(facts,
                                                                  duration=decoded.duration)

    def derive(self, path: Path, name: str, upstream: Sequence[Mapping[str, Any]]
               ) -> tuple[Entry, Any]:
        """Run analyzer ``name`` on ``path`` over the upstream results given (``{analyzer,
        insight, decision, output}``, e.g. a coordinator's accepted results) instead of its
        own, naming their decisions in ``input.derived_from``; return the signed decision
        and its output. Neither is logged nor kept here: the decisions it names are in the
        giver's log, not in this one."""
        analyzer = self.analyzers.get(name)
        if analyzer is None:
            raise InputError(f"analyzer {name!r} does not run here",
                             hint=self.unavailable.get(name))
        given: dict[str, tuple[str, int, Any]] = {}
        for item in upstream:
            dep, insight = str(item.get("analyzer")), str(item.get("insight"))
            decision = item.get("decision")
            if dep not in analyzer.after or dep in given or not isinstance(decision, int) \
                    or isinstance(decision, bool) or decision < 0:
                raise InputError(f"{name} does not read an upstream result {dep!r} "
                                 f"(decision {decision!r}) as given")
            given[dep] = (insight, decision, normalize(insight, item.get("output")))
        facts = measured(probe(path))
        digest = sha256_file(path)
        with work_folder() as work_dir:
            frames, audio, facts = self._decode(path, facts, [name], work_dir)
            ctx = AnalysisContext(
                asset=digest, probe=facts, frames=frames, audio=audio,
                upstream={d: AnalyzerOutput(items=given[d][2]) for d in analyzer.after
                          if d in given},
                keyframe_dir=work_dir / "keyframes", options=analyzer.options,
            )
            output = analyzer.analyze(ctx)
            derived_from = [{"insight": given[d][0], "decision": given[d][1]}
                            for d in analyzer.after if d in given]
            body = self._decision_body(digest, facts, analyzer, output, derived_from)
        items = normalize(analyzer.insight, output.items)
        return sign_entry(self.key, "ai.decision", body), items

    def _summarize(self, digest: str) -> int:
        """Log the asset's ``asset.summary`` (each insight's latest decision), if it
        changed."""
        decisions = {r.insight: r.decision for r in self.catalog.results(digest).values()}
        return self.summaries.record(self.key, digest, decisions)

    @staticmethod
    def _current(result: StoredResult | None, analyzer: Analyzer) -> bool:
        return (result is not None and result.version == analyzer.version
                and result.parameters_digest == sha256_digest(analyzer.parameters()))

    def _register(self, facts: Probe, digest: str) -> StoredAsset:
        known = self.catalog.asset(digest)
        if known is not None:
            return known
        body = {"digest": digest, "size": facts.size, "name": facts.path.name,
                "media_type": facts.media_type,
                "probe": {"container": facts.container, "duration": round(facts.duration, 3),
                          "width": facts.width, "height": facts.height}}
        entry = sign_entry(self.key, "asset.registered", body)
        with self.log.db.atomic():
            index = self.log.append([entry])[0].index
            asset = StoredAsset(digest, facts.path.name, facts.size, facts.media_type, index,
                                str(facts.path.resolve()))
            self.catalog.add_asset(asset)
        return asset

    def _record(self, digest: str, facts: Probe, analyzer: Analyzer,
                output: AnalyzerOutput, derived_from: list[dict[str, Any]]) -> int:
        """Sign and log the decision, keep the output and keyframes: all or nothing.
        ``derived_from`` names the upstream decisions whose outputs the analyzer read."""
        body = self._decision_body(digest, facts, analyzer, output, derived_from)
        items = normalize(analyzer.insight, output.items)
        parameters_digest = body["parameters_digest"]
        entry = sign_entry(self.key, "ai.decision", body)
        with self.log.db.atomic():
            index = self.log.append([entry])[0].index
            self.catalog.save_result(digest, StoredResult(
                analyzer.name, analyzer.version, parameters_digest, analyzer.insight,
                index, stamp_decision(items, index), derived_from))
        return index

    def _decision_body(self, digest: str, facts: Probe, analyzer: Analyzer,
                       output: AnalyzerOutput, derived_from: list[dict[str, Any]]
                       ) -> dict[str, Any]:
        """The ``ai.decision`` body of one run (its keyframes kept in the blob store)."""
        parameters = output.parameters or analyzer.parameters()
        file_digests = {rel: self.blobs.put_file(src) for rel, src in output.files.items()}
        items = normalize(analyzer.insight, output.items)
        parameters_digest = sha256_digest(analyzer.parameters())
        return {
            "analyzer": analyzer.name,
            "analyzer_version": analyzer.version,
            "insight": analyzer.insight,
            "model": analyzer.model().to_json(),
            "parameters": parameters,
            "parameters_digest": parameters_digest,
            "input": {"asset": digest, "start": round(output.start, 3),
                      "end": round(output.end if output.end is not None else facts.duration, 3),
                      "derived_from": derived_from},
            "output_digest": output_digest(items),
            "output_items": len(items) if isinstance(items, list) else 1,
            "confidence": output.confidence_summary(),
            "evidence": {**output.evidence, **({"files": file_digests} if file_digests else {})},
        }

    # -- metadata and exports ------------------------------------------------------------

    def metadata(self, asset: StoredAsset) -> Metadata:
        uploaded = self.log.entry(asset.registered).time if asset.registered >= 0 else None
        return stored_metadata(self.catalog, asset, uploaded)

    def export(self, metadata: Metadata, folder: Path) -> Path:
        """Write the public output layout for one video into ``folder``."""
        return write_outputs(metadata, folder, self.blobs.get,
                             caption_formats=self.options.caption_formats,
                             base_url=self.options.base_url)

    def find(self, video_or_digest: str) -> Metadata:
        """Stored metadata by file path, file name or digest."""
        return self.metadata(find_asset(self.catalog, video_or_digest))


def find_asset(catalog: Catalog, video_or_digest: str) -> StoredAsset:
    """A processed video by file path, file name or digest (the latest of that name)."""
    candidates = catalog.find_assets(video_or_digest)
    path = Path(video_or_digest)
    if not candidates and path.is_file():
        candidates = catalog.find_assets(sha256_file(path))
    if not candidates:
        raise InputError(f"{video_or_digest}: not processed yet",
                         hint="run `aiwork process` on it first")
    return candidates[-1]


def stored_metadata(catalog: Catalog, asset: StoredAsset,
                    uploaded: str | None = None) -> Metadata:
    """The metadata document of a processed video, each item stamped with its decision
    (``uploaded``: the time of its asset.registered entry)."""
    doc: dict[str, Any] = {
        "asset": {"digest": asset.digest, "name": asset.name, "size": asset.size,
                  "media_type": asset.media_type, "registered": asset.registered,
                  **({"uploaded": uploaded} if uploaded else {})},
    }
    results = catalog.results(asset.digest)
    for result in results.values():
        doc[result.insight] = result.output
    doc["stale"] = [s.model_dump(mode="json") for s in _stale(results)]
    return Metadata.model_validate(doc)


def _stale(results: dict[str, StoredResult]) -> list[StaleInsight]:
    """The stored results computed from an upstream decision that is no longer current."""
    return stale_insights({r.insight: r.decision for r in results.values()},
                          {r.insight: r.derived_from for r in results.values()})


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
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
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


def _work_root() -> Path:
    root = private_folder(home() / "work")
    return root


@contextlib.contextmanager
def work_folder() -> Iterator[Path]:
    """A fresh folder under ``$AIWORK_HOME/work`` for one video's sampled frames and audio,
    removed after. The folders of runs that were killed are removed first: a run holds an
    exclusive lock on ``FOLDER.lock`` (taken before the folder is made) while it lives, and
    the kernel lets go of it when the process dies, however it dies; so a folder whose lock
    can be taken is stale."""
    root = _work_root()
    for stale in root.glob("aiwork-*"):
        if not stale.is_dir():
            continue
        lock = stale.with_name(stale.name + ".lock")
        try:
            with lock.open("a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(stale, ignore_errors=True)
                lock.unlink(missing_ok=True)
        except BlockingIOError:
            continue  # a live run's
        except OSError:
            continue  # gone meanwhile
    name = f"aiwork-{os.getpid()}-{secrets.token_hex(6)}"
    lock = root / f"{name}.lock"
    with lock.open("x") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        folder = root / name
        try:
            folder.mkdir()
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            lock.unlink(missing_ok=True)


__all__ += ["caption_formats", "export_files", "EXPORTS", "write_outputs", "folder_name",
            "claim_folder", "read_metadata", "AnalyzerUnavailable", "expand_inputs", "normalize",
            "open_store", "output_digest", "stamp_decision", "unstamp_decision"]
