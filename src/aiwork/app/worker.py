"""A compute worker: lease a task, fetch the media, run the analyzer, sign, submit.

The worker runs the same pipeline as ``aiwork process`` over its own local store, so every
decision it submits is also in its own ledger (signed by its key) and work done for one task
is reused for the next task on the same media.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiwork import analyzers as registry
from aiwork.app.client import CoordinatorClient
from aiwork.app.process import ProcessOptions, Processor, unstamp_decision
from aiwork.crypto import SigningKey
from aiwork.errors import AiworkError, IntegrityError

__all__ = ["Worker", "WorkerStats"]


@dataclass
class WorkerStats:
    done: int = 0
    failed: int = 0
    current: str | None = None
    credits: int | None = None  # the worker's balance, as the coordinator's ledger says
    errors: list[str] = field(default_factory=list)


class Worker:
    def __init__(self, client: CoordinatorClient, key: SigningKey, home: Path,
                 capabilities: list[str] | None = None) -> None:
        self.client = client
        self.key = key
        self.home = home
        self.media = home / "media"
        self.media.mkdir(parents=True, exist_ok=True)
        names = capabilities or list(registry.REGISTRY)
        self.processor = Processor(ProcessOptions(analyzers=names), db=home / "worker.db",
                                   key=key)
        self.capabilities = sorted(self.processor.analyzers)
        self.stats = WorkerStats()
        self._advertised = False

    def advertisement(self) -> dict[str, Any]:
        """What this worker runs: each analyzer's version and model (name, version, weights
        digest). The coordinator refuses a result whose decision names other weights."""
        return {"analyzers": {name: {"version": a.version, "model": a.model().to_json()}
                              for name, a in sorted(self.processor.analyzers.items())}}

    def advertise(self) -> None:
        self.client.post("/v1/workers/capabilities", self.advertisement())
        self._advertised = True

    def close(self) -> None:
        self.processor.close()

    def run_once(self) -> bool:
        """Do one task if one is offered; return whether there was one."""
        if not self._advertised:
            self.advertise()
        reply = self.client.request(
            "POST", "/v1/tasks/lease", json.dumps({"capabilities": self.capabilities}).encode())
        if reply.status_code == 204:
            return False
        lease = reply.json()
        self.stats.current = f"{lease['analyzer']} on {lease['asset'][:19]}"
        try:
            with self._heartbeats(lease):
                entry, output = self.work(lease)
            self.client.post(f"/v1/leases/{lease['lease']}/result",
                             {"entry": entry.decode(), "output": output})
            self.stats.done += 1
        except AiworkError as exc:
            self.stats.failed += 1
            self.stats.errors.append(str(exc))
        finally:
            self.stats.current = None
        self.refresh_credits()
        return True

    def refresh_credits(self) -> None:
        """Ask the coordinator for this worker's balance (rewards land when a task's
        replicas are all in and compared, so it can lag the results)."""
        try:
            account = self.client.get(f"/v1/credits/{self.key.did}").json()
            self.stats.credits = int(account["balance"])
        except (AiworkError, KeyError, ValueError, TypeError):
            pass  # the display keeps its last figure

    def run(self, *, stop: Callable[[], bool] = lambda: False, idle_sleep: float = 1.0,
            on_change: Callable[[WorkerStats], None] | None = None) -> None:
        while not stop():
            busy = self.run_once()
            if not busy:
                self.refresh_credits()
            if on_change:
                on_change(self.stats)
            if not busy:
                time.sleep(idle_sleep)

    @contextmanager
    def _heartbeats(self, lease: dict[str, Any]) -> Iterator[None]:
        """Renew the lease at a third of its length while the work runs."""
        interval = max(0.5, (float(lease["expires"]) - time.time()) / 3)
        done = threading.Event()

        def beat() -> None:
            while not done.wait(interval):
                try:
                    self.client.request("POST", f"/v1/leases/{lease['lease']}/heartbeat", b"{}")
                except AiworkError:
                    return  # the submit will say what happened

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(timeout=5)

    def work(self, lease: dict[str, Any]) -> tuple[bytes, Any]:
        """Run the leased analyzer; return the signed decision entry and its output."""
        path = self.fetch(lease["asset"])
        report = self.processor.process(path)
        if report.status == "failed":
            raise IntegrityError(f"task {lease['task']}: {report.error}")
        stored = self.processor.catalog.results(lease["asset"])[lease["analyzer"]]
        output = unstamp_decision(stored.output)
        if lease["analyzer"] == "shots":  # keyframes travel with the result
            for shot in output:
                if shot.get("keyframe"):
                    digest = shot["keyframe"]["digest"]
                    self.client.upload(self.processor.blobs.get(digest), digest)
        return self.processor.log.get(stored.decision), output

    def fetch(self, digest: str) -> Path:
        """The media file for ``digest``, downloaded once and checked against its digest."""
        path = self.media / (digest.replace(":", "-") + ".media")
        if path.exists():
            return path
        # Signed: the media of a sensitive library goes only to a worker leasing a task.
        data = self.client.get(f"/v1/blobs/{digest}", signed=True).content
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise IntegrityError(f"the coordinator sent bytes that are not {digest}")
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return path
