"""Benchmark of the coordinator's task protocol with no-op workers, over loopback.

Run it from the repository root::

    .venv/bin/python bench/network.py                           # N = 1, 10, 100 workers
    .venv/bin/python bench/network.py --workers 100 --tasks 1000
    .venv/bin/python bench/network.py --json bench/out/network.json
    .venv/bin/python bench/network.py --workers 100 --profile bench/out/netprof  # + cProfile

For each N it starts a fresh coordinator (``create_app`` under uvicorn, in its own process,
SQLite in a temporary folder, open registration), uploads one small blob, submits ``--tasks``
jobs of one ``technical`` task each (redundancy 1, budget = price 1 x 1 x 1) and registers N
worker identities. Then N threads, each with its own key and HTTP connection, loop
lease -> submit until the coordinator has no work left (204). The analysis is a no-op: for
each lease a worker signs an ``ai.decision`` for the leased analyzer and asset over a fixed,
tiny ``technical`` output and submits it, so only the protocol and the coordinator are
measured (client and server share the machine's cores).

Reported per N: completed tasks/s (accepted results over the wall time of the worker phase),
p50/p99/max lease latency (the signed ``POST /v1/tasks/lease`` round trip, granted leases
only), p50/p99 submit latency, CPU seconds of the server and of this (client) process, and
the integrity check from the coordinator's store after the run: every replica accepted
exactly once (lost = replicas not accepted; duplicated = more than one stored result or more
than one ``reward.accrued`` per replica, or one replica leased to two workers).

A second run at N = 100 (``--rate``, default 300) paces the workers: together they start
300 tasks/s at Poisson-distributed times, as analysis work would arrive, instead of firing
the next request the moment the last one returns.

Targets (from the issue): with 100 workers >= 300 completed tasks/s (the saturated run) and
p99 lease latency < 100 ms (the run at 300 tasks/s); lost and duplicated tasks must be zero
for every run. Latency is judged at the target load because at saturation it is fixed by
Little's law: 100 workers that never pause keep 100 requests waiting, so each waits about
100 / (requests served per second), whatever the lease path costs. Speed is measured here, never
asserted in tests.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx

from aiwork.client.coordinator import CoordinatorClient
from aiwork.model.decision import normalize, output_digest
from aiwork.digests import sha256_bytes, sha256_json
from aiwork.crypto import SigningKey
from aiwork.ledger.entries import sign_entry
from aiwork.ledger.log import Log
from aiwork.model import Entry
from aiwork.store import Database

# The targets (checked at the largest N, 100 workers).
TARGET_TASKS_PER_S = 300.0
TARGET_P99_LEASE_MS = 100.0
TARGET_WORKERS = 100

ANALYZER = "technical"
OUTPUT = {"container": "mp4", "duration": 1.0, "size": 1}  # a fixed no-op "analysis"
LEASE_SECONDS = 600.0  # longer than any run: an expired lease would hide a lost task


# -- the coordinator process -------------------------------------------------------------


def serve(db: Path, port: int, profile: Path | None) -> None:
    """Run the coordinator under uvicorn (``--serve`` mode; stopped by SIGTERM/SIGINT)."""
    import uvicorn

    from aiwork.api import ServerSettings, create_app

    app = create_app(ServerSettings(db=db, key=SigningKey.generate(), open_registration=True,
                                    lease_seconds=LEASE_SECONDS, starting_credits=10**9))
    prof = cProfile.Profile() if profile else None
    if prof:
        # Profile only between SIGUSR1 (start) and SIGUSR2 (stop): the worker phase.
        signal.signal(signal.SIGUSR1, lambda *_: prof.enable())
        signal.signal(signal.SIGUSR2, lambda *_: prof.disable())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    if prof and profile:
        prof.dump_stats(profile)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, folder: Path, profile: Path | None) -> None:
        self.db = folder / "coord.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", str(self.db),
               str(self.port)]
        if profile:
            cmd += ["--profile", str(profile)]
        self.proc = subprocess.Popen(cmd, env={**os.environ, "AIWORK_HOME": str(folder)})
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/v1/ledger/key", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the coordinator did not start")
            time.sleep(0.1)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- simulated workers -------------------------------------------------------------------


def decision(key: SigningKey, lease: dict[str, Any]) -> tuple[bytes, Any]:
    """The no-op analysis: a valid signed decision for the leased analyzer and asset."""
    items = normalize(ANALYZER, OUTPUT)
    body: dict[str, Any] = {
        "analyzer": lease["analyzer"], "analyzer_version": "noop-1", "insight": ANALYZER,
        "model": {"name": "noop", "version": "1"}, "parameters": {},
        "parameters_digest": sha256_json({}),
        "input": {"asset": lease["asset"], "start": 0.0, "end": 1.0, "derived_from": []},
        "output_digest": output_digest(items), "output_items": 1,
        "confidence": {"mean": 1.0, "min": 1.0, "max": 1.0}, "evidence": {},
        "task": lease["task"],
    }
    return sign_entry(key, "ai.decision", body).to_bytes(), OUTPUT


@dataclass
class WorkerLog:
    lease_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    leased: list[tuple[str, int]] = field(default_factory=list)
    done: int = 0
    last_done: float = 0.0  # perf_counter() when its last result was accepted
    errors: list[str] = field(default_factory=list)


def work(client: CoordinatorClient, key: SigningKey, start: threading.Barrier,
         log: WorkerLog, rate: float | None, seed: int) -> None:
    """Lease -> submit until the queue is empty. With ``rate`` (tasks/s for this worker)
    a new task is started at Poisson-distributed times, as analysis work arriving at that
    rate would; without, at once (saturation)."""
    caps = json.dumps({"capabilities": [ANALYZER]}).encode()
    rng = random.Random(seed)
    start.wait()
    due = time.perf_counter()
    while True:
        if rate:
            due += rng.expovariate(rate)
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        t0 = time.perf_counter()
        try:
            reply = client.request("POST", "/v1/tasks/lease", caps)
        except Exception as exc:  # noqa: BLE001 - counted, reported
            log.errors.append(f"lease: {exc}")
            if len(log.errors) > 20:
                return
            continue
        elapsed = (time.perf_counter() - t0) * 1000
        if reply.status_code == 204:
            return
        log.lease_ms.append(elapsed)
        lease = reply.json()
        log.leased.append((lease["task"], int(lease["replica"])))
        entry, output = decision(key, lease)
        t0 = time.perf_counter()
        try:
            client.post(f"/v1/leases/{lease['lease']}/result",
                        {"entry": entry.decode(), "output": output})
            log.done += 1
            log.last_done = time.perf_counter()
        except Exception as exc:  # noqa: BLE001
            log.errors.append(f"result: {exc}")
        log.submit_ms.append((time.perf_counter() - t0) * 1000)


# -- one run -----------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@dataclass
class RunResult:
    workers: int
    offered: float | None  # tasks/s the workers asked for in all; None: as fast as served
    tasks: int
    setup_s: float
    wall_s: float
    completed: int
    tasks_per_s: float
    lease_p50_ms: float
    lease_p99_ms: float
    lease_max_ms: float
    submit_p50_ms: float
    submit_p99_ms: float
    server_cpu_s: float
    client_cpu_s: float
    replicas: int
    replica_states: dict[str, int]
    lost: int
    duplicated: int
    duplicate_leases: int
    extra_results: int
    extra_rewards: int
    errors: list[str]


def check_store(db: Path) -> dict[str, Any]:
    """Every replica accepted exactly once, from the coordinator's own store."""
    store = Database(db)
    try:
        conn = store.conn
        states = dict(conn.execute(
            "SELECT state, COUNT(*) FROM market_replicas GROUP BY state").fetchall())
        replicas = sum(states.values())
        accepted = states.get("accepted", 0)
        extra_results = sum(n - 1 for (n,) in conn.execute(
            "SELECT COUNT(*) FROM coordinator_results GROUP BY task, replica HAVING COUNT(*) > 1"))
        per_task = dict(conn.execute("SELECT id, replicas FROM market_tasks").fetchall())
    finally:
        store.close()
    with Log.open(db) as log:
        rewards: Counter[str] = Counter()
        for i in range(log.size):
            entry = Entry.from_bytes(log.get(i))
            if entry.kind == "reward.accrued/v1":
                rewards[entry.body["task"]] += 1
    extra_rewards = sum(max(0, n - per_task.get(task, 0)) for task, n in rewards.items())
    return {"replicas": replicas, "states": states, "lost": replicas - accepted,
            "extra_results": extra_results, "extra_rewards": extra_rewards}


