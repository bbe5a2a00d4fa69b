"""The SQL of the library search index, per backend: its tables (a named migration), the
PostgreSQL text search configuration of each language, and the query text built from a
parsed query (FTS5 string literals; ``tsquery`` functions), with the marks that tell a match's
offsets. Nothing of a user's text is ever written into the SQL: terms are parameters, and
their words letters and digits only (:mod:`aiwork.search.query`)."""

from __future__ import annotations

import sqlite3
from typing import Any

from aiwork.search.passages import fold
from aiwork.search.query import ParsedQuery, Term
from aiwork.store import Migration

__all__ = ["MARK_END", "MARK_START", "MIGRATIONS", "fts5_match", "offsets", "pg_config",
           "pg_match", "pg_tsquery"]

MARK_START, MARK_END = "\x02", "\x03"  # control characters: never in a passage's text

_SQLITE_TABLES = (
    "CREATE TABLE search_passages (id INTEGER PRIMARY KEY, video TEXT NOT NULL,"
    " insight TEXT NOT NULL, job TEXT NOT NULL, item TEXT, start_s REAL, end_s REAL,"
    " text TEXT NOT NULL, ftext TEXT NOT NULL, decision INTEGER, language TEXT,"
    " words TEXT, config TEXT NOT NULL)",
    "CREATE INDEX search_passages_owner ON search_passages (video, insight, job)",
    "CREATE INDEX search_passages_job ON search_passages (job)",
    "CREATE VIRTUAL TABLE search_fts USING fts5(ftext, content='search_passages',"
    " content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER search_passages_added AFTER INSERT ON search_passages BEGIN"
    " INSERT INTO search_fts (rowid, ftext) VALUES (new.id, new.ftext); END",
    "CREATE TRIGGER search_passages_removed AFTER DELETE ON search_passages BEGIN"
    " INSERT INTO search_fts (search_fts, rowid, ftext) VALUES ('delete', old.id, old.ftext);"
    " END",
)

_POSTGRES_TABLES = (
    "CREATE TABLE search_passages (id BIGSERIAL PRIMARY KEY, video TEXT NOT NULL,"
    " insight TEXT NOT NULL, job TEXT NOT NULL, item TEXT, start_s DOUBLE PRECISION,"
    " end_s DOUBLE PRECISION, text TEXT NOT NULL, ftext TEXT NOT NULL, decision BIGINT,"
    " language TEXT, words TEXT, config TEXT NOT NULL, tsv TSVECTOR NOT NULL)",
    "CREATE INDEX search_passages_owner ON search_passages (video, insight, job)",
    "CREATE INDEX search_passages_job ON search_passages (job)",
    "CREATE INDEX search_passages_tsv ON search_passages USING GIN (tsv)",
    # The text search configurations in use, so a query is built for each (a few rows).
    "CREATE TABLE search_configs (config TEXT PRIMARY KEY)",
)


def _tables(conn: Any) -> None:
    for statement in (_SQLITE_TABLES if isinstance(conn, sqlite3.Connection)
                      else _POSTGRES_TABLES):
        conn.execute(statement)


MIGRATIONS = [Migration("search-0001-passages", _tables)]

#: ISO 639-1 code -> PostgreSQL text search configuration (those PostgreSQL ships).
_PG_CONFIGS = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "da": "danish",
    "nl": "dutch", "en": "english", "fi": "finnish", "fr": "french", "de": "german",
    "el": "greek", "hi": "hindi", "hu": "hungarian", "id": "indonesian", "ga": "irish",
    "it": "italian", "lt": "lithuanian", "ne": "nepali", "no": "norwegian",
    "nb": "norwegian", "pt": "portuguese", "ro": "romanian", "ru": "russian",
    "sr": "serbian", "es": "spanish", "sv": "swedish", "ta": "tamil", "tr": "turkish",
    "yi": "yiddish",
}


def pg_config(language: str | None) -> str:
    """The PostgreSQL text search configuration for a passage in ``language``."""
    return _PG_CONFIGS.get(language or "", "simple")


def offsets(marked: str, plain: str) -> list[tuple[int, int]]:
    """The spans between the start and end marks of ``marked``, as offsets into the text
    without the marks; none when that text is not ``plain`` folded (nothing to point into)."""
    spans: list[tuple[int, int]] = []
    out: list[str] = []
    start: int | None = None
    at = 0
    for char in marked:
        if char == MARK_START:
            start = at
        elif char == MARK_END:
            if start is not None and at > start:
                spans.append((start, at))
            start = None
        else:
            out.append(char)
            at += 1
    return spans if "".join(out) == fold(plain) else []


def fts5_match(parsed: ParsedQuery) -> str:
    """An FTS5 query from the parsed terms: each a string literal (its words are letters
    and digits only, so no quote or operator can be in it), all required."""
    parts = []
    for term in parsed.terms:
        literal = '"' + " ".join(term.words).replace('"', '""') + '"'
        parts.append(literal + (" *" if term.prefix else ""))
    return " AND ".join(parts)


def _pg_term(term: Term, config: str) -> tuple[str, list[Any]]:
    if not term.prefix:
        function = "phraseto_tsquery" if term.phrase else "plainto_tsquery"
        return f"{function}(?::regconfig, ?)", [config, " ".join(term.words)]
    # The words are letters and digits only: quoted, the last one a prefix, never syntax.
    last = "to_tsquery(?::regconfig, ?)"
    if not term.phrase:
        return last, [config, f"'{term.words[-1]}':*"]
    return (f"tsquery_phrase(phraseto_tsquery(?::regconfig, ?), {last})",
            [config, " ".join(term.words[:-1]), config, f"'{term.words[-1]}':*"])


def pg_tsquery(parsed: ParsedQuery, config: str) -> tuple[str, list[Any]]:
    parts, params = [], []
    for term in parsed.terms:
        expression, more = _pg_term(term, config)
        parts.append(expression)
        params += more
    return "(" + " && ".join(parts) + ")", params


def pg_match(parsed: ParsedQuery, configs: list[str]) -> tuple[str, list[Any], str, list[Any]]:
    """The match condition (each configuration's passages against the query built with
    that configuration: a GIN index scan each) and the rank's query (by the row's
    configuration)."""
    matches, match_params, cases, case_params = [], [], [], []
    for config in configs:
        expression, more = pg_tsquery(parsed, config)
        matches.append(f"(p.config = ? AND p.tsv @@ {expression})")
        match_params += [config, *more]
        cases.append(f"WHEN ? THEN {expression}")
        case_params += [config, *more]
    return (" OR ".join(matches), match_params, f"CASE p.config {' '.join(cases)} END",
            case_params)
