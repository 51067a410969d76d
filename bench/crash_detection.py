"""Benchmark: how soon a killed worker instance shows as not Running, and comes back, per backend.

The controller runs as in embedded mode: the in-process Celery worker
(``controller.embedded.EmbeddedCelery``) runs the reconciles and the watchers
(``controller.services.watchers``) run as threads, so a kill reaches the database
through the backend's watch, a queued reconcile and its pass. ``--workers`` Workers
are applied and brought to Running; then, one at a time, each one's instance is
killed with SIGKILL (``docker kill -s KILL`` for a container, ``os.kill`` for a
process) and the script polls the database (every 20 ms) for the worker's phase:
kill -> not Running (the figure the controller promises within 2 s), and
kill -> Running again (that includes the 1 s backoff of a first crash).

Matrix and the gateway are disabled, storage is the filesystem of a temp dir, the
database is PostgreSQL (``--database-url``, created and migrated when missing).
Containers, the network and the rows are named with a prefix unique to the
invocation and removed at the end, on error, Ctrl-C and SIGTERM.

Run from the repository root (for docker, dockerd must answer)::

    .venv/bin/python bench/crash_detection.py                      # the process backend, 5 workers
    .venv/bin/python bench/crash_detection.py --backend docker --workers 10

One backend per invocation: the embedded Celery worker starts once per process.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import tempfile
import threading
import time
import uuid
from pathlib import Path

from apply_to_running import percentile
from environment import DEFAULT_DATABASE_URL, configure, unwind_on_sigterm

POLL_SECONDS = 0.02
MANIFEST = "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {{name: {name}}}\nspec: {{model: qwen3.5-plus}}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["docker", "process"], default="process")
    parser.add_argument("--workers", type=int, default=5, help="Workers killed, one at a time, per backend")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="PostgreSQL; created when missing")
    args = parser.parse_args()
    unwind_on_sigterm()
    bench_id = f"bench{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory(prefix="hiclaw-bench-crash-") as data_dir:
        configure(
            Path(data_dir),
            args.database_url,
            HICLAW_RESOURCE_PREFIX=f"{bench_id}-",
            HICLAW_DOCKER_NETWORK=f"{bench_id}-net",
            HICLAW_WORKER_IMAGE="hiclaw-test/busybox:latest",
            HICLAW_STORAGE_URL=f"file://{data_dir}/storage",
            HICLAW_MATRIX_URL="",
            HICLAW_GATEWAY_URL="",
            HICLAW_CONTROLLER_URL="http://127.0.0.1:9",
        )
        logging.getLogger("kombu.connection").setLevel(logging.ERROR)
        from hiclaw_site.datadir import prepare

        prepare()  # the embedded broker's folders
        run(args.backend, bench_id, Path(data_dir), args.workers)


def run(backend_name: str, bench_id: str, data_dir: Path, count: int) -> None:
    from django.conf import settings

    from controller.connections import default_connections
    from controller.embedded import EmbeddedCelery
    from controller.models import Worker
    from controller.services import watchers
    from controller.services.apply import apply_text

    settings.HICLAW_BACKEND = backend_name
    default_connections.cache_clear()
    backend = default_connections().backend
    celery = EmbeddedCelery(data_dir / f"celerybeat-{backend_name}")
    stop = threading.Event()
    names = [f"{bench_id}-{backend_name[:4]}-{n}" for n in range(count)]
    celery.start()
    watchers.start(stop)
    try:
        apply_text("---\n".join(MANIFEST.format(name=name) for name in names))
        wait(
            lambda: Worker.objects.filter(name__in=names, phase="Running").count() == count,
            120,
            "all Running",
            lambda: str(list(Worker.objects.filter(name__in=names).values_list("name", "phase", "message"))),
        )
        time.sleep(1)  # the watch has seen every instance start
        down, back = [], []
        for name in names:
            instance = Worker.objects.get(name=name).current_instance
            killed = time.monotonic()
            kill(backend_name, backend, data_dir, instance)
            wait(lambda n=name: Worker.objects.get(name=n).phase != "Running", 30, f"{name} not Running")
            down.append(time.monotonic() - killed)
            wait(lambda n=name: Worker.objects.get(name=n).phase == "Running", 60, f"{name} Running again")
            back.append(time.monotonic() - killed)
        report(backend_name, down, back)
    finally:
        stop.set()
        celery.stop()
        Worker.objects.filter(name__in=names).delete()
        for info in backend.list():
            backend.delete(info.name)
        if backend_name == "docker":
            for network in backend.client.networks.list(names=[settings.HICLAW_DOCKER_NETWORK]):
                if network.name == settings.HICLAW_DOCKER_NETWORK:  # the filter also matches longer names
                    network.remove()


def kill(backend_name: str, backend, data_dir: Path, instance: str) -> None:
    if backend_name == "docker":
        backend.client.containers.get(instance).kill(signal="SIGKILL")
    else:
        pid = json.loads((data_dir / "instances" / instance / "pid").read_text())["pid"]
        os.kill(pid, signal.SIGKILL)


def wait(condition, timeout: float, what: str, details=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what} {details()}")
        time.sleep(POLL_SECONDS)


def report(backend: str, down: list[float], back: list[float]) -> None:
    def figures(values: list[float]) -> str:
        return f"p50 {percentile(values, 0.5):5.3f} s, p95 {percentile(values, 0.95):5.3f} s, max {max(values):5.3f} s"

    print(f"{backend:>8}: kill -> not Running {figures(down)}; kill -> Running again {figures(back)}")


if __name__ == "__main__":
    main()
