"""Multiprocess mode: values written by other processes to ``PROMETHEUS_MULTIPROC_DIR`` are
added up by the process that answers ``/metrics``, and the database gauges appear once.

The test process answers the scrapes (Django's test client) with the variable set
for the scrape only: its own values stay in its memory, so what is read is exactly
what the other processes wrote.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from controller import metrics
from controller.services.apply import apply_text
from tests.conftest import ROOT
from tests.helpers import empty_redis, wait_until
from tests.test_metrics import MANIFEST, TOKEN, scrape, value

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
REDIS_URL = "redis://127.0.0.1:6379/14"
MANAGE = [sys.executable, "manage.py"]

# What a Celery worker does to the metrics, reduced to the calls: heartbeats counted, one
# pass observed, and with "die" a pass that never ends because its process exits inside it.
WORKER_CODE = """
import os, sys
from controller import metrics
for _ in range(int(sys.argv[1])):
    metrics.heartbeat_received("worker")
with metrics.reconcile_observed("Worker"):
    pass
if sys.argv[2] == "die":
    with metrics.reconcile_observed("Team"):
        print(os.getpid(), flush=True)
        os._exit(0)
"""


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.HICLAW_METRICS_TOKEN = TOKEN


@pytest.fixture
def shared_dir(tmp_path, monkeypatch) -> Iterator[str]:
    folder = tmp_path / "prometheus"
    folder.mkdir()
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(folder))
    yield str(folder)


def run_python(code: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result


def test_the_scrape_adds_up_what_separate_processes_wrote(client, shared_dir):
    apply_text(MANIFEST % "solo")
    env = {**os.environ, metrics.MULTIPROC_ENV: shared_dir}
    run_python(WORKER_CODE, "2", "live", env=env)
    died = run_python(WORKER_CODE, "3", "die", env=env)

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    samples = scrape(client)
    assert value(samples, "hiclaw_heartbeats_received_total", kind="worker") == 5
    assert value(samples, "hiclaw_reconcile_total", kind="Worker", result="ok") == 2
    assert value(samples, "hiclaw_reconcile_duration_seconds_count", kind="Worker") == 2
    # Computed by the scraping process alone: one series per phase, not one per process.
    assert response.content.decode().count('hiclaw_workers{phase="Pending"}') == 1
    assert value(samples, "hiclaw_workers", phase="Pending") == 1

    # A process that exited mid-pass counts as a pass in progress until it is marked dead.
    assert value(samples, "hiclaw_reconciles_in_progress", kind="Team") == 1
    metrics.process_exited(int(died.stdout.strip()))
    after = scrape(client)
    assert value(after, "hiclaw_reconciles_in_progress", kind="Team") == 0
    assert value(after, "hiclaw_reconcile_total", kind="Team", result="error") == 0  # os._exit ran no finally
    assert value(after, "hiclaw_heartbeats_received_total", kind="worker") == 5  # counters stay


@pytest.fixture
def redis() -> Iterator[None]:
    with empty_redis(REDIS_URL):
        yield


def celery_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a production ``celery worker`` on Redis, with a migrated SQLite store
    of its own: none of the test process's HICLAW_/DJANGO_ settings leak into it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HICLAW_", "DJANGO_"))}
    env.pop("DATABASE_URL", None)
    env.pop(metrics.MULTIPROC_ENV, None)
    env.update(
        REDIS_URL=REDIS_URL,
        HICLAW_DATA_DIR=str(tmp_path / "data"),
        HICLAW_BACKEND="process",
        DJANGO_SECRET_KEY="metrics-test-key-for-one-run-only-0123456789abcdef",
        **extra,
    )
    migrated = subprocess.run([*MANAGE, "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, capture_output=True)
    assert migrated.returncode == 0, migrated.stderr
    return env


@contextmanager
def celery_worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """``celery worker`` (prefork, two children), stopped with SIGTERM like a deploy stops it."""
    with log.open("w") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "hiclaw_site", "worker", "-P", "prefork", "-c", "2", "-l", "info"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield worker
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(30)


def enqueue_reconciles(env: dict[str, str], count: int) -> None:
    """Queue ``count`` Worker reconciles from another process, as the web does."""
    queue = (
        f"from controller.reconcile_queue import enqueue\nfor n in range({count}): enqueue('Worker', f'ghost-{{n}}')"
    )
    queued = subprocess.run([*MANAGE, "shell", "-c", queue], cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert queued.returncode == 0, queued.stderr


def test_a_real_celery_worker_pool_reports_reconciles_and_queue_lag(client, shared_dir, tmp_path, redis):
    """``celery worker`` (prefork, two children) on Redis, as in production, with the metrics
    directory set: reconciles queued by ``reconcile_queue.enqueue`` in another process are
    counted by whichever child ran them, with the lag their message header allows."""
    env = celery_env(tmp_path, **{metrics.MULTIPROC_ENV: shared_dir})
    log = tmp_path / "worker.log"
    with celery_worker(env, log) as worker:
        enqueue_reconciles(env, 4)

        def counted() -> float:
            assert worker.poll() is None, log.read_text()[-3000:]
            return value(scrape(client), "hiclaw_reconcile_total", kind="Worker", result="ok")

        wait_until(lambda: counted() == 4, 60, "four reconciles counted")
        samples = scrape(client)
        assert value(samples, "hiclaw_reconcile_queue_lag_seconds_count", kind="Worker") == 4
        assert value(samples, "hiclaw_reconcile_duration_seconds_count", kind="Worker") == 4
    # The pool's children marked themselves dead on the way out: no pass is left in progress.
    assert value(scrape(client), "hiclaw_reconciles_in_progress", kind="Worker") == 0
    assert not [name for name in os.listdir(shared_dir) if name.startswith("gauge_livesum")]
