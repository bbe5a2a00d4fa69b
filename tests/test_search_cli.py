"""`aiwork process` on a generated clip with known speech and captions, then `aiwork search`,
`aiwork videos` and `aiwork index rebuild` on the store it made."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aiwork.cli import main
from aiwork.ledger.log import Log
from aiwork.model import Entry
from aiwork.synth.clips import Caption, ClipSpec, Scene, SpeechLine, Truth, make_clip

SPEC = ClipSpec(
    scenes=(Scene(6.0, "#1b4332"), Scene(6.0, "#7f5539")),
    speech=(SpeechLine("The orchard harvest begins in early autumn.", 0.5),
            SpeechLine("Farmers sell apples at the market.", 6.5)),
    captions=(Caption("APPLE FESTIVAL", 1.0, 5.0),),
)
ANALYZERS = "technical,shots,transcript,ocr,keywords,chapters"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Truth]:
    folder = tmp_path_factory.mktemp("search")
    clip = folder / "orchard.mp4"
    truth = make_clip(clip, SPEC)
    assert main(["process", str(clip), "--db", str(folder / "store.db"), "--analyzers",
                 ANALYZERS, "--out", str(folder / "out")]) == 0
    return folder / "store.db", clip, truth


def _search(capsys: pytest.CaptureFixture[str], db: Path, *args: str) -> list[dict[str, Any]]:
    code, out, err = run(capsys, "search", *args, "--db", str(db), "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert set(answer) == {"query", "mode", "hits"}
    hits: list[dict[str, Any]] = answer["hits"]
    return hits


def test_search_finds_the_spoken_word_at_its_moment(
        processed: tuple[Path, Path, Truth], capsys: pytest.CaptureFixture[str]) -> None:
    db, _, truth = processed
    hits = _search(capsys, db, "apples", "--insight", "transcript")
    assert len(hits) == 1
    hit = hits[0]
    line = truth.speech[1]
    assert hit["video"]["name"] == "orchard.mp4" and hit["insight"] == "transcript"
    assert line.start - 0.5 <= hit["moment"] <= line.end + 0.5
    assert hit["start"] <= hit["moment"] <= hit["end"]
    assert [hit["text"][a:b].lower() for a, b in hit["highlights"]] == ["apples"]
    with Log.open(db) as log:  # the hit links to its proof: the transcript's decision
        entry = Entry.from_bytes(log.get(hit["decision"]))
    assert entry.kind.startswith("ai.decision") and entry.body["insight"] == "transcript"
    assert entry.body["input"]["asset"] == hit["video"]["digest"]


def test_search_finds_on_screen_text_and_names(
        processed: tuple[Path, Path, Truth], capsys: pytest.CaptureFixture[str]) -> None:
    db, _, truth = processed
    hits = _search(capsys, db, "festival", "--insight", "ocr")
    assert hits, "the caption was not found"
    caption = truth.captions[0]
    assert all(caption.start - 2.5 <= h["start"] <= caption.end for h in hits)
    assert [h["insight"] for h in _search(capsys, db, "orch*", "--insight", "name")] == ["name"]
    # A phrase: its words together and in order (the keywords and chapter titles the
    # pipeline drew from the speech hold it too).
    said = _search(capsys, db, '"orchard harvest"', "--video", "orchard.mp4", "--text")
    assert "transcript" in {h["insight"] for h in said}
    assert all("orchard harvest" in h["text"].lower() for h in said)
    assert _search(capsys, db, '"harvest orchard"', "--insight", "transcript", "--text") == []
    code, out, _ = run(capsys, "search", "harvest", "--db", str(db), "--text")
    assert code == 0 and "orchard.mp4  transcript item 0  00:00:0" in out and "[harvest]" in out
    assert "(heard at 00:00:0" in out  # the matched word's own time


def test_bad_searches_say_what_to_change(
        processed: tuple[Path, Path, Truth], capsys: pytest.CaptureFixture[str]) -> None:
    db, _, _ = processed
    for args, message in [
        (("",), "the search query is empty"),
        (('"*()',), "has no word to search for"),
        (("x" * 10_240,), "10240 bytes long; the most is 1024"),
        (("apple", "--insight", "speech"), "unknown insight 'speech'"),
        (("  ", "--semantic"), "the search query is empty"),
        (("apple", "--video", "nothing.mp4"), "--video nothing.mp4: no such processed video"),
    ]:
        code, out, err = run(capsys, "search", *args, "--db", str(db))
        assert code == 1 and out == "" and message in err, (args, err)
        assert "sqlite" not in err.lower() and "syntax error" not in err.lower()
    code, _, err = run(capsys, "search", "apple", "--db", str(db.with_name("absent.db")))
    assert code == 1 and "nothing to search: no store at" in err


def test_videos_lists_what_the_store_holds(
        processed: tuple[Path, Path, Truth], capsys: pytest.CaptureFixture[str]) -> None:
    db, clip, truth = processed
    code, out, _ = run(capsys, "videos", "--db", str(db), "--json")
    assert code == 0
    [video] = json.loads(out)
    assert video["name"] == clip.name and video["digest"].startswith("sha256:")
    assert abs(video["duration"] - truth.duration) < 0.2
    # What was asked, and what it needed (the spoken language, for the transcript).
    assert {i["insight"] for i in video["insights"]} == {*ANALYZERS.split(","), "language"}
    assert {i["state"] for i in video["insights"]} == {"current"}
    code, out, _ = run(capsys, "videos", "--db", str(db))
    assert code == 0 and out.startswith(f"orchard.mp4  {video['digest']}  00:00:1")
    code, out, err = run(capsys, "videos", "--db", str(db.with_name("absent.db")), "--json")
    assert code == 0 and out.strip() == "[]"


def test_index_rebuild_gives_the_same_hits(
        processed: tuple[Path, Path, Truth], capsys: pytest.CaptureFixture[str]) -> None:
    db, _, _ = processed
    before = _search(capsys, db, "apple*")
    code, out, _ = run(capsys, "index", "rebuild", "--db", str(db))
    assert code == 0 and out.startswith("indexed ")
    assert _search(capsys, db, "apple*") == before and before
