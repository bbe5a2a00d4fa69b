"""The model registry: ``model.registered`` and ``model.promoted`` entries, read back from the
ledger alone.

A model version is registered once per analyzer and weights digest (:func:`register_model`
appends a signed ``model.registered`` entry and returns its index); :func:`promote_model`
chooses the version an analyzer uses. :func:`models` lists the registrations with their
metrics and which one is in use; :func:`registration_for` finds the registration of the
weights an analyzer loaded, so a decision can name it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiwork import __version__
from aiwork.crypto import SigningKey
from aiwork.errors import ConflictError, InvalidBodyError, LineageError, NotFoundError
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.model.entry import Entry

__all__ = ["ModelIndex", "RegisteredModel", "Registrations", "in_use", "models", "promote_model", "register_model",
           "lineage", "lineage_entries", "registration", "registration_for"]

REGISTERED = "model.registered/v1"
PROMOTED = "model.promoted/v1"


@dataclass(frozen=True)
class RegisteredModel:
    """One ``model.registered`` entry, and whether it is the version in use."""

    index: int
    body: dict[str, Any]
    author: str
    time: str
    in_use: bool = False
    promoted_at: int | None = field(default=None)

    @property
    def analyzer(self) -> str:
        return str(self.body["analyzer"])

    @property
    def weights_digest(self) -> str:
        return str(self.body["weights_digest"])

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, **self.body, "author": self.author, "time": self.time,
                "in_use": self.in_use, "promoted_at": self.promoted_at}


def _entries_of(log: Log, kind: str, start: int = 0) -> list[tuple[int, Entry]]:
    """The entries of ``kind``, oldest first. The stored bytes are canonical JSON, so a
    ``"kind":"NAME"`` substring narrows the scan; each candidate is then parsed and its kind
    checked, so a body quoting that text is never taken for one."""
    needle = f'"kind":"{kind}"'.encode()
    find = "position(? in data)" if log.db.dialect == "postgresql" else "instr(data, ?)"
    rows = log.db.conn.execute(
        f"SELECT idx, data FROM ledger_entries WHERE idx >= ? AND {find} > 0 ORDER BY idx",
        (start, needle)).fetchall()
    found = []
    for idx, data in rows:
        entry = Entry.from_bytes(bytes(data))
        if entry.kind == kind:
            found.append((int(idx), entry))
    return found


def models(log: Log, analyzer: str | None = None) -> list[RegisteredModel]:
    """Every registered model version (of ``analyzer``), oldest first, the one in use marked."""
    return ModelIndex().models(log, analyzer)


class ModelIndex:
    """:func:`models`, kept up to date by reading only the entries appended since the last
    question (``GET /v1/models`` asks it on every request)."""

    def __init__(self) -> None:
        self._seen = 0
        self._registered: dict[int, Entry] = {}
        self._promoted: dict[str, tuple[int, int]] = {}  # analyzer -> (registration, entry)

    def models(self, log: Log, analyzer: str | None = None) -> list[RegisteredModel]:
        size = log.size
        if size > self._seen:
            for idx, entry in _entries_of(log, PROMOTED, self._seen):
                name = str(entry.body["analyzer"])
                if idx > self._promoted.get(name, (-1, -1))[1]:
                    self._promoted[name] = (int(entry.body["registration"]), idx)
            for idx, entry in _entries_of(log, REGISTERED, self._seen):
                self._registered[idx] = entry
            self._seen = size
        found = []
        for idx, entry in sorted(self._registered.items()):
            name = str(entry.body["analyzer"])
            if analyzer is not None and name != analyzer:
                continue
            chosen = self._promoted.get(name)
            used = chosen is not None and chosen[0] == idx
            found.append(RegisteredModel(idx, entry.body, entry.author, entry.time, used,
                                         chosen[1] if used and chosen else None))
        return found


def registration(log: Log, index: int) -> RegisteredModel:
    """The ``model.registered`` entry at ``index``; NotFoundError if it is something else."""
    entry = log.entry(index)
    if entry.kind != REGISTERED:
        raise NotFoundError(f"entry {index} is a {entry.kind} entry, not a model.registered one",
                            hint="aiwork models lists the registered versions")
    return RegisteredModel(index, entry.body, entry.author, entry.time)


def in_use(log: Log, analyzer: str) -> RegisteredModel | None:
    """The version of ``analyzer`` last promoted, or None."""
    return next((model for model in models(log, analyzer) if model.in_use), None)


def registration_for(log: Log, analyzer: str, weights_digest: str | None) -> int | None:
    """The index of the ``model.registered`` entry of ``analyzer`` with these weights."""
    return Registrations(log).of(analyzer, weights_digest)


class Registrations:
    """Which ``model.registered`` entry holds an analyzer's weights, kept up to date by reading
    only the entries appended since the last question (a pipeline asks once per decision)."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self._seen = 0
        self._found: dict[tuple[str, str], int] = {}

    def of(self, analyzer: str, weights_digest: str | None) -> int | None:
        if weights_digest is None:
            return None
        size = self.log.size
        if size > self._seen:
            for idx, entry in _entries_of(self.log, REGISTERED, self._seen):
                found = (str(entry.body["analyzer"]), str(entry.body["weights_digest"]))
                self._found.setdefault(found, idx)
            self._seen = size
        return self._found.get((analyzer, weights_digest))


