"""A compute worker: lease a task, fetch the media, run the analyzer, sign, submit.

The worker runs the same pipeline as ``aiwork process`` over its own local store, so every
decision it submits for an analyzer that reads only the media is also in its own ledger
(signed by its key) and work done for one task is reused for the next task on the same media.
An analyzer that reads other analyzers' results (keywords, language, chapters, ocr, tags,
safety) is computed from the job's accepted results the lease carries, and its decision names
them (``input.derived_from``, ledger indexes of the coordinator's log); such a decision is
signed and submitted, not logged locally.

Faults: a finished result is written to ``HOME/pending/LEASE.json`` before it is sent and
removed once the coordinator has it (or has said the lease is void), so neither a coordinator
that went away nor a restart of the worker loses it. While the coordinator cannot be reached
(or answers 5xx) the worker waits and retries, forever, with exponential backoff from 1 s to
60 s with jitter (each wait drawn between half and all of 1, 2, 4 ... 60 s). Each time it
(re)connects it announces itself with the leases it still holds (its pending results), and the
coordinator releases its other live leases at once rather than after they expire.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiwork import analyzers as registry
from aiwork.analyzers.store import ModelStore, registered_options
from aiwork.client.coordinator import CoordinatorClient, NoWork
from aiwork.contract.responses import ModelVersion, WorkerView
from aiwork.errors import AiworkError, CoordinatorError, IntegrityError
from aiwork.model.decision import unstamp_decision
from aiwork.pipeline.process import ProcessOptions, Processor
from aiwork.config import private_folder
from aiwork.crypto import SigningKey
from aiwork.digests import is_digest
from aiwork.ledger.entries import sign_entry
from aiwork.model import Entry
from aiwork.model.commitment import seal

__all__ = ["MAX_LEASE_BYTES", "Backoff", "Worker", "WorkerStats", "seal_decision",
           "unreachable"]

#: Largest lease a worker reads, in bytes: a lease carries the accepted outputs its analyzer
#: reads (at most four, each a result of at most 8 MiB), so 64 MiB; a longer answer is cut
#: off there.
MAX_LEASE_BYTES = 64 << 20

#: What a lease id from the coordinator looks like (it names a file of the worker's).
_LEASE_ID = re.compile(r"[0-9a-f]{32}")


def unreachable(exc: AiworkError) -> bool:
    """Whether ``exc`` means "try again later": no answer, or a 5xx from the coordinator."""
    return isinstance(exc, CoordinatorError) and (exc.status is None or exc.status >= 500)


class Backoff:
    """Exponential backoff with jitter: waits drawn between half and all of ``first``,
    2 x ``first`` ... up to ``cap`` seconds; :meth:`reset` after a success."""

    def __init__(self, first: float = 1.0, cap: float = 60.0,
                 rng: random.Random | None = None) -> None:
        self.first, self.cap, self.failures = first, cap, 0
        self.rng = rng or random.Random()

    def next(self) -> float:
        delay = min(self.cap, self.first * 2 ** min(self.failures, 32))
        self.failures += 1
        return self.rng.uniform(delay / 2, delay)

    def reset(self) -> None:
        self.failures = 0


def seal_decision(key: SigningKey, entry: bytes, output: Any) -> tuple[bytes, dict[str, Any]]:
    """The sealed form of a signed ``ai.decision`` (its ``output`` items given): the same
    decision, re-signed by ``key`` as ``ai.decision.sealed``, with commitments to its input,
    output, item count, confidence summary and evidence in place of them; and the openings, for the coordinator to check and
    keep. A sensitive library's task is submitted this way, so the public log never shows
    what the media holds."""
    body = dict(Entry.from_bytes(entry).body)
    plain = {name: body.pop(name) for name in ("input", "output_items", "confidence",
                                               "evidence")}
    body.pop("output_digest")
    sealed, openings = seal(body, {**plain, "output": unstamp_decision(output)})
    return sign_entry(key, "ai.decision.sealed", sealed).to_bytes(), openings


def promoted_settings(listed: Iterable[ModelVersion], names: Iterable[str], store: ModelStore,
                      settings: Mapping[str, Mapping[str, Any]] | None = None
                      ) -> dict[str, dict[str, Any]]:
    """``settings`` (per-analyzer options) with, for each of ``names`` whose version the
    coordinator promoted (``listed``: its ``GET /v1/models``), the options that load its
    files from ``store`` (:func:`~aiwork.analyzers.store.registered_options`: the options
    given win; files missing or altered are a ModelStoreError)."""
    chosen = {name: dict(value) for name, value in (settings or {}).items()}
    wanted = set(names)
    for model in listed:
        if model.in_use and model.analyzer in wanted:
            chosen[model.analyzer] = registered_options(
                store, model.analyzer, model.weights_digest, chosen.get(model.analyzer),
                what=f"the coordinator's promoted version of {model.analyzer} "
                     f"(entry {model.index})")
    return chosen


@dataclass
class WorkerStats:
    done: int = 0
    failed: int = 0
    current: str | None = None
    waiting: str | None = None  # why it is waiting to retry, while it is
    credits: int | None = None  # the worker's balance, as the coordinator's ledger says
    errors: list[str] = field(default_factory=list)


class Worker:
    def __init__(self, client: CoordinatorClient, key: SigningKey, home: Path,
                 capabilities: list[str] | None = None,
                 settings: Mapping[str, Mapping[str, Any]] | None = None,
                 models: ModelStore | None = None) -> None:
        """``settings``: per-analyzer options (the weights it runs). ``models``: run the
        versions the coordinator promoted (``GET /v1/models``), their files read from this
        model store, wherever ``settings`` do not name other weights (checked each time the
        worker announces itself)."""
        self.client = client
        self.key = key
        self.home = home
        self.media = home / "media"
        private_folder(self.media)  # media of a sensitive library is its readers' only
        self.pending = home / "pending"  # finished results not yet taken by the coordinator
        private_folder(self.pending)
        names = capabilities or list(registry.DEFAULT)
        self.offered = list(names)
        self.settings = {name: dict(value) for name, value in (settings or {}).items()}
        self.models = models
        self.processor = Processor(
            ProcessOptions(analyzers=names,
                           settings={name: dict(value) for name, value in (settings or {}).items()}),
            db=home / "worker.db", key=key)
        self.capabilities = sorted(self.processor.analyzers)
        self.stats = WorkerStats()
        self._advertised = False

    def advertisement(self) -> dict[str, Any]:
        """What this worker runs: each analyzer's version and model (name, version, weights
        digest). The coordinator refuses a result whose decision names other weights."""
        return {"analyzers": {name: {"version": a.version, "model": a.model().to_json()}
                              for name, a in sorted(self.processor.analyzers.items())}}

    def run_promoted(self) -> None:
        """Run the versions the coordinator promoted of the analyzers this worker offers
        (:func:`promoted_settings`); an analyzer that needed one to run at all (custom_tags)
        is offered from then on. A promoted version whose files are not in the model store
        is a ModelStoreError: the worker does not run another model in its place."""
        if self.models is None:
            return
        listed = self.client.list_models()
        # Its decisions name the coordinator's registration of the weights they ran.
        self.processor.registered_elsewhere = {
            (model.analyzer, model.weights_digest): model.index for model in listed}
        chosen = promoted_settings(listed, self.offered, self.models, self.settings)
        for name, options in chosen.items():
            current = self.processor.analyzers.get(name)
            if name not in self.offered or (current is not None and current.options == options):
                continue
            self.processor.analyzers[name] = registry.load(name, options)
            self.processor.unavailable.pop(name, None)
        self.capabilities = sorted(self.processor.analyzers)

    def advertise(self) -> WorkerView:
        """Announce this worker: what it runs (the coordinator's promoted versions, see
        :meth:`run_promoted`), and the leases it still holds (those of its pending results);
        the coordinator releases its other live leases."""
        self.run_promoted()
        reply = self.client.advertise_capabilities(self.advertisement()["analyzers"],
                                                   self.held())
        self._advertised = True
        return reply

    def close(self) -> None:
        self.processor.close()

    # -- pending results --------------------------------------------------------------------

    def held(self) -> list[str]:
        """The leases of the finished results not yet submitted."""
        return sorted(p.stem for p in self.pending.glob("*.json") if _LEASE_ID.fullmatch(p.stem))

    def keep(self, lease: dict[str, Any], entry: bytes, output: Any) -> Path:
        """Write a finished result to disk (atomically) before sending it; a sensitive
        library's is sealed first (:func:`seal_decision`), its openings kept beside it."""
        lease_id = str(lease["lease"])
        if not _LEASE_ID.fullmatch(lease_id):
            raise IntegrityError(f"the coordinator gave a malformed lease id {lease_id[:40]!r}")
        path = self.pending / f"{lease_id}.json"
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        result: dict[str, Any] = {"entry": entry.decode(), "output": output}
        if lease.get("sensitive"):
            sealed, result["openings"] = seal_decision(self.key, entry, output)
            result["entry"] = sealed.decode()
        tmp.write_text(json.dumps({"lease": lease, **result}))
        os.replace(tmp, path)
        return path

    def submit_pending(self) -> int:
        """Send every pending result; return how many the coordinator took. A result whose
        lease the coordinator calls void is dropped (and counted as failed); an unreachable
        coordinator raises :class:`CoordinatorError` and the results stay."""
        taken = 0
        for lease_id in self.held():
            path = self.pending / f"{lease_id}.json"
            saved = json.loads(path.read_text())
            lease, output = saved["lease"], saved["output"]
            try:
                if lease["analyzer"] == "shots":  # keyframes travel with the result
                    # A sensitive library's keyframes are restricted from their upload on.
                    library = lease.get("library") if lease.get("sensitive") else None
                    for shot in output:
                        if shot.get("keyframe"):
                            digest = shot["keyframe"]["digest"]
                            self.client.upload_blob(self.processor.blobs.get(digest),
                                                    digest, library=library)
                self.client.submit_result(lease_id, saved["entry"], output,
                                          saved.get("openings"))
            except AiworkError as exc:
                if unreachable(exc):
                    raise
                self.stats.failed += 1
                self.stats.errors.append(str(exc))
            else:
                self.stats.done += 1
                taken += 1
            path.unlink()
        return taken

    # -- the loop ---------------------------------------------------------------------------

    def run_once(self) -> bool:
        """Send pending results, then do one task if one is offered; return whether there
        was one. Raises :class:`CoordinatorError` when the coordinator cannot be reached
        (a finished result stays pending on disk)."""
        if not self._advertised:
            self.advertise()
        self.submit_pending()
        # A lease carries the accepted outputs its analyzer reads (each at most a result's
        # 8 MiB): its answer is read up to MAX_LEASE_BYTES and no further.
        grant = self.client.lease_task(self.capabilities, limit=MAX_LEASE_BYTES)
        if isinstance(grant, NoWork):
            return False
        lease = grant.model_dump(mode="json")  # as kept on disk with a pending result
        self.stats.current = f"{lease['analyzer']} on {lease['asset'][:19]}"
        try:
            with self._heartbeats(lease):
                entry, output = self.work(lease)
            self.keep(lease, entry, output)
        except AiworkError as exc:
            if unreachable(exc):
                raise  # the lease is released when the worker announces itself again
            self.stats.failed += 1
            self.stats.errors.append(str(exc))
        finally:
            self.stats.current = None
        self.submit_pending()
        self.refresh_credits()
        return True

    def refresh_credits(self) -> None:
        """Ask the coordinator for this worker's balance (rewards land when a task's
        replicas are all in and compared, so it can lag the results)."""
        try:
            account = self.client.get_credits(self.key.did)
            self.stats.credits = account.balance
        except (AiworkError, KeyError, ValueError, TypeError):
            pass  # the display keeps its last figure

    def run(self, *, stop: Callable[[], bool] = lambda: False, idle_sleep: float = 1.0,
            on_change: Callable[[WorkerStats], None] | None = None,
            backoff: Backoff | None = None) -> None:
        """Work until ``stop()``; while the coordinator cannot be reached, wait and retry
        (``backoff``, by default 1 s doubling to 60 s with jitter) and announce again."""
        backoff = backoff or Backoff()
        while not stop():
            try:
                busy = self.run_once()
                if not busy:
                    self.refresh_credits()
            except AiworkError as exc:
                if not unreachable(exc):
                    raise
                self._advertised = False  # a restarted coordinator hears from us again
                wait = backoff.next()
                self.stats.waiting = f"coordinator unreachable, retry in {wait:.0f} s"
                if on_change:
                    on_change(self.stats)
                _sleep_unless(stop, wait)
                continue
            backoff.reset()
            self.stats.waiting = None
            if on_change:
                on_change(self.stats)
            if not busy:
                _sleep_unless(stop, idle_sleep)

    @contextmanager
    def _heartbeats(self, lease: dict[str, Any]) -> Iterator[None]:
        """Renew the lease at a third of its length while the work runs."""
        interval = max(0.5, (float(lease["expires"]) - time.time()) / 3)
        done = threading.Event()

        def beat() -> None:
            while not done.wait(interval):
                try:
                    self.client.heartbeat(str(lease["lease"]))
                except AiworkError as exc:
                    if not unreachable(exc):
                        return  # the lease is void: the submit will say so
                    # else: keep beating, the coordinator may be back before the lease ends

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(timeout=5)

    def work(self, lease: dict[str, Any]) -> tuple[bytes, Any]:
        """Run the leased analyzer; return the signed decision entry and its output.

        An analyzer that reads others' results (keywords reads the transcript) is computed
        from the job's accepted results the lease carries, and its decision names them."""
        path = self.fetch(lease["asset"])
        if registry.upstream(lease["analyzer"]):
            upstream = lease.get("upstream", [])
            if not isinstance(upstream, list) or not all(isinstance(u, dict) for u in upstream):
                raise IntegrityError(f"task {lease['task']}: the lease's 'upstream' is not a"
                                     " list of results")
            entry, output = self.processor.derive(path, lease["analyzer"], upstream)
            return entry.to_bytes(), output
        report = self.processor.process(path)
        if report.status == "failed":
            raise IntegrityError(f"task {lease['task']}: {report.error}")
        stored = self.processor.catalog.results(lease["asset"])[lease["analyzer"]]
        output = unstamp_decision(stored.output)
        return self.processor.log.get(stored.decision), output

    def fetch(self, digest: str) -> Path:
        """The media file for ``digest``, downloaded once and checked against its digest."""
        if not is_digest(digest):
            # Never a path: an absolute or dotted "digest" would name a file elsewhere.
            raise IntegrityError(f"the coordinator leased a malformed asset digest "
                                 f"{str(digest)[:80]!r}")
        path = self.media / (digest.replace(":", "-") + ".media")
        if path.exists():
            return path
        # Signed: the media of a sensitive library goes only to a worker leasing a task.
        # Streamed to disk and hashed as it comes: a long video is never held in memory.
        return self.client.download(digest, path)


def _sleep_unless(stop: Callable[[], bool], seconds: float) -> None:
    """Sleep ``seconds``, waking early when ``stop()`` turns true."""
    end = time.monotonic() + seconds
    while not stop() and (left := end - time.monotonic()) > 0:
        time.sleep(min(left, 0.25))
