"""The truth-inference benchmark on real crowdsourcing label sets with ground truth.

A data set is a folder with ``answer.csv`` (columns ``question, worker, answer``) and
``truth.csv`` (``question, truth``). Each method sees only the answers; the truth is used to
score it (accuracy over the items with a true label) and for nothing else. aiwork's own method
runs on every set; crowd-kit's majority vote, Dawid-Skene, GLAD and MACE run beside it in the
same process, with their default settings. ``aiwork quality bench`` and ``bench/quality.py``
print what :func:`run` returns.
"""

from __future__ import annotations

import csv
import importlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from aiwork.errors import ConfigError, InputError
from aiwork.quality.truth import Answer, infer_truth

__all__ = [
    "BASELINES",
    "CrowdSet",
    "MethodScore",
    "SetResult",
    "default_data_dir",
    "find_sets",
    "format_result",
    "format_summary",
    "load_set",
    "load_sets",
    "machine",
    "parse_methods",
    "run",
    "run_set",
]

#: crowd-kit's aggregators the benchmark runs beside aiwork's method, in this order.
BASELINES: Final[tuple[str, ...]] = ("majority_vote", "dawid_skene", "glad", "mace")
NAMES: Final[dict[str, str]] = {"aiwork": "aiwork", "majority_vote": "majority vote",
                                "dawid_skene": "Dawid-Skene", "glad": "GLAD", "mace": "MACE"}
#: Where the shared data sets live, relative to the folder holding the repository.
SHARED_CROWD: Final = Path("shared", "datasets", "crowd")


@dataclass(frozen=True)
class CrowdSet:
    name: str
    answers: tuple[Answer, ...]
    truth: dict[str, str]

    @property
    def items(self) -> int:
        return len({a[0] for a in self.answers})

    @property
    def annotators(self) -> int:
        return len({a[1] for a in self.answers})

    @property
    def classes(self) -> int:
        return len({a[2] for a in self.answers} | set(self.truth.values()))


@dataclass(frozen=True)
class MethodScore:
    accuracy: float
    seconds: float
    scored: int  # items with a true label and an inferred one

    def to_json(self) -> dict[str, Any]:
        return {"accuracy": round(self.accuracy, 4), "seconds": round(self.seconds, 4)}


@dataclass(frozen=True)
class SetResult:
    dataset: str
    items: int
    annotators: int
    answers: int
    classes: int
    scores: dict[str, MethodScore] = field(default_factory=dict)

    @property
    def best_baseline(self) -> tuple[str, MethodScore] | None:
        baselines = [(m, s) for m, s in self.scores.items() if m != "aiwork"]
        return max(baselines, key=lambda ms: ms[1].accuracy, default=None)

    @property
    def accuracy_pass(self) -> bool | None:
        """aiwork at least as accurate as the best crowd-kit method run (None: none run)."""
        best = self.best_baseline
        return None if best is None else self.scores["aiwork"].accuracy >= best[1].accuracy

    @property
    def speed_pass(self) -> bool | None:
        """aiwork no slower than crowd-kit's Dawid-Skene (None: Dawid-Skene not run)."""
        ds = self.scores.get("dawid_skene")
        return None if ds is None else self.scores["aiwork"].seconds <= ds.seconds

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dataset": self.dataset}
        out.update({method: score.to_json() for method, score in self.scores.items()})
        out["items"] = self.items
        out["annotators"] = self.annotators
        out["answers"] = self.answers
        out["classes"] = self.classes
        out["pass"] = {"accuracy": self.accuracy_pass, "speed": self.speed_pass}
        return out


# -- finding and reading data sets -------------------------------------------------------


def default_data_dir() -> Path | None:
    """``../shared/datasets/crowd`` beside the repository (found from this file or the
    working directory), or None."""
    here = Path(__file__).resolve()
    cwd = Path.cwd().resolve()
    roots = [here.parents[3], cwd, *cwd.parents[:2]]
    candidates = [root.parent / SHARED_CROWD for root in roots] + [cwd / SHARED_CROWD]
    return next((c for c in candidates if c.is_dir()), None)


def find_sets(data: Path | None) -> list[Path]:
    """The data set folders under ``data`` (or ``data`` itself if it is one), sorted."""
    if data is None:
        data = default_data_dir()
        if data is None:
            raise ConfigError("no crowd data sets found (looked for ../shared/datasets/crowd "
                              "beside the repository)", hint="pass --data DIR")
    if not data.is_dir():
        raise InputError(f"{data}: not a folder", hint="pass --data DIR")
    if (data / "answer.csv").exists() or (data / "truth.csv").exists():
        return [data]
    sets = sorted(p for p in data.iterdir()
                  if p.is_dir() and ((p / "answer.csv").exists() or (p / "truth.csv").exists()))
    if not sets:
        raise InputError(f"{data}: no data sets (folders with answer.csv and truth.csv)",
                         hint="pass --data DIR")
    return sets


