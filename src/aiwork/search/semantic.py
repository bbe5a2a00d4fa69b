"""The semantic half of the search index: a vector per passage, in the store beside it.

:class:`SemanticSearch` is the part :class:`aiwork.search.index.SearchIndex` calls inside its
own transactions (``SearchIndex(db, embedder=SemanticSearch(load_embedder()))``), so a result,
its passages and their vectors commit or vanish together, on SQLite and PostgreSQL alike:

- ``search_embeddings`` (model, text digest, vector): one vector per distinct text per model,
  float16 little-endian (384 values, 768 bytes). Identical texts (a caption on every video,
  a repeated tag) are embedded and stored once; a rebuild with the same model re-embeds
  nothing.
- ``search_vectors`` (passage, model, text digest): which vector each passage of
  ``search_passages`` has, and which model made it.
- ``search_meta``: the name and weights digest of the model the index was built with, and a
  version that changes with every write (what a process's cached matrix is checked against).

**Model changes.** A vector made by another model than the one configured is never compared
with a query (their spaces differ): :meth:`SemanticSearch.state` says how many passages that
leaves out and what to run; ``aiwork index rebuild`` (clear, then every passage added again)
embeds them with the configured model, and :meth:`SemanticSearch.prune` drops what no passage
uses any more.

**Search** is exact brute force with numpy over the candidates (the passages the query's
filters leave): the configured model's vectors are read once per process into a float32
matrix (1.5 KB a passage: 300 MB at 200,000) and read again only when the stored version
changes. ``bench/semantic.py`` measures it: see the README's *Library search* for the size up
to which brute force meets the latency target.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from aiwork.errors import AnalyzerUnavailable
from aiwork.search.embed import DIM, MAX_CHARS, Embedder, load_embedder
from aiwork.store import Migration
from aiwork.store.sqlite import in_chunks

__all__ = ["MIGRATIONS", "SemanticSearch", "SemanticState", "default_semantic", "load_semantic",
           "nearest", "text_digest"]

#: Stored vector encoding: float16 halves the store's size; cosines move by ~1e-3.
STORED = np.dtype("<f2")
_SIZE = DIM * STORED.itemsize
#: Texts embedded per call to the model (bounds memory; the engine spreads a batch over cores).
BATCH = 64
#: In-process text-digest cache entries (768 bytes each: ~15 MB).
TEXT_CACHE = 20_000
#: Stored matrices kept per process (one per store state and model).
MATRICES = 4


def _tables(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE search_embeddings (model TEXT NOT NULL,"
                 " text_digest TEXT NOT NULL, vector BLOB NOT NULL,"
                 " PRIMARY KEY (model, text_digest))")
    conn.execute("CREATE TABLE search_vectors (passage INTEGER PRIMARY KEY,"
                 " model TEXT NOT NULL, text_digest TEXT NOT NULL)")
    conn.execute("CREATE INDEX search_vectors_model ON search_vectors (model, passage)")
    conn.execute("CREATE INDEX search_vectors_text ON search_vectors (model, text_digest)")
    conn.execute("CREATE TABLE IF NOT EXISTS search_meta (key TEXT PRIMARY KEY,"
                 " value TEXT NOT NULL)")


MIGRATIONS = [Migration("semantic-0001-vectors", _tables)]


def text_digest(text: str) -> str:
    """The hex SHA-256 of a passage's text (UTF-8): what identical texts share."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


#: Insights not embedded: a file name is an identifier, not prose, and short strings are
#: near every query in e5's space ("council.mp4" outranked a sentence about a deficit for
#: "money troubles"); names are found by their words.
NOT_EMBEDDED = frozenset({"name"})


