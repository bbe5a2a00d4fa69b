"""Reputation: decayed average, minimum sample, quarantine with hysteresis."""

from __future__ import annotations

import pytest

from aiwork.errors import ConfigError
from aiwork.quality.reputation import Reputation, ReputationPolicy, observe


def run(values: list[float], gold: bool = False) -> Reputation:
    rep = Reputation()
    for value in values:
        rep = observe(rep, value, gold=gold)
    return rep


def test_an_honest_worker_stays_trusted_and_a_bad_one_is_quarantined() -> None:
    assert not run([1.0] * 20).quarantined
    assert run([1.0] * 20).score == pytest.approx(1.0)
    bad = run([0.1] * 6)
    assert bad.quarantined and bad.score == pytest.approx(0.1)


def test_no_quarantine_below_the_minimum_sample() -> None:
    assert not run([0.0] * 4).quarantined
    assert run([0.0] * 5).quarantined


def test_recent_work_counts_more() -> None:
    turned_bad = run([1.0] * 30 + [0.0] * 10)
    assert turned_bad.quarantined and turned_bad.score < 0.6
    recovering = run([0.0] * 10 + [1.0] * 30)
    assert not recovering.quarantined and recovering.score > 0.9


def test_release_needs_a_clearly_better_score() -> None:
    rep = run([0.0] * 6)
    assert rep.quarantined
    steps = 0
    while rep.quarantined:
        rep = observe(rep, 0.7)  # above the quarantine line, below the release line
        steps += 1
        if steps > 50:
            break
    assert rep.quarantined  # 0.7 < release_at 0.75: it never gets out on 0.7s
    rep = run([0.0] * 6 + [1.0] * 20)
    assert not rep.quarantined


def test_gold_observations_weigh_more() -> None:
    base = run([1.0] * 10)
    assert observe(base, 0.0, gold=True).score < observe(base, 0.0).score


def test_policy_is_checked() -> None:
    with pytest.raises(ConfigError):
        ReputationPolicy(decay=1.0)
    with pytest.raises(ConfigError):
        ReputationPolicy(quarantine_below=0.8, release_at=0.7)
