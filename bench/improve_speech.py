"""Speech adapted to a domain, measured: transcript corrections in, a glossary out, fewer
errors on the domain's names and terms on videos never seen.

Run it from the repository root::

    .venv/bin/python bench/improve_speech.py                  # the figures, before and after
    .venv/bin/python bench/improve_speech.py --small --json out.json

A generated corpus with known truth (its own seeds): videos whose sound track is espeak-ng
saying sentences of a made-up clinic (names and drugs such as "Zorvathek" and "Pyndrasil",
:data:`TERMS`, in everyday sentences, :data:`TEMPLATES`), each video a WAV file kept as an
asset blob of a real coordinator store. Its split is the one ``aiwork dataset export`` gives
it (by the sha256 of its digest): about a third of the videos are held out (validation and
test), the rest train, so no video is on both sides.

1. The AI transcript: Whisper tiny.en (the transcript analyzer's model, no glossary) on each
   sentence's stretch of the asset, a transcript item per sentence, routed to the REAL review
   engine (every item reviewed by three simulated experts: four accurate ones right 95 % of
   the time, two careless ones 70 %; a wrong expert accepts the AI's text as it is; a right
   one corrects it to the spoken sentence, or accepts it when it is already right), signed
   ``human.verdict`` and ``consensus.result`` entries on a real ledger (a SQLite file).
2. ``aiwork dataset export`` of that store (a ``dataset.released`` entry), and the glossary
   trained from it as ``aiwork models train transcript`` trains it
   (:func:`aiwork.learn.glossary.train_and_register_glossary` on the export checked against
   its entry): terms from the train split's validated corrections, adopted only if the word
   error rate on the held-out splits' verified segments (their speech cut from the asset
   blobs) falls; kept in a model store and registered with the dataset.
3. Held out, against the known truth: the WER on domain terms (the share of the spoken
   domain terms, :data:`TERMS`, not transcribed exactly, by least-edit word alignment:
   :func:`aiwork.learn.glossary.term_wer`) and the overall WER, before (no glossary) and
   after (the glossary as adopted; not adopted: the same as before);
   ``error_reduction`` = 1 - after / before on domain terms.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiwork.analyzers.store import ModelStore
from aiwork.config import blobs_path
from aiwork.coordinator.accounts import Accounts
from aiwork.coordinator.review import Review
from aiwork.crypto import SigningKey
from aiwork.dataset import export, open_released, split_of
from aiwork.ledger.log import Log
from aiwork.learn.glossary import (
    VerifiedSegment,
    corpus_wer,
    term_wer,
    train_and_register_glossary,
    transcribe_segments,
)
from aiwork.media.decode import audio_span
from aiwork.store.blobs import BlobStore

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from crowd import Crowd as SimulatedCrowd  # noqa: E402 - beside this file

#: The made-up domain: a clinic's people, drugs and places, none a word Whisper knows.
TERMS = ("Zorvathek", "Quillibrand", "Hexaphore", "Drevanol", "Kestrivane", "Malvoria",
         "Orthelix", "Pyndrasil", "Velcorine", "Tharnwick", "Brumidex", "Solvenar")
TEMPLATES = ("Doctor {a} prescribed {b} for the patient.",
             "The {a} clinic ordered more {b} this week.",
             "Nurse {a} said that {b} works well.",
             "We moved the {a} samples to the {b} lab.",
             "Ask {a} about the {b} results tomorrow.",
             "The {a} trial used a small dose of {b}.")
EXPERTS = (("accurate", 0.95),) * 4 + (("careless", 0.7),) * 2
MODEL = "tiny.en"
GAP = 0.5  # seconds of silence between sentences
RATE = 22050  # espeak-ng's


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--small", action="store_true",
                        help="6 videos of 2 sentences (the test's size) instead of 24 of 3")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return parser.parse_args(argv)


def _say(text: str) -> bytes:
    """espeak-ng's voice saying ``text``: 16-bit mono PCM at 22050 Hz."""
    wav = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "--stdout", text],
                         capture_output=True, check=True).stdout
    with wave.open(io.BytesIO(wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2)
        return w.readframes(w.getnframes())


def _wav(pcm: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    return out.getvalue()


def make_video(sentences: list[str], held_out: bool, folder: Path, n: int
               ) -> tuple[Path, list[tuple[float, float, str]]]:
    """A WAV file of ``sentences`` with ``GAP`` between them, padded with silence until the
    export's split of its digest is the one wanted; its sentences' (start, end, text)."""
    pcm = b""
    spans = []
    for text in sentences:
        pcm += b"\0\0" * int(GAP * RATE)
        start = len(pcm) // 2 / RATE
        pcm += _say(text)
        spans.append((round(start, 3), round(len(pcm) // 2 / RATE, 3), text))
    pcm += b"\0\0" * int(GAP * RATE)
    while True:
        data = _wav(pcm)
        split = split_of("sha256:" + hashlib.sha256(data).hexdigest())
        if (split != "train") == held_out:
            break
        pcm += b"\0\0"
    path = folder / f"video{n}.wav"
    path.write_bytes(data)
    return path, spans


class Crowd(SimulatedCrowd):
    """Simulated experts correcting transcript items against the spoken sentences."""

    def __init__(self, seed: int) -> None:
        super().__init__("speech", seed, [p for _, p in EXPERTS])

    def answer(self, review: Review, item: dict[str, Any], p: float, truth: Any
               ) -> tuple[str, Any]:
        spoken = truth[item["id"]]
        heard = str(review.item(item["id"]).value)
        right = self.rng.random() < p
        if not right or _words(heard) == _words(spoken):
            return "accept", None
        return "correct", spoken


def _words(text: str) -> list[str]:
    return "".join(c.lower() if c.isalnum() else " " for c in text).split()


def corpus(seed: int, videos: int, sentences: int) -> list[tuple[list[str], bool]]:
    """Per video, its sentences and whether it is held out (about a third, at least two)."""
    rng = random.Random(seed)
    held = set(rng.sample(range(videos), max(2, videos // 3)))
    out = []
    for v in range(videos):
        lines = []
        for _ in range(sentences):
            a, b = rng.sample(TERMS, 2)
            lines.append(rng.choice(TEMPLATES).format(a=a, b=b))
        out.append((lines, v in held))
    return out


def review_round(root: Path, seed: int, videos: int, sentences: int) -> dict[str, Any]:
    """A coordinator store in ``root`` (``store.db`` and its blobs) holding the corpus's
    videos, their AI transcript items reviewed by the simulated experts through the engine,
    and their export (``root/dataset``, a ``dataset.released`` entry): what ``aiwork models
    train transcript`` is given. Returns the store, the coordinator's key, the export, the
    spoken text of each sentence by (asset, start) and the verdicts spent."""
    key = SigningKey(hashlib.sha256(f"speech coordinator {seed}".encode()).digest())
    db = root / "store.db"
    blobs = BlobStore(blobs_path(db))
    media = root / "media"
    media.mkdir(parents=True)
    with Log.create(db, key, origin="speech.aiwork/log") as log:
        review = Review(log, key, Accounts(log.db).appender(log), rng=random.Random(seed + 1))
        review.set_rules("transcript", {"experts": 3, "audit_share": 1.0, "gold_share": 0.0,
                                        "confidence_below": 1.0})
        truth: dict[str, str] = {}
        spoken: dict[tuple[str, float], str] = {}
        for n, (lines, held) in enumerate(corpus(seed, videos, sentences)):
            path, spans = make_video(lines, held, media, n)
            asset = blobs.put_file(path)
            pieces = [VerifiedSegment(audio_span(blobs.path(asset), s, e), t)
                      for s, e, t in spans]
            heard = transcribe_segments(pieces, model=MODEL)
            output = {"language": "en", "segments": [
                {"id": i, "start": s, "end": e, "text": h, "confidence": 0.5}
                for i, ((s, e, _), h) in enumerate(zip(spans, heard, strict=True))]}
            ids = review.route(job=f"video-{n}", insight="transcript", decision=n,
                               output=output, producers=[],
                               annotator=f"model:whisper-{MODEL}", asset=asset)
            for item_id in ids:
                truth[item_id] = spans[review.item(item_id).item][2]
            for s, _, t in spans:
                spoken[(asset, s)] = t
        verdicts = Crowd(seed + 2).work(review, truth)
        dataset = export(log, key, reader=key.did, out=root / "dataset",
                         insights=["transcript"], name="speech-bench", version="1.0.0")
    assert dataset.released is not None and dataset.digest is not None
    return {"db": db, "key": key, "blobs": blobs, "dataset": root / "dataset",
            "released": dataset.released, "digest": dataset.digest, "spoken": spoken,
            "verdicts": verdicts}


def measure_speech(seed: int, small: bool) -> dict[str, Any]:
    """The ``domain_wer`` figures of one run (see the module's text)."""
    if shutil.which("espeak-ng") is None:
        return {"measured": False, "error_reduction": None,
                "why": "espeak-ng is not installed: the corpus's speech cannot be made"}
    videos, sentences = (6, 2) if small else (24, 3)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aiwork-speech-") as tmp:
        made = review_round(Path(tmp), seed, videos, sentences)
        blobs: BlobStore = made["blobs"]
        with Log.open(made["db"]) as log:
            # What aiwork models train transcript does, on the released export.
            released = open_released(log, made["dataset"])
            result = train_and_register_glossary(
                log, made["key"], released.rows(("transcript",)),
                lambda asset, s, e: audio_span(blobs.path(asset), s, e), version="clinic-1",
                dataset=released.ref, store=ModelStore(Path(tmp) / "models"), model=MODEL)
    trained, decision = result.trained, result.trained.decision
    references = [made["spoken"][(s.asset, s.start)] for s in trained.examples.held_out]
    after_texts = decision.heard_after if decision.adopted else decision.heard_before
    before = term_wer(references, decision.heard_before, TERMS)
    after = term_wer(references, after_texts, TERMS)
    assert before is not None and after is not None
    overall_before = corpus_wer(references, decision.heard_before)
    overall_after = corpus_wer(references, after_texts)
    return {
        "measured": True, "goal": 0.30,
        "before": round(before, 4), "after": round(after, 4),
        "error_reduction": round(1 - after / before, 4) if before else 0.0,
        "overall_wer_before": round(overall_before, 4),
        "overall_wer_after": round(overall_after, 4),
        "held_out_segments": len(references),
        "held_out_terms": sum(t.lower() in _words(r) for r in references for t in TERMS),
        "glossary": {"adopted": decision.adopted, "reason": decision.reason,
                     "terms": list(decision.glossary), "glossary_as": decision.glossary_as,
                     "weights_digest": None if result.stored is None
                     else result.stored.digest,
                     "registration": result.index,
                     "verified_wer_before": round(decision.wer_before, 4),
                     "verified_wer_after": round(decision.wer_after, 4)},
        "corpus": {"videos": videos, "sentences_per_video": sentences, "seed": seed,
                   "model": MODEL, "train_items": len(trained.examples.corrections),
                   "train_corrected": trained.examples.corrected,
                   "held_out_videos": len({s.asset for s in trained.examples.held_out}),
                   "left_out": trained.examples.left_out, "verdicts": made["verdicts"],
                   "dataset": {"released": made["released"], "digest": made["digest"]},
                   "seconds": round(time.perf_counter() - started, 1)},
    }


def line(figures: dict[str, Any]) -> str:
    """The printed line of :func:`measure_speech`'s figures."""
    f = figures
    if not f["measured"]:
        return "WER on domain terms: not measured (" + f["why"] + ")"
    c, g = f["corpus"], f["glossary"]
    return (f"WER on domain terms (held out, {f['held_out_terms']} terms in "
            f"{f['held_out_segments']} segments of {c['held_out_videos']} videos): "
            f"{f['before']:.4f} -> {f['after']:.4f} with a glossary of {len(g['terms'])} terms "
            f"{'adopted' if g['adopted'] else 'refused'} ({g['reason']}; {c['verdicts']} "
            f"verdicts on {c['train_items'] + f['held_out_segments']} items), error_reduction "
            f"{f['error_reduction']:.1%} (goal 30 %: "
            f"{'PASS' if f['error_reduction'] >= 0.3 else 'MISS'}); overall WER "
            f"{f['overall_wer_before']:.4f} -> {f['overall_wer_after']:.4f}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    figures = measure_speech(args.seed, args.small)
    print(line(figures))
    if args.json is not None:
        args.json.write_text(json.dumps({"domain_wer": figures}, indent=2) + "\n")
    return 0 if figures["measured"] else 1

if __name__ == "__main__":
    sys.exit(main())
