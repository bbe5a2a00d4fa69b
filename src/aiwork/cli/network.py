"""The network's commands: ``serve``, ``register``, ``admin``, ``credits``, ``worker``,
``submit``, ``results``, ``jobs``, ``devnet``."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aiwork.app.ledger import load_key
from aiwork.cli.options import close_to_others, db_option, resolve_db
from aiwork.cli.process import renamed

if TYPE_CHECKING:
    from aiwork.app.client import CoordinatorClient
    from aiwork.model.metadata import Metadata

coordinator_option = click.option("--coordinator", required=True, metavar="URL",
                                  help="The coordinator, e.g. http://127.0.0.1:8700")
key_option = click.option("--key", "keyfile", required=True,
                          type=click.Path(dir_okay=False, path_type=Path),
                          help="Your key file (aiwork keys new --out FILE).")


#: What every requester of a devnet starts with.
DEVNET_CREDITS = 1000
#: Share of AI items a devnet routes to human review at random (production default: 0.05).
DEVNET_AUDIT_SHARE = 0.5
#: Verdicts a devnet item asks for (production default: 3): one person trying the devnet sees
#: a verdict become a consensus and change the job's results (more experts: `aiwork review
#: rules INSIGHT --set experts=N`).
DEVNET_EXPERTS = 1


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8700, show_default=True, type=int)
@click.option("--open-registration", is_flag=True,
              help="Grant every requested role at once (devnet); otherwise an admin approves.")
@click.option("--admin", "admin_did", help="A did:key to hold the admin role.")
@click.option("--gold-rate", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of leases that first mix in a gold task (generated media with known "
                   "answers, unmarked).")
@click.option("--starting-credits", default=0, show_default=True, type=click.IntRange(0),
              help="Credits granted to every new requester (a credits.granted entry); "
                   "otherwise an admin grants them with `aiwork admin grant`.")
@click.option("--i-know-this-is-a-devnet", "devnet_ok", is_flag=True,
              help="Allow --open-registration with --starting-credits on an address other "
                   "than loopback (every fresh key then gets credits: a devnet only).")
@click.option("--witness", "witnesses", multiple=True, metavar="VKEY",
              help="A witness whose cosignatures of checkpoints are kept and served (its key "
                   "from `aiwork witness key`); repeatable.")
@click.option("--anchor-rpc", metavar="URL",
              help="An EVM chain's JSON-RPC: re-check the anchors recorded, at start.")
@click.option("--anchor-key", type=click.Path(dir_okay=False, path_type=Path),
              help="With --anchor-rpc and --anchor-contract: the Ethereum key that anchors.")
@click.option("--anchor-contract", metavar="ADDRESS",
              help="The Anchor contract to anchor checkpoints on (aiwork anchor deploy).")
@click.option("--anchor-every", default=600.0, show_default=True, metavar="SECONDS",
              type=click.FloatRange(min=1),
              help="Anchor the latest checkpoint this often, when the log has grown.")
@click.option("--public-url", metavar="URL",
              help="The URL clients reach this coordinator at (default http://HOST:PORT): "
                   "exports (metadata.jsonld) name the video and keyframes under it.")
@db_option
def serve_cmd(host: str, port: int, open_registration: bool, admin_did: str | None,
              gold_rate: float, starting_credits: int, devnet_ok: bool,
              witnesses: tuple[str, ...], anchor_rpc: str | None, anchor_key: Path | None,
              anchor_contract: str | None, anchor_every: float, public_url: str | None,
              db: str | None) -> None:
    """Run the coordinator's HTTP API over the store (AIWORK_HOME or --db)."""
    from aiwork.export import check_base_url

    shown_host = f"[{host}]" if ":" in host else host
    public = check_base_url(public_url or f"http://{shown_host}:{port}")
    check_free_credits(host, open_registration=open_registration,
                       starting_credits=starting_credits, devnet_ok=devnet_ok)
    import uvicorn

    from aiwork.api import ServerSettings, create_app
    from aiwork.app.identities import coordinator_key

    path = resolve_db(db)
    close_to_others(path)
    settings = ServerSettings(db=path, key=coordinator_key(), open_registration=open_registration,
                              admin=admin_did, gold_rate=gold_rate,
                              starting_credits=starting_credits, witnesses=witnesses,
                              public_url=public)
    if gold_rate > 0:
        from aiwork.app.coordinator import Coordinator
        from aiwork.app.gold import add_generated_gold
        from aiwork.app.process import open_store
        from aiwork.config import blobs_path
        from aiwork.store.blobs import BlobStore

        with open_store(path) as log:
            coordinator = Coordinator(log, BlobStore(blobs_path(path)), settings.key)
            if not coordinator.has_gold():
                add_generated_gold(coordinator)
    shown = re.sub(r"//[^@/]*@", "//***@", str(path))  # never print a password
    click.echo(f"aiwork coordinator on http://{host}:{port} (store {shown}; "
               f"registration {'open' if open_registration else 'by admin approval'})", err=True)
    app = create_app(settings)
    with contextlib.ExitStack() as stack:
        if gold_rate > 0:  # new, different gold clips as the pool wears (aiwork.app.gold)
            from aiwork.app.gold import GoldPool

            def gold_coordinator() -> Coordinator:
                return Coordinator(open_store(path), BlobStore(blobs_path(path)), settings.key)

            pool = GoldPool(gold_coordinator, every=30.0,
                            report=lambda line: click.echo(line, err=True))
            pool.start()
            stack.callback(pool.stop)
        if anchor_rpc or anchor_key or anchor_contract:
            from aiwork.app.anchoring import serve_anchoring

            stack.enter_context(serve_anchoring(
                path, rpc=anchor_rpc, key_file=anchor_key, contract=anchor_contract,
                every=anchor_every, report=lambda line: click.echo(line, err=True)))
        uvicorn.run(app, host=host, port=port, log_level="warning")


