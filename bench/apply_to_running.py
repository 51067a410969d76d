"""Benchmark: apply→Running latency of N Workers on the real Docker engine, through Celery.

One ``apply_text`` call applies N Worker manifests (one transaction, N
reconciles queued after commit); the in-process Celery worker of the embedded
mode (``controller.embedded.EmbeddedCelery``, kombu's filesystem broker in a
temp ``HICLAW_DATA_DIR``) runs the reconciles, which create one container per
Worker from ``hiclaw-test/busybox:latest``. The script polls the database
until every Worker is in phase Running and prints, per run, the latency of
each from the start of the apply: p50, p95, max (= all Running) and the time
the apply call itself took; then the median of each over the runs.

Matrix and the gateway are disabled, storage is the filesystem in the temp
dir, the database is PostgreSQL (``--database-url``, created and migrated when
missing); ``--redis-url`` makes the broker Redis, as in production.
Containers, the network, the rows and the Redis keys are named with a prefix
unique to the invocation and removed at the end, on error, Ctrl-C and SIGTERM.

Run from the repository root (dockerd must answer: ``scripts/test-services.sh docker`` as root)::

    .venv/bin/python bench/apply_to_running.py                # 20 workers, 3 runs
    .venv/bin/python bench/apply_to_running.py --redis-url redis://127.0.0.1:6379/0
    .venv/bin/python bench/apply_to_running.py --workers 50 --runs 1 --concurrency 4
    .venv/bin/python bench/apply_to_running.py --full  # production mode over HTTP (bench/full_path.py)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import full_path
from environment import DEFAULT_DATABASE_URL, configure, unwind_on_sigterm

if TYPE_CHECKING:
    from docker import DockerClient

    from controller.embedded import EmbeddedCelery

POLL_SECONDS = 0.02
READY_TIMEOUT_SECONDS = 60.0
MANIFEST = """\
apiVersion: hiclaw.io/v1beta1
kind: Worker
metadata: {{name: {name}}}
spec: {{model: qwen3.5-plus, soul: "Benchmark worker."}}
"""


@dataclass(frozen=True)
class Figures:
    apply_seconds: float  # the apply_text call
    p50: float  # seconds from the start of the apply to phase Running
    p95: float
    max: float  # = wall time from the start of the apply until every worker is Running

    @classmethod
    def of(cls, apply_seconds: float, latencies: list[float]) -> Figures:
        return cls(apply_seconds, percentile(latencies, 0.5), percentile(latencies, 0.95), max(latencies))

    @classmethod
    def median(cls, runs: list[Figures]) -> Figures:
        return cls(*(statistics.median(getattr(run, name) for run in runs) for name in cls.__dataclass_fields__))

    def line(self, label: str) -> str:
        return (
            f"{label:>12}: apply_text {self.apply_seconds * 1000:5.0f} ms; apply→Running p50 {self.p50:6.2f} s, "
            f"p95 {self.p95:6.2f} s, max {self.max:6.2f} s (= wall time until all Running)"
        )


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least ``fraction`` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=20, help="Workers applied per run")
    parser.add_argument("--runs", type=int, default=3, help="runs; each applies new Workers and removes them after")
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker threads (embedded default: 2)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds a run may take before it fails")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="PostgreSQL; created when missing")
    parser.add_argument(
        "--redis-url",
        help="use this Redis as the Celery broker instead of the filesystem one; "
        "its keys are prefixed with the invocation's id and deleted at the end",
    )
    full_path.add_arguments(parser)
    args = parser.parse_args()

    unwind_on_sigterm()
    if args.full:
        full_path.main(args)
        return
    bench_id = f"bench{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory(prefix="hiclaw-bench-apply-") as data_dir:
        configure(
            Path(data_dir),
            args.database_url,
            HICLAW_BACKEND="docker",
            HICLAW_WORKER_IMAGE="hiclaw-test/busybox:latest",
            HICLAW_RESOURCE_PREFIX=f"{bench_id}-",
            HICLAW_DOCKER_NETWORK=f"{bench_id}-net",
            HICLAW_STORAGE_URL=f"file://{data_dir}/storage",
            HICLAW_MATRIX_URL="",
            HICLAW_GATEWAY_URL="",
            HICLAW_CONTROLLER_URL="http://127.0.0.1:8000",
            **({"REDIS_URL": args.redis_url} if args.redis_url else {}),
        )
        if args.redis_url:
            from hiclaw_site.celery import app

            app.conf.broker_transport_options = {"global_keyprefix": f"{bench_id}:"}
        try:
            bench(bench_id, Path(data_dir), args)
        finally:
            if args.redis_url:
                delete_redis_keys(args.redis_url, f"{bench_id}:")


def bench(bench_id: str, data_dir: Path, args: argparse.Namespace) -> None:
    import docker
    from django.conf import settings

    from controller.connections import default_connections
    from controller.embedded import EmbeddedCelery
    from tests.services.docker import TEST_IMAGE, _import_test_image

    # kombu warns on every connection of the filesystem transport that it has no host name.
    logging.getLogger("kombu.connection").setLevel(logging.ERROR)
    client = docker.from_env(version="auto", timeout=30)
    celery = EmbeddedCelery(data_dir / "celerybeat-schedule", concurrency=args.concurrency)
    runs: list[Figures] = []
    try:
        if not client.images.list(name=TEST_IMAGE):
            _import_test_image(client)
        # A running controller has its network already; made here because two first reconciles
        # in parallel may each create one, and Docker then refuses the ambiguous name.
        client.networks.create(settings.HICLAW_DOCKER_NETWORK, driver="bridge", check_duplicate=True)
        default_connections().backend.list()  # the engine's API version is negotiated once per process
        wait_until_celery_runs(celery, bench_id)
        broker = "Redis broker" if args.redis_url else "filesystem broker"
        print(
            f"{args.workers} workers per run, one apply_text call each, {args.concurrency} Celery threads, "
            f"{broker}, PostgreSQL, docker backend"
        )
        for number in range(1, args.runs + 1):
            runs.append(one_run([f"{bench_id}-r{number}-{i:03d}" for i in range(args.workers)], args.timeout))
            print(runs[-1].line(f"run {number}"))
            # Every reconcile has finished (all Running), so the next run starts from an empty engine.
            remove_containers(client, settings.HICLAW_CONTROLLER_ID)
            delete_rows(bench_id)
    finally:
        celery.stop()  # waits for reconciles in flight, so none writes or creates anything after the clean-up
        remove_containers(client, settings.HICLAW_CONTROLLER_ID)
        delete_rows(bench_id)
        for network in client.networks.list(names=[settings.HICLAW_DOCKER_NETWORK]):
            if network.name == settings.HICLAW_DOCKER_NETWORK:  # the filter also matches longer names
                network.remove()
        client.close()
    if len(runs) > 1:
        print(Figures.median(runs).line(f"median of {len(runs)}"))


def wait_until_celery_runs(celery: EmbeddedCelery, bench_id: str) -> None:
    """Start the worker and wait until it has run one task taken from the broker (a reconcile of nothing)."""
    from celery.signals import task_postrun

    from controller.tasks import reconcile_resource

    probe = f"{bench_id}-probe"
    done = threading.Event()

    def on_postrun(args: tuple | None = None, **_: object) -> None:
        if args and args[1] == probe:
            done.set()

    task_postrun.connect(on_postrun, weak=False)
    try:
        celery.start()
        reconcile_resource.delay("Worker", probe)
        if not done.wait(READY_TIMEOUT_SECONDS):
            raise SystemExit(f"the Celery worker ran no task within {READY_TIMEOUT_SECONDS:.0f} s")
    finally:
        task_postrun.disconnect(on_postrun)


def one_run(names: list[str], timeout: float) -> Figures:
    """Apply the Workers and poll until every one is Running; fail on Failed or after ``timeout`` seconds."""
    from controller.models import AgentPhase, Worker
    from controller.services.apply import apply_text

    text = "---\n".join(MANIFEST.format(name=name) for name in names)
    start = time.perf_counter()
    apply_text(text)
    apply_seconds = time.perf_counter() - start
    latencies: dict[str, float] = {}
    deadline = start + timeout
    while len(latencies) < len(names):
        if time.perf_counter() > deadline:
            pending = Worker.objects.filter(name__in=names).exclude(name__in=latencies)
            detail = "; ".join(f"{w.name}: {w.phase} {w.message}" for w in pending[:5])
            raise SystemExit(f"{len(names) - len(latencies)} workers not Running after {timeout:.0f} s: {detail}")
        rows = Worker.objects.filter(name__in=names).exclude(name__in=latencies).values_list("name", "phase", "message")
        now = time.perf_counter()
        for name, phase, message in rows:
            if phase == AgentPhase.RUNNING:
                latencies[name] = now - start
            elif phase == AgentPhase.FAILED:
                raise SystemExit(f"worker {name} failed: {message}")
        time.sleep(POLL_SECONDS)
    return Figures.of(apply_seconds, list(latencies.values()))


def remove_containers(client: DockerClient, controller_id: str) -> None:
    from docker.errors import NotFound

    for container in client.containers.list(
        all=True, filters={"label": f"hiclaw.io/controller={controller_id}"}, ignore_removed=True
    ):
        with contextlib.suppress(NotFound):
            container.remove(force=True)


def delete_rows(bench_id: str) -> None:
    """Delete the Workers of this invocation and the agent tokens minted for them."""
    from controller.models import AgentToken, Worker

    Worker.objects.filter(name__startswith=f"{bench_id}-").delete()
    AgentToken.objects.filter(subject__startswith=f"{bench_id}-").delete()


def delete_redis_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)
    finally:
        client.close()


if __name__ == "__main__":
    main()
