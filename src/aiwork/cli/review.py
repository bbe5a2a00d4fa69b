"""``aiwork review``: an expert's review from a terminal, and an admin's routing rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from aiwork.cli.options import connect, coordinator_option, key_option
from aiwork.errors import InputError
from aiwork.quality.review_items import VERDICTS


@click.group("review")
def review_group() -> None:
    """Review AI items as an expert: take one, give a verdict."""


@review_group.command("next")
@coordinator_option
@key_option
def next_cmd(coordinator: str, keyfile: Path) -> None:
    """Take the next item to review and print it as JSON (with its id)."""
    from aiwork.client.coordinator import CoordinatorClient, NoWork

    with connect(coordinator, keyfile) as client:
        item = client.next_review_item()
    if isinstance(item, NoWork):
        click.echo(item.reason or "no item to review now", err=True)
        return
    click.echo(json.dumps(item.model_dump(mode="json", exclude_unset=True), indent=2, ensure_ascii=False))


@review_group.command("submit")
@click.argument("item_id")
@click.option("--verdict", required=True, type=click.Choice(VERDICTS))
@click.option("--value", help="The corrected value, as JSON (with --verdict correct).")
@click.option("--rationale", help="Why, in a sentence.")
@click.option("--seconds", type=click.FloatRange(0), help="Time spent on the item.")
@coordinator_option
@key_option
def submit_cmd(item_id: str, verdict: str, value: str | None, rationale: str | None,
               seconds: float | None, coordinator: str, keyfile: Path) -> None:
    """Sign and submit a verdict on ITEM_ID (a human.verdict entry in the ledger)."""
    from aiwork.client.review import give_verdict

    parsed: Any = None
    if value is not None:
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise InputError(f"--value is not JSON: {value[:60]!r}",
                             hint='text is quoted: --value \'"the right words"\'') from exc
    with connect(coordinator, keyfile) as client:
        index = give_verdict(client, item_id, verdict, parsed, rationale, seconds)
    click.echo(f"verdict recorded: ledger entry {index}")


@review_group.command("me")
@coordinator_option
@key_option
def me_cmd(coordinator: str, keyfile: Path) -> None:
    """Print your reputation per insight and your credits, as JSON."""
    from aiwork.client.coordinator import CoordinatorClient
    from aiwork.crypto import read_key_file

    key = read_key_file(keyfile)
    with CoordinatorClient(coordinator, key) as client:
        click.echo(json.dumps(client.get_expert(key.did).model_dump(mode="json", exclude_unset=True), indent=2))


@review_group.command("progress")
@click.argument("job_id")
@coordinator_option
@click.option("--key", "keyfile", type=click.Path(dir_okay=False, path_type=Path),
              help="Sign the request (needed for a job of a sensitive library you may read).")
def progress_cmd(job_id: str, coordinator: str, keyfile: Path | None) -> None:
    """Print JOB_ID's review progress and which of its items humans verified, as JSON."""
    with connect(coordinator, keyfile) as client:
        reply = client.get_review_progress(job_id, signed=keyfile is not None)
    click.echo(json.dumps(reply.model_dump(mode="json", exclude_unset=True), indent=2, ensure_ascii=False))


@review_group.command("rules")
@click.argument("insight", required=False)
@click.option("--set", "changes", multiple=True, metavar="NAME=VALUE",
              help="Change a rule (admin), e.g. --set audit_share=0.1")
@coordinator_option
@click.option("--key", "keyfile", type=click.Path(dir_okay=False, path_type=Path),
              help="An admin key (needed with --set).")
def rules_cmd(insight: str | None, changes: tuple[str, ...], coordinator: str,
              keyfile: Path | None) -> None:
    """Show the routing rules, or change INSIGHT's with --set (admin)."""
    from aiwork.client.coordinator import CoordinatorClient

    if not changes:
        with CoordinatorClient(coordinator) as client:
            rules = client.get_review_rules().model_dump(mode="json")
        click.echo(json.dumps(rules if insight is None else rules.get(insight), indent=2))
        return
    if insight is None or keyfile is None:
        raise click.UsageError("--set needs an INSIGHT and an admin --key")
    values: dict[str, Any] = {}
    for change in changes:
        name, sep, raw = change.partition("=")
        if not sep:
            raise click.UsageError(f"--set {change!r}: write NAME=VALUE")
        try:
            values[name] = json.loads(raw)
        except ValueError:
            values[name] = raw
    with connect(coordinator, keyfile) as client:
        reply = client.set_review_rules(insight, values)
    click.echo(json.dumps(reply.model_dump(mode="json"), indent=2))


def _calibration_line(view: Any) -> str:
    threshold = ("none (every item to humans)" if view.threshold is None
                 else f"{view.threshold:.4f}")
    return (f"{view.insight} {view.annotator}: ECE {view.ece_before:.4f} raw -> "
            f"{view.ece_after:.4f} calibrated (held out {view.held_out}, fitted on "
            f"{view.samples}); target accuracy {view.target_accuracy:g}, threshold "
            f"{threshold}; registration {view.registration} ({view.digest[:19]}...)")


@review_group.command("calibrate")
@click.argument("insight")
@click.argument("annotator")
@click.option("--target-accuracy", type=click.FloatRange(0.5, 1.0, max_open=True),
              default=0.95, show_default=True,
              help="The accuracy auto-accepted items must reach on held-out verified items.")
@click.option("--json", "as_json", is_flag=True, help="Print the calibration as JSON.")
@coordinator_option
@key_option
def calibrate_cmd(insight: str, annotator: str, target_accuracy: float, as_json: bool,
                  coordinator: str, keyfile: Path) -> None:
    """Fit ANNOTATOR's calibration on INSIGHT from its verified items (admin): ANNOTATOR is
    model:NAME@WEIGHTS_DIGEST, as `aiwork review calibrations` lists the candidates. Prints
    the expected calibration error before and after, the threshold and the registration."""
    with connect(coordinator, keyfile) as client:
        view = client.fit_calibration(insight, annotator, target_accuracy)
    click.echo(json.dumps(view.model_dump(mode="json"), indent=2) if as_json
               else _calibration_line(view))


@review_group.command("calibrations")
@coordinator_option
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON.")
def calibrations_cmd(coordinator: str, as_json: bool) -> None:
    """The calibrations routing applies, and the models whose verified items can be fitted."""
    from aiwork.client.coordinator import CoordinatorClient

    with CoordinatorClient(coordinator) as client:
        found = client.list_calibrations()
    if as_json:
        click.echo(json.dumps(found.model_dump(mode="json"), indent=2))
        return
    for view in found.calibrations:
        click.echo(_calibration_line(view))
    if not found.calibrations:
        click.echo("no calibration fitted yet")
    for candidate in found.candidates:
        click.echo(f"candidate: {candidate.insight} {candidate.annotator} "
                   f"({candidate.verified} verified items)")
