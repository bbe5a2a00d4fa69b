"""Calibrated confidence, routing by target accuracy, and active learning under a capacity."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from aiwork.coordinator.accounts import Accounts
from aiwork.coordinator.review import Review
from aiwork.crypto import SigningKey
from aiwork.errors import InputError, ReviewRefused
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.ledger.registry import models
from aiwork.quality.calibration import (
    Calibration,
    accept_threshold,
    expected_calibration_error,
    fit_calibration,
    select_for_review,
    uncertainty,
)
from aiwork.quality.review_items import Candidate, RoutingRules

ASSET = "sha256:" + "0" * 64


def _overconfident(n: int, seed: int) -> tuple[list[float], list[bool]]:
    """A model that says 0.80-0.99: right (confidence - 0.8) * 10 of the time, always at 0.9
    and above (a quarter of its items are wrong)."""
    rng = random.Random(seed)
    conf = [round(rng.uniform(0.8, 0.99), 3) for _ in range(n)]
    return conf, [rng.random() < (c - 0.8) * 10 for c in conf]


def test_isotonic_calibration_lowers_ece_and_its_threshold_reaches_the_target() -> None:
    conf, right = _overconfident(600, seed=1)
    cal = fit_calibration(conf, right, analyzer="model:m", version="v1", target_accuracy=0.95)
    assert cal.ece_after < cal.ece_before / 2  # measured on the held-out share
    assert cal.threshold is not None
    # On fresh items of the same model: the auto-accepted ones reach the target, while the
    # raw confidence would have let through items right only ~half the time.
    fresh_conf, fresh_right = _overconfident(2000, seed=2)
    kept = [r for c, r in zip(fresh_conf, fresh_right, strict=True) if cal.accepts(c)]
    assert len(kept) > 500 and sum(kept) / len(kept) >= 0.95
    assert sum(fresh_right) / len(fresh_right) < 0.8
    ece_raw = expected_calibration_error(fresh_conf, fresh_right)
    ece_cal = expected_calibration_error([cal.apply(c) for c in fresh_conf], fresh_right)
    assert ece_cal < ece_raw / 2
    # A model version: same fit, same digest; the JSON round-trips.
    again = fit_calibration(conf, right, analyzer="model:m", version="v1", target_accuracy=0.95)
    assert again.digest == cal.digest and Calibration.from_json(cal.to_json()) == cal


def test_threshold_and_refusals() -> None:
    assert accept_threshold([0.9, 0.8, 0.7, 0.6], [True, True, False, True], 0.95) == 0.8
    assert accept_threshold([0.9, 0.8], [False, True], 0.95) is None
    with pytest.raises(InputError):
        fit_calibration([0.5] * 5, [True] * 5, analyzer="a", version="b")  # too few
    with pytest.raises(InputError):
        fit_calibration([1.5] * 30, [True] * 30, analyzer="a", version="b")
    with pytest.raises(InputError):
        expected_calibration_error([0.5], [True, False])


def test_active_learning_picks_the_most_uncertain() -> None:
    probs = [0.99, 0.5, None, 0.02, 0.6, 0.9]
    assert select_for_review(probs, 2) == [1, 2]
    assert select_for_review(probs, 3, "entropy") == [1, 2, 4]
    assert select_for_review(probs, 0) == []
    assert uncertainty(0.5) == 1.0 and uncertainty(1.0, "entropy") == 0.0
    with pytest.raises(InputError):
        uncertainty(0.5, "random")


def test_old_rules_stay_valid_and_bad_targets_are_refused(tmp_path: Path) -> None:
    assert RoutingRules.model_validate({"confidence_below": 0.6}).target_accuracy is None
    key = SigningKey.generate()
    with Log.create(tmp_path / "r.db", key) as log:
        review = Review(log, key, Accounts(log.db).appender(log))
        for bad in ({"target_accuracy": 1.0}, {"target_accuracy": 0.2}, {"capacity": -1},
                    {"sampling": "random"}):
            with pytest.raises(ReviewRefused):
                review.set_rules("shots", bad)
        assert review.rules("shots") == RoutingRules()
        with pytest.raises(ReviewRefused):  # nothing verified yet
            review.fit_calibration("shots", "model:m@v1")


def _shots(confidences: list[float]) -> list[dict[str, Any]]:
    """A shots output: a first shot, then one cut per confidence, two seconds apart."""
    out: list[dict[str, Any]] = [{"id": 0, "instances": [{"start": 0.0, "end": 2.0}],
                                  "confidence": 1.0}]
    for n, c in enumerate(confidences, 1):
        out.append({"id": n, "instances": [{"start": 2.0 * n, "end": 2.0 * n + 2}],
                    "confidence": c})
    return out


def _verify(review: Review, annotator: str, items: list[tuple[float, bool]]) -> None:
    """Queue items of ``annotator`` (confidence, whether right) and have three accurate experts
    review them through the engine until it decides them all."""
    truth = {}
    for n, (conf, right) in enumerate(items):
        at = 2.0 + n
        item_id = review.add_item(
            job="j", insight="shots", decision=0,
            candidate=Candidate(n + 1, f"Is there a real shot boundary at {at:.2f} s?", at,
                                at - 1, at + 1, None, conf),
            reason="audit", asset=ASSET, producers=[], annotator=annotator)
        truth[item_id] = "accept" if right else "reject"
    experts = [SigningKey.generate() for _ in range(5)]
    busy = True
    while busy:
        busy = False
        for key in experts:
            item = review.next_item(key.did)
            if item is None:
                continue
            busy = True
            entry = sign_entry(key, "human.verdict",
                               review.verdict_body(item["id"], truth[item["id"]]))
            review.submit(key.did, entry.to_bytes())


def test_routing_by_target_accuracy_uses_the_fitted_calibration(tmp_path: Path) -> None:
    key = SigningKey.generate()
    rng = random.Random(5)
    over = "model:over@v1"  # says 0.8-0.99, a quarter wrong
    under = "model:under@v1"  # says 0.3-0.5, nearly always right
    with Log.create(tmp_path / "r.db", key) as log:
        review = Review(log, key, Accounts(log.db).appender(log), rng=random.Random(1))
        review.set_rules("shots", {"experts": 3, "confidence_below": 0.6, "audit_share": 0.0})
        conf, right = _overconfident(80, seed=3)
        _verify(review, over, list(zip(conf, right, strict=True)))
        low = [round(rng.uniform(0.3, 0.5), 3) for _ in range(80)]
        _verify(review, under, [(c, rng.random() < 0.99) for c in low])
        assert len(review.verified("shots", over)) == 80

        def routed(annotator: str, confidences: list[float]) -> int:
            return len(review.route(job="k", insight="shots", decision=1,
                                    output=_shots(confidences), producers=[],
                                    annotator=annotator, asset=ASSET))

        high = [0.81, 0.82, 0.805, 0.83, 0.815]
        quiet = [0.35, 0.4, 0.45, 0.32, 0.48]
        # Raw confidences fail both ways: errors through, sure items to humans.
        assert routed(over, high) == 0 and routed(under, quiet) == 5
        review.set_rules("shots", {"target_accuracy": 0.95})
        c_over = review.fit_calibration("shots", over, 0.95)
        c_under = review.fit_calibration("shots", under, 0.95)
        assert review.calibration("shots", over) == c_over
        assert c_over.ece_after < c_over.ece_before
        # Each calibration is a registered model version, named by its digest, once.
        registered = {m.weights_digest: m for m in models(log, "calibration.shots")}
        assert set(registered) == {c_over.digest, c_under.digest}
        assert registered[c_over.digest].body["metrics"]["ece_after"] == c_over.ece_after
        assert review.calibration_registration("shots", over) == registered[c_over.digest].index
        assert review.fit_calibration("shots", over, 0.95) == c_over
        assert len(models(log, "calibration.shots")) == 2
        assert routed(over, high) >= 4  # calibrated: these are often wrong
        assert routed(under, quiet) <= 1  # calibrated: these are right
        # Old rules keep working beside a fitted calibration.
        review.set_rules("shots", {"target_accuracy": None, "confidence_below": 0.6})
        assert routed(over, high) == 0


def test_a_capacity_sends_the_most_uncertain_items_instead_of_random_audits(
        tmp_path: Path) -> None:
    key = SigningKey.generate()
    with Log.create(tmp_path / "r.db", key) as log:
        review = Review(log, key, Accounts(log.db).appender(log), rng=random.Random(1))
        review.set_rules("shots", {"confidence_below": 0.1, "audit_share": 1.0, "capacity": 2})
        made = review.route(job="k", insight="shots", decision=1,
                            output=_shots([0.99, 0.55, 0.97, 0.4, 0.98, 0.05]),
                            producers=[], annotator="model:m@v", asset=ASSET)
        items = [review.item(i) for i in made]
        # the one under confidence_below first, then the one nearest a coin toss
        assert sorted((i.item, i.reason) for i in items) == [(2, "uncertain"),
                                                             (6, "low-confidence")]
        review.set_rules("shots", {"audit_share": 0.0})  # no audits: only what rules call for
        made = review.route(job="k", insight="shots", decision=3,
                            output=_shots([0.99, 0.55, 0.97, 0.4, 0.98, 0.05]),
                            producers=[], annotator="model:m@v", asset=ASSET)
        assert [review.item(i).item for i in made] == [6]
        # More items called for than the capacity: the most likely wrong go, not the most
        # uncertain (0.55 is nearest a coin toss, but 0.05 and 0.4 are more often wrong and
        # an item left out is accepted as it is).
        review.set_rules("shots", {"confidence_below": 0.9})
        made = review.route(job="k", insight="shots", decision=4,
                            output=_shots([0.99, 0.55, 0.97, 0.4, 0.98, 0.05]),
                            producers=[], annotator="model:m@v", asset=ASSET)
        assert sorted(review.item(i).item for i in made) == [4, 6]
        review.set_rules("shots", {"capacity": 0})
        assert review.route(job="k", insight="shots", decision=2, output=_shots([0.5, 0.5]),
                            producers=[], annotator="model:m@v", asset=ASSET) == []


def _verified_store(path: Path | str, key: SigningKey, annotator: str) -> None:
    """A coordinator store whose review engine decided 80 of ``annotator``'s shot boundaries
    (an overconfident model: a quarter of them wrong)."""
    from aiwork.ledger.home import init_ledger

    init_ledger(path).close()
    with Log.open(path) as log:
        review = Review(log, key, Accounts(log.db).appender(log), rng=random.Random(1))
        review.set_rules("shots", {"experts": 3, "audit_share": 0.0})
        conf, right = _overconfident(80, seed=3)
        _verify(review, annotator, list(zip(conf, right, strict=True)))


def test_an_admin_fits_a_calibration_over_the_api_and_bad_requests_change_nothing(
        tmp_path: Path) -> None:
    import json

    from fastapi.testclient import TestClient

    from aiwork.api import ServerSettings, create_app
    from aiwork.auth import sign_request
    from aiwork.ledger.registry import registration

    key, admin, stranger = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    annotator = "model:over@sha256:" + "a" * 64
    _verified_store(tmp_path / "coord.db", key, annotator)
    client = TestClient(create_app(ServerSettings(db=tmp_path / "coord.db", key=key,
                                                  admin=admin.did)))

    def post(signer: SigningKey | None, value: Any) -> Any:
        data = value if isinstance(value, bytes) else json.dumps(value).encode()
        headers = {} if signer is None else sign_request(signer, "POST",
                                                         "/v1/review/calibrations", data)
        return client.post("/v1/review/calibrations", content=data,
                           headers={**headers, "content-type": "application/json"})

    listed = client.get("/v1/review/calibrations").json()
    assert listed["calibrations"] == []
    assert listed["candidates"] == [{"insight": "shots", "annotator": annotator,
                                     "verified": 80}]
    with Log.open(tmp_path / "coord.db") as log:
        size = log.size
    good = {"insight": "shots", "annotator": annotator, "target_accuracy": 0.95}
    refused = [
        (None, good, 401), (stranger, good, 403),
        (admin, {**good, "target_accuracy": 1.0}, 400),
        (admin, {**good, "target_accuracy": "0.9"}, 400),
        (admin, {**good, "insight": "faces"}, 400),
        (admin, {**good, "annotator": "model:other@sha256:" + "b" * 64}, 400),
        (admin, {**good, "annotator": "model:x y"}, 400),
        (admin, {**good, "annotator": "m" * 201}, 400),
        (admin, {**good, "seed": 3}, 400),
        (admin, {"annotator": annotator}, 400),
        (admin, b"[1, 2", 400),
    ]
    for signer, value, status in refused:
        reply = post(signer, value)
        assert reply.status_code == status, (value, reply.text)
        assert set(reply.json()) == {"error", "message"}
    # A model without verified items: the refusal names the one that has them.
    reply = post(admin, {**good, "annotator": "model:other@sha256:" + "b" * 64})
    assert annotator in reply.json()["message"]
    assert client.get("/v1/review/calibrations").json()["calibrations"] == []
    with Log.open(tmp_path / "coord.db") as log:
        assert log.size == size  # nothing was logged

    reply = post(admin, good)
    assert reply.status_code == 200, reply.text
    fitted = reply.json()
    assert fitted["insight"] == "shots" and fitted["annotator"] == annotator
    assert fitted["ece_after"] < fitted["ece_before"]
    assert fitted["samples"] + fitted["held_out"] == 80 and fitted["threshold"] is not None
    assert fitted["target_accuracy"] == 0.95
    with Log.open(tmp_path / "coord.db") as log:
        model = registration(log, fitted["registration"])
        assert model.analyzer == "calibration.shots"
        assert model.weights_digest == fitted["digest"]
        assert model.body["metrics"]["ece_after"] == fitted["ece_after"]
    assert client.get("/v1/review/calibrations").json()["calibrations"] == [fitted]


def test_the_review_calibrate_command_prints_the_fit(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from aiwork.cli import main
    from aiwork.crypto import write_key_file

    from .conftest import running_coordinator

    key, admin = SigningKey.generate(), SigningKey.generate()
    home = tmp_path / "home"
    home.mkdir()
    write_key_file(home / "coordinator.key", key)
    write_key_file(tmp_path / "admin.pem", admin)
    annotator = "model:over@sha256:" + "a" * 64
    _verified_store(tmp_path / "coord.db", key, annotator)
    with running_coordinator(home, "--admin", admin.did, "--db",
                             str(tmp_path / "coord.db")) as url:
        assert main(["review", "calibrations", "--coordinator", url]) == 0
        out = capsys.readouterr().out
        assert "no calibration fitted yet" in out and f"candidate: shots {annotator} (80" in out
        assert main(["review", "calibrate", "shots", annotator, "--target-accuracy", "0.9",
                     "--coordinator", url, "--key", str(tmp_path / "admin.pem")]) == 0
        line = capsys.readouterr().out
        assert line.startswith(f"shots {annotator}: ECE ") and "target accuracy 0.9," in line
        assert "registration " in line and "threshold" in line
        assert main(["review", "calibrate", "shots", "model:none@x", "--coordinator", url,
                     "--key", str(tmp_path / "admin.pem")]) == 1
        assert annotator in capsys.readouterr().err
        assert main(["review", "calibrations", "--coordinator", url, "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert [c["target_accuracy"] for c in listed["calibrations"]] == [0.9]


def test_the_public_list_of_candidates_reads_a_bounded_window(store_target: Path | str
                                                              ) -> None:
    key = SigningKey.generate()
    annotator = "model:over@sha256:" + "a" * 64
    _verified_store(store_target, key, annotator)
    with Log.open(store_target) as log:
        review = Review(log, key, Accounts(log.db).appender(log))
        assert review.calibration_candidates() == [
            {"insight": "shots", "annotator": annotator, "verified": 80}]
        assert review.calibration_candidates(window=10)[0]["verified"] == 10
