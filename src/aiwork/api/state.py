"""What a running coordinator holds: its settings, and its services per thread.

The services of :mod:`aiwork.coordinator` are opened once per thread (SQLite connections are
not shared between threads) and reached by the routes through :func:`aiwork.api.deps.state`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiwork.api.guard import MAX_JSON_BYTES, RequestGuard
from aiwork.auth import RequestVerifier, SqliteNonceStore
from aiwork.config import blobs_path
from aiwork.coordinator.cosignatures import Cosignatures, parse_witnesses
from aiwork.coordinator.identities import Identities
from aiwork.coordinator.grants import GRANT_SECONDS
from aiwork.coordinator.service import Coordinator
from aiwork.crypto import SigningKey
from aiwork.ledger.home import open_ledger
from aiwork.ledger.log import Log
from aiwork.ledger.registry import ModelIndex
from aiwork.pipeline.process import open_store
from aiwork.quality.reputation import ReputationPolicy
from aiwork.search.index import SemanticPart
from aiwork.store.blobs import BlobStore

__all__ = ["MAX_REGISTRATION_BYTES", "MAX_RESULT_BYTES", "MAX_UPLOAD_BYTES", "ServerSettings",
           "State"]

#: Largest upload accepted, in bytes (2 GiB). Override with ServerSettings.max_upload_bytes.
MAX_UPLOAD_BYTES = 2 << 30

#: Largest result a worker submits (8 MiB of JSON: a long video's transcript and shots).
MAX_RESULT_BYTES = 8 << 20

#: Largest request for a role (``{"role": "expert"}``), in bytes: anyone may make a key and
#: ask, so what the coordinator reads for it before the signature is checked stays small.
MAX_REGISTRATION_BYTES = 1 << 10


@dataclass(frozen=True)
class ServerSettings:
    db: Path | str  # a SQLite file or a postgresql:// URL
    key: SigningKey  # the coordinator's own identity: signs role grants
    open_registration: bool = False
    admin: str | None = None  # a did granted admin at start
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_json_bytes: int = MAX_JSON_BYTES  # any other request body
    price: int = 1  # credits a worker earns per accepted task replica
    gold_rate: float = 0.0  # share of leases that first mix in a gold task
    reputation: ReputationPolicy = ReputationPolicy()
    lease_seconds: float = 300.0
    starting_credits: int = 0  # granted to every identity that becomes a requester
    witnesses: tuple[str, ...] = ()  # witness verifier keys whose cosignatures are kept
    #: The coordinator's own public URL (``aiwork serve --public-url``): the exports name
    #: the video and its keyframes under it (``/v1/blobs/DIGEST``). None: root-relative.
    public_url: str | None = None
    #: How long a media grant (``POST /v1/blobs/DIGEST/grant``) may be used, in seconds.
    grant_seconds: float = GRANT_SECONDS
    #: The clock media grants are given and checked by (Unix seconds; tests move it).
    clock: Callable[[], float] = time.time
    #: The library search's semantic part (``aiwork serve`` loads it where its model is
    #: installed): passages embedded as results are indexed, search by meaning and hybrid.
    #: None: search by words only.
    semantic: SemanticPart | None = None


class State:
    """One database connection per thread (SQLite connections are not shared)."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self._local = threading.local()
        self.lock = threading.Lock()
        self.witnesses = parse_witnesses(settings.witnesses)
        log = open_store(settings.db)
        identities = Identities(log, settings.key)
        if settings.admin:
            identities.bootstrap_admin(settings.admin)
        Cosignatures(log)  # creates its table before any thread reads it
        log.close()
        self.blobs = BlobStore(blobs_path(settings.db))
        self.blobs.sweep_incoming()  # uploads a crash cut off
        # Every signed route reads its request through the guard: headers, role and declared
        # length are checked before the body is read (see aiwork.api.guard).
        self.guard = RequestGuard(self.verifier, self.require)
        # GET /v1/ledger/entries/{index}/lineage: each dataset.released entry's part, read
        # once (it depends on earlier entries only); at most LINEAGE_DATASETS kept.
        self.lineage_datasets: dict[tuple[int, str], dict[str, Any]] = {}
        # GET /v1/models: the registrations and promotions, read incrementally.
        self.model_index = ModelIndex()

    def require(self, did: str, roles: tuple[str, ...]) -> None:
        self.identities().require(did, *roles)

    def log(self) -> Log:
        log: Log | None = getattr(self._local, "log", None)
        if log is None:
            log = open_ledger(self.settings.db, signing=True)
            self._local.log = log
        return log

    def identities(self) -> Identities:
        identities: Identities | None = getattr(self._local, "identities", None)
        if identities is None:
            identities = Identities(self.log(), self.settings.key)
            self._local.identities = identities
        return identities

    def cosignatures(self) -> Cosignatures:
        cosignatures: Cosignatures | None = getattr(self._local, "cosignatures", None)
        if cosignatures is None:
            cosignatures = Cosignatures(self.log(), self.witnesses)
            self._local.cosignatures = cosignatures
        return cosignatures

    def coordinator(self) -> Coordinator:
        coordinator: Coordinator | None = getattr(self._local, "coordinator", None)
        if coordinator is None:
            coordinator = Coordinator(self.log(), self.blobs, self.settings.key,
                                      price=self.settings.price,
                                      gold_rate=self.settings.gold_rate,
                                      policy=self.settings.reputation,
                                      semantic=self.settings.semantic)
            self._local.coordinator = coordinator
        return coordinator

    def verifier(self) -> RequestVerifier:
        verifier: RequestVerifier | None = getattr(self._local, "verifier", None)
        if verifier is None:
            verifier = RequestVerifier(SqliteNonceStore(self.log().db))
            self._local.verifier = verifier
        return verifier
