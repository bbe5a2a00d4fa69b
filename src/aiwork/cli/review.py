"""``aiwork review``: an expert's review from a terminal, and an admin's routing rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from aiwork.ledger.home import load_key
from aiwork.cli.network import coordinator_option, key_option
from aiwork.errors import InputError


@click.group("review")
def review_group() -> None:
    """Review AI items as an expert: take one, give a verdict."""


@review_group.command("next")
@coordinator_option
@key_option
def next_cmd(coordinator: str, keyfile: Path) -> None:
    """Take the next item to review and print it as JSON (with its id)."""
    from aiwork.client.coordinator import CoordinatorClient

    with CoordinatorClient(coordinator, load_key(keyfile)) as client:
        reply = client.request("POST", "/v1/review/next", b"{}")
        if reply.status_code == 204:
            click.echo(reply.headers.get("aiwork-reason", "no item to review now"), err=True)
            return
        click.echo(json.dumps(reply.json(), indent=2, ensure_ascii=False))


@review_group.command("submit")
@click.argument("item_id")
@click.option("--verdict", required=True, type=click.Choice(["accept", "reject", "correct"]))
@click.option("--value", help="The corrected value, as JSON (with --verdict correct).")
@click.option("--rationale", help="Why, in a sentence.")
@click.option("--seconds", type=click.FloatRange(0), help="Time spent on the item.")
@coordinator_option
@key_option
def submit_cmd(item_id: str, verdict: str, value: str | None, rationale: str | None,
               seconds: float | None, coordinator: str, keyfile: Path) -> None:
    """Sign and submit a verdict on ITEM_ID (a human.verdict entry in the ledger)."""
    from aiwork.client.coordinator import CoordinatorClient
    from aiwork.ledger.entries import sign_entry
    from aiwork.model.commitment import seal

    parsed: Any = None
    if value is not None:
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            raise InputError(f"--value is not JSON: {value[:60]!r}",
                             hint='text is quoted: --value \'"the right words"\'') from exc
    key = load_key(keyfile)
    with CoordinatorClient(coordinator, key) as client:
        item = client.get(f"/v1/review/items/{item_id}", signed=True).json()
        body = {"item": item_id, "decision": item["evidence"]["decision"],
                "insight": item["insight"], "verdict": verdict, "value": parsed,
                "rationale": rationale, "seconds": seconds}
        request: dict[str, Any] = {}
        if item.get("sensitive"):
            # A sensitive library's item: the log gets commitments, the coordinator the
            # openings (kept for the library's readers).
            body, request["openings"] = seal(body, {"value": parsed, "rationale": rationale})
            entry = sign_entry(key, "human.verdict.sealed", body)
        else:
            entry = sign_entry(key, "human.verdict", body)
        request["entry"] = entry.to_bytes().decode()
        reply = client.post(f"/v1/review/items/{item_id}/verdict", request)
    click.echo(f"verdict recorded: ledger entry {reply['verdict']}")


@review_group.command("me")
@coordinator_option
@key_option
def me_cmd(coordinator: str, keyfile: Path) -> None:
    """Print your reputation per insight and your credits, as JSON."""
    from aiwork.client.coordinator import CoordinatorClient

    key = load_key(keyfile)
    with CoordinatorClient(coordinator, key) as client:
        click.echo(json.dumps(client.get(f"/v1/experts/{key.did}").json(), indent=2))


@review_group.command("progress")
@click.argument("job_id")
@coordinator_option
@click.option("--key", "keyfile", type=click.Path(dir_okay=False, path_type=Path),
              help="Sign the request (needed for a job of a sensitive library you may read).")
def progress_cmd(job_id: str, coordinator: str, keyfile: Path | None) -> None:
    """Print JOB_ID's review progress and which of its items humans verified, as JSON."""
    from aiwork.client.coordinator import CoordinatorClient

    with CoordinatorClient(coordinator, load_key(keyfile) if keyfile else None) as client:
        reply = client.get(f"/v1/jobs/{job_id}/review", signed=keyfile is not None)
        click.echo(json.dumps(reply.json(), indent=2, ensure_ascii=False))


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
            rules = client.get("/v1/review/rules").json()
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
    with CoordinatorClient(coordinator, load_key(keyfile)) as client:
        reply = client.request("PUT", f"/v1/review/rules/{insight}",
                               json.dumps(values).encode()).json()
    click.echo(json.dumps(reply, indent=2))