def _rows(path: Path, columns: Sequence[str]) -> Iterator[tuple[int, list[str]]]:
    try:
        handle = path.open(newline="", encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: missing") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        try:
            reader = csv.reader(handle)
            header = [h.strip() for h in next(reader, [])]
            if header != list(columns):
                raise InputError(f"{path}: expected the header {','.join(columns)}, "
                                 f"found {','.join(header) or 'nothing'}")
            for row in reader:
                if not row:
                    continue
                if len(row) != len(columns) or not all(cell.strip() for cell in row):
                    raise InputError(f"{path} line {reader.line_num}: expected "
                                     f"{len(columns)} non-empty fields, found {row!r}")
                yield reader.line_num, [cell.strip() for cell in row]
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{path}: not a CSV file ({exc})") from None


def load_set(folder: Path) -> CrowdSet:
    """Read one data set; a missing or malformed file is an :class:`InputError`."""
    answers = tuple((q, w, a) for _, (q, w, a) in
                    _rows(folder / "answer.csv", ("question", "worker", "answer")))
    if not answers:
        raise InputError(f"{folder / 'answer.csv'}: no answers")
    truth: dict[str, str] = {}
    for line, (question, label) in _rows(folder / "truth.csv", ("question", "truth")):
        if truth.setdefault(question, label) != label:
            raise InputError(f"{folder / 'truth.csv'} line {line}: a second, different "
                             f"truth for question {question!r}")
    if not truth:
        raise InputError(f"{folder / 'truth.csv'}: no true labels")
    return CrowdSet(folder.name, answers, truth)


# -- running -------------------------------------------------------------------------------


def parse_methods(text: str) -> tuple[str, ...]:
    """The crowd-kit baselines named in a comma-separated list ("aiwork" may be named too)."""
    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in (*BASELINES, "aiwork")]
    if unknown:
        raise InputError(f"unknown method {unknown[0]!r}; choose from "
                         f"{', '.join(('aiwork', *BASELINES))}")
    return tuple(m for m in BASELINES if m in names)


def _score(crowd: CrowdSet, method: str) -> MethodScore:
    started = time.perf_counter()
    result = infer_truth(crowd.answers, method=method)
    seconds = time.perf_counter() - started
    scored = [q for q in crowd.truth if q in result.items]
    right = sum(result.items[q].label == crowd.truth[q] for q in scored)
    # An item with a true label but no answers counts as wrong.
    return MethodScore(right / len(crowd.truth), seconds, len(scored))


def run_set(crowd: CrowdSet, baselines: Sequence[str] = BASELINES) -> SetResult:
    """aiwork's method, then each baseline, on one data set."""
    if baselines:  # crowd-kit's import (about a second) is not part of any method's time
        importlib.import_module("crowdkit.aggregation")
    scores = {method: _score(crowd, method) for method in ("aiwork", *baselines)}
    return SetResult(crowd.name, crowd.items, crowd.annotators, len(crowd.answers),
                     crowd.classes, scores)


def load_sets(data: Path | None) -> list[CrowdSet]:
    """Read and check every data set under ``data`` (default: :func:`default_data_dir`)."""
    return [load_set(folder) for folder in find_sets(data)]


def run(crowds: Sequence[CrowdSet], baselines: Sequence[str] = BASELINES,
        on_result: Callable[[SetResult], None] | None = None) -> list[SetResult]:
    """Run every data set; ``on_result`` sees each result as soon as it is ready."""
    results = []
    for crowd in crowds:
        result = run_set(crowd, baselines)
        if on_result is not None:
            on_result(result)
        results.append(result)
    return results


# -- reporting -------------------------------------------------------------------------


def _mark(ok: bool | None) -> str:
    return "n/a" if ok is None else "PASS" if ok else "MISS"


def format_result(result: SetResult) -> str:
    """One data set: a row per method, then the PASS/MISS lines."""
    aiwork = result.scores["aiwork"]
    ds = result.scores.get("dawid_skene")
    lines = [f"== {result.dataset}: {result.items:,} items, {result.annotators:,} annotators, "
             f"{result.answers:,} answers, {result.classes} classes",
             f"{'method':<15}{'accuracy':>10}{'aiwork -':>10}{'seconds':>10}{'x DS time':>11}"]
    for method, score in result.scores.items():
        diff = "" if method == "aiwork" else f"{aiwork.accuracy - score.accuracy:+.4f}"
        ratio = f"{score.seconds / ds.seconds:.4f}" if ds and ds.seconds > 0 else ""
        lines.append(f"{NAMES[method]:<15}{score.accuracy:>10.4f}{diff:>10}"
                     f"{score.seconds:>10.3f}{ratio:>11}")
    best = result.best_baseline
    if best is not None:
        lines.append(f"accuracy: aiwork {aiwork.accuracy:.4f} >= best crowd-kit "
                     f"{best[1].accuracy:.4f} ({NAMES[best[0]]}): {_mark(result.accuracy_pass)}")
    else:
        lines.append("accuracy: no crowd-kit method run: n/a")
    if ds is not None:
        speedup = f", {ds.seconds / aiwork.seconds:,.0f}x faster" if aiwork.seconds > 0 else ""
        lines.append(f"speed:    aiwork {aiwork.seconds:.3f} s <= Dawid-Skene "
                     f"{ds.seconds:.3f} s{speedup}: {_mark(result.speed_pass)}")
    else:
        lines.append("speed:    Dawid-Skene not run: n/a")
    return "\n".join(lines)


def format_summary(results: Sequence[SetResult]) -> str:
    """Accuracy per data set and method, the shape of the README's table."""
    methods = list(dict.fromkeys(m for r in results for m in r.scores))
    head = f"{'data set':<36}" + "".join(f"{NAMES[m]:>15}" for m in methods)
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r.dataset:<36}" + "".join(
            f"{r.scores[m].accuracy:>9.4f}{r.scores[m].seconds:>5.1f}s" if m in r.scores
            else f"{'':>15}" for m in methods))
    return "\n".join(lines)


def machine() -> str:
    """The cores this process may use, e.g. ``2 cores``."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cores} cores"
