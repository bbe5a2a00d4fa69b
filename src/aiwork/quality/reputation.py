"""Worker reputation: an exponentially decayed average of observed quality.

Each observation is a number in [0, 1]: agreement with the other replicas of a task, or
accuracy on a gold task whose answer is known (weighted more: it cannot be gamed by
colluding replicas). Recent work counts more (``decay``). Nobody is judged on too little:
below ``min_samples`` observations a worker is never quarantined. At or above it, a score
under ``quarantine_below`` quarantines the worker; a later score at or above
``release_at`` releases them (the gap avoids flapping).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from aiwork.errors import ConfigError

__all__ = ["Reputation", "ReputationPolicy", "observe"]


@dataclass(frozen=True)
class ReputationPolicy:
    decay: float = 0.9
    min_samples: int = 5
    quarantine_below: float = 0.6
    release_at: float = 0.75
    gold_weight: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.decay < 1:
            raise ConfigError("decay must lie strictly between 0 and 1")
        if self.release_at < self.quarantine_below:
            raise ConfigError("release_at must not be below quarantine_below")


@dataclass(frozen=True)
class Reputation:
    score: float = 0.0
    weight: float = 0.0  # decayed sum of observation weights
    samples: int = 0
    quarantined: bool = False

    def to_json(self) -> dict[str, object]:
        return {"score": round(self.score, 4), "weight": round(self.weight, 4),
                "samples": self.samples, "quarantined": self.quarantined}


def observe(current: Reputation, value: float, *, gold: bool = False,
            policy: ReputationPolicy = ReputationPolicy()) -> Reputation:
    """The reputation after one more observation ``value`` (clamped to [0, 1])."""
    value = min(1.0, max(0.0, value))
    w = policy.gold_weight if gold else 1.0
    kept = current.weight * policy.decay
    weight = kept + w
    score = (current.score * kept + value * w) / weight
    samples = current.samples + 1
    quarantined = current.quarantined
    if samples >= policy.min_samples:
        if score < policy.quarantine_below:
            quarantined = True
        elif score >= policy.release_at:
            quarantined = False
    return replace(current, score=score, weight=weight, samples=samples, quarantined=quarantined)
