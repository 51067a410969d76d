"""End to end: the controller installed from ``requirements.txt`` alone runs in production mode.

An operator makes a virtualenv with nothing but ``requirements.txt`` (the
Makefile builds exactly that in ``.venvs/prod``, no test requirements), points
``DATABASE_URL`` and ``REDIS_URL`` at PostgreSQL and Redis, and starts the web
process, a ``celery worker`` and ``celery beat`` as separate processes. A Worker
applied over the API must reach Running (process backend), and the heartbeats
its reference worker posts must pass through the Redis fast path into the
database. A dependency that only the test requirements bring in fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis as redis_lib
from django.conf import settings

from tests.conftest import ROOT
from tests.helpers import free_port, scratch_database, wait_until
from tests.services import stop_process_groups
from tests.test_embedded_run import stop_worker_processes
from tests.test_metrics import parse, value

pytestmark = pytest.mark.slow

PROD_PYTHON = ROOT / ".venvs" / "prod" / "bin" / "python"
REDIS_URL = "redis://127.0.0.1:6379/12"
METRICS_TOKEN = "production-metrics-token-7d2e"
WORKER_MANIFEST = "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: prod-bot}\nspec: {model: qwen}\n"


@pytest.fixture
def database_url() -> Iterator[str]:
    """A database of its own on the suite's PostgreSQL server, dropped afterwards."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL); `make test` provides it")
    server = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}"
    with scratch_database(server, "hiclaw_prod") as url:
        yield url


@pytest.fixture
def redis_url() -> Iterator[str]:
    client = redis_lib.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


class Processes:
    """The controller's processes, each in its own session so a test can stop it whole."""

    def __init__(self, env: dict[str, str], logs: Path):
        self.env, self.logs, self.running = env, logs, {}

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w")
        process = subprocess.Popen(
            [str(PROD_PYTHON), *args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running[name] = process
        return process

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(PROD_PYTHON), *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )

    def check_alive(self) -> None:
        for name, process in self.running.items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}:\n{self.log(name)}")

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()[-3000:]

    def stop_all(self) -> None:
        stop_process_groups(self.running.values(), timeout=20)


def api(base: str, token: str, path: str, *, body: bytes | None = None, content_type: str = "") -> dict:
    request = urllib.request.Request(f"{base}{path}", data=body, method="POST" if body else "GET")
    request.add_header("Authorization", f"Bearer {token}")
    if content_type:
        request.add_header("Content-Type", content_type)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def test_requirements_txt_alone_runs_web_worker_and_beat_on_postgres_and_redis(tmp_path, database_url, redis_url):
    assert PROD_PYTHON.exists(), "the production virtualenv is built by `make test` (.venvs/prod)"
    installed = subprocess.run([str(PROD_PYTHON), "-m", "pip", "freeze"], capture_output=True, text=True).stdout
    assert "pytest" not in installed.lower(), "the production virtualenv must hold requirements.txt only"

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HICLAW_", "DJANGO_"))}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        HICLAW_DATA_DIR=str(tmp_path / "data"),
        HICLAW_BACKEND="process",
        HICLAW_CONTROLLER_URL=base,
        HICLAW_AGENT_HEARTBEAT_SECONDS="1",
        PYTHONDONTWRITEBYTECODE="1",
        # Web and Celery worker write their metrics to one directory; /metrics adds them up.
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        HICLAW_METRICS_TOKEN=METRICS_TOKEN,
    )
    processes = Processes(env, tmp_path)
    try:
        migrate = processes.run("manage.py", "migrate", "--no-input", "-v", "0")
        assert migrate.returncode == 0, migrate.stderr
        minted = processes.run("manage.py", "hiclaw_token", "create", "--admin", "ops")
        assert minted.returncode == 0, minted.stderr
        token = minted.stdout.strip().splitlines()[-1]

        processes.start("web", "manage.py", "hiclaw_run", "--port", str(port))
        processes.start("worker", "-m", "celery", "-A", "hiclaw_site", "worker", "-P", "threads", "-c", "2")
        processes.start("beat", "-m", "celery", "-A", "hiclaw_site", "beat", "-s", str(tmp_path / "beat-schedule"))
        _wait(lambda: _answers(f"{base}/readyz"), processes, "the web process to answer /readyz")

        applied = api(base, token, "/api/v1/apply", body=WORKER_MANIFEST.encode(), content_type="application/yaml")
        assert applied["results"] == [{"kind": "Worker", "name": "prod-bot", "action": "created"}]

        def worker_status() -> dict:
            return api(base, token, "/api/v1/workers/prod-bot")["status"]

        _wait(lambda: worker_status().get("phase") == "Running", processes, "worker/prod-bot to be Running")
        # The reference worker's heartbeats go web (fast path) -> Redis -> the beat's flush -> PostgreSQL.
        _wait(lambda: worker_status().get("lastHeartbeat"), processes, "a heartbeat to reach the database")
        with psycopg.connect(database_url) as db:
            (last,) = db.execute("SELECT last_heartbeat FROM controller_worker WHERE name = 'prod-bot'").fetchone()
        assert last is not None
        # The reconcile was counted by the Celery worker process, the heartbeats by the web's fast path.
        samples = parse(_scrape(f"{base}/metrics", METRICS_TOKEN))
        assert value(samples, "hiclaw_reconcile_total", kind="Worker", result="ok") >= 1
        assert value(samples, "hiclaw_reconcile_queue_lag_seconds_count", kind="Worker") >= 1
        assert value(samples, "hiclaw_heartbeats_received_total", kind="worker") >= 1
        assert value(samples, "hiclaw_workers", phase="Running") == 1
        with pytest.raises(urllib.error.HTTPError) as refused:
            _scrape(f"{base}/metrics", "not-the-token")
        assert refused.value.code == 401
    finally:
        processes.stop_all()
        stop_worker_processes(tmp_path / "data" / "instances")
    assert "production (Celery on Redis)" in processes.log("web")


def _scrape(url: str, token: str) -> str:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.read().decode()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def _wait(condition, processes: Processes, what: str, timeout: float = 90) -> None:
    """Wait while every process stays alive; on a timeout, show their logs."""

    def logs() -> str:
        return "\n".join(f"--- {name}\n{processes.log(name)}" for name in processes.running)

    wait_until(condition, timeout, what, interval=0.25, check=processes.check_alive, details=logs)
