"""What aiwork has processed: assets and the stored output of every analyzer run.

Lives in the same database as the ledger, so an analyzer's result and its ``ai.decision``
entry are committed in one transaction: both or neither. The library search index
(:mod:`aiwork.search`) is kept in the same transactions: a result's passages with the result,
an asset's file name with the asset.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiwork.digests import PREFIX
from aiwork.search.index import SearchIndex, SemanticPart
from aiwork.search.passages import INSIGHTS, passages_of
from aiwork.store import Database, Migration

__all__ = ["Catalog", "StoredAsset", "StoredResult"]


def _tables(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE assets (digest TEXT PRIMARY KEY, name TEXT NOT NULL, size INTEGER NOT NULL,"
        " media_type TEXT, registered INTEGER NOT NULL, path TEXT, created_at TEXT NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE analysis_results (asset TEXT NOT NULL, analyzer TEXT NOT NULL,"
        " version TEXT NOT NULL, parameters_digest TEXT NOT NULL, insight TEXT NOT NULL,"
        " decision INTEGER NOT NULL, output TEXT NOT NULL, created_at TEXT NOT NULL,"
        " PRIMARY KEY (asset, analyzer))"
    )


def _derived_from(conn: sqlite3.Connection) -> None:
    # JSON list of {insight, decision}; NULL for results logged before decisions named
    # their upstream decisions (ai.decision/v1).
    conn.execute("ALTER TABLE analysis_results ADD COLUMN derived_from TEXT")


MIGRATIONS = [Migration("catalog-0001-tables", _tables),
              Migration("catalog-0002-derived-from", _derived_from)]


@dataclass(frozen=True)
class StoredAsset:
    digest: str
    name: str
    size: int
    media_type: str | None
    registered: int
    path: str | None


@dataclass(frozen=True)
class StoredResult:
    analyzer: str
    version: str
    parameters_digest: str
    insight: str
    decision: int
    output: Any
    #: The upstream decisions the output was computed from (``{insight, decision}``);
    #: ``None`` when unknown (a result logged as ``ai.decision/v1``).
    derived_from: list[dict[str, Any]] | None = None


class Catalog:
    def __init__(self, db: Database, *, semantic: SemanticPart | None = None) -> None:
        """``semantic``: the search index's semantic part
        (:func:`aiwork.search.semantic.default_semantic`), when passages are to be embedded
        and searched by meaning; each passage's vector is then stored in the transaction
        that stores the passage."""
        self.db = db
        db.migrate(MIGRATIONS)
        self.search = SearchIndex(db, embedder=semantic)
        if self.search.created and self.db.conn.execute(
                "SELECT 1 FROM assets LIMIT 1").fetchone() is not None:
            self.reindex()  # a store from before the search index: index what it holds

    def assets(self) -> list[StoredAsset]:
        """Every asset, oldest first."""
        rows = self.db.conn.execute(
            "SELECT digest, name, size, media_type, registered, path FROM assets"
            " ORDER BY created_at, digest").fetchall()
        return [StoredAsset(*row) for row in rows]

    def reindex(self) -> int:
        """Rebuild the search index from the stored assets and results, in one transaction;
        the number of passages indexed. Assets and results are indexed in the order they
        were stored, so the rebuilt rows keep the incremental index's order (which orders
        equal scores). The embedding model (when there is one) runs first, outside the
        transaction."""
        for asset in self.assets():
            for result in self.results(asset.digest).values():
                self.prepare_result(asset.digest, result.insight, result.output)
        with self.db.atomic() as conn:
            assets = {a.digest: a for a in self.assets()}
            stored = conn.execute(
                "SELECT created_at, asset, analyzer FROM analysis_results").fetchall()
            added = conn.execute("SELECT created_at, digest FROM assets").fetchall()
            steps = sorted([(str(t), 0, str(d), "") for t, d in added]
                           + [(str(t), 1, str(d), str(n)) for t, d, n in stored])
            self.search.clear()
            results: dict[str, dict[str, StoredResult]] = {}
            for _, kind, digest, analyzer in steps:
                if kind == 0:
                    self._index_name(assets[digest])
                    continue
                if digest not in results:
                    results[digest] = self.results(digest)
                self._index_result(digest, results[digest][analyzer])
            self.search.rebuilt()
            return self.search.count()

    def prepare_result(self, digest: str, insight: str, output: Any) -> None:
        """Embed the passages of a result about to be saved, before the transaction that
        saves it (:meth:`SearchIndex.prepare`)."""
        if insight in INSIGHTS:
            self.search.prepare(passages_of(digest, insight, output, None))

    def _index_name(self, asset: StoredAsset) -> None:
        self.search.replace(asset.digest, "name",
                            passages_of(asset.digest, "name", asset.name,
                                        asset.registered if asset.registered >= 0 else None))

    def _index_result(self, digest: str, result: StoredResult) -> None:
        if result.insight in INSIGHTS:
            self.search.replace(digest, result.insight, passages_of(
                digest, result.insight, result.output, result.decision))

    def asset(self, digest: str) -> StoredAsset | None:
        row = self.db.conn.execute(
            "SELECT digest, name, size, media_type, registered, path FROM assets WHERE digest = ?",
            (digest,),
        ).fetchone()
        return StoredAsset(*row) if row else None

    def find_assets(self, name_or_digest: str) -> list[StoredAsset]:
        rows = self.db.conn.execute(
            "SELECT digest, name, size, media_type, registered, path FROM assets"
            " WHERE digest = ? OR digest = ? OR name = ? OR path = ? ORDER BY created_at",
            (name_or_digest, PREFIX + name_or_digest, name_or_digest, name_or_digest),
        ).fetchall()
        return [StoredAsset(*row) for row in rows]

    def add_asset(self, asset: StoredAsset) -> None:
        """Record ``asset`` (and index its file name) unless it is known, in one
        transaction (the caller's, when one is open)."""
        with self.db.atomic() as conn:
            added = conn.execute(
                "INSERT INTO assets (digest, name, size, media_type, registered, path,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING",
                (asset.digest, asset.name, asset.size, asset.media_type, asset.registered,
                 asset.path, datetime.now(UTC).isoformat()),
            ).rowcount
            if added:
                self._index_name(asset)

    def results(self, digest: str) -> dict[str, StoredResult]:
        rows = self.db.conn.execute(
            "SELECT analyzer, version, parameters_digest, insight, decision, output,"
            " derived_from FROM analysis_results WHERE asset = ?",
            (digest,),
        ).fetchall()
        return {
            row[0]: StoredResult(row[0], row[1], row[2], row[3], int(row[4]), json.loads(row[5]),
                                 None if row[6] is None else list(json.loads(row[6])))
            for row in rows
        }

    def save_result(self, digest: str, result: StoredResult) -> None:
        """Store ``result`` and index its passages, in one transaction (the caller's, with
        the result's ``ai.decision`` entry, when one is open): both or neither."""
        with self.db.atomic() as conn:
            self._save(conn, digest, result)
            self._index_result(digest, result)

    def _save(self, conn: Any, digest: str, result: StoredResult) -> None:
        conn.execute(
            "INSERT INTO analysis_results (asset, analyzer, version, parameters_digest,"
            " insight, decision, output, derived_from, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (asset, analyzer) DO UPDATE SET version = excluded.version,"
            " parameters_digest = excluded.parameters_digest, insight = excluded.insight,"
            " decision = excluded.decision, output = excluded.output,"
            " derived_from = excluded.derived_from, created_at = excluded.created_at",
            (digest, result.analyzer, result.version, result.parameters_digest, result.insight,
             result.decision, json.dumps(result.output, ensure_ascii=False),
             None if result.derived_from is None else json.dumps(result.derived_from),
             datetime.now(UTC).isoformat()),
        )
