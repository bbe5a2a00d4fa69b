"""A requester's commands: ``aiwork submit``, ``aiwork results``, ``aiwork jobs``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aiwork.cli.options import connect, coordinator_option, key_option, renamed

if TYPE_CHECKING:
    from aiwork.client.coordinator import CoordinatorClient
    from aiwork.media.probe import Probe
    from aiwork.model.metadata import Metadata

#: Replica states that count as finished in a job's progress.
FINISHED = ("submitted", "accepted", "rejected")


@click.command("submit")
@click.argument("videos", nargs=-1, required=True,
                type=click.Path(path_type=Path, readable=False))  # each is checked alone
@coordinator_option
@key_option
@click.option("--analyzers", "names", default="technical,shots,transcript,ocr,faces,language,"
              "keywords,chapters", show_default=True, help="Comma-separated analyzers.")
@click.option("--redundancy", default=1, show_default=True, type=int,
              help="Replicas per task, each by a different worker.")
@click.option("--budget", type=click.IntRange(0),
              help="Credits each job may spend (default: its cost, price x analyzers x "
                   "redundancy); held from your available credits while the job is open.")
@click.option("--wait", is_flag=True, help="Wait for the results, showing progress.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="With --wait: write the same layout as `aiwork process --out` (without "
                   "--wait: `aiwork results JOB --out DIR` later).")
@click.option("--library", metavar="ID",
              help="Put the jobs in your library ID (aiwork library create).")
@click.option("--purpose", default="the requester fetches the results it submitted",
              show_default=True,
              help="With --wait and --library: why you read the results (logged when the "
                   "library is sensitive).")
@click.option("--model", "models", multiple=True, metavar="ANALYZER=INDEX",
              help="Ask for a registered model version (its model.registered entry, see "
                   "aiwork models): results of other weights are refused. Repeatable.")
def submit_cmd(videos: tuple[Path, ...], coordinator: str, keyfile: Path, names: str,
               redundancy: int, budget: int | None, wait: bool, out: Path | None,
               library: str | None, purpose: str, models: tuple[str, ...]) -> None:
    """Upload videos and submit a job for each."""

    if out is not None and not wait:
        raise click.UsageError(
            "--out writes the results, which come only with --wait; without it, fetch them "
            "when the job is done: aiwork results JOB --coordinator URL --out DIR")
    analyzers = [n.strip() for n in names.split(",") if n.strip()]
    wanted = _models(models)
    with connect(coordinator, keyfile) as client:
        jobs, failed = _submit_each(client, videos, analyzers, redundancy, budget, library,
                                    wanted)
        if wait:
            _wait_for(client, jobs, signed=bool(library))
            claimed: set[Path] = set()
            for job in jobs:
                _deliver(client, job, out, claimed, library, purpose)
    if failed:
        raise SystemExit(1)


def _models(texts: tuple[str, ...]) -> dict[str, int] | None:
    """``--model ANALYZER=INDEX`` options as the job's ``models``."""
    wanted: dict[str, int] = {}
    for text in texts:
        name, sep, index = text.partition("=")
        if not sep or not name or not index.isdigit():
            raise click.UsageError(f"--model is ANALYZER=INDEX (e.g. tags=57), not {text!r}")
        wanted[name] = int(index)
    return wanted or None


class _Submitted:
    """A video and the job submitted for it."""

    def __init__(self, path: Path, facts: Probe, digest: str, job_id: str) -> None:
        self.path, self.facts, self.digest, self.job_id = path, facts, digest, job_id


def _submit_each(client: CoordinatorClient, videos: tuple[Path, ...], analyzers: list[str],
                 redundancy: int, budget: int | None, library: str | None,
                 models: dict[str, int] | None = None) -> tuple[list[_Submitted], int]:
    """Upload each video and submit its job; a video that cannot be probed fails alone.
    The jobs submitted, and how many videos failed."""
    from aiwork.errors import MediaError
    from aiwork.media.probe import probe
    from aiwork.pipeline.process import expand_inputs

    jobs: list[_Submitted] = []
    failed = 0
    for path in expand_inputs(videos):
        try:
            facts = probe(path)
        except MediaError as exc:  # this file fails alone; the others go on
            click.echo(f"{path}: failed: {exc.diagnostics()}", err=True)
            failed += 1
            continue
        # Uploaded for the library: a sensitive library's media is never public.
        digest = client.upload_file(path, library=library)
        job = client.submit_job(digest, analyzers, redundancy=redundancy, budget=budget,
                                library=library, models=models)
        jobs.append(_Submitted(path, facts, digest, job.id))
        click.echo(f"{path}: job {job.id}")
    return jobs, failed


