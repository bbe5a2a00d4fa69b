"""Workers as the coordinator knows them: what each runs (``coordinator_capabilities``: per
analyzer its version and model) and its reputation (``coordinator_reputation``)."""

from __future__ import annotations

import json
import time
from typing import Any

from aiwork.coordinator.schema import MIGRATIONS
from aiwork.errors import InputError
from aiwork.ledger.log import Log
from aiwork.ledger.registry import Registrations
from aiwork.market import Market
from aiwork.quality.reputation import Reputation

__all__ = ["MAX_HELD_LEASES", "Workers"]

#: The most leases a worker may say it still holds when it announces itself.
MAX_HELD_LEASES = 1000


class Workers:
    """Workers' capabilities and reputations in ``log``'s store."""

    def __init__(self, log: Log, market: Market) -> None:
        self.log = log
        self.market = market
        self.registrations = Registrations(log)
        log.db.migrate(MIGRATIONS)

    def advertise(self, worker: str, analyzers: Any, holding: Any = None,
                  now: float | None = None) -> dict[str, Any]:
        """Record what a worker runs (replacing what it said before): per analyzer its
        version and model ``{name, version, weights_digest}``. ``holding``, when given, lists
        the leases the worker still holds: its other live leases are released at once (a
        worker that restarted, or reconnected, is not doing them)."""
        if not isinstance(analyzers, dict) or not analyzers:
            raise InputError("'analyzers' must map analyzer names to {version, model}")
        if holding is not None and (
                not isinstance(holding, list) or len(holding) > MAX_HELD_LEASES
                or not all(isinstance(x, str) and 0 < len(x) <= 64 for x in holding)):
            raise InputError(f"'leases' must be a list of at most {MAX_HELD_LEASES} lease ids")
        rows = []
        for name, item in sorted(analyzers.items()):
            model = item.get("model") if isinstance(item, dict) else None
            if name not in self.market.known_analyzers:
                raise InputError(f"unknown analyzer {name!r}")
            if not isinstance(model, dict) or not isinstance(model.get("name"), str):
                raise InputError(f"{name}: 'model' must be {{name, version, weights_digest}}")
            rows.append((worker, name, str(item.get("version", "")),
                         json.dumps(model, sort_keys=True)))
        with self.log.db.atomic() as conn:
            conn.execute("DELETE FROM coordinator_capabilities WHERE worker = ?", (worker,))
            conn.executemany("INSERT INTO coordinator_capabilities (worker, analyzer, version,"
                             " model) VALUES (?, ?, ?, ?)", rows)
        released = (0 if holding is None else self.market.release_leases(
            worker, keep=set(holding), now=time.time() if now is None else now))
        return {**self.info(worker), **({} if holding is None else {"released": released})}

    def info(self, worker: str) -> dict[str, Any]:
        rows = self.log.db.conn.execute(
            "SELECT analyzer, version, model FROM coordinator_capabilities WHERE worker = ?"
            " ORDER BY analyzer", (worker,)).fetchall()
        rep = self.reputation(worker)
        return {"did": worker,
                "analyzers": {name: {"version": version,
                                     "model": self._registered(name, json.loads(model))}
                              for name, version, model in rows},
                "reputation": {"score": round(rep.score, 4), "samples": rep.samples,
                               "quarantined": rep.quarantined}}

    def all(self) -> list[dict[str, Any]]:
        rows = self.log.db.conn.execute(
            "SELECT DISTINCT worker FROM coordinator_capabilities UNION"
            " SELECT worker FROM coordinator_reputation ORDER BY 1").fetchall()
        return [self.info(row[0]) for row in rows]

    def running(self) -> dict[str, int]:
        """How many workers advertise each analyzer (a quarantined one not counted)."""
        rows = self.log.db.conn.execute(
            "SELECT c.analyzer, COUNT(DISTINCT c.worker) FROM coordinator_capabilities c"
            " LEFT JOIN coordinator_reputation r ON r.worker = c.worker"
            " WHERE r.quarantined IS NULL OR r.quarantined = 0 GROUP BY c.analyzer").fetchall()
        return {str(name): int(count) for name, count in rows}

    def _registered(self, analyzer: str, model: dict[str, Any]) -> dict[str, Any]:
        """The advertised model with ``registration``: the ``model.registered`` entry of its
        weights in this log, when they are a registered version (the coordinator says so,
        not the worker)."""
        model = {key: value for key, value in model.items() if key != "registration"}
        digest = model.get("weights_digest")
        index = self.registrations.of(analyzer, digest if isinstance(digest, str) else None)
        return model if index is None else {**model, "registration": index}

    def advertised_weights(self, worker: str) -> dict[str, str | None]:
        """The weights digest the worker advertised for each analyzer it runs."""
        rows = self.log.db.conn.execute(
            "SELECT analyzer, model FROM coordinator_capabilities WHERE worker = ?",
            (worker,)).fetchall()
        found: dict[str, str | None] = {}
        for analyzer, model in rows:
            digest = json.loads(model).get("weights_digest")
            found[str(analyzer)] = digest if isinstance(digest, str) else None
        return found

    def advertised_model(self, worker: str, analyzer: str) -> dict[str, Any] | None:
        row = self.log.db.conn.execute(
            "SELECT model FROM coordinator_capabilities WHERE worker = ? AND analyzer = ?",
            (worker, analyzer)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def reputation(self, worker: str) -> Reputation:
        row = self.log.db.conn.execute(
            "SELECT score, weight, samples, quarantined FROM coordinator_reputation"
            " WHERE worker = ?", (worker,)).fetchone()
        if row is None:
            return Reputation()
        return Reputation(float(row[0]), float(row[1]), int(row[2]), bool(row[3]))

    def save_reputation(self, worker: str, rep: Reputation) -> None:
        self.log.db.conn.execute(
            "INSERT INTO coordinator_reputation (worker, score, weight, samples, quarantined)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (worker) DO UPDATE SET score = excluded.score,"
            " weight = excluded.weight, samples = excluded.samples,"
            " quarantined = excluded.quarantined",
            (worker, rep.score, rep.weight, rep.samples, int(rep.quarantined)))
