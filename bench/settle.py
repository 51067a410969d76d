"""Benchmark: how long N new sleeping Workers take to settle after their apply returned.

The apply is the operator's (``manage.py hiclaw_apply -f FILE``, run in this
process: one transaction, one reconcile queued per Worker after commit). The
Workers have ``state: Sleeping``, so no instance starts: what is measured is
the controller's own cost per reconcile (queue, lock, steps, status writes).
"Settled" is what a completed pass leaves: ``observedGeneration`` equals
``generation`` and the phase is Sleeping (the status the API shows). The script
polls the database every 50 ms and prints, per run, the apply's duration, the
time from its return until every Worker settled, and the reconciles per second.

Two modes:

- ``production``: PostgreSQL (``--database-url``, its own database, created when
  missing) and Redis (``--redis-url``, a database number of its own, emptied at the
  end), with ``--processes`` ``celery worker -P threads -c C`` processes started
  from the checkout (a list, e.g. ``1,2,4``: one run per count);
- ``embedded``: ``manage.py hiclaw_run`` (what ``make run`` starts) on SQLite and the
  filesystem broker in a temp data dir, its Celery worker and beat in its own process.

Both use the process backend (nothing starts), filesystem storage, no Matrix and
no gateway. Each run applies new Worker names; the rows are deleted after it.

Run from the repository root::

    .venv/bin/python bench/settle.py --mode production --processes 1,2,4
    .venv/bin/python bench/settle.py --mode embedded
    .venv/bin/python bench/settle.py --mode production --workers 200 --concurrency 8
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from environment import ROOT, configure, sleeping_workers, unwind_on_sigterm, wait_settled

DEFAULT_DATABASE_URL = "postgres://hiclaw:hiclaw@127.0.0.1:5432/hiclaw_settle"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
START_TIMEOUT = 120.0


@dataclass(frozen=True)
class Run:
    label: str
    workers: int
    apply_seconds: float
    settle_seconds: float  # from the apply's return until every Worker settled

    def line(self) -> str:
        rate = self.workers / self.settle_seconds if self.settle_seconds else float("inf")
        return (
            f"{self.label:>28}: {self.workers} Workers, apply {self.apply_seconds:6.2f} s, "
            f"settled {self.settle_seconds:6.2f} s after it returned ({rate:6.0f} reconciles/s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("production", "embedded"), default="production")
    parser.add_argument("--workers", type=int, default=1000, help="sleeping Workers applied per run")
    parser.add_argument("--runs", type=int, default=1, help="runs per process count")
    parser.add_argument("--processes", default="1", help="production: celery worker processes, e.g. 1,2,4")
    parser.add_argument("--concurrency", type=int, default=4, help="production: threads per celery worker")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a run may take to settle")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="production: PostgreSQL")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="production: an empty Redis database")
    args = parser.parse_args()
    unwind_on_sigterm()
    bench_id = f"settle{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory(prefix="hiclaw-bench-settle-") as workdir:
        common = {
            "HICLAW_BACKEND": "process",
            "HICLAW_RESOURCE_PREFIX": f"{bench_id}-",
            "HICLAW_STORAGE_URL": f"file://{workdir}/storage",
            "HICLAW_MATRIX_URL": "",
            "HICLAW_GATEWAY_URL": "",
            "HICLAW_CONTROLLER_URL": "http://127.0.0.1:8000",
            "HICLAW_LOG_LEVEL": "WARNING",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        if args.mode == "production":
            production(Path(workdir), bench_id, args, common)
        else:
            embedded(Path(workdir), bench_id, args, common)


def production(workdir: Path, bench_id: str, args: argparse.Namespace, env: dict[str, str]) -> None:
    require_empty_redis(args.redis_url)
    configure(workdir / "data", args.database_url, REDIS_URL=args.redis_url, **env)
    print(f"production mode: PostgreSQL, Redis, celery worker -P threads -c {args.concurrency}, process backend")
    try:
        for count in [int(part) for part in args.processes.split(",")]:
            with ExitStack() as stack:
                for number in range(count):
                    stack.enter_context(celery_worker(workdir, f"{bench_id}-{count}-{number}", args.concurrency))
                wait_consuming(bench_id, count, args.timeout)
                for number in range(1, args.runs + 1):
                    label = f"{count} process(es) x {args.concurrency} threads"
                    print(one_run(f"{bench_id}-p{count}r{number}", label, args).line(), flush=True)
    finally:
        delete_rows(bench_id)
        flush_redis(args.redis_url)


def embedded(workdir: Path, bench_id: str, args: argparse.Namespace, env: dict[str, str]) -> None:
    from tests.helpers import free_port

    # No DATABASE_URL and no REDIS_URL: SQLite and the filesystem broker under the data dir,
    # shared by this process (which applies, as `manage.py hiclaw_apply` would) and the server.
    configure(workdir / "data", "", **env)
    print("embedded mode: manage.py hiclaw_run, SQLite, filesystem broker, process backend")
    command = [sys.executable, "manage.py", "hiclaw_run", "--port", str(free_port())]
    with spawned(workdir / "hiclaw_run.log", command):
        wait_consuming(bench_id, 1, args.timeout)
        for number in range(1, args.runs + 1):
            print(one_run(f"{bench_id}-r{number}", "embedded (hiclaw_run)", args).line(), flush=True)


@contextmanager
def celery_worker(workdir: Path, name: str, concurrency: int):
    celery = [sys.executable, "-m", "celery", "-A", "hiclaw_site", "worker", "--pool", "threads"]
    command = [*celery, "--concurrency", str(concurrency), "-n", f"{name}@%h", "-l", "warning"]
    with spawned(workdir / f"{name}.log", command):
        yield


@contextmanager
def spawned(log_path: Path, command: list[str]):
    """A process of the checkout, stopped (SIGTERM, then SIGKILL) when the block ends."""
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603  # our own commands
            command, cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    if process.returncode not in (0, -15):
        print(f"{log_path.name} ended with {process.returncode}:\n{log_path.read_text()[-2000:]}", file=sys.stderr)


def wait_consuming(bench_id: str, processes: int, timeout: float) -> None:
    """Wait until the workers take tasks: a few probe Workers (two per process) settle."""
    names = [f"{bench_id}-probe-{processes}-{i}" for i in range(2 * processes)]
    apply(names)
    settled_within(names, time.perf_counter(), max(timeout, START_TIMEOUT))
    delete_rows(bench_id)


def one_run(prefix: str, label: str, args: argparse.Namespace) -> Run:
    names = [f"{prefix}-{i:05d}" for i in range(args.workers)]
    started = time.perf_counter()
    apply(names)
    applied = time.perf_counter()
    settled = settled_within(names, applied, args.timeout)
    delete_rows(prefix)
    return Run(label, len(names), applied - started, settled)


def apply(names: list[str]) -> None:
    from django.core.management import call_command

    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as manifest:
        manifest.write(sleeping_workers(names))
        manifest.flush()
        call_command("hiclaw_apply", "-f", manifest.name, stdout=open(os.devnull, "w"))  # noqa: SIM115


def settled_within(names: list[str], since: float, timeout: float) -> float:
    """Seconds until every named Worker settled (``environment.wait_settled``), or exit
    naming a failing one."""
    seconds = wait_settled(names, since, timeout)
    if seconds is None:
        from controller.models import Worker

        failing = Worker.objects.filter(name__in=names, failures__gt=0).values_list("name", "message").first()
        raise SystemExit(f"not every Worker settled within {timeout:.0f} s; failing: {failing}")
    return seconds


def delete_rows(prefix: str) -> None:
    from controller.models import Worker

    Worker.objects.filter(name__startswith=prefix).delete()


def require_empty_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        if client.dbsize():
            raise SystemExit(f"{url} holds keys: pass --redis-url with an empty database")
    finally:
        client.close()


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


if __name__ == "__main__":
    main()
