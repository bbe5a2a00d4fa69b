"""Gold tasks: generated media whose right answers are known, mixed in unmarked.

The clip comes from :mod:`aiwork.synth.clips` (known cuts and speech); its known answers are
the technical facts (probed here), the shots (from the known cut times) and the transcript
(the known sentences).

The pool is varied and grows as it is used: each clip differs (scene count, lengths and
colours, the sentence spoken, the caption; :func:`gold_spec`), a gold task goes to the least
used clip, and :func:`top_up_gold` generates a new clip whenever fewer than
:data:`GOLD_FRESH` clips have served under :data:`GOLD_REUSE` gold tasks (up to
:data:`GOLD_POOL_MAX`). ``aiwork serve --gold-rate`` runs it in the background
(:class:`GoldPool`), so a worker or expert does not meet the same few clips again and again.
"""

from __future__ import annotations

import random
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiwork.analyzers.base import AnalysisContext
from aiwork.analyzers.technical import TechnicalAnalyzer
from aiwork.coordinator.service import Coordinator
from aiwork.errors import AiworkError
from aiwork.media import probe
from aiwork.synth.clips import Caption, ClipSpec, Scene, SpeechLine, Truth, make_clip

__all__ = ["GOLD_FRESH", "GOLD_POOL_MAX", "GOLD_REUSE", "GOLD_SPEC", "GoldPool",
           "add_generated_gold", "expected_answers", "gold_spec", "top_up_gold"]

#: A gold clip counts as worn once this many gold tasks used it.
GOLD_REUSE = 3
#: The pool keeps at least this many clips that are not worn.
GOLD_FRESH = 2
#: The pool stops growing at this many clips (then the least used clip is reused).
GOLD_POOL_MAX = 500

#: Far apart: any two differ by at least 40 (of 255) in the mean of their hue, saturation and
#: value differences, well over the shot detector's threshold (27), so every cut is a clear one.
_COLOURS = ("#1d3557", "#d62828", "#588157", "#6a4c93", "#000000", "#ffffff", "#8ecae6")
_SENTENCES = (
    "The station opens at nine in the morning.",
    "Rain is expected over the hills this evening.",
    "The museum will close early on Friday.",
    "Three trains leave the platform every hour.",
    "The bridge reopens after two weeks of repairs.",
    "Tickets for the concert sold out in a day.",
    "A new library opens next to the river.",
    "The market is busy on Saturday mornings.",
    "Schools start again at the end of the month.",
    "The ferry runs twice a day in winter.",
)
_CAPTIONS = ("CITY NEWS", "WEATHER", "SPORTS DESK", "LIVE", "TRAFFIC", "MORNING SHOW",
             "BREAKING", "LOCAL REPORT")

GOLD_SPEC = ClipSpec(
    scenes=(Scene(4.0, "#264653"), Scene(4.0, "#9d0208"), Scene(4.0, "#588157")),
    speech=(SpeechLine("The station opens at nine in the morning.", 0.5),),
    captions=(Caption("CITY NEWS", 5.0, 7.0),),
)


def gold_spec(rng: random.Random) -> ClipSpec:
    """A gold clip unlike the others: 2 to 4 solid-colour scenes of 2.5 to 5 s (each colour
    unlike the one before), one sentence spoken, one caption over the second scene."""
    scenes: list[Scene] = []
    for _ in range(rng.randint(2, 4)):
        colour = rng.choice([c for c in _COLOURS if not scenes or c != scenes[-1].colour])
        scenes.append(Scene(round(rng.uniform(2.5, 5.0), 1), colour))
    second = scenes[0].duration_s
    return ClipSpec(
        scenes=tuple(scenes),
        speech=(SpeechLine(rng.choice(_SENTENCES), round(rng.uniform(0.3, 1.0), 1)),),
        captions=(Caption(rng.choice(_CAPTIONS), second + 0.5,
                          second + scenes[1].duration_s - 0.5),),
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


def add_generated_gold(coordinator: Coordinator, spec: ClipSpec = GOLD_SPEC) -> str:
    """Generate a gold clip (by default the first one, :data:`GOLD_SPEC`), store it and its
    answers; return its digest."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "gold.mp4"
        truth = make_clip(path, spec)
        digest = coordinator.blobs.put_file(path)
        coordinator.add_gold(digest, expected_answers(path, truth))
    return digest


def top_up_gold(coordinator: Coordinator, rng: random.Random | None = None) -> list[str]:
    """Generate new, different gold clips until :data:`GOLD_FRESH` clips are not worn (or
    the pool holds :data:`GOLD_POOL_MAX`); return the new clips' digests."""
    rng = rng or random.Random()
    added: list[str] = []
    while True:
        uses = coordinator.gold_uses()
        fresh = sum(1 for used in uses.values() if used < GOLD_REUSE)
        if fresh >= GOLD_FRESH or len(uses) >= GOLD_POOL_MAX:
            return added
        added.append(add_generated_gold(coordinator, gold_spec(rng)))


class GoldPool:
    """A background thread that keeps the gold pool topped up (:func:`top_up_gold`) every
    ``every`` seconds, the first round at once, over its own connection to the store;
    failures are reported and retried at the next round."""

    def __init__(self, make: Callable[[], Coordinator], every: float,
                 report: Callable[[str], None]) -> None:
        self.make, self.every, self.report = make, every, report
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aiwork-gold", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        rng = random.Random()
        while not self._stop.is_set():
            try:
                coordinator = self.make()
                try:
                    added = top_up_gold(coordinator, rng)
                finally:
                    coordinator.log.close()
                if added:
                    self.report(f"gold pool: {len(added)} new clip(s)")
            except AiworkError as exc:
                self.report(f"warning: gold pool not topped up: {exc.diagnostics()}")
            self._stop.wait(self.every)
