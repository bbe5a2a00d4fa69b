"""Calibrated confidence, the routing threshold for a target accuracy, and active learning.

An analyzer's raw confidence is not a probability: one model says 0.9 and is right half the
time, another says 0.4 and is nearly always right. From human verdicts (an item accepted by
consensus was right, one corrected or rejected was wrong) :func:`fit_calibration` fits, per
analyzer and model version, an isotonic map from raw confidence to the probability of being
right (scikit-learn's ``IsotonicRegression``, stored as its knots), measures the expected
calibration error (ECE) before and after on held-out verified items, and fits the threshold
of calibrated confidence at and above which auto-accepted items reach a stated accuracy on
those held-out items. A fitted :class:`Calibration` is a model version: its digest (RFC 8785
canonical JSON, SHA-256) names exactly these knots and this threshold.

With limited review capacity, :func:`select_for_review` picks the items whose verdicts are worth
most: the most uncertain under the calibrated confidence (margin or entropy sampling).
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from aiwork.canonical import canonical_bytes
from aiwork.errors import InputError

__all__ = ["SAMPLING", "Calibration", "accept_threshold", "expected_calibration_error",
           "fit_calibration", "most_at_risk", "select_for_review", "uncertainty"]

SAMPLING = ("margin", "entropy")
#: Fewer verified items than this cannot say anything about a model's confidence.
MIN_SAMPLES = 20


def _check(confidences: Sequence[float], correct: Sequence[bool]) -> None:
    if len(confidences) != len(correct):
        raise InputError(f"{len(confidences)} confidences but {len(correct)} verdicts")
    for c in confidences:
        if not (isinstance(c, int | float) and 0.0 <= float(c) <= 1.0):
            raise InputError(f"a confidence is a number from 0 to 1, not {c!r}")


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool],
                               bins: int = 10) -> float:
    """ECE: over equal-width confidence bins, the item-weighted mean of |accuracy - mean
    confidence| (0: the confidences are the probabilities of being right)."""
    _check(confidences, correct)
    if not confidences:
        return 0.0
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(confidences)
                   if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        if members:
            acc = sum(bool(correct[i]) for i in members) / len(members)
            conf = sum(float(confidences[i]) for i in members) / len(members)
            total += len(members) * abs(acc - conf)
    return total / len(confidences)


def accept_threshold(confidences: Sequence[float], correct: Sequence[bool],
                     target_accuracy: float) -> float | None:
    """The lowest confidence ``t`` such that the items at or above ``t`` are right at least
    ``target_accuracy`` of the time (None: no such set, every item goes to a human)."""
    _check(confidences, correct)
    order = sorted(range(len(confidences)), key=lambda i: -float(confidences[i]))
    best: float | None = None
    right = 0
    for n, i in enumerate(order, 1):
        right += bool(correct[i])
        # only cut between distinct confidences: items with equal confidence go together
        if n < len(order) and confidences[order[n]] == confidences[i]:
            continue
        if right / n >= target_accuracy:
            best = float(confidences[i])
    return best


@dataclass(frozen=True)
class Calibration:
    """A fitted calibration of one analyzer's model version (a model version itself)."""

    analyzer: str
    version: str
    method: str  # "isotonic"
    knots_x: tuple[float, ...]  # raw confidence
    knots_y: tuple[float, ...]  # probability of being right
    target_accuracy: float
    threshold: float | None  # calibrated confidence auto-accepted at and above (None: none)
    samples: int  # verified items fitted on
    held_out: int  # verified items the metrics and the threshold were measured on
    ece_before: float
    ece_after: float

    def apply(self, confidence: float) -> float:
        """The probability that an item of this model with ``confidence`` is right."""
        import numpy

        return float(numpy.interp(float(confidence), self.knots_x, self.knots_y))

    def accepts(self, confidence: float) -> bool:
        """Whether an item with raw ``confidence`` is auto-accepted (not sent to humans)."""
        return self.threshold is not None and self.apply(confidence) >= self.threshold

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["knots_x"], out["knots_y"] = list(self.knots_x), list(self.knots_y)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        try:
            return cls(**{**data, "knots_x": tuple(float(x) for x in data["knots_x"]),
                          "knots_y": tuple(float(y) for y in data["knots_y"])})
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a calibration: {exc}") from exc

    @property
    def digest(self) -> str:
        """``sha256:`` of the calibration's canonical JSON: the weights of this model version."""
        return "sha256:" + hashlib.sha256(canonical_bytes(self.to_json())).hexdigest()