def run(n_workers: int, n_tasks: int, profile: Path | None,
        rate: float | None = None) -> RunResult:
    with tempfile.TemporaryDirectory(prefix="aiwork-netbench-") as tmp:
        folder = Path(tmp)
        server = Server(folder, profile)
        clients: list[CoordinatorClient] = []
        try:
            t_setup = time.perf_counter()
            requester = SigningKey.generate()
            req = CoordinatorClient(server.url, requester, timeout=120)
            clients.append(req)
            req.post("/v1/identities", {"role": "requester"})
            data = b"aiwork network benchmark asset\n"
            asset = sha256_bytes(data)
            req.request("PUT", f"/v1/blobs/{asset}", data,
                        content_type="application/octet-stream")
            job = {"asset": asset, "analyzers": [ANALYZER], "redundancy": 1, "budget": 1}

            def submit(_: int) -> None:
                req.post("/v1/jobs", job)

            keys = [SigningKey.generate() for _ in range(n_workers)]
            workers = [CoordinatorClient(server.url, key, timeout=120) for key in keys]
            clients += workers

            def register(client: CoordinatorClient) -> None:
                client.post("/v1/identities", {"role": "worker"})

            with ThreadPoolExecutor(4) as pool:
                list(pool.map(submit, range(n_tasks)))
                list(pool.map(register, workers))
            setup_s = time.perf_counter() - t_setup

            logs = [WorkerLog() for _ in range(n_workers)]
            barrier = threading.Barrier(n_workers + 1)
            per_worker = rate / n_workers if rate else None
            threads = [threading.Thread(target=work, args=(c, k, barrier, log, per_worker, i),
                                        daemon=True)
                       for i, (c, k, log) in enumerate(zip(workers, keys, logs, strict=True))]
            for thread in threads:
                thread.start()
            if profile:
                server.signal(signal.SIGUSR1)
            srv0, cli0 = cpu_seconds(server.proc.pid), time.process_time()
            barrier.wait()
            t0 = time.perf_counter()
            for thread in threads:
                thread.join()
            # Up to the last accepted result: the final "no work left" polls of paced
            # workers come after the work is done.
            wall = max((log.last_done for log in logs), default=t0) - t0
            srv_cpu = cpu_seconds(server.proc.pid) - srv0
            cli_cpu = time.process_time() - cli0
            if profile:
                server.signal(signal.SIGUSR2)
        finally:
            for client in clients:
                client.close()
            server.stop()
        check = check_store(server.db)

    leased = Counter(pair for log in logs for pair in log.leased)
    duplicate_leases = sum(n - 1 for n in leased.values() if n > 1)
    lease_ms = [ms for log in logs for ms in log.lease_ms]
    submit_ms = [ms for log in logs for ms in log.submit_ms]
    completed = sum(log.done for log in logs)
    errors = [e for log in logs for e in log.errors]
    return RunResult(
        workers=n_workers, offered=rate, tasks=n_tasks, setup_s=round(setup_s, 2),
        wall_s=round(wall, 3),
        completed=completed, tasks_per_s=round(completed / wall, 1),
        lease_p50_ms=round(percentile(lease_ms, 50), 2),
        lease_p99_ms=round(percentile(lease_ms, 99), 2),
        lease_max_ms=round(max(lease_ms, default=float("nan")), 2),
        submit_p50_ms=round(percentile(submit_ms, 50), 2),
        submit_p99_ms=round(percentile(submit_ms, 99), 2),
        server_cpu_s=round(srv_cpu, 2), client_cpu_s=round(cli_cpu, 2),
        replicas=check["replicas"], replica_states=check["states"], lost=check["lost"],
        duplicated=check["extra_results"] + check["extra_rewards"] + duplicate_leases,
        duplicate_leases=duplicate_leases, extra_results=check["extra_results"],
        extra_rewards=check["extra_rewards"], errors=errors[:10],
    )