def check_free_credits(host: str, *, open_registration: bool, starting_credits: int,
                       devnet_ok: bool) -> None:
    """Refuse to give credits to every fresh key (``--open-registration`` with
    ``--starting-credits``) on an address others can reach, unless told it is a devnet:
    anyone could mint credits by making keys."""
    import ipaddress

    if not open_registration or starting_credits <= 0 or devnet_ok:
        return
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = host.lower() in ("localhost", "localhost.")
    if not loopback:
        raise click.UsageError(
            f"--open-registration with --starting-credits {starting_credits} on {host} would "
            "give credits to every key anyone makes; on an address other than loopback "
            "(127.0.0.1, ::1), grant credits with `aiwork admin grant`, or add "
            "--i-know-this-is-a-devnet if this network is a throwaway devnet")


@click.command("register")
@coordinator_option
@key_option
@click.option("--role", required=True,
              type=click.Choice(["requester", "worker", "expert", "auditor"]))
def register_cmd(coordinator: str, keyfile: Path, role: str) -> None:
    """Ask the coordinator for a role; prints granted or pending."""
    from aiwork.app.client import CoordinatorClient

    key = load_key(keyfile)
    with CoordinatorClient(coordinator, key) as client:
        reply = client.post("/v1/identities", {"role": role})
    click.echo(f"{reply['did']} {reply['role']}: {reply['status']}")


@click.group("admin")
def admin_group() -> None:
    """Coordinator administration."""


@admin_group.command("approve")
@click.argument("did")
@click.option("--role", required=True,
              type=click.Choice(["requester", "worker", "expert", "auditor", "admin"]))
@coordinator_option
@key_option
def approve_cmd(did: str, role: str, coordinator: str, keyfile: Path) -> None:
    """Grant ROLE to DID (needs the admin role)."""
    from aiwork.app.client import CoordinatorClient

    with CoordinatorClient(coordinator, load_key(keyfile)) as client:
        client.post("/v1/admin/approve", {"did": did, "role": role})
    click.echo(f"{did} {role}: granted")