def register_model(
    log: Log,
    key: SigningKey,
    *,
    analyzer: str,
    version: str,
    weights_digest: str,
    metrics: Mapping[str, float] | None = None,
    parent: int | None = None,
    dataset: tuple[int, str] | None = None,
    approved_by: str | None = None,
    code_version: str = __version__,
) -> int:
    """Append a signed ``model.registered`` entry (by ``key``) and return its ledger index.

    ``parent`` is the index of the model this one was derived from (a registration of the
    same analyzer); ``dataset`` the index and digest of the ``dataset.released`` entry it was
    trained on; ``approved_by`` defaults to ``key``'s did. The same weights registered twice
    for one analyzer are refused (ConflictError), as is a parent or dataset that is not what
    it claims to be; nothing is written then.
    """
    body: dict[str, Any] = {
        "analyzer": analyzer, "version": version, "weights_digest": weights_digest,
        "code_version": code_version, "parent": parent,
        "dataset": None if dataset is None else {"entry": dataset[0], "digest": dataset[1]},
        "metrics": dict(metrics or {}), "approved_by": approved_by or key.did,
    }
    entry = sign_entry(key, REGISTERED, body, kinds=log.kinds)
    with log.db.atomic():
        if parent is not None:
            parent_model = registration(log, parent)
            if parent_model.analyzer != analyzer:
                raise InvalidBodyError(
                    f"the parent {parent} is a model of {parent_model.analyzer}, not {analyzer}")
        if dataset is not None:
            released = log.entry(dataset[0])
            if not released.kind.startswith("dataset.released/"):
                raise InvalidBodyError(
                    f"entry {dataset[0]} is a {released.kind} entry, not a dataset.released one")
            if released.body.get("digest") != dataset[1]:
                raise InvalidBodyError(
                    f"the dataset.released entry {dataset[0]} has the digest "
                    f"{released.body.get('digest')}, not {dataset[1]}")
        existing = registration_for(log, analyzer, weights_digest)
        if existing is not None:
            raise ConflictError(
                f"these weights of {analyzer} are already registered (entry {existing})",
                hint=f"aiwork models promote {analyzer} {existing}")
        return log.append([entry])[0].index


def promote_model(log: Log, key: SigningKey, analyzer: str, index: int) -> int:
    """Append a signed ``model.promoted`` entry choosing the registration at ``index`` as the
    version ``analyzer`` uses; return its index. A registration of another analyzer is
    refused."""
    entry = sign_entry(key, PROMOTED, {"analyzer": analyzer, "registration": index,
                                       "by": key.did}, kinds=log.kinds)
    with log.db.atomic():
        model = registration(log, index)
        if model.analyzer != analyzer:
            raise InvalidBodyError(
                f"entry {index} registers a model of {model.analyzer}, not of {analyzer}")
        return log.append([entry])[0].index


def _dataset_lineage(log: Log, ref: Mapping[str, Any], model_index: int,
                     cache: dict[tuple[int, str], dict[str, Any]] | None = None
                     ) -> dict[str, Any]:
    """The ``dataset.released`` entry a registration names, checked, with the consensus
    entries it covers and the experts whose verdicts those combined. ``cache`` keeps what a
    dataset entry gave (it depends on earlier entries only, so it never changes)."""
    index = int(ref["entry"])
    if index >= model_index:
        raise LineageError(f"the model.registered entry {model_index} names a dataset entry "
                             f"{index} logged after it")
    if cache is None:
        return _read_dataset(log, index, str(ref["digest"]), model_index)
    key = (index, str(ref["digest"]))
    if key not in cache:
        cache[key] = _read_dataset(log, index, key[1], model_index)
    return cache[key]


