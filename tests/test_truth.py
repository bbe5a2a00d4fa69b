"""Truth inference: the numpy Dawid-Skene, gold anchoring, AI models as annotators, ROVER, and
the ``aiwork quality bench`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aiwork.cli import main
from aiwork.errors import InputError
from aiwork.quality import combine_texts, crowdbench, infer_truth, model_annotator
from aiwork.quality.crowdbench import load_set
from aiwork.quality.truth import Answer, DawidSkeneEM, TruthResult

from .conftest import missing

SHARED_CROWDS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "crowd"
REAL_CROWDS = ("d_Duck_Identification", "d_jn-product", "s4_Dog_data",
               "s4_Face_Sentiment_Identification")


def accuracy(result: TruthResult, truth: dict[str, str]) -> float:
    return sum(result.items[i].label == label for i, label in truth.items()) / len(truth)


def same_labels(a: TruthResult, b: TruthResult) -> float:
    assert a.items.keys() == b.items.keys()
    return sum(a.items[i].label == b.items[i].label for i in a.items) / len(a.items)


def simulated_crowd(seed: int = 7) -> tuple[list[Answer], dict[str, str], dict[str, str]]:
    """A plain generative crowd over 3 classes and 300 items; each annotator answers an item
    with probability 1/2. Accurate experts are right with p = 0.85, careless annotators with
    p = 0.6 (else a uniformly drawn wrong label), spammers answer uniformly at random, and
    colluders all give one wrong label per item, drawn once and shared among them."""
    rng = np.random.default_rng(seed)
    labels = ["a", "b", "c"]
    n_items = 300
    truth = rng.integers(0, 3, n_items)
    shared_wrong = (truth + rng.integers(1, 3, n_items)) % 3
    groups = {"expert": 5, "careless": 5, "spammer": 4, "colluder": 4}
    answers: list[Answer] = []
    group_of: dict[str, str] = {}
    for group, count in groups.items():
        for n in range(count):
            annotator = f"{group}-{n}"
            group_of[annotator] = group
            for i in range(n_items):
                if rng.random() >= 0.5:
                    continue
                if group in ("expert", "careless"):
                    p = 0.85 if group == "expert" else 0.6
                    label = truth[i] if rng.random() < p else (truth[i] + rng.integers(1, 3)) % 3
                elif group == "spammer":
                    label = rng.integers(0, 3)
                else:
                    label = shared_wrong[i]
                answers.append((f"item-{i}", annotator, labels[int(label)]))
    return answers, {f"item-{i}": labels[int(t)] for i, t in enumerate(truth)}, group_of


def test_spammers_and_colluders_get_low_weight_and_the_result_beats_majority_vote() -> None:
    answers, truth, group_of = simulated_crowd()
    result = infer_truth(answers)
    weights: dict[str, list[float]] = {}
    for name, skill in result.annotators.items():
        weights.setdefault(group_of[name], []).append(skill.weight)
    low = weights["spammer"] + weights["colluder"]
    assert max(low) < 0.5
    assert max(low) < min(weights["careless"])
    assert max(weights["careless"]) < min(weights["expert"])
    assert all(result.annotators[n].accuracy < 0.2 for n, g in group_of.items() if g == "colluder")
    assert accuracy(result, truth) > accuracy(infer_truth(answers, method="majority_vote"), truth)
    assert result.converged and result.method == "aiwork"
    assert all(0.0 <= item.probability <= 1.0 for item in result.items.values())


def matches_crowdkit(answers: list[Answer], gold: dict[str, str] | None = None) -> None:
    """aiwork's default is crowd-kit's Dawid-Skene computed in numpy: the same EM steps, the
    same stopping step, the same label for every item, the same posteriors (to rounding)."""
    theirs = infer_truth(answers, method="dawid_skene", gold=gold)
    ours = infer_truth(answers, gold=gold)
    assert ours.iterations == theirs.iterations
    assert same_labels(ours, theirs) == 1.0
    assert max(abs(ours.items[i].probability - theirs.items[i].probability)
               for i in ours.items) < 1e-6
    for name, skill in ours.annotators.items():
        assert skill.accuracy == pytest.approx(theirs.annotators[name].accuracy, abs=1e-6)


def test_default_method_is_crowdkit_dawid_skene_on_a_simulated_crowd() -> None:
    answers, truth, _ = simulated_crowd()
    matches_crowdkit(answers)
    matches_crowdkit(answers, gold=dict(list(truth.items())[:30]))


@pytest.mark.parametrize("name", REAL_CROWDS)
def test_default_method_is_crowdkit_dawid_skene_on_real_crowds(name: str) -> None:
    """Only the answers are read: the comparison is label for label, not with the truth."""
    if not (SHARED_CROWDS / name).is_dir():
        missing("no shared/datasets/crowd beside this checkout")
    matches_crowdkit(list(load_set(SHARED_CROWDS / name).answers))


def test_em_settings_are_checked_and_max_iter_bounds_the_steps() -> None:
    answers, _, _ = simulated_crowd()
    assert not infer_truth(answers, em=DawidSkeneEM(max_iter=1, tol=0)).converged
    assert infer_truth(answers, em=DawidSkeneEM(max_iter=1, tol=0)).iterations == 1
    with pytest.raises(InputError, match="max_iter"):
        DawidSkeneEM(max_iter=0)
    with pytest.raises(InputError, match="max_iter"):
        DawidSkeneEM(tol=-1.0)


def test_an_ai_model_is_one_more_annotator_with_a_learned_skill() -> None:
    rng = np.random.default_rng(11)
    truth = rng.integers(0, 2, 400)
    good, bad = model_annotator("tagger", "sha256:aa"), model_annotator("tagger", "sha256:bb")
    assert good == "model:tagger@sha256:aa"
    answers: list[Answer] = []
    for i, t in enumerate(truth):
        for expert in range(3):
            if rng.random() < 0.6:
                label = t if rng.random() < 0.8 else 1 - t
                answers.append((str(i), f"expert-{expert}", str(label)))
        answers.append((str(i), good, str(t if rng.random() < 0.95 else 1 - t)))
        answers.append((str(i), bad, str(rng.integers(0, 2))))
    result = infer_truth(answers)
    skills = result.annotators
    assert skills[good].accuracy == pytest.approx(0.95, abs=0.04)
    assert skills[bad].accuracy == pytest.approx(0.5, abs=0.08)
    assert skills[good].weight > max(skills[f"expert-{e}"].weight for e in range(3))
    assert skills[bad].weight < min(skills[f"expert-{e}"].weight for e in range(3))
    assert skills[good].answers == 400
    confusion = skills[good].confusion
    assert confusion is not None and len(confusion) == 2


def test_gold_items_anchor_skills() -> None:
    """Two annotators always swap the labels, one is honest: the majority is wrong on every
    item. Without gold, the majority wins; with half the items as gold, the swap is learned
    and the other half is labelled right."""
    truth = {f"clip-{i}": ("cat" if i % 2 else "dog") for i in range(40)}
    swapped = {"cat": "dog", "dog": "cat"}
    answers = [(item, name, swapped[label] if name.startswith("swap") else label)
               for item, label in truth.items() for name in ("swap-1", "swap-2", "honest")]
    gold = {item: label for n, (item, label) in enumerate(truth.items()) if n < 20}

    without = infer_truth(answers)
    assert accuracy(without, truth) == 0.0

    anchored = infer_truth(answers, gold=gold)
    assert accuracy(anchored, truth) == 1.0
    for item in gold:
        assert anchored.items[item].gold and anchored.items[item].probability == 1.0
    assert anchored.annotators["honest"].accuracy > 0.6
    assert anchored.annotators["swap-1"].accuracy < 0.4
    assert anchored.annotators["swap-1"].weight == 0.0

    # A gold item nobody answered is still reported, at its known label.
    extra = infer_truth(answers, gold={**gold, "clip-new": "bird"})
    assert extra.items["clip-new"].label == "bird" and extra.items["clip-new"].answers == 0
    assert "bird" in extra.labels

    # crowd-kit's Dawid-Skene takes gold too; every method reports gold at its known label.
    for method in ("dawid_skene", "majority_vote"):
        other = infer_truth(answers, gold=gold, method=method)
        assert all(other.items[item].label == label for item, label in gold.items())


def test_result_round_trips_to_json_and_bad_input_is_an_input_error() -> None:
    result = infer_truth([("x", "a", "1"), ("x", "b", "1"), ("y", "a", "0")])
    data = result.to_json()
    assert data["method"] == "aiwork" and data["labels"] == ["0", "1"]
    assert {i["item"]: i["label"] for i in data["items"]} == {"x": "1", "y": "0"}
    assert result.label_of("x") == "1"
    assert infer_truth([]).items == {}
    with pytest.raises(InputError, match="unknown truth-inference method"):
        infer_truth([("x", "a", "1")], method="vote")
    with pytest.raises(InputError, match="expected"):
        infer_truth([("x", "a", 1)])  # type: ignore[list-item]
    with pytest.raises(InputError):
        result.label_of("nope")


def test_combine_texts_keeps_the_majority_words() -> None:
    versions = ["the quick brown fox jumps over the lazy dog",
                "the quick brown fox jumped over the lazy dog",
                "the quack brown fox jumps over a lazy dog today"]
    assert combine_texts(versions) == "the quick brown fox jumps over the lazy dog"
    assert combine_texts(["hello  big world", "hello world", "hello world"]) == "hello world"
    assert combine_texts(["  just   one "]) == "just one"
    with pytest.raises(InputError):
        combine_texts([])


# -- aiwork quality bench ------------------------------------------------------------------


def write_set(folder: Path, answers: list[tuple[str, str, str]], truth: dict[str, str]) -> None:
    folder.mkdir(parents=True)
    lines = ["question,worker,answer", *(",".join(row) for row in answers)]
    (folder / "answer.csv").write_text("\n".join(lines) + "\n")
    (folder / "truth.csv").write_text(
        "question,truth\n" + "".join(f"{q},{t}\n" for q, t in truth.items()))


def tiny_set(folder: Path) -> None:
    truth = {f"q{i}": str(i % 2) for i in range(8)}
    answers = [(q, f"w{w}", t if (w + int(q[1:])) % 4 else str(1 - int(t)))
               for q, t in truth.items() for w in range(4)]
    write_set(folder, answers, truth)


def test_bench_prints_one_json_object_per_data_set(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiny_set(tmp_path / "sets" / "alpha")
    tiny_set(tmp_path / "sets" / "beta")
    code = main(["quality", "bench", "--data", str(tmp_path / "sets"), "--json",
                 "--methods", "majority_vote,dawid_skene"])
    out = capsys.readouterr().out
    assert code == 0
    objects = [json.loads(line) for line in out.splitlines()]
    assert [o["dataset"] for o in objects] == ["alpha", "beta"]
    for obj in objects:
        assert {"aiwork", "majority_vote", "dawid_skene"} <= obj.keys()
        assert "glad" not in obj and "mace" not in obj
        for method in ("aiwork", "majority_vote", "dawid_skene"):
            assert set(obj[method]) == {"accuracy", "seconds"}
            assert 0.0 <= obj[method]["accuracy"] <= 1.0 and obj[method]["seconds"] >= 0


def test_bench_tables_name_pass_or_miss(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    tiny_set(tmp_path / "one")
    assert main(["quality", "bench", "--data", str(tmp_path / "one"),
                 "--methods", "majority_vote"]) == 0
    out = capsys.readouterr().out
    assert "accuracy: aiwork" in out and "Dawid-Skene not run: n/a" in out


@pytest.mark.parametrize(("answer_csv", "message"), [
    (None, "answer.csv: missing"),
    ("q,w\n1,2\n", "expected the header question,worker,answer"),
    ("question,worker,answer\n1,a\n", "line 2: expected 3 non-empty fields"),
])
def test_bench_reports_a_bad_answer_file_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], answer_csv: str | None,
        message: str) -> None:
    folder = tmp_path / "sets" / "broken"
    folder.mkdir(parents=True)
    (folder / "truth.csv").write_text("question,truth\n1,0\n")
    if answer_csv is not None:
        (folder / "answer.csv").write_text(answer_csv)
    code = main(["quality", "bench", "--data", str(tmp_path / "sets"), "--json"])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert captured.err.startswith("error: ") and message in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_bench_rejects_an_unknown_method(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    tiny_set(tmp_path / "one")
    assert main(["quality", "bench", "--data", str(tmp_path / "one"),
                 "--methods", "dawid_skene,best"]) == 1
    assert "unknown method 'best'" in capsys.readouterr().err


def test_bench_without_data_sets_asks_for_data(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(crowdbench, "default_data_dir", lambda: None)
    assert main(["quality", "bench", "--json"]) == 1
    assert "pass --data DIR" in capsys.readouterr().err


def test_every_method_runs_and_labels_every_item() -> None:
    answers, _, _ = simulated_crowd()
    small = [a for a in answers if int(a[0].split("-")[1]) < 30]
    for method in ("aiwork", "dawid_skene", "glad", "mace", "majority_vote"):
        result = infer_truth(small, method=method)
        assert result.method == method and len(result.items) == 30
        assert set(result.annotators) == {a[1] for a in small}
        assert all(item.label in ("a", "b", "c") for item in result.items.values())
