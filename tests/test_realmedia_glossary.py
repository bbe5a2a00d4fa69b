"""bench/realmedia's ``glossary`` area: the speech glossary loop on real recordings learns and
decides on development prompts only."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_glossary_area_learns_and_adopts_on_development_prompts_only() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        area = importlib.import_module("realmedia.glossary")
        speech = importlib.import_module("realmedia.speech")
    finally:
        sys.path.remove(str(BENCH))
    parts = area.prompts()
    truth = json.loads(speech.TRUTH.read_text())["items"]
    split = {p["sound"]: item["split"] for item in truth for p in item["parts"]
             if p["language"] == "en"}
    sounds = {part: [p["sound"] for p in prompts] for part, prompts in parts.items()}
    # Every English prompt once, in one part; the corrections and the adoption rule see two
    # disjoint parts of the development split, the figures a third: the held-out prompts.
    assert sorted(s for found in sounds.values() for s in found) == sorted(split)
    assert {split[s] for s in sounds["correct"] + sounds["adopt"]} == {"dev"}
    assert {split[s] for s in sounds["heldout"]} == {"heldout"}
    assert not set(sounds["correct"]) & set(sounds["adopt"])
    assert sounds["correct"] and sounds["adopt"] and sounds["heldout"]
    # The domain terms are spoken in the held-out prompts; the irrelevant glossary's never are.
    texts = " ".join(p["text"] for p in parts["heldout"]).lower()
    assert sum(term in texts.split() for term in area.TERMS) >= 5
    assert not any(term.lower() in texts for term in area.IRRELEVANT)
