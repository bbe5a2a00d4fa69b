"""Custom visual tags on real pictures nobody on aiwork made (the ``custom_tags`` area of
bench/realmedia.py): trained on the development pictures, the model beats the seed model on the
held-out ones, in accuracy and in balanced accuracy (the kinds are imbalanced)."""

from __future__ import annotations

import sys
from pathlib import Path

from .conftest import missing, require

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".realmedia"


def test_training_on_real_dev_pictures_beats_the_seed_model_held_out(tmp_path: Path) -> None:
    require("torch", "efficientnet_lite_pytorch")
    if not (CACHE / "visual" / "opencv").is_dir():
        missing("real media not fetched: scripts/fetch-realmedia visual")
    sys.path.insert(0, str(ROOT / "bench"))
    from realmedia import custom_tags  # type: ignore[import-not-found]

    from aiwork.analyzers.tags import TagsAnalyzer

    backbone = TagsAnalyzer({"drawn_signal": False})
    dev = custom_tags.examples(CACHE, "dev", backbone)
    heldout = custom_tags.examples(CACHE, "heldout", backbone)
    # No picture is on both sides, and the held-out part is not trained on.
    assert not {e.video for e in dev} & {e.video for e in heldout}
    truths = [e.label for e in heldout]
    figures = {}
    for variant in ("before", "after"):
        model = custom_tags.train(dev, variant, tmp_path / variant)
        figures[variant] = custom_tags.scores(truths, custom_tags.predict(model, heldout))
    before, after = figures["before"], figures["after"]
    assert after["accuracy"] > before["accuracy"]
    assert after["balanced"] > before["balanced"]
    # Better than always answering one kind, in the measure the imbalance cannot flatter.
    assert after["balanced"] > after["balanced chance"]
