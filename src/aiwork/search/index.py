"""The library search index: one interface over the store, two backends by its dialect.

- SQLite (the embedded default): an FTS5 table (``porter unicode61 remove_diacritics 2``)
  over the passages, ranked by BM25 (``bm25()``), matches marked by ``highlight()``. Porter
  stems English only; other languages are matched word for word (the stemmer leaves most
  of their words as they are, and queries go through the same stemmer).
- PostgreSQL: a ``tsvector`` column with a GIN index, each passage's vector built with the
  text search configuration of its language (``english``, ``french``, ``german``... and
  ``simple`` when the language is unknown or has none), queries built from the parsed terms
  with ``plainto_tsquery``/``phraseto_tsquery``/``to_tsquery`` per configuration (never the
  user's text as ``tsquery`` syntax), ranked by ``ts_rank_cd``, matches marked by
  ``ts_headline``.

Diacritics are folded in Python (:func:`aiwork.search.passages.fold`) before indexing and
before querying, on both backends alike, so "cafe" finds "café" without a database
extension (``unaccent`` needs a privilege a store's user may lack); the fold keeps every
character's position, so a match's offsets point into the passage's own text.

Rows are the passages of (video, insight, job); :meth:`SearchIndex.replace` swaps them
inside the caller's open transaction (a savepoint), so a result and its index rows commit
together or not at all.

Semantic ranking is another part (:mod:`aiwork.search.semantic`) plugged in as
``SearchIndex(db, embedder=...)`` (:class:`SemanticPart`); without one, ``hybrid`` is text
ranking alone and ``semantic`` is refused with a clear error.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from aiwork.errors import SearchQueryError
from aiwork.search.fusion import RRF_K, reciprocal_rank_fusion
from aiwork.search.passages import Passage, fold
from aiwork.search.query import ParsedQuery, parse_insights, parse_query
from aiwork.search.sql import (MARK_END, MARK_START, MIGRATIONS, fts5_match, offsets,
                               pg_config, pg_match, pg_tsquery)
from aiwork.store import Database, Migration

__all__ = ["MAX_LIMIT", "MIGRATIONS", "MODES", "RRF_K", "Hit", "SearchIndex", "SearchQuery",
           "SemanticPart", "pg_config"]

MODES = ("hybrid", "text", "semantic")
#: The most hits one search returns.
MAX_LIMIT = 200
#: Candidates each ranking gives the fusion: this many times the limit, at least 50.
FUSION_DEPTH = 3
#: Videos one search may be narrowed to (the jobs a caller may read are not bounded: the
#: coordinator gives them, any number, as one parameter).
MAX_FILTER = 10_000


@dataclass
class SearchQuery:
    """What to search for, and where. ``None`` filters mean all; ``jobs``: the coordinator
    passes the jobs the caller may read (the embedded store's passages have no job)."""

    text: str
    insights: frozenset[str] | None = None
    videos: frozenset[str] | None = None
    jobs: frozenset[str] | None = None
    mode: Literal["hybrid", "text", "semantic"] = "hybrid"
    limit: int = 20


@dataclass
class Hit:
    passage: Passage
    video_name: str | None
    score: float  #: higher is better; text: BM25 / ts_rank_cd; hybrid: reciprocal rank fusion
    text_rank: int | None  #: 1-based rank in the text ranking; None: not found by text
    semantic_rank: int | None  #: 1-based rank in the semantic ranking; None: not by it
    #: Character offsets ``(start, end)`` of the matches in ``passage.text``.
    highlights: list[tuple[int, int]] = field(default_factory=list)

    @property
    def moment(self) -> float | None:
        """Where the match is heard: the start of the first matched transcript word, else
        the passage's start."""
        for first, _ in self.highlights:
            for begin, end, start, _stop in self.passage.words:
                if begin <= first < end or first < begin:
                    return start
        return self.passage.start

    def to_json(self) -> dict[str, Any]:
        """The hit as JSON (``aiwork search --json``, one object per line):
        ``video`` ``{digest, name}``, ``insight``, ``item`` (its id within the decision's
        output), ``start``/``end`` (seconds; null for a file name), ``moment`` (where the
        match is heard, see :attr:`moment`), ``text``, ``highlights`` (``[start, end]``
        character offsets into ``text``), ``score`` (higher is better), ``text_rank`` and
        ``semantic_rank`` (1-based; null when that ranking did not find it), ``decision``
        (the ledger index of the decision it came from), ``language``, ``job``."""
        p = self.passage
        return {"video": {"digest": p.video, "name": self.video_name}, "insight": p.insight,
                "item": p.item, "start": p.start, "end": p.end, "moment": self.moment,
                "text": p.text, "highlights": [list(span) for span in self.highlights],
                "score": round(self.score, 6), "text_rank": self.text_rank,
                "semantic_rank": self.semantic_rank, "decision": p.decision,
                "language": p.language, "job": p.job}


class SemanticPart(Protocol):
    """The semantic side of the index (:mod:`aiwork.search.semantic`), called by
    :class:`SearchIndex` inside its own transactions. Passages are named by their row id
    in ``search_passages``."""

    def migrations(self) -> Sequence[Migration]:
        """Its tables (applied after the text index's)."""
        ...

    def added(self, conn: Any, rows: Sequence[tuple[int, Passage]]) -> None:
        """Passages just inserted (embed and store them), in the caller's transaction."""
        ...

    def removed(self, conn: Any, ids: Sequence[int]) -> None:
        """Passages just deleted."""
        ...

    def cleared(self, conn: Any) -> None:
        """Every passage deleted."""
        ...

    def rank(self, conn: Any, text: str, where: str, params: Sequence[Any], limit: int
             ) -> list[tuple[int, float]]:
        """The ids of the ``limit`` passages nearest ``text``, best first, with their
        similarity; only among rows of ``search_passages p`` where the SQL condition
        ``where`` (with ``?`` placeholders for ``params``) holds: the caller's filters,
        which it must apply (they hold the jobs the caller may read)."""
        ...

    def prepare(self, db: Any, passages: Sequence[Passage]) -> None:
        """Embed the texts of ``passages`` before the transaction that adds them (in short
        transactions of its own), so the model's time is not spent holding the store's
        write lock."""
        ...

    def prune(self, conn: Any) -> int:
        """After a rebuild: drop stored vectors no passage uses; how many."""
        ...

    def state(self, conn: Any) -> Any:
        """What the stored vectors were made with against the configured model
        (:class:`aiwork.search.semantic.SemanticState`: ``current``, ``message``)."""
        ...


#: The condition of a search with no filter.
_ALL = "1 = 1"

_COLUMNS = ("p.id, p.video, p.insight, p.job, p.item, p.start_s, p.end_s, p.text,"
            " p.decision, p.language, p.words")


def _passage(row: Sequence[Any]) -> Passage:
    words = tuple(tuple(w) for w in json.loads(row[10])) if row[10] else ()
    return Passage(video=row[1], insight=row[2], item=row[4],
                   start=None if row[5] is None else float(row[5]),
                   end=None if row[6] is None else float(row[6]), text=row[7],
                   decision=None if row[8] is None else int(row[8]), language=row[9],
                   job=row[3] or None,
                   words=tuple((int(a), int(b), float(c), float(d)) for a, b, c, d in words))


class SearchIndex:
    """Passages of every processed video, searchable by words and (with an ``embedder``)
    by meaning."""

    def __init__(self, db: Database, *, embedder: SemanticPart | None = None) -> None:
        self.db = db
        self.embedder = embedder
        self.postgres = getattr(db, "dialect", "sqlite") == "postgresql"
        #: True when this opening created the index's tables (an older store: its results
        #: are not indexed yet; the catalog then builds the index from them).
        self.created = bool(db.migrate(MIGRATIONS))
        if embedder is not None:
            db.migrate(list(embedder.migrations()))
        self._pg_known: set[str] | None = None

    # -- writing -------------------------------------------------------------------------

    def replace(self, video: str, insight: str, passages: Iterable[Passage], *,
                job: str | None = None) -> None:
        """Make ``passages`` the indexed passages of ``insight`` of ``video`` (of ``job``:
        None on the embedded store). Runs in the caller's open transaction when there is
        one (as a savepoint), so what is indexed commits with the result it comes from."""
        rows = [p for p in passages if p.video == video and p.insight == insight]
        owner = job or ""
        with self.db.atomic() as conn:
            old = [int(r[0]) for r in conn.execute(
                "SELECT id FROM search_passages WHERE video = ? AND insight = ? AND job = ?",
                (video, insight, owner)).fetchall()]
            if old:
                conn.execute(
                    "DELETE FROM search_passages WHERE video = ? AND insight = ? AND job = ?",
                    (video, insight, owner))
                if self.embedder is not None:
                    self.embedder.removed(conn, old)
            added = self._insert(conn, rows, owner)
            if self.embedder is not None and added:
                self.embedder.added(conn, added)

    def _insert(self, conn: Any, passages: Sequence[Passage], owner: str
                ) -> list[tuple[int, Passage]]:
        if not passages:
            return []
        values = [(p.video, p.insight, owner, p.item, p.start, p.end, p.text, fold(p.text),
                   p.decision, p.language,
                   json.dumps([list(w) for w in p.words]) if p.words else None)
                  for p in passages]
        if self.postgres:
            return self._insert_pg(conn, passages, values)
        added: list[tuple[int, Passage]] = []
        for p, row_values in zip(passages, values, strict=True):
            row = conn.execute(
                "INSERT INTO search_passages (video, insight, job, item, start_s, end_s,"
                " text, ftext, decision, language, words, config) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'porter') RETURNING id",
                row_values).fetchone()
            added.append((int(row[0]), p))
        return added

    def _insert_pg(self, conn: Any, passages: Sequence[Passage],
                   values: list[tuple[Any, ...]]) -> list[tuple[int, Passage]]:
        """One statement for all the rows (a round trip each would dominate): their ids
        drawn first, then the columns as arrays, each vector built in the server."""
        ids = sorted(int(r[0]) for r in conn.execute(
            "SELECT nextval('search_passages_id_seq') FROM generate_series(1, ?)",
            (len(passages),)).fetchall())
        configs = [self._pg_config(conn, p.language) for p in passages]
        columns = [list(c) for c in zip(*values, strict=True)]
        conn.execute(
            "INSERT INTO search_passages (id, video, insight, job, item, start_s, end_s, text,"
            " ftext, decision, language, words, config, tsv)"
            " SELECT id, video, insight, job, item, start_s, end_s, text, ftext, decision,"
            " language, words, config, to_tsvector(config::regconfig, ftext)"
            " FROM unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[],"
            " ?::float8[], ?::float8[], ?::text[], ?::text[], ?::bigint[], ?::text[],"
            " ?::text[], ?::text[]) AS t(id, video, insight, job, item, start_s, end_s, text,"
            " ftext, decision, language, words, config)",
            (ids, *columns, configs))
        for config in sorted(set(configs)):
            conn.execute("INSERT INTO search_configs (config) VALUES (?)"
                         " ON CONFLICT (config) DO NOTHING", (config,))
        return list(zip(ids, passages, strict=True))

    def _pg_config(self, conn: Any, language: str | None) -> str:
        """The configuration for ``language`` if this server has it, else ``simple``."""
        if self._pg_known is None:
            self._pg_known = {str(r[0]) for r in
                              conn.execute("SELECT cfgname FROM pg_ts_config").fetchall()}
        config = pg_config(language)
        return config if config in self._pg_known else "simple"

    def prepare(self, passages: Iterable[Passage]) -> None:
        """Embed the texts of ``passages`` about to be indexed, before the caller opens the
        transaction that indexes them (nothing when there is no semantic part)."""
        if self.embedder is not None:
            self.embedder.prepare(self.db, list(passages))

    def rebuilt(self) -> None:
        """Call after a rebuild added every passage again (in its transaction): the semantic
        part drops the vectors no passage uses any more."""
        if self.embedder is not None:
            with self.db.atomic() as conn:
                self.embedder.prune(conn)

    def semantic_state(self) -> Any | None:
        """:class:`aiwork.search.semantic.SemanticState` of the stored vectors against the
        configured model (its ``message`` says when ``aiwork index rebuild`` is needed);
        None without a semantic part."""
        if self.embedder is None:
            return None
        with self.db.snapshot() as conn:
            return self.embedder.state(conn)

    def remove(self, video: str, *, job: str | None = None) -> None:
        """Take every passage of ``video`` (of ``job``) out of the index."""
        with self.db.atomic() as conn:
            old = [int(r[0]) for r in conn.execute(
                "SELECT id FROM search_passages WHERE video = ? AND job = ?",
                (video, job or "")).fetchall()]
            conn.execute("DELETE FROM search_passages WHERE video = ? AND job = ?",
                         (video, job or ""))
            if self.embedder is not None and old:
                self.embedder.removed(conn, old)

    def clear(self) -> None:
        """Empty the index (before a rebuild)."""
        with self.db.atomic() as conn:
            conn.execute("DELETE FROM search_passages")
            if not self.postgres:
                conn.execute("INSERT INTO search_fts (search_fts) VALUES ('delete-all')")
            if self.embedder is not None:
                self.embedder.cleared(conn)

    # -- reading -------------------------------------------------------------------------

    def count(self) -> int:
        row = self.db.conn.execute("SELECT COUNT(*) FROM search_passages").fetchone()
        return int(row[0])

    def passages(self, video: str | None = None) -> list[Passage]:
        """Every indexed passage (of ``video``), in a stable order: what a rebuilt index
        is compared with."""
        where, params = ("WHERE p.video = ?", (video,)) if video is not None else ("", ())
        rows = self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM search_passages p {where}"
            " ORDER BY p.video, p.insight, p.job, p.id", params).fetchall()
        return [_passage(row) for row in rows]

    def video_names(self, videos: Iterable[str]) -> dict[str, str]:
        """The indexed file name of each video that has one."""
        wanted = sorted(set(videos))
        if not wanted:
            return {}
        where, params = self._in("video", wanted)
        rows = self.db.conn.execute(
            f"SELECT video, text FROM search_passages WHERE insight = 'name' AND {where}"
            " ORDER BY id", params).fetchall()
        return {str(v): str(t) for v, t in rows}

    def _in(self, column: str, values: Sequence[str]) -> tuple[str, list[Any]]:
        """``column`` is one of ``values`` (any number of them, one parameter)."""
        if self.postgres:
            return f"{column} = ANY(?)", [list(values)]
        return f"{column} IN (SELECT value FROM json_each(?))", [json.dumps(list(values))]

    def _filters(self, q: SearchQuery) -> tuple[str, list[Any]]:
        """The SQL condition on ``search_passages p`` for the query's filters."""
        parts: list[str] = []
        params: list[Any] = []
        for column, values in (("p.insight", q.insights), ("p.video", q.videos),
                               ("p.job", q.jobs)):
            if values is None:
                continue
            chosen = sorted({"" if v is None else str(v) for v in values})
            if column == "p.video" and len(chosen) > MAX_FILTER:
                raise SearchQueryError(
                    f"a search may be narrowed to at most {MAX_FILTER} {column[2:]}s;"
                    f" {len(chosen)} were given")
            if not chosen:
                parts.append("1 = 0")
                continue
            where, more = self._in(column, chosen)
            parts.append(where)
            params += more
        return " AND ".join(parts) or _ALL, params

    def search(self, q: SearchQuery) -> list[Hit]:
        """Hits best first. :class:`SearchQueryError` for a query that cannot be searched
        (empty, too long, no word, an unknown insight or mode, semantic search without
        a model)."""
        if q.mode not in MODES:
            raise SearchQueryError(f"unknown search mode {str(q.mode)[:20]!r}; use one of"
                                   f" {', '.join(MODES)}")
        if isinstance(q.limit, bool) or not isinstance(q.limit, int) or not (
                1 <= q.limit <= MAX_LIMIT):
            raise SearchQueryError(f"the limit must be a number of hits from 1 to {MAX_LIMIT}")
        if q.mode == "semantic" and self.embedder is None:
            raise SearchQueryError(
                "semantic search needs its model, which is not installed here; search by"
                " words instead (--text)")
        parse_insights(q.insights)  # unknown names are refused
        parsed = parse_query(q.text)  # every mode: the same bounds and messages
        where, params = self._filters(q)
        depth = q.limit if q.mode == "text" or self.embedder is None else max(
            50, q.limit * FUSION_DEPTH)
        with self.db.snapshot() as conn:
            text_ranked: list[tuple[int, float]] = []
            if q.mode != "semantic":
                text_ranked = self._text_rank(conn, parsed, where, params, depth)
            semantic_ranked: list[tuple[int, float]] = []
            if q.mode != "text" and self.embedder is not None:
                semantic_ranked = self.embedder.rank(conn, q.text, where, params, depth)
            return self._hits(conn, q, parsed, text_ranked, semantic_ranked)

    def _hits(self, conn: Any, q: SearchQuery, parsed: ParsedQuery | None,
              text_ranked: list[tuple[int, float]], semantic_ranked: list[tuple[int, float]]
              ) -> list[Hit]:
        text_rank = {pid: n for n, (pid, _) in enumerate(text_ranked, 1)}
        semantic_rank = {pid: n for n, (pid, _) in enumerate(semantic_ranked, 1)}
        if q.mode == "text" or self.embedder is None:
            scored = list(text_ranked)
        elif q.mode == "semantic":
            scored = list(semantic_ranked)
        else:  # reciprocal rank fusion of both rankings (aiwork.search.fusion)
            scored = [(f.key, f.score) for f in reciprocal_rank_fusion(
                [[pid for pid, _ in text_ranked], [pid for pid, _ in semantic_ranked]])]
        scored = scored[:q.limit]
        ids = [pid for pid, _ in scored]
        if not ids:
            return []
        where, params = (("p.id = ANY(?)", [ids]) if self.postgres else
                         ("p.id IN (SELECT value FROM json_each(?))", [json.dumps(ids)]))
        rows = {int(r[0]): r for r in conn.execute(
            f"SELECT {_COLUMNS} FROM search_passages p WHERE {where}", params).fetchall()}
        marks = self._highlights(conn, parsed, [i for i in ids if i in text_rank]) if parsed \
            else {}
        names = self.video_names(str(rows[i][1]) for i in ids if i in rows)
        hits = []
        for pid, score in scored:
            row = rows.get(pid)
            if row is None:
                continue
            passage = _passage(row)
            hits.append(Hit(passage, names.get(passage.video), float(score),
                            text_rank.get(pid), semantic_rank.get(pid), marks.get(pid, [])))
        return hits

    # -- the text ranking, per backend ------------------------------------------------------

    def _text_rank(self, conn: Any, parsed: ParsedQuery, where: str, params: list[Any],
                   limit: int) -> list[tuple[int, float]]:
        if self.postgres:
            configs = self._pg_configs(conn)
            if not configs:
                return []
            match, match_params, rank, rank_params = pg_match(parsed, configs)
            rows = conn.execute(
                f"SELECT p.id, ts_rank_cd(p.tsv, {rank}) AS r FROM search_passages p"
                f" WHERE ({match}) AND {where} ORDER BY r DESC, p.id LIMIT ?",
                (*rank_params, *match_params, *params, limit)).fetchall()
            return [(int(r[0]), float(r[1])) for r in rows]
        if where == _ALL:  # no filter: the FTS index alone, no row of the table read
            rows = conn.execute(
                "SELECT rowid, bm25(search_fts) AS r FROM search_fts WHERE search_fts MATCH ?"
                " ORDER BY r, rowid LIMIT ?", (fts5_match(parsed), limit)).fetchall()
        else:
            rows = conn.execute(
                "SELECT p.id, bm25(search_fts) AS r FROM search_fts"
                " JOIN search_passages p ON p.id = search_fts.rowid"
                f" WHERE search_fts MATCH ? AND {where} ORDER BY r, p.id LIMIT ?",
                (fts5_match(parsed), *params, limit)).fetchall()
        # bm25() is lower for better matches; the hit's score is higher for better.
        return [(int(r[0]), -float(r[1])) for r in rows]

    def _pg_configs(self, conn: Any) -> list[str]:
        return [str(r[0]) for r in
                conn.execute("SELECT config FROM search_configs ORDER BY config").fetchall()]

    def _highlights(self, conn: Any, parsed: ParsedQuery, ids: list[int]
                    ) -> dict[int, list[tuple[int, int]]]:
        if not ids:
            return {}
        options = f"HighlightAll=true, StartSel={MARK_START}, StopSel={MARK_END}"
        if self.postgres:
            configs = self._pg_configs(conn)
            cases, case_params = [], []
            for config in configs:
                expression, more = pg_tsquery(parsed, config)
                cases.append(f"WHEN ? THEN {expression}")
                case_params += [config, *more]
            rows = conn.execute(
                "SELECT p.id, p.text, ts_headline(p.config::regconfig, p.ftext,"
                f" CASE p.config {' '.join(cases)} END, ?) FROM search_passages p"
                " WHERE p.id = ANY(?)", (*case_params, options, ids)).fetchall()
        else:
            rows = conn.execute(
                "SELECT p.id, p.text, highlight(search_fts, 0, char(2), char(3))"
                " FROM search_fts JOIN search_passages p ON p.id = search_fts.rowid"
                " WHERE search_fts MATCH ? AND search_fts.rowid IN"
                " (SELECT value FROM json_each(?))",
                (fts5_match(parsed), json.dumps(ids))).fetchall()
        return {int(r[0]): offsets(str(r[2]), str(r[1])) for r in rows if r[2] is not None}
