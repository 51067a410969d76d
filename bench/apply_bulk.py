"""Benchmark: one ``hiclaw_apply`` of N Workers (state Sleeping), in production and embedded mode.

For each size (default 1,000 and 10,000) and mode, one manifest file of N Workers is
applied with ``manage.py hiclaw_apply`` (``call_command`` in this process, so what it does
can be counted), and the script prints:

- apply: wall time of the command (parsing, authorization, the apply, its audit records,
  and what runs on commit: reconcile messages and the live notice);
- statements: SQL statements the command ran (Django's ``CaptureQueriesContext``);
- messages: broker messages it sent (Celery's ``before_task_publish``, once per message);
- live: live notices it sent to the channel layer (``controller.services.live._send``);
- settled: seconds from the start of the apply until every Worker's status shows its
  generation observed in phase Sleeping (``wait_settled``: the reconciles have run).

Production mode: PostgreSQL (a new database named after ``--database-url``'s with a random
suffix, dropped at the end, so no other rows are reconciled meanwhile), Redis as broker and
channel layer (``--redis-url``: a Redis database of its own, emptied at start and end), a
``celery worker --pool threads --concurrency 4`` and ``celery beat`` in processes of their
own, the process backend (Sleeping Workers start nothing). No web process: the apply runs
here, as ``manage.py hiclaw_apply`` runs beside the server. Embedded mode: SQLite in a
temp data dir, kombu's filesystem broker, the in-process Celery worker and beat
(``controller.embedded.EmbeddedCelery``), the in-memory channel layer. Each mode runs in a
child process of its own (Django is set up once per process).

Run from the repository root (PostgreSQL and Redis must answer)::

    .venv/bin/python bench/apply_bulk.py                          # 1,000 and 10,000, both modes
    .venv/bin/python bench/apply_bulk.py --sizes 1000 --modes production
    .venv/bin/python bench/apply_bulk.py --database-url postgres://hiclaw:hiclaw@127.0.0.1:5432/hiclaw_bulk \\
        --redis-url redis://127.0.0.1:6379/7
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from environment import ROOT, configure, sleeping_workers, unwind_on_sigterm, wait_settled

DEFAULT_DATABASE_URL = "postgres://hiclaw:hiclaw@127.0.0.1:5432/hiclaw_bulk"
# A Redis database no test empties (tests/ use 9-15; a flushed queue loses the reconciles).
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
PREFIX = "bulk"


@dataclass(frozen=True)
class Figures:
    mode: str
    workers: int
    apply_seconds: float
    statements: int
    messages: int
    notices: int
    settled_seconds: float | None  # None: not settled within the timeout

    def line(self) -> str:
        settled = f"{self.settled_seconds:7.1f} s" if self.settled_seconds is not None else "  not settled"
        return (
            f"{self.mode:>10} {self.workers:>6} Workers: apply {self.apply_seconds:6.2f} s, "
            f"{self.statements:4d} statements, {self.messages:4d} broker messages, "
            f"{self.notices} live notice(s); settled after {settled}"
        )


@contextmanager
def counted() -> Any:
    """Count statements, broker messages and live notices made inside the block by this thread."""
    from celery.signals import before_task_publish
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from controller.services import live

    counts = {"messages": 0, "notices": 0}
    send = live._send
    # Only this thread's: in embedded mode the Celery threads in this process send tasks
    # (beat) and notices (the passes that start once the apply commits) meanwhile.
    applying = threading.get_ident()

    def on_publish(**_: object) -> None:
        counts["messages"] += threading.get_ident() == applying

    def counting_send(groups: list[str], message: dict) -> None:
        counts["notices"] += threading.get_ident() == applying
        send(groups, message)

    before_task_publish.connect(on_publish, weak=False)
    live._send = counting_send  # type: ignore[assignment]
    try:
        with CaptureQueriesContext(connection) as queries:
            yield counts
        counts["statements"] = len(queries.captured_queries)
    finally:
        live._send = send  # type: ignore[assignment]
        before_task_publish.disconnect(on_publish)


def one_apply(mode: str, size: int, workdir: Path, settle_timeout: float) -> Figures:
    from django.core.management import call_command

    names = [f"{PREFIX}-{size}-{index:05d}" for index in range(size)]
    manifest = workdir / f"workers-{size}.yaml"
    manifest.write_text(sleeping_workers(names))
    with counted() as counts:
        start = time.perf_counter()
        with open(os.devnull, "w") as quiet:
            call_command("hiclaw_apply", "-f", str(manifest), stdout=quiet)
        apply_seconds = time.perf_counter() - start
    settled = wait_settled(names, start, settle_timeout)
    return Figures(mode, size, apply_seconds, counts["statements"], counts["messages"], counts["notices"], settled)


def production(workdir: Path, args: argparse.Namespace) -> Callable[[], None]:
    """Configure for production mode and start the Celery worker and beat; returns their stop."""
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    database_url = f"{args.database_url}_{uuid.uuid4().hex[:8]}"
    configure(workdir / "data", database_url, HICLAW_BACKEND="process", REDIS_URL=args.redis_url)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    celery = [sys.executable, "-m", "celery", "-A", "hiclaw_site"]
    threads = str(args.celery_threads)
    commands = [
        [*celery, "worker", "--pool", "threads", "--concurrency", threads, "-l", "warning"],
        [*celery, "beat", "-s", str(workdir / "beat-schedule"), "-l", "warning"],
    ]
    processes = [subprocess.Popen(command, cwd=ROOT, env=env) for command in commands]  # noqa: S603  # our own commands

    def stop() -> None:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        redis.Redis.from_url(args.redis_url).flushdb()
        drop_database(database_url)

    return stop


def drop_database(database_url: str) -> None:
    import dj_database_url
    import psycopg
    from django.db import connections
    from psycopg import sql

    connections.close_all()
    params = dj_database_url.parse(database_url)
    server = {"host": params["HOST"], "port": params["PORT"], "user": params["USER"], "password": params["PASSWORD"]}
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(params["NAME"])))


def embedded(workdir: Path, args: argparse.Namespace) -> Callable[[], None]:
    """Configure for embedded mode (SQLite, filesystem broker) and start the in-process Celery."""
    configure(workdir / "data", "", HICLAW_BACKEND="process")
    from django.conf import settings

    from controller.embedded import EmbeddedCelery

    celery = EmbeddedCelery(settings.DATA_DIR / "celerybeat-schedule")
    celery.start()
    return celery.stop


def run_mode(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="hiclaw-bulk-") as temp, ExitStack() as stack:
        workdir = Path(temp)
        start = production if args.run_mode == "production" else embedded
        stack.callback(start(workdir, args))
        for size in args.sizes:
            print(one_apply(args.run_mode, size, workdir, args.settle_timeout).line(), flush=True)
        # The rows go with the scratch database (production) or the temp data dir (embedded).


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="Workers per apply")
    parser.add_argument("--modes", nargs="+", choices=("production", "embedded"), default=["production", "embedded"])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="production mode's PostgreSQL")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="a Redis database of its own: emptied")
    parser.add_argument("--celery-threads", type=int, default=4, help="the celery worker's --concurrency")
    parser.add_argument("--settle-timeout", type=float, default=600.0, help="seconds to wait for settling")
    parser.add_argument("--run-mode", choices=("production", "embedded"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_mode:
        unwind_on_sigterm()
        run_mode(args)
        return
    print(f"one hiclaw_apply of N Workers (state Sleeping); sizes {args.sizes}; process backend")
    for mode in args.modes:
        child = [sys.executable, __file__, "--run-mode", mode, *sys.argv[1:]]
        subprocess.run(child, check=True, cwd=ROOT)  # noqa: S603  # this script again, with its own arguments


if __name__ == "__main__":
    main()
