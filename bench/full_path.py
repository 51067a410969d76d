"""``apply_to_running.py --full``: the latencies a user sees from a production-mode controller.

Everything goes over HTTP to the controller that ``full_stack.Stack`` runs (web,
``celery worker``, ``celery beat``, ``hiclaw_watch``; PostgreSQL, Redis, Docker,
Synapse, S3), with an admin token, as a client of the API would:

1. one Worker: ``POST /api/v1/apply`` → ``GET /api/v1/workers/<name>`` says phase
   Running, ``--single-runs`` times (a new Worker each time), after one first Worker
   shown apart (the first pass of a fresh controller process logs its admin in);
2. ``--workers`` Workers in one ``POST /api/v1/apply``, until all are Running;
3. ensure-ready: a Running Worker is put to sleep (``POST …/sleep``, waited until
   Sleeping), then ``POST …/ensure-ready`` is timed until it answers ready;
4. crash to visible: a Running Worker's container is killed (SIGKILL) and the
   API is polled until the Worker is not Running, up to ``--crash-timeout``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from cpu_usage import CpuMeter
from full_stack import DEFAULT_REDIS_URL, Stack

POLL_SECONDS = 0.02  # one Worker: a detail request per poll
BURST_POLL_SECONDS = 0.1  # many: one list request per poll
MANIFEST = """\
apiVersion: hiclaw.io/v1beta1
kind: Worker
metadata: {{name: {name}}}
spec: {{model: qwen3.5-plus, soul: "Benchmark worker."}}
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    full = parser.add_argument_group("--full (production mode, over HTTP)")
    full.add_argument("--full", action="store_true", help="measure a production-mode controller over its API")
    full.add_argument("--single-runs", type=int, default=10, help="one-Worker applies timed one after another")
    full.add_argument("--ensure-ready-runs", type=int, default=8, help="sleep → ensure-ready cycles")
    full.add_argument("--kills", type=int, default=20, help="containers killed, one at a time")
    full.add_argument("--crash-timeout", type=float, default=5.0, help="seconds to wait for a kill to show")
    full.add_argument("--celery-threads", type=int, default=4, help="the celery worker's --concurrency (chart: 4)")
    full.add_argument("--bcrypt-rounds", type=int, default=12, help="Synapse's password hashing cost (its default)")
    full.add_argument("--full-redis-url", default=DEFAULT_REDIS_URL, help="an empty Redis database; emptied at the end")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least ``fraction`` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def summary(label: str, values: list[float]) -> str:
    if not values:
        return f"{label:>32}: no samples"
    p50, p90 = percentile(values, 0.5), percentile(values, 0.9)
    return (
        f"{label:>32}: p50 {p50:5.2f} s  p90 {p90:5.2f} s  max {max(values):5.2f} s  "
        f"mean {statistics.fmean(values):5.2f} s  (n={len(values)})"
    )


def main(args: argparse.Namespace) -> None:
    bench_id = f"bench{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory(prefix="hiclaw-bench-full-") as workdir:
        stack = Stack(
            bench_id,
            Path(workdir),
            database_url=args.database_url,
            redis_url=args.full_redis_url,
            bcrypt_rounds=args.bcrypt_rounds,
            celery_threads=args.celery_threads,
        )
        with stack:
            print(
                f"production mode: web + celery worker (threads, {args.celery_threads}) + beat + hiclaw_watch; "
                f"PostgreSQL, Redis, Docker, Synapse (bcrypt_rounds {args.bcrypt_rounds}), S3 (moto); over HTTP"
            )
            Measure(stack, bench_id, args.timeout).run_all(args)