def _wait_for(client: CoordinatorClient, jobs: list[_Submitted], *, signed: bool) -> None:
    """Poll the jobs until none is open, a progress bar per job on stderr."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    pending = {job.job_id for job in jobs}
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total} replicas"), TimeElapsedColumn(),
                  console=Console(stderr=True)) as progress:
        bars = {job.job_id: progress.add_task(f"{job.path.name} (job {job.job_id[:8]})",
                                              total=None) for job in jobs}
        while pending:
            for job_id in sorted(pending):
                state = client.get_job(job_id, signed=signed)
                counts = state.replicas
                finished = sum(counts.get(k, 0) for k in FINISHED)
                progress.update(bars[job_id], total=sum(counts.values()), completed=finished)
                if state.state != "open":
                    pending.discard(job_id)
                    if state.state != "done":
                        progress.console.print(f"job {job_id}: {state.state}")
            if pending:
                time.sleep(1.0)


def _deliver(client: CoordinatorClient, job: _Submitted, out: Path | None,
             claimed: set[Path], library: str | None, purpose: str) -> None:
    """Write a finished job's outputs under ``out`` (or print its metadata)."""
    from aiwork.canonical import parse_json
    from aiwork.errors import InputError
    from aiwork.export.layout import folder_name, read_metadata

    # The coordinator's metadata document, as `aiwork results` reads it: it carries what only
    # the coordinator knows (when the video came: the JSON-LD uploadDate).
    document: Any = parse_json(client.get_export(
        job.job_id, "metadata.json", title=job.path.name, signed=bool(library),
        purpose=purpose), what=f"job {job.job_id}")
    if isinstance(document, dict) and isinstance(document.get("asset"), dict):
        document["asset"]["media_type"] = job.facts.media_type
    metadata = read_metadata(document, f"job {job.job_id}")
    if metadata.asset.digest != job.digest:
        raise InputError(f"the coordinator answered job {job.job_id} with the metadata of "
                         f"{metadata.asset.digest}, not of the uploaded {job.digest}")
    if out is not None:
        wanted = folder_name(job.path)
        folder = _write_outputs(client, metadata, out, wanted, claimed, signed=True)
        click.echo(f"{job.path}: outputs in {folder}{renamed(folder, wanted)}")
    else:
        click.echo(metadata.model_dump_json(indent=2))


def _write_outputs(client: CoordinatorClient, metadata: Metadata, out: Path, name: str,
                   claimed: set[Path], *, signed: bool) -> Path:
    """Write a job's outputs under ``out`` as `aiwork process --out` does: in the folder
    ``name`` (or ``name-2``... when another video's outputs are there), every name resolved
    under it, keyframes fetched by digest and checked."""
    from aiwork.client.coordinator import MAX_KEYFRAME_BYTES
    from aiwork.export.layout import claim_folder, write_outputs

    folder = claim_folder(out, name, metadata.asset.digest, claimed)
    return write_outputs(metadata, folder,
                         lambda d: client.download_blob(d, signed=signed,
                                                        limit=MAX_KEYFRAME_BYTES))


@click.command("results")
@click.argument("jobs", nargs=-1, required=True)
@coordinator_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Write each job's outputs in DIR/JOB/, the layout of `aiwork process --out`.")
@click.option("--key", "keyfile", type=click.Path(dir_okay=False, path_type=Path),
              help="Sign the reads (needed for a job in a sensitive library, by one who may "
                   "read it).")
@click.option("--purpose", default="the requester fetches the results of its job",
              show_default=True,
              help="With --key: why you read the results (logged for a job in a sensitive "
                   "library).")
def results_cmd(jobs: tuple[str, ...], coordinator: str, out: Path, keyfile: Path | None,
                purpose: str) -> None:
    """Fetch the outputs of finished JOBS and write them under --out."""
    from aiwork.canonical import parse_json
    from aiwork.client.coordinator import CoordinatorClient
    from aiwork.crypto import read_key_file
    from aiwork.errors import InputError
    from aiwork.export.layout import read_metadata
    from aiwork.model.names import check_file_name

    key = read_key_file(keyfile) if keyfile else None
    signed = key is not None
    claimed: set[Path] = set()
    with CoordinatorClient(coordinator, key) as client:
        for job in jobs:
            check_file_name(job)
            # Bounded (aiwork.client.transport.MAX_REPLY_BYTES): an endless answer is cut off.
            state = client.get_job(job, signed=signed, purpose=purpose)
            if state.state == "open":
                counts = state.replicas
                done = sum(counts.get(k, 0) for k in FINISHED)
                raise InputError(f"job {job} is still open ({done} of {sum(counts.values())} "
                                 "replicas in)", hint="try again when it is done, or use "
                                                      "`aiwork submit --wait`")
            document: Any = parse_json(client.get_export(
                job, "metadata.json", signed=signed, purpose=purpose), what=f"job {job}")
            metadata = read_metadata(document, f"job {job}")
            folder = _write_outputs(client, metadata, out, job, claimed, signed=signed)
            finished = "" if state.state == "done" else f" (job {state.state})"
            click.echo(f"job {job}: outputs in {folder}{renamed(folder, job)}{finished}")


@click.command("jobs")
@coordinator_option
@click.option("--requester", help="Only this requester's jobs (a did:key).")
@click.option("--key", "keyfile", type=click.Path(dir_okay=False, path_type=Path),
              help="Sign the listing with your key: it then includes the jobs of sensitive "
                   "libraries you may read.")
def jobs_cmd(coordinator: str, requester: str | None, keyfile: Path | None) -> None:
    """List jobs and their state."""
    with connect(coordinator, keyfile) as client:
        for job in client.list_jobs(requester, signed=keyfile is not None):
            counts = ", ".join(f"{k} {v}" for k, v in job.replicas.items() if v)
            click.echo(f"{job.id}  {job.state:<9} {','.join(job.analyzers)}  "
                       f"x{job.redundancy}  {job.asset[:19]}...  ({counts})")
