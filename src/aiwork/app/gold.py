"""Gold tasks: generated media whose right answers are known, mixed in unmarked.

The clip comes from :mod:`aiwork.media.synth` (known cuts and speech); its known answers are
the technical facts (probed here), the shots (from the known cut times) and the transcript
(the known sentences).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from aiwork.analyzers.base import AnalysisContext
from aiwork.analyzers.technical import TechnicalAnalyzer
from aiwork.app.coordinator import Coordinator
from aiwork.media import probe
from aiwork.media.synth import Caption, ClipSpec, Scene, SpeechLine, Truth, make_clip

__all__ = ["GOLD_SPEC", "add_generated_gold", "expected_answers"]

GOLD_SPEC = ClipSpec(
    scenes=(Scene(4.0, "#264653"), Scene(4.0, "#9d0208"), Scene(4.0, "#588157")),
    speech=(SpeechLine("The station opens at nine in the morning.", 0.5),),
    captions=(Caption("CITY NEWS", 5.0, 7.0),),
)


def expected_answers(path: Path, truth: Truth) -> dict[str, Any]:
    facts = probe(path)
    technical = TechnicalAnalyzer().analyze(AnalysisContext(
        asset="", probe=facts, frames=None, audio=None, upstream={},
        keyframe_dir=path.parent)).items
    bounds = [0.0, *truth.cuts, truth.duration]
    shots = [{"id": i, "instances": [{"start": s, "end": e}]}
             for i, (s, e) in enumerate(zip(bounds, bounds[1:], strict=False))]
    transcript = {"language": truth.language, "segments": [
        {"id": i, "text": s.text, "instances": [{"start": s.start, "end": s.end}]}
        for i, s in enumerate(truth.speech)]}
    return {"technical": technical, "shots": shots, "transcript": transcript}


def add_generated_gold(coordinator: Coordinator) -> str:
    """Generate the gold clip, store it and its answers; return its digest."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "gold.mp4"
        truth = make_clip(path, GOLD_SPEC)
        digest = coordinator.blobs.put_file(path)
        coordinator.add_gold(digest, expected_answers(path, truth))
    return digest
