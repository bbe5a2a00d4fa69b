"""``aiwork quality``: truth inference over annotators' verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import click

from aiwork.quality import crowdbench


@click.group("quality")
def quality_group() -> None:
    """Truth inference: one label per item from experts' and AI models' verdicts."""


@quality_group.command("bench")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A folder of data sets (each a folder with answer.csv and truth.csv), or "
              "one data set (default: ../shared/datasets/crowd beside the repository).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object per data set instead of tables.")
@click.option("--methods", default=",".join(crowdbench.BASELINES), show_default=True,
              help="crowd-kit methods to run beside aiwork's (comma-separated); GLAD and MACE "
              "take minutes on large sets.")
def bench_cmd(data: Path | None, as_json: bool, methods: str) -> None:
    """Accuracy and time of aiwork's truth inference against crowd-kit's on real crowds."""
    baselines = crowdbench.parse_methods(methods)

    def show(result: crowdbench.SetResult) -> None:
        if as_json:
            click.echo(json.dumps(result.to_json()))
        else:
            click.echo(crowdbench.format_result(result) + "\n")

    crowds = crowdbench.load_sets(data)
    if not as_json:
        click.echo(f"aiwork quality bench ({crowdbench.machine()}); methods: aiwork, "
                   f"{', '.join(baselines) or 'no crowd-kit baseline'}\n")
    results = crowdbench.run(crowds, baselines, on_result=show)
    if not as_json:
        click.echo(crowdbench.format_summary(results))


@quality_group.command("simulate")
@click.option("--items", default=300, show_default=True, type=click.IntRange(10, 100_000),
              help="Items of the generated job.")
@click.option("--experts-per-item", default=3, show_default=True, type=click.IntRange(1, 20))
@click.option("--gold-share", default=0.1, show_default=True, type=click.FloatRange(0, 0.9))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
def simulate_cmd(items: int, experts_per_item: int, gold_share: float, seed: int,
                 as_json: bool) -> None:
    """A simulated crowd (accurate, careless, spammers, a colluding group) and AI models of
    known accuracy review a generated job through the real review engine and ledger; prints
    accuracy by method, human verdicts spent, and each kind's learned weight."""
    from aiwork.coordinator.simulate import simulate

    report = simulate(items=items, experts_per_item=experts_per_item, gold_share=gold_share,
                      seed=seed)
    if as_json:
        click.echo(json.dumps(report.to_json()))
    else:
        click.echo("\n".join(report.lines()))
