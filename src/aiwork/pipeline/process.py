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
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aiwork import analyzers
from aiwork.analyzers.base import AnalysisContext, Analyzer, AnalyzerOutput
from aiwork.analyzers.store import ModelStore
from aiwork.pipeline.catalog import Catalog, StoredAsset, StoredResult
from aiwork.search.index import SemanticPart
from aiwork.ledger.home import init_ledger, open_ledger
from aiwork.ledger.summaries import Summaries
from aiwork.config import blobs_path, default_db_path, home, private_folder
from aiwork.crypto import SigningKey, read_or_make_key_file
from aiwork.errors import AiworkError, InputError
from aiwork.export.layout import claim_folder, folder_name, write_outputs
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.ledger.registry import Registrations
from aiwork.pipeline.promoted import promoted_settings
from aiwork.digests import sha256_file, sha256_json
from aiwork.media import decode, measured, probe
from aiwork.media.decode import AudioTrack, FrameStore
from aiwork.media.probe import Probe
from aiwork.model import Entry
from aiwork.model.decision import normalize, output_digest, stamp_decision, unstamp_decision
from aiwork.model.metadata import Metadata, StaleInsight, stale_insights
from aiwork.model.names import inside
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
    analyzers: Sequence[str] | None = None  # None: the default ones (analyzers.DEFAULT)
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


def open_store(db: Path | str | None = None) -> Log:
    """The embedded store's ledger (created on first use)."""
    path = db or default_db_path()
    if not Log.is_ledger(path):
        init_ledger(path).close()
    return open_ledger(path)


class Processor:
    """Processes videos into one store; reuse it for a batch. Each analyzer runs the version
    promoted in its ledger (its files read from the model store) unless its options name
    other weights."""

    def __init__(
        self,
        options: ProcessOptions | None = None,
        *,
        db: Path | str | None = None,
        progress: Progress | None = None,
        key: SigningKey | None = None,
        semantic: SemanticPart | None = None,
        models: ModelStore | None = None,
    ) -> None:
        """``semantic``: embed the search index's passages with this part (the embedded
        store's ``aiwork process``; a worker's scratch store indexes words only). ``models``:
        the model store the promoted versions' files are read from (default
        ``$AIWORK_HOME/models``)."""
        self.options = options or ProcessOptions()
        # The analyzers first: a bad option is refused before anything is opened or written.
        names = analyzers.order(self.options.analyzers or list(analyzers.DEFAULT))
        settings = promoted_settings(db or default_db_path(), names, self.options.settings,
                                     models or ModelStore.default())
        self.analyzers: dict[str, Analyzer] = {}
        self.unavailable: dict[str, str] = {}
        for item in analyzers.availability(names, settings):
            if item.analyzer is None:
                self.unavailable[item.name] = item.reason or "unavailable"
            else:
                self.analyzers[item.name] = item.analyzer
        self.log = open_store(db)
        self.registrations = Registrations(self.log)
        #: Registrations of another log the decisions name (a worker's: its coordinator's),
        #: ``(analyzer, weights digest) -> model.registered entry``; its own log's first.
        self.registered_elsewhere: dict[tuple[str, str], int] = {}
        self.catalog = Catalog(self.log.db, semantic=semantic)
        self.summaries = Summaries(self.log)
        self.blobs = BlobStore(blobs_path(db or default_db_path()))
        self.key = key or read_or_make_key_file(home() / "worker.key")
        self.progress = progress or _Quiet()
        #: Output folders given to the videos of this batch (see :func:`claim_folder`).
        self.claimed: set[Path] = set()

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
        stale = {s.insight for s in stale_results(stored)}
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
                and result.parameters_digest == sha256_json(analyzer.parameters()))

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
        self.catalog.prepare_result(digest, analyzer.insight, items)
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
        parameters_digest = sha256_json(analyzer.parameters())
        model = analyzer.model().to_json()
        registered = self.registrations.of(analyzer.name, model["weights_digest"])
        if registered is None and model["weights_digest"] is not None:
            registered = self.registered_elsewhere.get((analyzer.name, model["weights_digest"]))
        if registered is not None:
            model["registration"] = registered
        return {
            "analyzer": analyzer.name,
            "analyzer_version": analyzer.version,
            "insight": analyzer.insight,
            "model": model,
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
        return asset_metadata(self.log, self.catalog, asset)

    def export(self, metadata: Metadata, folder: Path) -> Path:
        """Write the public output layout for one video into ``folder``."""
        return write_outputs(metadata, folder, self.blobs.get,
                             caption_formats=self.options.caption_formats,
                             base_url=self.options.base_url)

    def find(self, video_or_digest: str) -> Metadata:
        """Stored metadata by file path, file name or digest."""
        return self.metadata(find_asset(self.catalog, video_or_digest))


def find_metadata(log: Log, video_or_digest: str) -> Metadata:
    """The stored metadata of a processed video (by file path, file name or digest) in the
    store whose ledger is ``log`` (``aiwork show``: no key, no analyzer, no file made)."""
    catalog = Catalog(log.db)
    return asset_metadata(log, catalog, find_asset(catalog, video_or_digest))


def asset_metadata(log: Log, catalog: Catalog, asset: StoredAsset) -> Metadata:
    """:func:`stored_metadata`, dated by the asset's ``asset.registered`` entry."""
    uploaded = log.entry(asset.registered).time if asset.registered >= 0 else None
    return stored_metadata(catalog, asset, uploaded)


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
    doc["stale"] = [s.model_dump(mode="json") for s in stale_results(results)]
    return Metadata.model_validate(doc)


def stale_results(results: dict[str, StoredResult]) -> list[StaleInsight]:
    """The stored results computed from an upstream decision that is no longer current."""
    return stale_insights({r.insight: r.decision for r in results.values()},
                          {r.insight: r.derived_from for r in results.values()})


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


__all__ += ["asset_metadata", "expand_inputs", "find_metadata", "open_store", "stale_results",
            "work_folder"]