# -- report ------------------------------------------------------------------------------


def load_name(rate: float | None) -> str:
    return "max" if rate is None else f"{rate:.0f}"


def load(r: RunResult) -> str:
    return "max" if r.offered is None else f"{r.offered:.0f}/s"


def table(results: list[RunResult]) -> str:
    head = (f"{'N':>4} {'load':>6} {'tasks':>6} {'done':>6} {'wall s':>7} {'tasks/s':>8} "
            f"{'lease p50':>9} {'p99':>7} {'max':>7} {'submit p50':>10} {'p99':>7} "
            f"{'srv cpu':>8} {'cli cpu':>8} {'lost':>5} {'dup':>4}")
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.workers:>4} {load(r):>6} {r.tasks:>6} {r.completed:>6} {r.wall_s:>7.2f} "
            f"{r.tasks_per_s:>8.1f} {r.lease_p50_ms:>7.1f}ms {r.lease_p99_ms:>5.1f}ms "
            f"{r.lease_max_ms:>5.0f}ms {r.submit_p50_ms:>8.1f}ms {r.submit_p99_ms:>5.1f}ms "
            f"{r.server_cpu_s:>7.1f}s {r.client_cpu_s:>7.1f}s {r.lost:>5} {r.duplicated:>4}")
    lines.append("(latencies: client round trip; cpu: seconds over the worker phase, "
                 "server process / this client process)")
    return "\n".join(lines)