def _read_dataset(log: Log, index: int, digest: str, model_index: int) -> dict[str, Any]:
    ref = {"entry": index, "digest": digest}
    entry = log.entry(index)
    if not entry.kind.startswith("dataset.released/"):
        raise LineageError(f"entry {index} that model {model_index} was trained on is a "
                             f"{entry.kind} entry, not a dataset.released one")
    if entry.body.get("digest") != ref["digest"]:
        raise LineageError(f"the dataset.released entry {index} has the digest "
                             f"{entry.body.get('digest')}, not the {ref['digest']} that model "
                             f"{model_index} names")
    experts: dict[str, list[int]] = {}
    covered = entry.body.get("consensus") or []
    outcomes: dict[str, int] = {}
    for consensus in covered:
        if not isinstance(consensus, int) or not 0 <= consensus < index:
            raise LineageError(f"the dataset.released entry {index} names a consensus entry "
                                 f"{consensus!r} that is not an earlier ledger index")
        result = log.entry(consensus)
        if not result.kind.startswith("consensus.result"):
            raise LineageError(f"entry {consensus} in dataset {index} is a {result.kind} "
                                 "entry, not a consensus.result one")
        outcome = str(result.body.get("outcome"))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        for participant in result.body.get("participants", []):
            annotator = str(participant.get("annotator"))
            if annotator.startswith("did:") and participant.get("verdict") is not None:
                experts.setdefault(annotator, []).append(int(participant["verdict"]))
    return {"index": index, "name": entry.body.get("name"),
            "version": entry.body.get("version"), "digest": entry.body.get("digest"),
            "author": entry.author, "consensus": covered,
            # sensitive libraries' consensus entries: only committed to (their reader opens it)
            "sealed_consensus": entry.body.get("sealed_consensus"), "outcomes": outcomes,
            "experts": [{"did": did, "verdicts": sorted(verdicts)}
                        for did, verdicts in sorted(experts.items())]}


def lineage(log: Log, decision: int,
            datasets: dict[tuple[int, str], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Which model made the decision at ``decision``, trained on which dataset, validated by
    which experts, from the ledger alone: the decision's analyzer, model and weights digest;
    the ``model.registered`` entry of those weights (the one the decision names, or else the
    one registered with the same digest) and its parents, each with its ``dataset.released``
    entry, the consensus entries that dataset covers and the experts behind them.

    A decision that names a registration whose weights differ, a parent or dataset that is
    not what the registration says, raises LineageError. ``datasets`` keeps each dataset
    entry's part between calls (a server answering many decisions trained on one dataset reads
    its consensus entries once)."""
    entry = log.entry(decision)
    if not entry.kind.startswith("ai.decision"):
        raise NotFoundError(f"entry {decision} is a {entry.kind} entry, not an ai.decision",
                            hint="give the ledger index of a decision")
    model = entry.body.get("model") or {}
    analyzer = str(entry.body.get("analyzer"))
    digest = model.get("weights_digest")
    named = model.get("registration")
    found: dict[str, Any] = {
        "decision": decision, "kind": entry.kind, "analyzer": analyzer,
        "insight": entry.body.get("insight"), "author": entry.author,
        "model": {"name": model.get("name"), "version": model.get("version"),
                  "weights_digest": digest},
        "registration_named": named is not None, "models": []}
    index = int(named) if named is not None else registration_for(log, analyzer, digest)
    seen: set[int] = set()
    child = decision
    while index is not None:
        if index in seen or index >= child:
            raise LineageError(f"entry {child} names the model entry {index}, which is not "
                                 "an earlier ledger index")
        seen.add(index)
        registered = log.entry(index)
        if registered.kind != REGISTERED:
            raise LineageError(f"entry {child} names entry {index} as its model, but that "
                                 f"is a {registered.kind} entry")
        body = registered.body
        if child == decision and (body["weights_digest"] != digest
                                  or body["analyzer"] != analyzer):
            raise LineageError(
                f"decision {decision} names the model entry {index} ({body['analyzer']} "
                f"{body['weights_digest']}), but it ran {analyzer} {digest}")
        found["models"].append({
            "index": index, "analyzer": body["analyzer"], "version": body["version"],
            "weights_digest": body["weights_digest"], "code_version": body.get("code_version"),
            "metrics": body.get("metrics", {}), "approved_by": body["approved_by"],
            "author": registered.author, "parent": body.get("parent"),
            "dataset": None if body.get("dataset") is None
            else _dataset_lineage(log, body["dataset"], index, datasets)})
        child, index = index, body.get("parent")
    return found


def lineage_entries(log: Log, decisions: list[int]) -> set[int]:
    """The ``model.registered`` entries the ``decisions`` name, their parents, and the
    ``dataset.released`` entries they were trained on (what an audit bundle carries so that
    ``aiwork-verify`` checks the chain). Only indexes that are earlier than the entry naming
    them are followed."""
    found: set[int] = set()
    for decision in decisions:
        model = log.entry(decision).body.get("model")
        child = decision
        index = model.get("registration") if isinstance(model, dict) else None
        while isinstance(index, int) and 0 <= index < child and index not in found:
            entry = log.entry(index)
            if entry.kind != REGISTERED:
                break
            found.add(index)
            dataset = entry.body.get("dataset")
            if isinstance(dataset, dict) and isinstance(dataset.get("entry"), int) \
                    and 0 <= dataset["entry"] < index:
                found.add(int(dataset["entry"]))
            child, index = index, entry.body.get("parent")
    return found