class Measure:
    def __init__(self, stack: Stack, bench_id: str, timeout: float):
        self.stack, self.bench_id, self.timeout = stack, bench_id, timeout
        self.http, self.api = stack.http, f"{stack.base_url}/api/v1"
        self.apply_calls: list[float] = []  # how long each POST /apply took to answer

    def run_all(self, args: argparse.Namespace) -> None:
        # A controller that has run a while has its admin session, engine API version and database
        # connections: the first Worker after a start pays for those, and is shown apart.
        cold = self.apply_and_wait([self.name("cold")])[0]
        print(f"{'first Worker after the start':>32}: {cold:5.2f} s (not in the figures below)")
        self.apply_calls.clear()
        single = [self.apply_and_wait([self.name(f"one{run:02d}")])[0] for run in range(args.single_runs)]
        print(summary("1 Worker: apply → Running", single))
        print(summary("of which the POST /apply", self.apply_calls))
        names = [self.name(f"many{i:02d}") for i in range(args.workers)]
        with CpuMeter(self.stack.process_groups()) as cpu:
            burst = self.apply_and_wait(names)
        print(summary(f"{args.workers} Workers at once: each", burst))
        print(f"{f'{args.workers} Workers at once: all Running':>32}: {max(burst):5.2f} s")
        print("\n".join(f"{'':>34}{line}" for line in cpu.lines()))
        ready = [self.sleep_then_ensure_ready(names[i % len(names)]) for i in range(args.ensure_ready_runs)]
        print(summary("ensure-ready on a sleeping one", ready))
        seen, back, missed = self.crashes(names, args.kills, args.crash_timeout)
        print(summary("crash → API not Running", seen))
        print(summary("crash → Running again", back))
        if missed:
            print(f"{'':>32}  {missed} of {args.kills} kills not seen within {args.crash_timeout:g} s")
        self.stack.remove_workers()

    def name(self, suffix: str) -> str:
        return f"{self.bench_id}-{suffix}"

    # --- HTTP ---------------------------------------------------------------------------
    def post(self, path: str, body: str = "", **params: object) -> dict:
        headers = {"Content-Type": "application/yaml"} if body else {}
        answer = self.http.post(f"{self.api}{path}", data=body.encode(), headers=headers, params=params, timeout=60)
        if answer.status_code >= 400:
            raise SystemExit(f"POST {path}: {answer.status_code} {answer.text[:500]}")
        return answer.json()

    def phase(self, name: str) -> tuple[str, str]:
        answer = self.http.get(f"{self.api}/workers/{name}", timeout=10)
        answer.raise_for_status()
        status = answer.json().get("status") or {}
        return status.get("phase", ""), status.get("message", "")

    def phases(self, names: list[str]) -> dict[str, tuple[str, str]]:
        """(phase, message) of each named Worker: one detail request for one, one list request for more,
        so the polling itself loads the web process (on the same 2 cores) no more than a client would."""
        if len(names) == 1:
            return {names[0]: self.phase(names[0])}
        answer = self.http.get(f"{self.api}/workers", params={"limit": 500}, timeout=10)
        answer.raise_for_status()
        rows = {row["metadata"]["name"]: row.get("status") or {} for row in answer.json()["workers"]}
        return {name: (rows.get(name, {}).get("phase", ""), rows.get(name, {}).get("message", "")) for name in names}

    def wait_phase(
        self, names: list[str], start: float, wanted: str = "Running", *, crash_loop: bool = False
    ) -> list[float]:
        """Poll the Workers until each is in phase ``wanted``; seconds from ``start`` for each.
        ``crash_loop``: a Worker waiting out its crash-loop backoff (phase Failed until the
        controller starts it again) is waited for, not a failure."""
        latencies: dict[str, float] = {}
        interval = POLL_SECONDS if len(names) == 1 else BURST_POLL_SECONDS
        while len(latencies) < len(names):
            for name, (phase, message) in self.phases([n for n in names if n not in latencies]).items():
                if phase == wanted:
                    latencies[name] = time.perf_counter() - start
                elif phase == "Failed" and not (crash_loop and "restart" in message):
                    raise SystemExit(f"worker {name} failed: {message}")
            if time.perf_counter() - start > self.timeout:
                self.stack.check_alive()
                pending = self.phases([n for n in names if n not in latencies])
                detail = "; ".join(f"{n}: {phase} {message}" for n, (phase, message) in list(pending.items())[:5])
                raise SystemExit(
                    f"{len(pending)} workers not {wanted} after {self.timeout:.0f} s: {detail}\n"
                    f"celery worker's log:\n{self.stack.log('worker')}"
                )
            time.sleep(interval)
        return list(latencies.values())

    # --- measurements -----------------------------------------------------------------
    def apply_and_wait(self, names: list[str]) -> list[float]:
        text = "---\n".join(MANIFEST.format(name=name) for name in names)
        start = time.perf_counter()
        self.post("/apply", text)
        self.apply_calls.append(time.perf_counter() - start)
        return self.wait_phase(names, start)

    def sleep_then_ensure_ready(self, name: str) -> float:
        self.post(f"/workers/{name}/sleep")
        self.wait_phase([name], time.perf_counter(), "Sleeping")
        start = time.perf_counter()
        answer = self.post(f"/workers/{name}/ensure-ready", timeout=60)
        elapsed = time.perf_counter() - start
        if not answer.get("ready"):
            raise SystemExit(f"ensure-ready {name}: {answer}")
        return elapsed

    def crashes(self, names: list[str], kills: int, timeout: float) -> tuple[list[float], list[float], int]:
        """Kill Running Workers' containers one at a time: how long until the API shows each
        kill (phase no longer Running), how long until each is Running again (the controller's
        restart after its crash-loop backoff, 1 s after a first crash), and how many kills
        the API did not show within ``timeout``."""
        import docker

        from controller import naming

        client = docker.from_env(version="auto", timeout=30)
        seen: list[float] = []
        back: list[float] = []
        missed = 0
        try:
            for index in range(kills):
                name = names[index % len(names)]
                self.wait_phase([name], time.perf_counter(), crash_loop=True)  # a Worker killed before is back
                start = time.perf_counter()
                client.containers.get(naming.instance_name("worker", name)).kill(signal="SIGKILL")
                while self.phase(name)[0] == "Running":
                    if time.perf_counter() - start > timeout:
                        missed += 1
                        print(f"{'':>32}  kill of {name} not seen within {timeout:g} s: {self.phase(name)}")
                        break
                    time.sleep(POLL_SECONDS)
                else:
                    seen.append(time.perf_counter() - start)
                    back.extend(self.wait_phase([name], start, crash_loop=True))
        finally:
            client.close()
        return seen, back, missed
