"""``aiwork serve``: the coordinator's HTTP API over a store."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from aiwork.cli.options import close_to_others, db_option, resolve_db

if TYPE_CHECKING:
    from aiwork.api import ServerSettings
    from aiwork.search.semantic import SemanticSearch


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
@click.option("--max-upload-bytes", type=click.IntRange(1), metavar="BYTES",
              help="Largest media upload accepted (PUT /v1/blobs/DIGEST; default 2 GiB); a "
                   "larger one is refused (413) before its body is read.")
@click.option("--no-semantic", is_flag=True,
              help="Search by words only, even where the embedding model is installed "
                   "(otherwise results are embedded as they are indexed: search by meaning).")
@db_option
def serve_cmd(host: str, port: int, open_registration: bool, admin_did: str | None,
              gold_rate: float, starting_credits: int, devnet_ok: bool,
              witnesses: tuple[str, ...], anchor_rpc: str | None, anchor_key: Path | None,
              anchor_contract: str | None, anchor_every: float, public_url: str | None,
              max_upload_bytes: int | None, no_semantic: bool, db: str | None) -> None:
    """Run the coordinator's HTTP API over the store (AIWORK_HOME or --db)."""
    from aiwork.export import check_base_url

    shown_host = f"[{host}]" if ":" in host else host
    public = check_base_url(public_url or f"http://{shown_host}:{port}")
    check_free_credits(host, open_registration=open_registration,
                       starting_credits=starting_credits, devnet_ok=devnet_ok)
    import uvicorn

    from aiwork.api import ServerSettings, create_app
    from aiwork.coordinator.identities import coordinator_key

    path = resolve_db(db)
    close_to_others(path)
    settings = ServerSettings(db=path, key=coordinator_key(), open_registration=open_registration,
                              admin=admin_did, gold_rate=gold_rate,
                              starting_credits=starting_credits, witnesses=witnesses,
                              public_url=public)
    if max_upload_bytes is not None:
        settings = dataclasses.replace(settings, max_upload_bytes=max_upload_bytes)
    semantic = None if no_semantic else _semantic()
    settings = dataclasses.replace(settings, semantic=semantic)
    if gold_rate > 0:
        _first_gold(settings)
    shown = re.sub(r"//[^@/]*@", "//***@", str(path))  # never print a password
    click.echo(f"aiwork coordinator on http://{host}:{port} (store {shown}; "
               f"registration {'open' if open_registration else 'by admin approval'}; "
               f"search by {'words only' if settings.semantic is None else 'words and meaning'})",
               err=True)
    app = create_app(settings)
    app.state.aiwork.coordinator()  # its store opened (the search index built) before serving
    with contextlib.ExitStack() as stack:
        if semantic is not None:
            embedding_backfill(path, semantic, report=lambda line: click.echo(line, err=True))
        if gold_rate > 0:
            stack.enter_context(_gold_pool(settings))
        if anchor_rpc or anchor_key or anchor_contract:
            from aiwork.anchor.service import serve_anchoring

            stack.enter_context(serve_anchoring(
                path, rpc=anchor_rpc, key_file=anchor_key, contract=anchor_contract,
                every=anchor_every, report=lambda line: click.echo(line, err=True)))
        # No access log: a media grant's token is in its URL (?grant=), and it stays out of
        # every log.
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _semantic() -> SemanticSearch | None:
    """The search index's semantic part where its model is installed (None: words only). A
    result's passages are embedded before the transaction that may accept it; an experts'
    correction, a single text, inside the one that records it."""
    from aiwork.errors import AnalyzerUnavailable
    from aiwork.search.embed import load_embedder
    from aiwork.search.semantic import SemanticSearch

    try:
        return SemanticSearch(load_embedder())
    except AnalyzerUnavailable:
        return None


def embedding_backfill(db: Path | str, semantic: SemanticSearch,
                       report: Callable[[str], None]) -> threading.Thread:
    """Embed, in a background thread with its own connection, the passages of the store's
    search index that have no vector of the configured model: indexed while it was not
    installed, or by another model (the index's vectors are remade when the model changes). Search by words is unaffected meanwhile; by meaning, such passages are
    left out until embedded. The thread ends when all are (or with the process)."""
    from aiwork.errors import AiworkError
    from aiwork.ledger.home import open_ledger

    def run() -> None:
        try:
            with open_ledger(db) as log:
                done = semantic.backfill(log.db)
        except AiworkError as exc:
            report(f"warning: the search index's passages were not embedded: {exc}")
            return
        if done:
            report(f"search by meaning: {done} passage(s) embedded with "
                   f"{semantic.embedder.name}")

    thread = threading.Thread(target=run, name="search-embedding", daemon=True)
    thread.start()
    return thread


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


def _first_gold(settings: ServerSettings) -> None:
    """Generate the first gold clips when the store has none."""
    from aiwork.config import blobs_path
    from aiwork.coordinator.gold import add_generated_gold
    from aiwork.coordinator.service import Coordinator
    from aiwork.pipeline.process import open_store
    from aiwork.store.blobs import BlobStore

    with open_store(settings.db) as log:
        coordinator = Coordinator(log, BlobStore(blobs_path(settings.db)), settings.key)
        if not coordinator.has_gold():
            add_generated_gold(coordinator)


@contextlib.contextmanager
def _gold_pool(settings: ServerSettings) -> Iterator[None]:
    """New, different gold clips as the pool wears (:mod:`aiwork.coordinator.gold`)."""
    from aiwork.config import blobs_path
    from aiwork.coordinator.gold import GoldPool
    from aiwork.coordinator.service import Coordinator
    from aiwork.pipeline.process import open_store
    from aiwork.store.blobs import BlobStore

    def gold_coordinator() -> Coordinator:
        return Coordinator(open_store(settings.db), BlobStore(blobs_path(settings.db)),
                           settings.key)

    pool = GoldPool(gold_coordinator, every=30.0, report=lambda line: click.echo(line, err=True))
    pool.start()
    try:
        yield
    finally:
        pool.stop()
