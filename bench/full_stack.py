"""The production-mode controller the full-path benchmark measures, started and torn down as one.

``Stack`` starts what an installation of the Helm chart runs, each as its own
process from this checkout: the web server (``manage.py hiclaw_run
--no-migrate``), a ``celery worker`` (threads pool, as the chart), ``celery
beat`` and ``manage.py hiclaw_watch``; on PostgreSQL and Redis, with the Docker
backend, a real Synapse (``.venvs/synapse``) and S3 (moto from ``.venvs/moto``,
reached through the minio SDK). The services are started by the same code as
the test fixtures (tests/services/synapse.py, tests/services/moto.py).

Leaving the ``with`` block, whatever the reason (error, Ctrl-C, SIGTERM made an
exception by ``environment.unwind_on_sigterm``), stops the processes and
removes the containers, the network, the rows and the Redis database's keys.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import requests
from environment import ROOT, configure

# A Redis database no test uses (tests take 9 to 14); emptied at the end. Another process
# emptying it meanwhile loses the queued reconciles, and Workers then stay Pending.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
MATRIX_ADMIN = "hiclaw-admin"  # start_synapse's own "admin" account has a password we do not derive
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


class Stack:
    """The controller's processes and the services they use; ``base_url`` and ``token`` reach its API."""

    def __init__(
        self,
        bench_id: str,
        workdir: Path,
        *,
        database_url: str,
        redis_url: str,
        bcrypt_rounds: int,
        celery_threads: int,
    ):
        self.bench_id, self.workdir = bench_id, workdir
        self.database_url, self.redis_url, self.bcrypt_rounds = database_url, redis_url, bcrypt_rounds
        self.celery_threads = celery_threads
        self.services: list[subprocess.Popen] = []
        self.processes: dict[str, subprocess.Popen] = {}
        self.base_url = ""
        self.token = ""
        self.http = requests.Session()

    def __enter__(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    # --- start ------------------------------------------------------------------------
    def _start(self) -> None:
        from tests.helpers import free_port
        from tests.services.moto import start_moto
        from tests.services.synapse import start_synapse

        self._require_empty_redis()
        (self.workdir / "synapse").mkdir()
        synapse_process, synapse = start_synapse(self.workdir / "synapse", bcrypt_rounds=self.bcrypt_rounds)
        self.services.append(synapse_process)
        moto_process, moto = start_moto(self.workdir / "moto.log")
        self.services.append(moto_process)
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.env = {
            "HICLAW_BACKEND": "docker",
            "HICLAW_WORKER_IMAGE": "hiclaw-test/busybox:latest",
            "HICLAW_RESOURCE_PREFIX": f"{self.bench_id}-",
            "HICLAW_DOCKER_NETWORK": f"{self.bench_id}-net",
            "HICLAW_STORAGE_URL": moto.storage_url(self.bench_id),
            "HICLAW_MATRIX_URL": synapse.base_url,
            "HICLAW_MATRIX_DOMAIN": synapse.server_name,
            "HICLAW_MATRIX_REGISTRATION_SECRET": synapse.registration_secret,
            "HICLAW_MATRIX_ADMIN_USER": MATRIX_ADMIN,
            "HICLAW_GATEWAY_URL": "",
            "HICLAW_CONTROLLER_URL": self.base_url,
            "REDIS_URL": self.redis_url,
        }
        # This process migrates (the chart's Job), mints the admin token and cleans rows up.
        configure(self.workdir / "data", self.database_url, **self.env)
        self._prepare_engine()
        self.token = self._mint_token()
        self.http.headers["Authorization"] = f"Bearer {self.token}"
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        manage, celery = [sys.executable, "manage.py"], [sys.executable, "-m", "celery", "-A", "hiclaw_site"]
        self._spawn("web", env, *manage, "hiclaw_run", "--no-migrate", "--port", str(port))
        threads = str(self.celery_threads)
        self._spawn("worker", env, *celery, "worker", "--pool", "threads", "--concurrency", threads, "-l", "warning")
        self._spawn("beat", env, *celery, "beat", "-s", str(self.workdir / "beat-schedule"), "-l", "warning")
        self._spawn("watch", env, *manage, "hiclaw_watch")
        self._wait_ready()

    def _require_empty_redis(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            if client.dbsize():
                raise SystemExit(f"{self.redis_url} holds keys: pass --redis-url with an empty database")
        finally:
            client.close()

    def _prepare_engine(self) -> None:
        import docker
        from django.conf import settings

        from tests.services.docker import TEST_IMAGE, _import_test_image

        client = docker.from_env(version="auto", timeout=30)
        try:
            if not client.images.list(name=TEST_IMAGE):
                _import_test_image(client)
            # A running controller has its network already (see docs/benchmarks.md, "Noticed").
            client.networks.create(settings.HICLAW_DOCKER_NETWORK, driver="bridge", check_duplicate=True)
        finally:
            client.close()

    def _mint_token(self) -> str:
        from controller.models import AgentToken, Identity

        _, clear = AgentToken.mint(Identity.ADMIN, f"{self.bench_id}-ops")
        return clear

    def _spawn(self, name: str, env: dict[str, str], *command: str) -> None:
        log = (self.workdir / f"{name}.log").open("w")
        self.processes[name] = subprocess.Popen(  # noqa: S603  # our own commands, built above
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def _wait_ready(self) -> None:
        """The web answers /readyz and the Celery worker has taken a task (a reconcile of nothing)."""
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers("/readyz"):
            self.check_alive()
            if time.monotonic() > deadline:
                raise SystemExit(f"the web process did not answer within {START_TIMEOUT:.0f} s:\n{self.log('web')}")
            time.sleep(0.1)
        self.wait_worker_idle(deadline)

    def wait_worker_idle(self, deadline: float | None = None) -> None:
        """Wait until the Celery worker answers a ping: it is consuming and has finished starting."""
        from hiclaw_site.celery import app

        deadline = deadline or time.monotonic() + START_TIMEOUT
        while not app.control.ping(timeout=0.5):
            self.check_alive()
            if time.monotonic() > deadline:
                detail = self.log("worker")
                raise SystemExit(f"the Celery worker did not answer within {START_TIMEOUT:.0f} s:\n{detail}")

    def _answers(self, path: str) -> bool:
        try:
            return self.http.get(self.base_url + path, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    # --- while running -----------------------------------------------------------------
    def process_groups(self) -> dict[str, Callable[[], list[int]]]:
        """The processes of the stack by role, for ``cpu_usage.CpuMeter``."""
        synapse, moto = self.services
        groups = {
            "controller web": [self.processes["web"].pid],
            "controller celery worker": [self.processes["worker"].pid],
            "controller beat + hiclaw_watch": [self.processes["beat"].pid, self.processes["watch"].pid],
            "synapse": [synapse.pid],
            "moto (S3)": [moto.pid],
            "benchmark client": [os.getpid()],
        }
        return {label: (lambda pids=pids: pids) for label, pids in groups.items()}

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise SystemExit(f"{name} exited with {process.returncode}:\n{self.log(name)}")

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def remove_workers(self) -> None:
        """Remove every container and row of this invocation (between measurements)."""
        from django.conf import settings

        from controller.models import Worker

        remove_containers(settings.HICLAW_CONTROLLER_ID)
        Worker.objects.filter(name__startswith=f"{self.bench_id}-").delete()

    # --- stop -------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the processes first, so no reconcile makes anything after the clean-up."""
        from tests.services import stop_process, stop_process_groups

        stop_process_groups(self.processes.values(), timeout=STOP_TIMEOUT)
        with contextlib.suppress(Exception):  # nothing to clean when configure() did not get that far
            self._clean_engine_and_rows()
        self._flush_redis()
        for service in self.services:
            stop_process(service)
        self.http.close()

    def _clean_engine_and_rows(self) -> None:
        import docker
        from django.conf import settings

        from controller.models import AgentToken, Worker

        remove_containers(settings.HICLAW_CONTROLLER_ID)
        client = docker.from_env(version="auto", timeout=30)
        try:
            for network in client.networks.list(names=[settings.HICLAW_DOCKER_NETWORK]):
                if network.name == settings.HICLAW_DOCKER_NETWORK:  # the filter also matches longer names
                    network.remove()
        finally:
            client.close()
        Worker.objects.filter(name__startswith=f"{self.bench_id}-").delete()
        AgentToken.objects.filter(subject__startswith=f"{self.bench_id}-").delete()

    def _flush_redis(self) -> None:
        import redis

        if not self.processes:
            return  # we never wrote to it (it may hold someone else's keys)
        client = redis.Redis.from_url(self.redis_url)
        try:
            client.flushdb()
        finally:
            client.close()


def remove_containers(controller_id: str) -> None:
    import docker
    from docker.errors import NotFound

    client = docker.from_env(version="auto", timeout=30)
    try:
        for container in client.containers.list(
            all=True, filters={"label": f"hiclaw.io/controller={controller_id}"}, ignore_removed=True
        ):
            with contextlib.suppress(NotFound):
                container.remove(force=True)
    finally:
        client.close()
