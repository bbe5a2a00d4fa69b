"""Library search over a real store: SQLite FTS5 and PostgreSQL full-text search, both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiwork.errors import SearchQueryError
from aiwork.ledger.log import Log
from aiwork.pipeline.catalog import Catalog, StoredAsset, StoredResult
from aiwork.search.index import Hit, SearchIndex, SearchQuery
from aiwork.search.passages import MAX_TEXT, Passage, passages_of
from aiwork.search.query import parse_query

VIDEO_A = "sha256:" + "a" * 64
VIDEO_B = "sha256:" + "b" * 64


def _transcript(*segments: tuple[float, float, str], language: str = "en") -> dict[str, Any]:
    out = []
    for n, (start, end, text) in enumerate(segments):
        words, at = [], start
        step = (end - start) / max(1, len(text.split()))
        for word in text.split():
            words.append({"text": word, "start": round(at, 3), "end": round(at + step, 3)})
            at += step
        out.append({"id": n, "text": text, "language": language, "words": words,
                    "instances": [{"start": start, "end": end}]})
    return {"language": language, "segments": out}


def _fill(catalog: Catalog) -> None:
    """Two videos: A speaks of a budget deficit and shows EXIT; B is about harvests."""
    with catalog.db.atomic():
        catalog.add_asset(StoredAsset(VIDEO_A, "council-meeting.mp4", 10, "video/mp4", 0, None))
        catalog.add_asset(StoredAsset(VIDEO_B, "farm report.mp4", 10, "video/mp4", 1, None))
    catalog.save_result(VIDEO_A, StoredResult("transcript", "1", "p", "transcript", 2, _transcript(
        (0.0, 4.0, "Welcome to the council meeting."),
        (4.0, 9.5, "The budget deficit grew again this year."),
        (9.5, 12.0, "We will meet at the café after the vote."),
        (12.0, 15.0, "Budgets, budgets and more budgets."),
    )))
    catalog.save_result(VIDEO_A, StoredResult("ocr", "1", "p", "ocr", 3, [
        {"id": 0, "text": "EXIT", "instances": [{"start": 2.0, "end": 3.5},
                                                {"start": 20.0, "end": 21.0}]},
        {"id": 1, "text": "Naïve résumé", "instances": [{"start": 5.0, "end": 6.0}]},
    ]))
    catalog.save_result(VIDEO_B, StoredResult("chapters", "1", "p", "chapters", 4, [
        {"id": 0, "title": "The harvest begins", "keywords": ["wheat"],
         "instances": [{"start": 0.0, "end": 30.0}]},
        {"id": 1, "title": "Markets", "instances": [{"start": 30.0, "end": 60.0}]},
    ]))
    catalog.save_result(VIDEO_B, StoredResult("keywords", "1", "p", "keywords", 5, [
        {"id": 0, "text": "budget", "score": 0.1, "instances": [{"start": 40.0, "end": 41.0}]},
    ]))
    # Shots are not searched: no passages, no error.
    catalog.save_result(VIDEO_B, StoredResult("shots", "1", "p", "shots", 6, [
        {"id": 0, "instances": [{"start": 0.0, "end": 60.0}]}]))


@pytest.fixture
def catalog(log: Log) -> Catalog:
    catalog = Catalog(log.db)
    _fill(catalog)
    return catalog


def _search(catalog: Catalog, text: str, **kw: Any) -> list[Hit]:
    return catalog.search.search(SearchQuery(text, **kw))


def _marked(hit: Hit) -> list[str]:
    return [hit.passage.text[a:b] for a, b in hit.highlights]


def test_words_find_the_moment_with_its_decision(catalog: Catalog) -> None:
    hits = _search(catalog, "deficit")
    assert len(hits) == 1
    hit = hits[0]
    assert hit.passage.video == VIDEO_A and hit.video_name == "council-meeting.mp4"
    assert hit.passage.insight == "transcript" and hit.passage.item == "1"
    assert (hit.passage.start, hit.passage.end) == (4.0, 9.5)
    assert hit.passage.decision == 2 and hit.text_rank == 1 and hit.semantic_rank is None
    assert _marked(hit) == ["deficit"]
    # The matched word's own time, from the transcript's words.
    assert hit.moment is not None and 5.0 < hit.moment < 7.0


def test_ranking_prefers_the_denser_match(catalog: Catalog) -> None:
    hits = _search(catalog, "budget")
    texts = [h.passage.text for h in hits]
    assert texts[0] == "Budgets, budgets and more budgets."
    assert {h.passage.insight for h in hits} == {"transcript", "keywords"}
    assert [h.text_rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))


def test_phrase_and_prefix(catalog: Catalog) -> None:
    assert [h.passage.text for h in _search(catalog, '"budget deficit"')] == [
        "The budget deficit grew again this year."]
    assert _search(catalog, '"deficit budget"') == []
    hits = _search(catalog, "harv*")
    assert [(h.passage.insight, h.passage.item, h.passage.decision) for h in hits] == [
        ("chapters", "0", 4)]
    assert _marked(hits[0]) == ["harvest"]


def test_diacritics_are_folded_both_ways(catalog: Catalog) -> None:
    hits = _search(catalog, "cafe")
    assert [_marked(h) for h in hits] == [["café"]]
    hits = _search(catalog, "résumé naive")
    assert [(h.passage.insight, h.passage.start) for h in hits] == [("ocr", 5.0)]
    assert _marked(hits[0]) == ["Naïve", "résumé"]


def test_stemming_finds_other_forms_of_english_words(catalog: Catalog) -> None:
    # Porter (SQLite) and the english configuration (PostgreSQL) both stem "meet"/"meeting".
    texts = {h.passage.text for h in _search(catalog, "meetings", insights=frozenset(
        {"transcript"}))}
    assert "Welcome to the council meeting." in texts


def test_each_instance_is_a_moment_and_names_are_searched(catalog: Catalog) -> None:
    hits = _search(catalog, "exit")
    assert sorted((h.passage.start, h.passage.end) for h in hits) == [(2.0, 3.5), (20.0, 21.0)]
    assert all(h.passage.item == "0" and h.passage.decision == 3 for h in hits)
    names = _search(catalog, "farm")
    assert [(h.passage.insight, h.passage.video, h.passage.decision, h.passage.start)
            for h in names] == [("name", VIDEO_B, 1, None)]


def test_filters_by_insight_and_video(catalog: Catalog) -> None:
    assert {h.passage.insight for h in _search(catalog, "budget",
                                               insights=frozenset({"keywords"}))} == {"keywords"}
    assert {h.passage.video for h in _search(catalog, "budget",
                                             videos=frozenset({VIDEO_A}))} == {VIDEO_A}
    assert _search(catalog, "budget", videos=frozenset()) == []
    # Jobs: the embedded store's passages belong to no job.
    assert _search(catalog, "budget", jobs=frozenset({"job-1"})) == []
    assert len(_search(catalog, "budget", limit=1)) == 1


def test_replace_swaps_a_videos_passages(catalog: Catalog) -> None:
    catalog.save_result(VIDEO_A, StoredResult("ocr", "1", "p", "ocr", 9, [
        {"id": 0, "text": "ENTRANCE", "instances": [{"start": 1.0, "end": 2.0}]}]))
    assert _search(catalog, "exit") == []
    assert [h.passage.decision for h in _search(catalog, "entrance")] == [9]


@pytest.mark.parametrize("text", [
    "", "   ", '"*()', '""', "*", "()", "NEAR", "AND OR NOT", "-", "- * ( ) NEAR/3 \"",
    "x" * 10_240, "é" * 600, "a*", "budget " * 40, "w" * 65,
])
def test_bad_queries_get_a_clear_error_never_an_sql_error(catalog: Catalog, text: str) -> None:
    with pytest.raises(SearchQueryError) as caught:
        _search(catalog, text)
    message = str(caught.value)
    assert message and "sql" not in message.lower() and "fts5" not in message.lower()
    if len(text.encode()) > 1024:
        assert f"{len(text.encode())} bytes" in message and "1024" in message


def test_syntax_inside_a_query_is_searched_as_words(catalog: Catalog) -> None:
    # Quotes, stars, parentheses and operators never reach FTS5 or tsquery as syntax.
    for text in ['budget" OR "x', "(budget)", "budget NEAR deficit", "budget:* | !x",
                 "budget' & 'x", "deficit -", "deficit AND", "budget\\", "^budget",
                 "budget:deficit", "{budget}", "budget + deficit"]:
        hits = _search(catalog, text)
        assert all(isinstance(h, Hit) for h in hits), text
    assert [h.passage.item for h in _search(catalog, "(deficit) AND")] == ["1"]


def test_unknown_insight_and_mode_are_refused(catalog: Catalog) -> None:
    with pytest.raises(SearchQueryError, match="unknown insight 'speech'"):
        _search(catalog, "budget", insights=frozenset({"speech"}))
    with pytest.raises(SearchQueryError, match="semantic search needs"):
        _search(catalog, "budget", mode="semantic")
    with pytest.raises(SearchQueryError, match="limit"):
        _search(catalog, "budget", limit=0)
    # Without a model, hybrid is the text ranking.
    assert [h.passage.text for h in _search(catalog, "deficit", mode="hybrid")] == [
        h.passage.text for h in _search(catalog, "deficit", mode="text")]


def test_a_failed_save_leaves_no_index_rows(catalog: Catalog) -> None:
    before = catalog.search.passages()
    with pytest.raises(RuntimeError), catalog.db.atomic():
        catalog.save_result(VIDEO_B, StoredResult("transcript", "1", "p", "transcript", 7,
                                                  _transcript((0.0, 2.0, "zucchini fields"))))
        assert [h.passage.decision for h in _search(catalog, "zucchini")] == [7]
        raise RuntimeError("the decision's append failed")
    assert _search(catalog, "zucchini") == []
    assert catalog.search.passages() == before
    assert "transcript" not in catalog.results(VIDEO_B)


def _rows(catalog: Catalog) -> list[tuple[Any, ...]]:
    """Every index row, in row order, all but the row id (on PostgreSQL with its vector)."""
    vector = ", tsv::text" if catalog.search.postgres else ""
    return [tuple(row) for row in catalog.db.conn.execute(
        "SELECT video, insight, job, item, start_s, end_s, text, ftext, decision, language,"
        f" words, config{vector} FROM search_passages ORDER BY id").fetchall()]


def test_rebuild_equals_the_incremental_index(catalog: Catalog) -> None:
    # A result replaced after others: its rows come last in the incremental index.
    catalog.save_result(VIDEO_A, StoredResult("ocr", "1", "p", "ocr", 8, [
        {"id": 0, "text": "EXIT budget", "instances": [{"start": 2.0, "end": 3.5}]}]))
    incremental, rows = catalog.search.passages(), _rows(catalog)
    queries = ["budget", "exit", "budg*", '"budget deficit"', "farm", "cafe"]
    hits = [[(h.passage, h.score, h.highlights) for h in _search(catalog, q)] for q in queries]
    assert len(incremental) == catalog.search.count() == 10
    assert catalog.reindex() == len(incremental)
    assert _rows(catalog) == rows  # row for row
    assert catalog.search.passages() == incremental
    assert [[(h.passage, h.score, h.highlights) for h in _search(catalog, q)]
            for q in queries] == hits


def test_an_older_store_is_indexed_when_first_opened(log: Log) -> None:
    catalog = Catalog(log.db)
    _fill(catalog)
    expected = catalog.search.passages()
    catalog.db.conn.execute("DELETE FROM search_passages")
    catalog.db.conn.execute("DELETE FROM schema_migrations WHERE name LIKE 'search-%'")
    for table in ("search_fts", "search_passages", "search_configs"):
        catalog.db.conn.execute(f"DROP TABLE IF EXISTS {table}")
    catalog.db._known_applied.clear()
    again = Catalog(log.db)
    assert again.search.passages() == expected


def test_passages_of_treats_the_output_as_hostile() -> None:
    hostile: Any = {"language": "en\u0000", "segments": [
        None, 5, {"text": 3}, {"id": -1, "text": "ok\x02 there\x1b[31m", "instances": [
            {"start": float("nan"), "end": 1}], "decision": True},
        {"id": 7, "text": "x" * 100_000, "start": 1, "end": 0.5,
         "words": [{"text": "x", "start": 0, "end": 1}, "bad"]}]}
    passages = passages_of(VIDEO_A, "transcript", hostile, 11)
    assert [(p.item, p.start, p.decision, p.language) for p in passages] == [
        ("3", None, 11, None), ("7", None, 11, None)]
    assert passages[0].text == "ok there [31m"
    assert len(passages[1].text) == MAX_TEXT
    assert passages_of(VIDEO_A, "ocr", {"not": "a list"}, 1) == []
    assert passages_of(VIDEO_A, "faces", [{"id": 0}], 1) == []
    # A platform's own tags are found as the shipped ones are, at their moments.
    custom = [{"id": 0, "label": "studio interview", "source": "custom:studio interview",
               "instances": [{"start": 4.0, "end": 8.0}]}]
    assert [(p.insight, p.item, p.start, p.end, p.text) for p in passages_of(
        VIDEO_A, "custom_tags", custom, 3)] == [("custom_tags", "0", 4.0, 8.0,
                                                 "studio interview")]
    many = [{"id": 0, "text": "EXIT", "instances": [{"start": n, "end": n + 1}
                                                    for n in range(1000)]}]
    assert len(passages_of(VIDEO_A, "ocr", many, 1)) == 50
    assert passages_of(VIDEO_A, "name", "clip.mp4", 0) == [
        Passage(VIDEO_A, "name", None, None, None, "clip.mp4", 0)]


def test_parse_query_terms() -> None:
    parsed = parse_query('Budget "Café  crème" harv* -x NEAR near')
    assert [(t.words, t.prefix) for t in parsed.terms] == [
        (("budget",), False), (("cafe", "creme"), False), (("harv",), True), (("x",), False),
        (("near",), False)]


def test_index_over_a_bare_store(tmp_path: Path) -> None:
    # The index alone (the coordinator's side): jobs keep their passages apart.
    from aiwork.store import Database
    db = Database(tmp_path / "s.db", create=True)
    index = SearchIndex(db)
    one = passages_of(VIDEO_A, "ocr", [{"id": 0, "text": "EXIT"}], 5, job="j1")
    two = passages_of(VIDEO_A, "ocr", [{"id": 0, "text": "EXIT now"}], 6, job="j2")
    index.replace(VIDEO_A, "ocr", one, job="j1")
    index.replace(VIDEO_A, "ocr", two, job="j2")
    hits = index.search(SearchQuery("exit", jobs=frozenset({"j2"})))
    assert [(h.passage.job, h.passage.decision) for h in hits] == [("j2", 6)]
    assert index.count() == 2
    index.clear()
    assert index.count() == 0 and index.search(SearchQuery("exit")) == []


def test_postgresql_stems_by_the_passages_language(catalog: Catalog) -> None:
    """PostgreSQL builds each passage's vector with its language's configuration (french
    here: "chevaux" and "cheval" are one word); SQLite's porter stems English only."""
    catalog.save_result(VIDEO_B, StoredResult("transcript", "1", "p", "transcript", 12,
                                              _transcript((0.0, 3.0, "Les chevaux courent."),
                                                          language="fr")))
    found = [h.passage.text for h in _search(catalog, "cheval")]
    if catalog.search.postgres:
        assert found == ["Les chevaux courent."]
        assert [_marked(h) for h in _search(catalog, "cheval")] == [["chevaux"]]
    else:
        assert found == []
    # The word as spoken is found on both.
    assert [h.passage.language for h in _search(catalog, "chevaux")] == ["fr"]


def test_any_number_of_readable_jobs_but_a_bounded_video_list(catalog: Catalog) -> None:
    many = frozenset(f"job-{n}" for n in range(200_000))
    assert _search(catalog, "budget", jobs=many | {""}) and not _search(catalog, "budget",
                                                                        jobs=many)
    with pytest.raises(SearchQueryError, match="at most 10000 videos; 10001 were given"):
        _search(catalog, "budget", videos=frozenset(f"v{n}" for n in range(10_001)))