class _HasText(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def insight(self) -> str: ...


@dataclass(frozen=True)
class _Text:
    text: str
    insight: str = "transcript"  # any embedded insight: only the text is read


@dataclass(frozen=True)
class SemanticState:
    """What the stored vectors were made with, against the configured model."""

    model: str                  #: the configured model's name
    digest: str                 #: its weights digest
    stored_model: str | None    #: the model the index was (re)built with; None: never
    stored_digest: str | None
    vectors: int                #: passages with a vector of the configured model
    other: int                  #: passages with another model's: not searched until rebuilt
    #: passages with no vector (indexed where the model was not installed or not asked for)
    missing: int = 0

    @property
    def current(self) -> bool:
        return (self.other == 0 and self.missing == 0
                and self.stored_digest in (None, self.digest))

    @property
    def message(self) -> str | None:
        """One line for the user when the index needs rebuilding, else None."""
        if self.current:
            return None
        if self.other or self.stored_digest not in (None, self.digest):
            return (f"the semantic index was built with"
                    f" {self.stored_model or 'another model'} ({self.stored_digest}); the"
                    f" configured model is {self.model} ({self.digest}):"
                    f" {self.other + self.missing} passages are left out of search by meaning"
                    " until `aiwork index rebuild` embeds them again")
        return (f"{self.missing} passages were indexed without their vector and are left out"
                " of search by meaning until `aiwork index rebuild` embeds them")


@dataclass(frozen=True)
class _Matrix:
    ids: NDArray[np.int64]          #: sorted passage ids
    vectors: NDArray[np.float32]    #: (len(ids), DIM), unit length


_matrices: OrderedDict[tuple[str, str], _Matrix] = OrderedDict()
_texts: OrderedDict[tuple[str, str], bytes] = OrderedDict()
_lock = threading.Lock()


def _meta(conn: Any, key: str) -> str | None:
    row = conn.execute("SELECT value FROM search_meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _set_meta(conn: Any, key: str, value: str) -> None:
    conn.execute("INSERT INTO search_meta (key, value) VALUES (?, ?) ON CONFLICT (key)"
                 " DO UPDATE SET value = excluded.value", (key, value))


def _changed(conn: Any) -> None:
    """A new version: every process's cached matrix of this store is read again."""
    _set_meta(conn, "vectors_version", secrets.token_hex(16))


class SemanticSearch:
    """Vectors of the index's passages, made by ``embedder``; the ``SemanticPart`` of
    :class:`~aiwork.search.index.SearchIndex`. Holds no connection: every method runs on the
    one it is given, inside the caller's transaction."""

    def __init__(self, embedder: Embedder, *, defer: bool = False) -> None:
        """``defer``: never run the model inside the index's transactions; a passage whose
        text has no stored or cached vector yet is left without one for :meth:`backfill`
        (for a server whose write transactions are shared by everything it does)."""
        self.embedder = embedder
        self.model = embedder.digest
        self.defer = defer

    def migrations(self) -> Sequence[Migration]:
        return MIGRATIONS

    # -- writing -----------------------------------------------------------------------------

    def embed(self, conn: Any, texts: Sequence[str]) -> dict[str, bytes]:
        """Text digest -> stored vector bytes for ``texts``, each stored in
        ``search_embeddings`` on ``conn``; a distinct text is embedded only when no vector of
        this model for it is stored or cached in this process."""
        wanted = {text_digest(t): t for t in texts}
        found = self._stored(conn, wanted)
        new = self._computed({d: t for d, t in wanted.items() if d not in found})
        self._store(conn, new)
        found.update(new)
        return found

    def _stored(self, conn: Any, wanted: dict[str, str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for chunk, marks in in_chunks(sorted(wanted)):
            for digest, blob in conn.execute(
                    "SELECT text_digest, vector FROM search_embeddings WHERE model = ?"
                    f" AND text_digest IN ({marks})", (self.model, *chunk)).fetchall():
                if len(blob) == _SIZE:
                    found[str(digest)] = bytes(blob)
        return found

    def _computed(self, wanted: dict[str, str]) -> dict[str, bytes]:
        """Vectors of ``wanted`` (digest -> text): from this process's cache, else the model
        (in batches). Touches no store."""
        new: dict[str, bytes] = {}
        with _lock:
            for digest in wanted:
                blob = _texts.get((self.model, digest))
                if blob is not None:
                    new[digest] = blob
        todo = [(d, t) for d, t in wanted.items() if d not in new]
        for start in range(0, len(todo), BATCH):
            batch = todo[start:start + BATCH]
            vectors = self.embedder.passages([t[:MAX_CHARS] for _, t in batch]).astype(STORED)
            for (digest, _), row in zip(batch, vectors, strict=True):
                new[digest] = row.tobytes()
        with _lock:
            for digest, blob in new.items():
                _texts[(self.model, digest)] = blob
                _texts.move_to_end((self.model, digest))
            while len(_texts) > TEXT_CACHE:
                _texts.popitem(last=False)
        return new

    def _store(self, conn: Any, new: dict[str, bytes]) -> None:
        if new:
            conn.executemany("INSERT INTO search_embeddings (model, text_digest, vector)"
                             " VALUES (?, ?, ?) ON CONFLICT (model, text_digest)"
                             " DO UPDATE SET vector = excluded.vector",
                             [(self.model, d, blob) for d, blob in sorted(new.items())])

    def prepare(self, db: Any, passages: Sequence[_HasText]) -> None:
        """Embed the texts of ``passages`` ahead of the transaction that will add them: the
        model runs outside any transaction, and the vectors are stored in
        ``search_embeddings`` in short transactions of their own (a vector per text digest is
        content, not index state: one that no passage comes to use is dropped by
        :meth:`prune`). Keeps the model's time (~30 ms a text) out of the write lock that the
        result's transaction holds."""
        wanted = {text_digest(p.text): p.text for p in passages
                  if p.insight not in NOT_EMBEDDED}
        with db.snapshot() as conn:
            known = self._stored(conn, wanted)
        todo = [(d, t) for d, t in wanted.items() if d not in known]
        for start in range(0, len(todo), BATCH):
            new = self._computed(dict(todo[start:start + BATCH]))
            with db.atomic() as conn:
                self._store(conn, new)

    def added(self, conn: Any, rows: Sequence[tuple[int, _HasText]]) -> None:
        """Passages just inserted: embed (what is not known yet) and store their vectors."""
        rows = [(pid, p) for pid, p in rows if p.insight not in NOT_EMBEDDED]
        if self.defer:
            wanted = {text_digest(p.text): p.text for _, p in rows}
            known = self._stored(conn, wanted)
            with _lock:
                cached = {d: _texts[(self.model, d)] for d in wanted.keys() - known.keys()
                          if (self.model, d) in _texts}
            self._store(conn, cached)
            known.update(cached)
            rows = [(pid, p) for pid, p in rows if text_digest(p.text) in known]
        else:
            self.embed(conn, [p.text for _, p in rows])
        if not rows:
            return
        conn.executemany(
            "INSERT INTO search_vectors (passage, model, text_digest) VALUES (?, ?, ?)"
            " ON CONFLICT (passage) DO UPDATE SET model = excluded.model,"
            " text_digest = excluded.text_digest",
            [(int(pid), self.model, text_digest(p.text)) for pid, p in rows])
        if _meta(conn, "embed_digest") is None:
            self._record_model(conn)
        _changed(conn)

    def removed(self, conn: Any, ids: Sequence[int]) -> None:
        """Passages just deleted: their vectors go (the texts' embeddings stay for reuse
        until :meth:`prune`)."""
        for chunk, marks in in_chunks([int(i) for i in ids]):
            conn.execute(f"DELETE FROM search_vectors WHERE passage IN ({marks})", chunk)
        _changed(conn)

    def cleared(self, conn: Any) -> None:
        """Every passage deleted (a rebuild starts): the index is now the configured
        model's; other models' embeddings go."""
        conn.execute("DELETE FROM search_vectors")
        conn.execute("DELETE FROM search_embeddings WHERE model <> ?", (self.model,))
        self._record_model(conn)
        _changed(conn)

    def prune(self, conn: Any) -> int:
        """Drop the embeddings no passage uses (after a rebuild); how many."""
        cursor = conn.execute(
            "DELETE FROM search_embeddings WHERE NOT EXISTS (SELECT 1 FROM search_vectors v"
            " WHERE v.model = search_embeddings.model"
            " AND v.text_digest = search_embeddings.text_digest)")
        return max(int(cursor.rowcount), 0)

    def backfill(self, db: Any, *, limit: int | None = None) -> int:
        """Give every passage without a current vector one: passages indexed without the
        model (a coordinator indexes in the transaction that accepts a result, and embeds
        afterwards), by another model, or whose text changed under the same id. The model runs
        outside any transaction; each batch of vectors is written in a short one. Returns how
        many passages got a vector (at most ``limit``)."""
        marks = ",".join("?" * len(NOT_EMBEDDED))
        with db.snapshot() as conn:
            rows = conn.execute(
                "SELECT p.id, p.text, v.model, v.text_digest FROM search_passages p"
                " LEFT JOIN search_vectors v ON v.passage = p.id"
                f" WHERE p.insight NOT IN ({marks}) ORDER BY p.id",
                tuple(sorted(NOT_EMBEDDED))).fetchall()
        todo = [(int(pid), str(text)) for pid, text, model, digest in rows
                if model != self.model or digest != text_digest(str(text))]
        if limit is not None:
            todo = todo[:max(limit, 0)]
        for start in range(0, len(todo), BATCH):
            batch = todo[start:start + BATCH]
            self.prepare(db, [_Text(text) for _, text in batch])  # the model, outside
            with db.atomic() as conn:  # (stored now: even a deferring part maps them)
                alive = {int(r[0]) for chunk, marks_ in in_chunks([p for p, _ in batch])
                         for r in conn.execute(
                             f"SELECT id FROM search_passages WHERE id IN ({marks_})",
                             chunk).fetchall()}
                self.added(conn, [(pid, _Text(text)) for pid, text in batch if pid in alive])
        return len(todo)

    def _record_model(self, conn: Any) -> None:
        _set_meta(conn, "embed_model", self.embedder.name)
        _set_meta(conn, "embed_digest", self.model)

    # -- reading -----------------------------------------------------------------------------

    def state(self, conn: Any) -> SemanticState:
        """The stored model against the configured one (see :attr:`SemanticState.message`)."""
        mine, other, missing = conn.execute(
            "SELECT COALESCE(SUM(CASE WHEN v.model = ? THEN 1 ELSE 0 END), 0),"
            " COALESCE(SUM(CASE WHEN v.model <> ? THEN 1 ELSE 0 END), 0),"
            " COALESCE(SUM(CASE WHEN v.model IS NULL THEN 1 ELSE 0 END), 0)"
            " FROM search_passages p LEFT JOIN search_vectors v ON v.passage = p.id"
            f" WHERE p.insight NOT IN ({','.join('?' * len(NOT_EMBEDDED))})",
            (self.model, self.model, *sorted(NOT_EMBEDDED))).fetchone()
        return SemanticState(self.embedder.name, self.model, _meta(conn, "embed_model"),
                             _meta(conn, "embed_digest"), int(mine), int(other),
                             int(missing))

    def _matrix(self, conn: Any) -> _Matrix:
        """This model's stored vectors, cached per process while the store's version is the
        one they were read at (a version is random: it names one state of one store)."""
        key = (self.model, _meta(conn, "vectors_version") or "")
        with _lock:
            cached = _matrices.get(key)
            if cached is not None:
                _matrices.move_to_end(key)
                return cached
        rows = conn.execute(
            "SELECT v.passage, e.vector FROM search_vectors v JOIN search_embeddings e"
            " ON e.model = v.model AND e.text_digest = v.text_digest"
            " JOIN search_passages p ON p.id = v.passage WHERE v.model = ?"
            " ORDER BY v.passage", (self.model,)).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        blob = b"".join(bytes(r[1]) if len(r[1]) == _SIZE else bytes(_SIZE) for r in rows)
        vectors = np.frombuffer(blob, dtype=STORED).reshape(len(rows), DIM).astype(np.float32)
        matrix = _Matrix(ids, vectors)
        if key[1]:
            with _lock:
                _matrices[key] = matrix
                while len(_matrices) > MATRICES:
                    _matrices.popitem(last=False)
        return matrix

    def rank(self, conn: Any, text: str, where: str, params: Sequence[Any], limit: int
             ) -> list[tuple[int, float]]:
        """The ``limit`` passages nearest ``text`` (embedded as a query), best first, with
        their cosine; only among rows of ``search_passages p`` where ``where`` holds (the
        caller's filters). Exact brute force."""
        if limit <= 0 or not text.strip():
            return []
        matrix = self._matrix(conn)
        if not len(matrix.ids):
            return []
        candidates = None
        if where.strip() != "1 = 1":
            candidates = [int(r[0]) for r in conn.execute(
                f"SELECT p.id FROM search_passages p WHERE {where}", tuple(params)).fetchall()]
        found = nearest(matrix, self.embedder.query(text), candidates, limit)
        return _in_stable_order(conn, found, limit)


def load_semantic(folder: str | None = None) -> SemanticSearch:
    """The semantic part with the configured model (:func:`~aiwork.search.embed.load_embedder`:
    ``folder``, ``AIWORK_EMBED_MODEL`` or the packaged one); :class:`AnalyzerUnavailable`
    when it is not installed."""
    return SemanticSearch(load_embedder(folder))


def default_semantic() -> SemanticSearch | None:
    """The semantic part where its model is installed, else None (search by words only)."""
    try:
        return load_semantic()
    except AnalyzerUnavailable:
        return None


def _in_stable_order(conn: Any, found: list[tuple[int, float]], limit: int
                     ) -> list[tuple[int, float]]:
    """``found`` with equal similarities (identical texts: a caption that is also a keyword)
    ordered by video, insight, job and id, as the text ranking orders its ties, so a rebuilt
    index (new row ids) ranks as the incremental one did; cut to ``limit``."""
    scores = [score for _, score in found]
    if len(set(scores)) == len(scores):
        return found[:limit]
    ids = [pid for pid, _ in found]
    keys: dict[int, tuple[str, str, str]] = {}
    for chunk, marks in in_chunks(ids):
        for pid, video, insight, job in conn.execute(
                "SELECT id, video, insight, job FROM search_passages"
                f" WHERE id IN ({marks})", chunk).fetchall():
            keys[int(pid)] = (str(video), str(insight), str(job))
    ordered = sorted(found, key=lambda f: (-f[1], keys.get(f[0], ("", "", "")), f[0]))
    return ordered[:limit]


def nearest(matrix: _Matrix, vector: NDArray[np.float32], candidates: Sequence[int] | None,
            limit: int) -> list[tuple[int, float]]:
    """Top ``limit`` (id, cosine) of ``matrix`` against ``vector``, within ``candidates``;
    more when others tie with the last one's similarity (all of them are returned)."""
    ids, vectors = matrix.ids, matrix.vectors
    rows: NDArray[np.intp] | None = None
    if candidates is None:
        scores = vectors @ vector
    else:
        wanted = np.unique(np.asarray(candidates, dtype=np.int64))
        pos = np.searchsorted(ids, wanted)
        inside = pos < len(ids)
        pos, wanted = pos[inside], wanted[inside]
        rows = pos[ids[pos] == wanted]
        if not len(rows):
            return []
        # A filter that keeps most passages: one product over all beats a gathered copy.
        scores = ((vectors @ vector)[rows] if len(rows) * 4 > len(ids)
                  else vectors[rows] @ vector)
    top = min(limit, len(scores))
    best = np.argpartition(-scores, top - 1)[:top]
    best = np.flatnonzero(scores >= scores[best].min())  # with the last one's ties
    best = best[np.argsort(-scores[best], kind="stable")]
    chosen = best if rows is None else rows[best]
    return [(int(ids[i]), float(scores[j])) for i, j in zip(chosen, best, strict=True)]
