"""``aiwork devnet``: a coordinator, an admin key and workers on this machine."""

from __future__ import annotations

import subprocess
from pathlib import Path

import click

#: What every requester of a devnet starts with.
DEVNET_CREDITS = 1000
#: Share of AI items a devnet routes to human review at random (production default: 0.05).
DEVNET_AUDIT_SHARE = 0.5
#: Verdicts a devnet item asks for (production default: 3): one person trying the devnet sees
#: a verdict become a consensus and change the job's results (more experts: `aiwork review
#: rules INSIGHT --set experts=N`).
DEVNET_EXPERTS = 1


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
    import signal
    import sys
    import time

    from aiwork.config import home

    _check_port(port)
    net = _Devnet(home() / "devnet", port)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # runs the finally below: the children are stopped

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        net.start_coordinator()
        net.set_review_rules(audit_share)
        requester = net.register("requester", "requester")
        for n in range(count):
            worker_key = net.register(f"worker-{n}", "worker")
            extra = ["--analyzers", names] if names else []
            net.spawn(["worker", "--coordinator", net.url, "--key", str(worker_key), *extra],
                      f"worker-{n}")
        _instructions(net, requester, count, audit_share)
        sys.stdout.flush()
        while all(child.poll() is None for child in net.children):
            time.sleep(0.5)
        raise click.ClickException("a devnet process stopped; see the logs in " + str(net.root))
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut this short
        net.stop()
        signal.signal(signal.SIGTERM, previous)


def _check_port(port: int) -> None:
    """A busy port is reported before anything starts."""
    import socket

    with socket.socket() as probe_socket:
        try:
            probe_socket.bind(("127.0.0.1", port))
        except OSError as exc:
            raise click.ClickException(
                f"port {port} on 127.0.0.1 is in use ({exc.strerror}); nothing was started. "
                "Stop what holds it or pick another with --port") from None


class _Devnet:
    """The devnet's folder (keys, logs, each process's home) and the processes it started."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.children: list[subprocess.Popen[bytes]] = []
        self.admin = self.key_at("admin")

    def key_at(self, name: str) -> Path:
        """The key file ``name`` of the devnet, made the first time."""
        from aiwork.crypto import SigningKey, write_key_file

        path = self.root / f"{name}.key"
        if not path.exists():
            write_key_file(path, SigningKey.generate())
        return path

    def spawn(self, args: list[str], name: str) -> None:
        """Run ``aiwork ARGS`` with its own home and log, stopped with the devnet."""
        import os
        import sys

        env = {**os.environ, "AIWORK_HOME": str(self.root / name)}
        with (self.root / f"{name}.log").open("ab") as log:
            self.children.append(subprocess.Popen([sys.executable, "-m", "aiwork", *args],
                                                  env=env, stdout=log,
                                                  stderr=subprocess.STDOUT,
                                                  preexec_fn=_die_with_parent))

    def start_coordinator(self) -> None:
        """Start the coordinator and wait until it answers (at most a minute)."""
        import time

        import httpx2 as httpx

        from aiwork.crypto import read_key_file

        self.spawn(["serve", "--port", str(self.port), "--open-registration", "--gold-rate",
                    "0.1", "--starting-credits", str(DEVNET_CREDITS),
                    "--admin", read_key_file(self.admin).did], "coordinator")
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(self.url + "/openapi.json", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.children[0].poll() is not None:
                    raise click.ClickException(
                        f"the coordinator did not start; see {self.root / 'coordinator.log'}"
                    ) from None
                time.sleep(0.2)

    def set_review_rules(self, audit_share: float) -> None:
        """Route ``audit_share`` of every reviewable insight's items to one expert."""
        from aiwork.client.coordinator import CoordinatorClient
        from aiwork.crypto import read_key_file
        from aiwork.quality.review_items import REVIEWABLE

        with CoordinatorClient(self.url, read_key_file(self.admin)) as client:
            for insight in REVIEWABLE:
                client.set_review_rules(insight, {"audit_share": audit_share,
                                                  "experts": DEVNET_EXPERTS})

    def register(self, name: str, role: str) -> Path:
        """The key ``name``, granted ``role``."""
        from aiwork.client.coordinator import CoordinatorClient
        from aiwork.crypto import read_key_file

        path = self.key_at(name)
        with CoordinatorClient(self.url, read_key_file(path)) as client:
            client.request_role(role)
        return path

    def stop(self) -> None:
        """Stop every process started (killed after 10 s)."""
        for child in self.children:
            child.terminate()
        for child in self.children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _instructions(net: _Devnet, requester: Path, count: int, audit_share: float) -> None:
    """What runs where, and what to try."""
    url, root = net.url, net.root
    click.echo(f"devnet coordinator: {url}")
    click.echo(f"requester key: {requester}")
    click.echo(f"admin key: {net.admin}  (aiwork review rules --coordinator {url} "
               f"--key {net.admin}; {audit_share:.0%} of AI items go to review)")
    for n in range(count):
        click.echo(f"worker {n} key: {root / f'worker-{n}.key'}  (log {root / f'worker-{n}.log'})")
    click.echo(f"children: {' '.join(str(child.pid) for child in net.children)}")
    click.echo("experts: aiwork keys new --out me.key && aiwork register --coordinator "
               f"{url} --key me.key --role expert && aiwork review next --coordinator {url} "
               "--key me.key")
    click.echo(f"web console: {url}/jobs (requesters: import the requester key, or make one "
               f"there), {url}/review (experts), {url}/explorer (proofs)")
    # Replicas of a task go to distinct workers: never ask for more than there are.
    click.echo(f"try: aiwork submit samples/sample.mp4 --coordinator {url} --key {requester} "
               f"--redundancy {max(1, min(2, count))} --wait --out out/", nl=True)


def _die_with_parent() -> None:
    """In a child, before exec: on Linux, have the kernel send it SIGTERM when the devnet
    dies, even by SIGKILL (elsewhere the devnet's own handlers are what stop it)."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)