def targets(results: list[RunResult]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in results:
        out.append({"target": f"N={r.workers}: lost = 0 and duplicated = 0",
                    "value": f"lost {r.lost}, duplicated {r.duplicated}, errors {len(r.errors)}",
                    "pass": r.lost == 0 and r.duplicated == 0 and not r.errors})
    big = [r for r in results if r.workers == TARGET_WORKERS]
    for r in big:
        if r.offered is None:
            out.append({"target": f"N={r.workers}: >= {TARGET_TASKS_PER_S:.0f} tasks/s",
                        "value": f"{r.tasks_per_s:.1f}",
                        "pass": r.tasks_per_s >= TARGET_TASKS_PER_S})
        else:
            ok = r.tasks_per_s >= 0.95 * r.offered  # the coordinator kept up with the load
            out.append({"target": f"N={r.workers} at {load(r)}: p99 lease < "
                                  f"{TARGET_P99_LEASE_MS:.0f} ms",
                        "value": f"{r.lease_p99_ms:.1f} ms ({r.tasks_per_s:.0f} tasks/s served)",
                        "pass": ok and r.lease_p99_ms < TARGET_P99_LEASE_MS})
    if not big:
        out.append({"target": f"N={TARGET_WORKERS} throughput/latency", "value": "not run",
                    "pass": None})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,10,100", help="comma-separated N (1,10,100)")
    parser.add_argument("--tasks", type=int, default=2000, help="tasks per run (2000)")
    parser.add_argument("--rate", type=float, default=TARGET_TASKS_PER_S,
                        help="after the saturation run at N = 100, a second run in which the "
                             "workers ask for this many tasks/s in all (default: the target, "
                             "300); 0 skips it")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--profile", type=Path,
                        help="folder: cProfile the server over each worker phase "
                             "(server-N.prof); slows the server down")
    parser.add_argument("--serve", nargs=2, metavar=("DB", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]), args.profile)
        return 0

    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    print(f"aiwork network benchmark: {args.tasks} tasks per run, N = {counts}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, SQLite coordinator "
          f"(uvicorn, 1 process) on loopback", flush=True)
    results: list[RunResult] = []
    plan: list[tuple[int, float | None]] = [(n, None) for n in counts]
    if args.rate and TARGET_WORKERS in counts:
        plan.append((TARGET_WORKERS, args.rate))
    for n, rate in plan:
        prof = args.profile / f"server-{n}-{load_name(rate)}.prof" if args.profile else None
        result = run(n, args.tasks, prof, rate)
        results.append(result)
        print(f"  N={n} load {load(result)}: {result.completed} done in {result.wall_s:.2f} s "
              f"(setup {result.setup_s:.1f} s), {result.tasks_per_s:.1f} tasks/s", flush=True)
        for error in result.errors:
            print(f"    error: {error}")
    print()
    print(table(results))
    print()
    checks = targets(results)
    for c in checks:
        mark = "n/a " if c["pass"] is None else ("PASS" if c["pass"] else "MISS")
        print(f"  [{mark}] {c['target']}: {c['value']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform()},
            "tasks": args.tasks, "runs": [asdict(r) for r in results], "targets": checks,
        }, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    integrity_ok = all(c["pass"] is not False for c in checks if "lost" in c["target"])
    return 0 if integrity_ok else 1


if __name__ == "__main__":
    sys.exit(main())
