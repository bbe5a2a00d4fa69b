"""The improvement loop, measured: verdicts in, a calibrated model out, fewer verdicts next time.

Run it from the repository root::

    .venv/bin/python bench/improve.py                 # the figures, before and after
    .venv/bin/python bench/improve.py --json out.json # the same, and the figures as JSON

A generated corpus with known truth (its own seeds): ``--videos`` videos of ``--items`` shot
boundaries each, made by an overconfident detector: it says 0.93-0.999 (0.965 on average), is
always right at 0.96 and above, and below that right with probability 0.2 + 0.8 (c - 0.93) /
0.03 (about 83 % right in all); the videos are split in two by video,
half for training, half held out. Simulated experts (four accurate ones right 90 % of the time,
two careless ones 70 %) answer through the real review engine on a real ledger (a SQLite file):
signed ``human.verdict`` entries, consensus with escalation; the engine knows its six experts,
as a coordinator knows its expert-role holders.

1. One round: every training item is reviewed; from the consensus outcomes the engine fits
   the detector's calibration (``Review.fit_calibration``, isotonic).
2. Held out, the expected calibration error of raw and calibrated confidence against the truth
   (``error_reduction`` = 1 - after / before).
3. Held out, reviewing everything (``audit_share`` 1) against routing by ``target_accuracy``
   with a ``capacity`` (active learning), each through the engine from its own copy of the
   ledger as the training round left it (the same experts with the reputations that round gave
   them; no arm learns from another's verdicts): human verdicts spent and the
   final accuracy (an item's final value is right when consensus kept a right value or
   rejected a wrong one, or when an auto-accepted value was right). The routed run takes the
   lowest target (0.90 ... 0.99) whose final accuracy reaches reviewing everything's;
   ``verdict_reduction`` = 1 - its verdicts / reviewing everything's.
4. Custom-tag accuracy, held out, before and after one round of review
   (``bench/improve_tags.py``, :func:`measure_tags`: its own generated pictures and seeds).
5. WER on domain terms, held out, before and after a glossary learned from one round of
   transcript corrections (``bench/improve_speech.py``, :func:`measure_speech`: its own
   espeak-ng speech and seeds, Whisper tiny.en).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiwork.coordinator.accounts import Accounts
from aiwork.coordinator.review import Review
from aiwork.crypto import SigningKey
from aiwork.ledger.log import Log
from aiwork.quality.calibration import expected_calibration_error

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crowd import Crowd as SimulatedCrowd  # noqa: E402 - beside this file
from improve_tags import line as tags_line  # noqa: E402 - beside this file
from improve_tags import measure_tags  # noqa: E402
from improve_speech import line as speech_line  # noqa: E402
from improve_speech import measure_speech  # noqa: E402

ANNOTATOR = "model:detector@sha256:" + "d" * 64
ASSET = "sha256:" + "0" * 64
TARGETS = (0.90, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99)
EXPERTS = (("accurate", 0.9),) * 4 + (("careless", 0.7),) * 2


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=40, help="videos (half held out)")
    parser.add_argument("--items", type=int, default=12, help="shot boundaries per video")
    parser.add_argument("--capacity", type=int, default=6,
                        help="review capacity per video for the routed run")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    return parser.parse_args(argv)


def corpus(videos: int, items: int, seed: int) -> list[list[tuple[float, bool]]]:
    """Per video, its items: (the detector's confidence, whether its cut is real)."""
    rng = random.Random(seed)
    out = []
    for _ in range(videos):
        video = []
        for _ in range(items):
            c = round(rng.uniform(0.93, 0.999), 3)
            video.append((c, c >= 0.96 or rng.random() < 0.2 + 0.8 * (c - 0.93) / 0.03))
        out.append(video)
    return out


def _output(video: list[tuple[float, bool]]) -> list[dict[str, Any]]:
    shots: list[dict[str, Any]] = [{"id": 0, "instances": [{"start": 0.0, "end": 2.0}],
                                    "confidence": 1.0}]
    for n, (c, _) in enumerate(video, 1):
        shots.append({"id": n, "instances": [{"start": 2.0 * n, "end": 2.0 * n + 2}],
                      "confidence": c})
    return shots


class Crowd(SimulatedCrowd):
    """Simulated experts judging shot boundaries: one right with probability ``p`` accepts a
    real cut and rejects a false one."""

    def __init__(self, seed: int) -> None:
        super().__init__("improve", seed, [p for _, p in EXPERTS])

    def answer(self, review: Review, item: dict[str, Any], p: float, truth: Any
               ) -> tuple[str, Any]:
        honest = "accept" if truth[item["id"]] else "reject"
        if self.rng.random() < p:
            return honest, None
        return ("reject" if honest == "accept" else "accept"), None


#: Every review item's truth, by item id.
TRUTH: dict[str, bool] = {}


def run_round(review: Review, crowd: Crowd, videos: list[list[tuple[float, bool]]],
              job: str) -> tuple[int, float, int]:
    """Route each video's result by the current rules and let the crowd review; return the
    verdicts spent, the final accuracy over all items and how many items went to humans."""
    truth = TRUTH
    before = len(truth)
    made: list[tuple[list[tuple[float, bool]], dict[int, str]]] = []
    for n, video in enumerate(videos):
        ids = review.route(job=f"{job}-{n}", insight="shots", decision=n, output=_output(video),
                           producers=[], annotator=ANNOTATOR, asset=ASSET)
        by_candidate = {review.item(i).item: i for i in ids}
        for cand, item_id in by_candidate.items():
            truth[item_id] = video[cand - 1][1]
        made.append((video, by_candidate))
    spent = crowd.work(review, truth)
    decided = review.decided()
    right = total = 0
    for video, by_candidate in made:
        for cand, (_, ai_right) in enumerate(video, 1):
            total += 1
            made_id = by_candidate.get(cand)
            kept = True if made_id is None else decided.get(made_id) == "accepted"
            right += kept == ai_right
    return spent, right / total, len(truth) - before


def measure(args: argparse.Namespace) -> dict[str, Any]:
    videos = corpus(args.videos, args.items, args.seed)
    split = random.Random(args.seed + 1).sample(range(len(videos)), len(videos) // 2)
    train = [videos[i] for i in sorted(split)]
    held = [videos[i] for i in range(len(videos)) if i not in set(split)]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aiwork-improve-") as tmp:
        key = SigningKey(hashlib.sha256(f"improve coordinator {args.seed}".encode()).digest())
        trained = Path(tmp) / "trained.db"

        def engine(log: Log, crowd: Crowd, seed: int) -> Review:
            # The engine knows its experts, as a coordinator does (its expert-role holders):
            # an item's panel and escalations are capped by who can answer it.
            return Review(log, key, Accounts(log.db).appender(log), rng=random.Random(seed),
                          experts=crowd.dids)

        with Log.create(trained, key, origin="improve.aiwork/log") as log:
            crowd = Crowd(args.seed + 3)
            review = engine(log, crowd, args.seed + 2)
            # One round: review every training item, then fit the calibration on the verdicts.
            review.set_rules("shots", {"experts": 3, "audit_share": 1.0, "gold_share": 0.0,
                                       "confidence_below": 0.6})
            train_verdicts, _, _ = run_round(review, crowd, train, "train")
            calibration = review.fit_calibration("shots", ANNOTATOR, 0.95, seed=args.seed)
        raw = [c for v in held for c, _ in v]
        truth = [r for v in held for _, r in v]
        ece_before = expected_calibration_error(raw, truth)
        ece_after = expected_calibration_error([calibration.apply(c) for c in raw], truth)

        def arm(name: str, rules: dict[str, Any], target: float | None = None
                ) -> tuple[int, float, int]:
            """Review the held-out videos under ``rules``, from the ledger as the training
            round left it (a copy per arm: no arm learns from another's verdicts), by the
            same experts, their reputations as the training round left them."""
            copy = Path(tmp) / f"{name}.db"
            shutil.copyfile(trained, copy)
            with Log.open(copy, key) as log:
                crowd = Crowd(args.seed + 3)
                review = engine(log, crowd, args.seed + 4)
                review.set_rules("shots", rules)
                if target is not None:
                    review.fit_calibration("shots", ANNOTATOR, target, seed=args.seed)
                return run_round(review, crowd, held, name)

        # Held out: review everything ...
        all_verdicts, all_accuracy, all_items = arm("all", {"audit_share": 1.0})
        # ... against calibrated routing with a capacity (active learning): the lowest
        # target whose final accuracy reaches reviewing everything's.
        routed: dict[str, Any] = {}
        reached = False
        for target in TARGETS:
            spent, accuracy, sent = arm(f"routed-{target}", {
                "audit_share": 0.05, "target_accuracy": target, "capacity": args.capacity},
                target)
            routed = {"target_accuracy": target, "verdicts": spent,
                      "final_accuracy": round(accuracy, 4), "items_reviewed": sent}
            reached = accuracy >= all_accuracy  # compared unrounded: the same share of items
            if reached:
                break
        # Raw confidence routing (the old default rule), for comparison.
        raw_verdicts, raw_accuracy, raw_items = arm("raw", {
            "target_accuracy": None, "capacity": None, "confidence_below": 0.6,
            "audit_share": 0.05})
    return {
        "corpus": {"videos": len(videos), "items_per_video": args.items, "seed": args.seed,
                   "train_videos": len(train), "held_out_videos": len(held),
                   "train_verdicts": train_verdicts, "seconds": round(
                       time.perf_counter() - started, 1)},
        "calibration": {"method": calibration.method, "digest": calibration.digest,
                        "fitted_on": calibration.samples + calibration.held_out,
                        "ece_before": round(ece_before, 4), "ece_after": round(ece_after, 4),
                        "error_reduction": round(max(0.0, 1 - ece_after / ece_before), 4)
                        if ece_before else 0.0,
                        "goal": 0.30},
        "routing": {"review_everything": {"verdicts": all_verdicts,
                                          "final_accuracy": round(all_accuracy, 4),
                                          "items_reviewed": all_items},
                    "calibrated_active": {**routed, "capacity_per_video": args.capacity},
                    "raw_confidence_below_0.6": {"verdicts": raw_verdicts,
                                                 "final_accuracy": round(raw_accuracy, 4),
                                                 "items_reviewed": raw_items},
                    "equal_accuracy_reached": reached,
                    "verdict_reduction": round(1 - routed["verdicts"] / all_verdicts, 4)
                    if reached and all_verdicts else 0.0,
                    "goal": 0.50},
        "custom_tags": measure_tags(args.seed, small=args.videos < 40),
        "domain_wer": measure_speech(args.seed, small=args.videos < 40),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    figures = measure(args)
    cal, rt = figures["calibration"], figures["routing"]
    c = figures["corpus"]
    print(f"improvement loop: {c['videos']} videos x {c['items_per_video']} shot boundaries, "
          f"seed {c['seed']}, {c['held_out_videos']} videos held out; one training round "
          f"({c['train_verdicts']} verdicts), {c['seconds']} s")
    print(f"expected calibration error (held out): {cal['ece_before']:.4f} raw -> "
          f"{cal['ece_after']:.4f} calibrated, error_reduction {cal['error_reduction']:.1%} "
          f"(goal 30 %: {'PASS' if cal['error_reduction'] >= 0.3 else 'MISS'}); "
          f"calibration {cal['digest'][:19]}...")
    every, routed = rt["review_everything"], rt["calibrated_active"]
    raw = rt["raw_confidence_below_0.6"]
    print(f"review everything:        {every['verdicts']:5d} verdicts, final accuracy "
          f"{every['final_accuracy']:.4f} ({every['items_reviewed']} items)")
    print(f"calibrated + active ({routed['target_accuracy']:.2f}, capacity "
          f"{routed['capacity_per_video']}/video): {routed['verdicts']:5d} verdicts, final "
          f"accuracy {routed['final_accuracy']:.4f} ({routed['items_reviewed']} items)")
    print(f"raw confidence < 0.6:     {raw['verdicts']:5d} verdicts, final accuracy "
          f"{raw['final_accuracy']:.4f} ({raw['items_reviewed']} items)")
    print(f"verdict_reduction at equal final accuracy: {rt['verdict_reduction']:.1%} (goal 50 %: "
          f"{'PASS' if rt['verdict_reduction'] >= 0.5 else 'MISS'}"
          + ("" if rt["equal_accuracy_reached"] else ", equal accuracy not reached") + ")")
    print(tags_line(figures["custom_tags"]))
    print(speech_line(figures["domain_wer"]))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
