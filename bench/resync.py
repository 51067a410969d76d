"""Benchmark: one full resync pass over converged Workers, with a backend that has nothing to do.

Creates N Worker rows with ``bulk_create`` (generation == observed_generation,
no failures, desired state Running) in a throwaway PostgreSQL database, gives
``controller.reconcilers.resync.resync`` a backend whose ``list()`` reports a
Running instance for every one of them, and times whole passes. Prints, per
size: wall time per pass, workers per second, SQL statements per pass and how
many reconciles were queued (must be 0). The rows are deleted afterwards,
also on error, Ctrl-C and SIGTERM.

Run from the repository root::

    .venv/bin/python bench/resync.py                      # 1,000 and 10,000 workers, 5 passes each
    .venv/bin/python bench/resync.py --sizes 10000 --runs 9 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from environment import DEFAULT_DATABASE_URL, configure, unwind_on_sigterm

from controller.backends.base import (
    LABEL_CONTROLLER,
    LABEL_KIND,
    LABEL_NAME,
    InstanceInfo,
    InstanceSpec,
    InstanceState,
    WorkerBackend,
)

NAME_PREFIX = "bench-resync-"
TARGET_SECONDS = {10_000: 5.0}  # from the issue: 10,000 workers in under 5 s on 2 cores


@dataclass
class Pass:
    seconds: float
    queries: int
    checked: int
    queued: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000], help="numbers of workers")
    parser.add_argument("--runs", type=int, default=5, help="timed passes per size (after one warm-up pass)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="PostgreSQL; created when missing")
    parser.add_argument("--profile", action="store_true", help="print the top functions of one pass (cProfile)")
    args = parser.parse_args()

    unwind_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="hiclaw-bench-resync-") as data_dir:
        configure(Path(data_dir), args.database_url, HICLAW_BACKEND="process")
        from controller.models import Worker

        try:
            for size in args.sizes:
                bench_size(size, args.runs, args.profile)
        finally:
            Worker.objects.filter(name__startswith=NAME_PREFIX).delete()


def bench_size(size: int, runs: int, profile: bool) -> None:
    from controller.models import Worker

    Worker.objects.filter(name__startswith=NAME_PREFIX).delete()
    names = create_converged_workers(size)
    backend = ConvergedBackend(names)
    one_pass(backend)  # warm-up: connection, query compilation, imports
    passes = [one_pass(backend) for _ in range(runs)]
    for result in passes:
        if result.queued or result.checked != size:
            raise SystemExit(
                f"a pass over {size} converged workers checked {result.checked} and queued {result.queued}: "
                f"expected {size} and 0 (is the database {Worker.objects.count()} workers, not only ours?)"
            )
    seconds = [p.seconds for p in passes]
    median = statistics.median(seconds)
    queries = sorted({p.queries for p in passes})
    target = TARGET_SECONDS.get(size)
    verdict = "" if target is None else f"  target < {target:.0f} s: {'met' if median < target else 'MISSED'}"
    print(
        f"{size:>7} workers: median {median * 1000:8.1f} ms/pass (min {min(seconds) * 1000:.1f}, "
        f"max {max(seconds) * 1000:.1f}, {runs} passes), {size / median:>9,.0f} workers/s, "
        f"{'/'.join(map(str, queries))} SQL statements/pass, {passes[0].queued} queued{verdict}"
    )
    if profile:
        print_profile(backend)
    Worker.objects.filter(name__startswith=NAME_PREFIX).delete()


def create_converged_workers(size: int) -> list[str]:
    from controller.models import AgentPhase, DesiredState, Worker

    names = [f"{NAME_PREFIX}{i:06d}" for i in range(size)]
    Worker.objects.bulk_create(
        [
            Worker(
                name=name,
                spec={"model": "qwen3.5-plus"},
                model="qwen3.5-plus",
                generation=1,
                observed_generation=1,
                failures=0,
                state=DesiredState.RUNNING,
                phase=AgentPhase.RUNNING,
                container_state="Running",
            )
            for name in names
        ],
        batch_size=2_000,
    )
    return names


def one_pass(backend: ConvergedBackend) -> Pass:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from controller.reconcilers.resync import resync

    queued: list[tuple[str, str]] = []
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        report = resync(backend, lambda kind, name: queued.append((kind, name)))
        seconds = time.perf_counter() - start
    return Pass(seconds=seconds, queries=len(queries), checked=report.checked, queued=len(queued))


def print_profile(backend: ConvergedBackend) -> None:
    from controller.reconcilers.resync import resync

    profiler = cProfile.Profile()
    profiler.runcall(resync, backend, lambda kind, name: None)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
    print(out.getvalue())


class ConvergedBackend(WorkerBackend):
    """Reports a Running instance for every worker; any other call means the pass did work it should not."""

    name = "bench-converged"

    def __init__(self, workers: list[str]):
        from controller.reconcilers import naming  # needs the app registry

        super().__init__()
        # Built once: the pass is measured, not the making of the list a real engine would return.
        self.instances = [
            self.info(
                naming.instance_name("worker", worker),
                {LABEL_CONTROLLER: self.controller_id, LABEL_KIND: "worker", LABEL_NAME: worker},
                InstanceState.RUNNING,
            )
            for worker in workers
        ]

    def list(self) -> list[InstanceInfo]:
        return self.instances

    def create(self, spec: InstanceSpec) -> NoReturn:
        untouched("create")

    def start(self, name: str) -> NoReturn:
        untouched("start")

    def stop(self, name: str) -> NoReturn:
        untouched("stop")

    def delete(self, name: str) -> NoReturn:
        untouched("delete")

    def status(self, name: str) -> NoReturn:
        untouched("status")

    def logs(self, name: str, tail: int = 100) -> NoReturn:
        untouched("logs")

    def exec(self, name: str, cmd: list[str]) -> NoReturn:
        untouched("exec")


def untouched(call: str) -> NoReturn:
    raise AssertionError(f"a resync over converged workers called backend.{call}()")


if __name__ == "__main__":
    main()