@admin_group.command("grant")
@click.argument("did")
@click.argument("amount", type=click.IntRange(1))
@click.option("--reason", help="Recorded in the credits.granted entry.")
@coordinator_option
@key_option
def grant_cmd(did: str, amount: int, reason: str | None, coordinator: str, keyfile: Path) -> None:
    """Grant AMOUNT credits to DID (needs the admin role)."""
    from aiwork.app.client import CoordinatorClient

    with CoordinatorClient(coordinator, load_key(keyfile)) as client:
        reply = client.post("/v1/admin/credits", {"to": did, "amount": amount,
                                                  "reason": reason})
    click.echo(f"{did}: +{amount} credits, balance {reply['balance']}, "
               f"available {reply['available']} (entry {reply['entry']})")


@click.command("credits")
@click.argument("did", required=False)
@coordinator_option
@click.option("--key", "keyfile", type=click.Path(dir_okay=False, path_type=Path),
              help="Show this key's account (instead of DID).")
def credits_cmd(did: str | None, coordinator: str, keyfile: Path | None) -> None:
    """An account's credits: balance (from the ledger), held by open jobs, available."""
    from aiwork.app.client import CoordinatorClient

    if did is None:
        if keyfile is None:
            raise click.UsageError("give a DID or --key KEYFILE")
        did = load_key(keyfile).did
    with CoordinatorClient(coordinator, None) as client:
        account = client.get(f"/v1/credits/{did}").json()
    click.echo(f"{did}: balance {account['balance']}, held {account['held']}, "
               f"available {account['available']}")


@click.command("worker")
@coordinator_option
@key_option
@click.option("--analyzers", "names", help="Comma-separated analyzers to offer (default: all).")
@click.option("--once", is_flag=True,
              help="Do the tasks on offer, then stop (an unreachable coordinator is an error, "
                   "not retried).")