def fit_calibration(confidences: Sequence[float], correct: Sequence[bool], *, analyzer: str,
                    version: str, target_accuracy: float = 0.95, held_out_share: float = 0.3,
                    seed: int = 0) -> Calibration:
    """Fit an isotonic calibration on verified items (raw confidence, whether the AI value was
    right), keeping ``held_out_share`` of them aside to measure ECE and fit the threshold."""
    _check(confidences, correct)
    if not 0.5 <= target_accuracy < 1.0:
        raise InputError(f"a target accuracy is from 0.5 to below 1, not {target_accuracy}")
    if len(confidences) < MIN_SAMPLES:
        raise InputError(f"a calibration needs at least {MIN_SAMPLES} verified items with a "
                         f"confidence, not {len(confidences)}: review more of this model's items")
    from sklearn.isotonic import IsotonicRegression

    order = list(range(len(confidences)))
    random.Random(seed).shuffle(order)
    cut = max(1, min(len(order) - 1, round(len(order) * held_out_share)))
    held, train = order[:cut], order[cut:]
    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    model.fit([float(confidences[i]) for i in train], [float(bool(correct[i])) for i in train])
    xs = tuple(float(x) for x in model.X_thresholds_)
    ys = tuple(round(float(y), 6) for y in model.y_thresholds_)
    fitted = Calibration(analyzer, version, "isotonic", xs, ys, target_accuracy, None,
                         len(train), len(held), 0.0, 0.0)
    raw = [float(confidences[i]) for i in held]
    truth = [bool(correct[i]) for i in held]
    calibrated = [fitted.apply(c) for c in raw]
    threshold = accept_threshold(calibrated, truth, target_accuracy)
    return Calibration(analyzer, version, "isotonic", xs, ys, target_accuracy, threshold,
                       len(train), len(held),
                       round(expected_calibration_error(raw, truth), 6),
                       round(expected_calibration_error(calibrated, truth), 6))


def uncertainty(probability: float, sampling: str = "margin") -> float:
    """How unsure a yes/no answer with ``probability`` of "right" is, from 0 (sure) to 1:
    margin sampling (1 - |p - (1 - p)|) or binary entropy in bits."""
    p = min(1.0, max(0.0, float(probability)))
    if sampling == "margin":
        return 1.0 - abs(2.0 * p - 1.0)
    if sampling == "entropy":
        return 0.0 if p in (0.0, 1.0) else -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
    raise InputError(f"unknown sampling {sampling!r}: one of {', '.join(SAMPLING)}")


def select_for_review(probabilities: Sequence[float | None], capacity: int,
                      sampling: str = "margin") -> list[int]:
    """The indexes of at most ``capacity`` items to send to humans: the most uncertain first
    (an item without a confidence counts as the most uncertain); ties keep their order."""
    if capacity < 0:
        raise InputError(f"a review capacity is 0 or more, not {capacity}")
    scored = [(1.0 if p is None else uncertainty(p, sampling), -n)
              for n, p in enumerate(probabilities)]
    ranked = sorted(scored, reverse=True)[:capacity]
    return sorted(-n for _, n in ranked)


def most_at_risk(probabilities: Sequence[float | None], capacity: int) -> list[int]:
    """The indexes of at most ``capacity`` items most likely wrong (the lowest calibrated
    probability of being right first; an item without a confidence first of all): where an
    item left out is accepted as it is, reviewing these saves the most errors. An item that
    is probably wrong is not uncertain, so uncertainty sampling would leave it out."""
    if capacity < 0:
        raise InputError(f"a review capacity is 0 or more, not {capacity}")
    scored = [(1.0 if p is None else 1.0 - min(1.0, max(0.0, float(p))), -n)
              for n, p in enumerate(probabilities)]
    ranked = sorted(scored, reverse=True)[:capacity]
    return sorted(-n for _, n in ranked)
