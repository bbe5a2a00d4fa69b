"""Benchmark of aiwork's truth inference against crowd-kit's, on real crowds with ground truth.

Run it from the repository root::

    .venv/bin/python bench/quality.py                        # all four sets, all methods (minutes)
    .venv/bin/python bench/quality.py --methods majority_vote,dawid_skene   # skip GLAD and MACE
    .venv/bin/python bench/quality.py --data DIR --json      # one JSON object per data set

The same run as ``aiwork quality bench``. ``--data`` is a folder of data sets, each a folder with
``answer.csv`` (question, worker, answer) and ``truth.csv`` (question, truth); by default
``../shared/datasets/crowd`` beside the repository. aiwork's method (Dawid-Skene as crowd-kit
computes it, in numpy; one configuration) and crowd-kit 1.4.2's majority vote, Dawid-Skene,
GLAD and MACE (their defaults) run in this process on the same answers; the truth only scores
them. For each set it prints accuracy, aiwork's accuracy minus each method's, seconds and the
time as a multiple of crowd-kit Dawid-Skene's, then PASS/MISS for "aiwork >= the best crowd-kit
accuracy" and "aiwork's time <= Dawid-Skene's". Times include each method's conversion of the answers and of its result
(crowd-kit's import is done before). Accuracy is measured here, never tuned on.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from aiwork.errors import AiworkError
from aiwork.quality import crowdbench


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="folder of data sets (default: ../shared/datasets/crowd)")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per data set instead of tables")
    parser.add_argument("--methods", default=",".join(crowdbench.BASELINES),
                        help="crowd-kit methods beside aiwork's (default: all: "
                        f"{','.join(crowdbench.BASELINES)})")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress shows up in a log file
    try:
        baselines = crowdbench.parse_methods(args.methods)
        crowds = crowdbench.load_sets(args.data)
        if not args.json:
            import crowdkit
            import numpy

            print("aiwork truth-inference benchmark")
            print(f"machine: {crowdbench.machine()}, Python {platform.python_version()}, "
                  f"numpy {numpy.__version__}, crowd-kit {crowdkit.__version__}; "
                  f"{platform.platform()}")
            print(f"methods: aiwork, {', '.join(baselines) or 'no crowd-kit baseline'}\n")
        started = time.perf_counter()

        def show(result: crowdbench.SetResult) -> None:
            print(json.dumps(result.to_json()) if args.json
                  else crowdbench.format_result(result) + "\n")

        results = crowdbench.run(crowds, baselines, on_result=show)
    except AiworkError as exc:
        print(f"error: {exc.diagnostics()}", file=sys.stderr)
        return 1
    if not args.json:
        print("accuracy and seconds per data set:")
        print(crowdbench.format_summary(results))
        misses = [r.dataset for r in results if r.accuracy_pass is False or r.speed_pass is False]
        print(f"\n{len(results) - len(misses)} of {len(results)} data sets pass both checks"
              + (f" (MISS: {', '.join(misses)})" if misses else "")
              + f"; total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
