"""The container image, built by ``scripts/build-image.sh``, runs a production controller.

Everything runs as an operator would run it: ``migrate`` and ``hiclaw_token`` in
one-off containers, then the web (the image's default command), a Celery worker
and Celery beat as containers of their own, sharing one ``/data`` volume, on this
machine's PostgreSQL (a fresh database) and Redis. The containers use the host's
network, so they reach both on loopback. A Worker applied over the API reaches
Running with the process backend: the reference worker, shipped in the image,
runs as a process inside the Celery worker's container and reports to the web.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
import pytest
import redis as redis_lib

from tests.conftest import ROOT
from tests.helpers import free_port, scratch_database, wait_until
from tests.test_production_install import _answers as answers
from tests.test_production_install import api

IMAGE = "hiclaw/controller:latest"
# The role scripts/test-services.sh makes; the test creates and drops a database of its own.
PG_SERVER = "postgres://{user}:{password}@127.0.0.1:5432".format(
    user=os.environ.get("HICLAW_TEST_PG_ROLE", "hiclaw"), password=os.environ.get("HICLAW_TEST_PG_PASSWORD", "hiclaw")
)
REDIS_URL = "redis://127.0.0.1:6379/14"
SERVICES_HINT = "run `scripts/test-services.sh` as root (starts PostgreSQL, Redis and dockerd)"
WORKER_MANIFEST = "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: image-bot}\nspec: {model: qwen}\n"
IMAGE_UID = "10001"


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        pytest.fail(f"docker {' '.join(args[:3])} … failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def controller_image() -> str:
    """The image, built (or found current) by the script `make image` runs: minutes once per machine."""
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.fail(f"the Docker Engine is not answering: {SERVICES_HINT}", pytrace=False)
    build = subprocess.run(
        [str(ROOT / "scripts" / "build-image.sh")], capture_output=True, text=True, timeout=1800, cwd=ROOT
    )
    if build.returncode != 0:
        pytest.fail(f"scripts/build-image.sh failed:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}", pytrace=False)
    return IMAGE


@pytest.fixture
def database_url() -> Iterator[str]:
    try:
        psycopg.connect(f"{PG_SERVER}/postgres").close()
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL does not answer ({exc}): {SERVICES_HINT}", pytrace=False)
    with scratch_database(PG_SERVER, "hiclaw_image") as url:
        yield url


@pytest.fixture
def redis_url() -> Iterator[str]:
    client = redis_lib.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    except redis_lib.ConnectionError as exc:
        pytest.fail(f"Redis does not answer ({exc}): {SERVICES_HINT}", pytrace=False)
    yield REDIS_URL
    client.flushdb()


@dataclass
class Deployment:
    """Containers of one controller, named after this run, and the volume they share."""

    image: str
    env: dict[str, str]
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    containers: list[str] = field(default_factory=list)

    @property
    def volume(self) -> str:
        return f"hiclaw-image-test-{self.run_id}"

    def _options(self) -> list[str]:
        env = [item for key, value in self.env.items() for item in ("-e", f"{key}={value}")]
        return ["--network", "host", "-v", f"{self.volume}:/data", *env]

    def run(self, *command: str) -> subprocess.CompletedProcess:
        """A one-off command in a container removed afterwards."""
        return docker("run", "--rm", *self._options(), self.image, *command, timeout=180)

    def start(self, role: str, *command: str, options: tuple[str, ...] = ("--no-healthcheck",)) -> str:
        name = f"hiclaw-image-test-{self.run_id}-{role}"
        self.containers.append(name)
        docker("run", "-d", "--name", name, *options, *self._options(), self.image, *command)
        return name

    def check_alive(self) -> None:
        for name in self.containers:
            if docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip() != "true":
                pytest.fail(f"{name} stopped:\n{self.logs()}")

    def logs(self) -> str:
        def tail(name: str) -> str:
            result = docker("logs", "--tail", "60", name, check=False)
            return result.stdout + result.stderr

        return "\n".join(f"--- {name}\n{tail(name)}" for name in self.containers)

    def remove(self) -> None:
        for name in self.containers:
            docker("rm", "-f", "-v", name, check=False)
        docker("volume", "rm", "-f", self.volume, check=False)


@pytest.fixture
def deployment(controller_image, database_url, redis_url) -> Iterator[Deployment]:
    port = free_port()
    deployment = Deployment(
        controller_image,
        {
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
            "HICLAW_ADMIN_PASSWORD": secrets.token_urlsafe(16),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "PORT": str(port),
            # The health check asks for the first of these hosts: not the loopback address it connects to.
            "DJANGO_ALLOWED_HOSTS": "controller.test,127.0.0.1",
            "HICLAW_BACKEND": "process",
            "HICLAW_CONTROLLER_URL": f"http://127.0.0.1:{port}",
            "HICLAW_AGENT_HEARTBEAT_SECONDS": "1",
        },
    )
    try:
        yield deployment
    finally:
        deployment.remove()


def test_image_runs_migrate_web_celery_and_a_worker_on_postgres_and_redis(deployment):
    base = f"http://127.0.0.1:{deployment.env['PORT']}"
    migrate = deployment.run("python", "manage.py", "migrate", "--no-input", "-v", "0")
    assert migrate.returncode == 0
    token = deployment.run("python", "manage.py", "hiclaw_token", "create", "--admin", "ops").stdout.splitlines()[-1]

    # The default command serves the web; the health check runs every 2 s here instead of 30 s.
    web = deployment.start("web", options=("--health-interval", "2s"))
    worker = deployment.start("worker", "celery", "-A", "hiclaw_site", "worker", "-P", "threads", "-c", "2")
    deployment.start("beat", "celery", "-A", "hiclaw_site", "beat", "-s", "/data/celerybeat-schedule")

    def wait(condition, what: str, timeout: float = 120):
        return wait_until(condition, timeout, what, interval=0.5, check=deployment.check_alive, details=deployment.logs)

    wait(lambda: answers(f"{base}/readyz"), "the web container to answer /readyz")
    # Static files come straight from the app's folders (no collectstatic into the data volume).
    assert answers(f"{base}/static/hiclaw/site.css")
    assert answers(f"{base}/static/admin/css/base.css")
    applied = api(base, token, "/api/v1/apply", body=WORKER_MANIFEST.encode(), content_type="application/yaml")
    assert applied["results"] == [{"kind": "Worker", "name": "image-bot", "action": "created"}]
    wait(lambda: api(base, token, "/api/v1/workers/image-bot")["status"].get("phase") == "Running", "Running")
    wait(lambda: api(base, token, "/api/v1/workers/image-bot")["status"].get("lastHeartbeat"), "a heartbeat")

    health = lambda: docker("inspect", "-f", "{{.State.Health.Status}}", web).stdout.strip()  # noqa: E731
    wait(lambda: health() == "healthy", "the web container's health check to pass")

    # Every process of both containers runs as the image's user, the agent's process too.
    assert _uids(web) == {IMAGE_UID}
    processes = _processes(worker)
    assert {uid for uid, _ in processes} == {IMAGE_UID}
    assert any("reference_worker.py" in command for _, command in processes), processes


def _processes(container: str) -> list[tuple[str, str]]:
    """(uid, command line) of each process in the container, read from /proc (the image has no ps)."""
    script = (
        "import json, os\n"
        "found = []\n"
        "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
        "    try:\n"
        "        uid = [l.split()[1] for l in open(f'/proc/{pid}/status') if l.startswith('Uid:')][0]\n"
        "        found.append((uid, open(f'/proc/{pid}/cmdline').read().replace('\\0', ' ')))\n"
        "    except OSError:\n"
        "        pass\n"
        "print(json.dumps(found))\n"
    )
    return [tuple(pair) for pair in json.loads(docker("exec", container, "python", "-c", script).stdout)]


def _uids(container: str) -> set[str]:
    return {uid for uid, _ in _processes(container)}


def test_image_config_user_volume_port_and_health_check(controller_image):
    config = json.loads(docker("image", "inspect", controller_image).stdout)[0]["Config"]
    assert config["User"] == f"{IMAGE_UID}:{IMAGE_UID}"
    assert set(config["Volumes"]) == {"/data"}
    assert set(config["ExposedPorts"]) == {"8000/tcp"}
    assert "HICLAW_DATA_DIR=/data" in config["Env"]
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])
    # Every interface of the container's own network namespace: the port is published from there.
    assert config["Cmd"] == ["python", "manage.py", "hiclaw_run", "--host", "0.0.0.0"]  # noqa: S104
    # Only what runs is copied: no tests, docs or a developer's data dir.
    listing = set(docker("run", "--rm", "--entrypoint", "ls", controller_image, "-A", "/app").stdout.split())
    listing.discard("__pycache__")  # manage.py, byte-compiled at build time
    assert sorted(listing) == [
        "controller",
        "debugui",
        "hiclaw_site",
        "manage.py",
        "pyproject.toml",
        "static",
        "templates",
    ]


def test_secrets_passed_by_env_stay_out_of_labels_and_history(controller_image):
    secret = secrets.token_urlsafe(24)
    name = f"hiclaw-image-test-{uuid.uuid4().hex[:8]}-secret"
    docker(
        "create",
        "--name",
        name,
        "-e",
        f"DJANGO_SECRET_KEY={secret}",
        "-e",
        f"HICLAW_ADMIN_PASSWORD={secret}",
        controller_image,
    )
    try:
        container = json.loads(docker("inspect", name).stdout)[0]
        assert secret not in json.dumps(container["Config"]["Labels"])
        assert f"DJANGO_SECRET_KEY={secret}" in container["Config"]["Env"]  # it did reach the container
    finally:
        docker("rm", "-f", name, check=False)
    image = json.loads(docker("image", "inspect", controller_image).stdout)[0]
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", controller_image).stdout
    baked = json.dumps(image["Config"]["Labels"]) + history + " ".join(image["Config"]["Env"])
    assert secret not in baked
    for word in ("SECRET_KEY=", "PASSWORD=", "TOKEN=", "DATABASE_URL=", "REDIS_URL="):
        assert word not in baked, f"{word} is set in the image"


def test_image_holds_no_signing_key_a_command_needing_one_refuses_to_run(controller_image):
    """Without DJANGO_SECRET_KEY and with a data dir never migrated, the image has no key to fall back on."""
    result = docker(
        "run",
        "--rm",
        "-e",
        "DATABASE_URL=postgres://nobody@127.0.0.1:1/none",
        "-e",
        "REDIS_URL=redis://127.0.0.1:1/0",
        controller_image,
        "python",
        "manage.py",
        "hiclaw_token",
        "list",
        check=False,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_build_script_refuses_an_unknown_option():
    result = subprocess.run(
        [str(ROOT / "scripts" / "build-image.sh"), "--fast"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "unknown option '--fast'" in result.stderr