def worker_cmd(coordinator: str, keyfile: Path, names: str | None, once: bool) -> None:
    """Lease analysis tasks, run them, sign and submit the results.

    While the coordinator cannot be reached the worker retries, forever, waiting 1 s, then
    doubling up to 60 s (with jitter); a finished result is kept on disk under its home until
    the coordinator takes it, also across a restart of the worker."""
    from rich.console import Console
    from rich.live import Live

    from aiwork.app.client import CoordinatorClient
    from aiwork.app.worker import Worker, WorkerStats
    from aiwork.config import home

    key = load_key(keyfile)
    capabilities = [n.strip() for n in names.split(",")] if names else None
    console = Console(stderr=True)
    with CoordinatorClient(coordinator, key) as client:
        worker = Worker(client, key, home() / f"worker-{key.public_key.hex()[:12]}", capabilities)

        def line(stats: WorkerStats) -> str:
            doing = stats.current or stats.waiting or "waiting for work"
            credits = "?" if stats.credits is None else str(stats.credits)
            return (f"worker {key.did[:24]}... | {doing} | done {stats.done} | "
                    f"failed {stats.failed} | credits {credits}")

        console.print(f"offering: {', '.join(worker.capabilities)}", soft_wrap=True)
        try:
            if once:
                while worker.run_once():
                    console.print(line(worker.stats), soft_wrap=True)
            else:
                with Live(line(worker.stats), console=console, refresh_per_second=2) as live:
                    worker.run(on_change=lambda s: live.update(line(s)))
        except KeyboardInterrupt:
            pass
        finally:
            for error in worker.stats.errors[-5:]:
                console.print(f"failed task: {error}", soft_wrap=True)
            worker.close()
    click.echo(line(worker.stats))


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
def submit_cmd(videos: tuple[Path, ...], coordinator: str, keyfile: Path, names: str,
               redundancy: int, budget: int, wait: bool, out: Path | None,
               library: str | None, purpose: str) -> None:
    """Upload videos and submit a job for each."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from aiwork.app.client import CoordinatorClient
    from aiwork.app.libraries import with_purpose
    from urllib.parse import quote

    from aiwork.app.process import expand_inputs, folder_name, read_metadata
    from aiwork.errors import InputError
    from aiwork.media import MediaError, probe

    if out is not None and not wait:
        raise click.UsageError(
            "--out writes the results, which come only with --wait; without it, fetch them "
            "when the job is done: aiwork results JOB --coordinator URL --out DIR")
    analyzers = [n.strip() for n in names.split(",") if n.strip()]
    failed = 0
    with CoordinatorClient(coordinator, load_key(keyfile)) as client:
        jobs = []
        for path in expand_inputs(videos):
            try:
                facts = probe(path)
            except MediaError as exc:  # this file fails alone; the others go on
                click.echo(f"{path}: failed: {exc.diagnostics()}", err=True)
                failed += 1
                continue
            # Uploaded for the library: a sensitive library's media is never public.
            digest = client.upload_file(path, library=library)
            job = client.post("/v1/jobs", {"asset": digest, "analyzers": analyzers,
                                           "redundancy": redundancy, "budget": budget,
                                           "library": library})
            jobs.append((path, facts, digest, job["id"]))
            click.echo(f"{path}: job {job['id']}")
        if not wait:
            if failed:
                raise SystemExit(1)
            return
        pending = {job_id for *_, job_id in jobs}
        with Progress(TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.completed}/{task.total} replicas"), TimeElapsedColumn(),
                      console=Console(stderr=True)) as progress:
            bars = {job_id: progress.add_task(f"{path.name} (job {job_id[:8]})", total=None)
                    for path, _, _, job_id in jobs}
            while pending:
                for job_id in sorted(pending):
                    state = client.get(f"/v1/jobs/{job_id}", signed=bool(library)).json()
                    counts = state["replicas"]
                    finished = sum(counts.get(k, 0) for k in ("submitted", "accepted", "rejected"))
                    progress.update(bars[job_id], total=sum(counts.values()), completed=finished)
                    if state["state"] != "open":
                        pending.discard(job_id)
                        if state["state"] != "done":
                            progress.console.print(f"job {job_id}: {state['state']}")
                if pending:
                    time.sleep(1.0)
        claimed: set[Path] = set()
        for path, facts, digest, job_id in jobs:
            # The coordinator's metadata document, as `aiwork results` reads it: it carries
            # what only the coordinator knows (when the video came: the JSON-LD uploadDate).
            target = (f"/v1/jobs/{quote(job_id, safe='')}/export/metadata.json"
                      f"?title={quote(path.name, safe='')}")
            document = client.read_json(with_purpose(target, purpose) if library else target,
                                        signed=bool(library))
            if isinstance(document, dict) and isinstance(document.get("asset"), dict):
                document["asset"]["media_type"] = facts.media_type
            metadata = read_metadata(document, f"job {job_id}")
            if metadata.asset.digest != digest:
                raise InputError(f"{coordinator} answered job {job_id} with the metadata of "
                                 f"{metadata.asset.digest}, not of the uploaded {digest}")
            if out is not None:
                folder = _write_outputs(client, metadata, out, folder_name(path), claimed,
                                        signed=True)
                click.echo(f"{path}: outputs in {folder}{renamed(folder, folder_name(path))}")
            else:
                click.echo(metadata.model_dump_json(indent=2))
    if failed:
        raise SystemExit(1)


def _write_outputs(client: CoordinatorClient, metadata: Metadata, out: Path, name: str,
                   claimed: set[Path], *, signed: bool) -> Path:
    """Write a job's outputs under ``out`` as `aiwork process --out` does: in the folder
    ``name`` (or ``name-2``... when another video's outputs are there), every name resolved
    under it, keyframes fetched by digest and checked."""
    from aiwork.app.client import MAX_KEYFRAME_BYTES
    from aiwork.app.process import claim_folder, write_outputs

    folder = claim_folder(out, name, metadata.asset.digest, claimed)
    return write_outputs(metadata, folder,
                         lambda d: client.read(f"/v1/blobs/{d}", signed=signed,
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
    from urllib.parse import quote

    from aiwork.app.client import CoordinatorClient
    from aiwork.app.libraries import with_purpose
    from aiwork.app.process import read_metadata
    from aiwork.errors import InputError
    from aiwork.model.names import check_file_name

    key = load_key(keyfile) if keyfile else None

    def read(client: CoordinatorClient, path: str) -> Any:
        # Bounded (aiwork.app.client.MAX_REPLY_BYTES): an endless answer is cut off.
        return client.read_json(with_purpose(path, purpose) if key is not None else path,
                                signed=key is not None)

    claimed: set[Path] = set()
    with CoordinatorClient(coordinator, key) as client:
        for job in jobs:
            check_file_name(job)
            base = f"/v1/jobs/{quote(job, safe='')}"
            state = read(client, base)
            if not isinstance(state, dict) or not isinstance(state.get("replicas"), dict):
                raise InputError(f"{coordinator} answered {base} with something that is not "
                                 "a job's progress")
            if state.get("state") == "open":
                counts = state["replicas"]
                done = sum(counts.get(k, 0) for k in ("submitted", "accepted", "rejected"))
                raise InputError(f"job {job} is still open ({done} of {sum(counts.values())} "
                                 "replicas in)", hint="try again when it is done, or use "
                                                      "`aiwork submit --wait`")
            metadata = read_metadata(read(client, f"{base}/export/metadata.json"),
                                     f"job {job}")
            folder = _write_outputs(client, metadata, out, job, claimed,
                                    signed=key is not None)
            finished = "" if state.get("state") == "done" else f" (job {state.get('state')})"
            click.echo(f"job {job}: outputs in {folder}{renamed(folder, job)}{finished}")


@click.command("jobs")
@coordinator_option
@click.option("--requester", help="Only this requester's jobs (a did:key).")
@click.option("--key", "keyfile", type=click.Path(dir_okay=False, path_type=Path),
              help="Sign the listing with your key: it then includes the jobs of sensitive "
                   "libraries you may read.")
def jobs_cmd(coordinator: str, requester: str | None, keyfile: Path | None) -> None:
    """List jobs and their state."""
    from aiwork.app.client import CoordinatorClient

    with CoordinatorClient(coordinator, load_key(keyfile) if keyfile else None) as client:
        path = "/v1/jobs" + (f"?requester={requester}" if requester else "")
        for job in client.get(path, signed=keyfile is not None).json():
            counts = ", ".join(f"{k} {v}" for k, v in job["replicas"].items() if v)
            click.echo(f"{job['id']}  {job['state']:<9} {','.join(job['analyzers'])}  "
                       f"x{job['redundancy']}  {job['asset'][:19]}...  ({counts})")


@click.command("devnet")
@click.option("--workers", "count", default=2, show_default=True, type=int)
@click.option("--port", default=8700, show_default=True, type=int)
@click.option("--analyzers", "names", help="Analyzers the workers offer (default: all).")
@click.option("--audit-share", default=DEVNET_AUDIT_SHARE, show_default=True,
              type=click.FloatRange(0, 1),
              help="Share of AI items the devnet's routing rules send to human review (a "
                   "production coordinator's default is 0.05), so experts see the loop.")
def devnet_cmd(count: int, port: int, names: str | None, audit_share: float) -> None:
    """A coordinator (open registration), an admin key and N workers on this machine, until
    Ctrl-C or SIGTERM (which stop every process it started)."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx2 as httpx

    from aiwork.app.client import CoordinatorClient
    from aiwork.config import home
    from aiwork.crypto import SigningKey, read_key_file, write_key_file
    from aiwork.quality.review_items import REVIEWABLE

    # A busy port is reported before anything starts.
    with socket.socket() as probe_socket:
        try:
            probe_socket.bind(("127.0.0.1", port))
        except OSError as exc:
            raise click.ClickException(
                f"port {port} on 127.0.0.1 is in use ({exc.strerror}); nothing was started. "
                "Stop what holds it or pick another with --port") from None

    root = home() / "devnet"
    root.mkdir(parents=True, exist_ok=True)

    def key_at(name: str) -> Path:
        path = root / f"{name}.key"
        if not path.exists():
            write_key_file(path, SigningKey.generate())
        return path

    url = f"http://127.0.0.1:{port}"
    aiwork = [sys.executable, "-m", "aiwork"]
    children: list[subprocess.Popen[bytes]] = []

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # runs the finally below: the children are stopped

    previous = signal.signal(signal.SIGTERM, stop)

    def spawn(args: list[str], name: str) -> None:
        env = {**os.environ, "AIWORK_HOME": str(root / name)}
        with (root / f"{name}.log").open("ab") as log:
            children.append(subprocess.Popen([*aiwork, *args], env=env, stdout=log,
                                             stderr=subprocess.STDOUT,
                                             preexec_fn=_die_with_parent))

    admin = key_at("admin")
    try:
        spawn(["serve", "--port", str(port), "--open-registration", "--gold-rate", "0.1",
               "--starting-credits", str(DEVNET_CREDITS),
               "--admin", read_key_file(admin).did], "coordinator")
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/openapi.json", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or children[0].poll() is not None:
                    raise click.ClickException(
                        f"the coordinator did not start; see {root / 'coordinator.log'}"
                    ) from None
                time.sleep(0.2)
        with CoordinatorClient(url, read_key_file(admin)) as client:
            for insight in REVIEWABLE:
                client.request("PUT", f"/v1/review/rules/{insight}",
                               json.dumps({"audit_share": audit_share,
                                           "experts": DEVNET_EXPERTS}).encode())
        requester = key_at("requester")
        with CoordinatorClient(url, read_key_file(requester)) as client:
            client.post("/v1/identities", {"role": "requester"})
        for n in range(count):
            worker_key = key_at(f"worker-{n}")
            with CoordinatorClient(url, read_key_file(worker_key)) as client:
                client.post("/v1/identities", {"role": "worker"})
            extra = ["--analyzers", names] if names else []
            spawn(["worker", "--coordinator", url, "--key", str(worker_key), *extra],
                  f"worker-{n}")
        click.echo(f"devnet coordinator: {url}")
        click.echo(f"requester key: {requester}")
        click.echo(f"admin key: {admin}  (aiwork review rules --coordinator {url} "
                   f"--key {admin}; {audit_share:.0%} of AI items go to review)")
        for n in range(count):
            click.echo(f"worker {n} key: {root / f'worker-{n}.key'}  (log {root / f'worker-{n}.log'})")
        click.echo(f"children: {' '.join(str(child.pid) for child in children)}")
        click.echo("experts: aiwork keys new --out me.key && aiwork register --coordinator "
                   f"{url} --key me.key --role expert && aiwork review next --coordinator {url} "
                   "--key me.key")
        # Replicas of a task go to distinct workers: never ask for more than there are.
        click.echo(f"try: aiwork submit samples/sample.mp4 --coordinator {url} --key {requester} "
                   f"--redundancy {max(1, min(2, count))} --wait --out out/", nl=True)
        sys.stdout.flush()
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        raise click.ClickException("a devnet process stopped; see the logs in " + str(root))
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut this short
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        signal.signal(signal.SIGTERM, previous)


def _die_with_parent() -> None:
    """In a child, before exec: on Linux, have the kernel send it SIGTERM when the devnet
    dies, even by SIGKILL (elsewhere the devnet's own handlers are what stop it)."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)
