"""The chart's commands, with the chart's environment, make a working controller.

A cluster here has no kubelet, so nothing the chart deploys ever runs in it. This
runs the very commands the rendered Job and Deployments hold, in the
production virtualenv (requirements.txt only), with the environment their
ConfigMap and Secret give them: the migration first, then web, worker, beat and
watch. Only what a pod's surroundings decide is changed: the data dir and beat's
schedule (emptyDirs in a pod), the bind address, and the backend (local
processes instead of pods). A Worker applied over the API must reach Running,
and the web process must answer its readiness probe as the kubelet asks it.
"""

from __future__ import annotations

import base64
import os
import urllib.request
from pathlib import Path

import pytest
import redis as redis_lib

from tests.helpers import free_port
from tests.services.kube import RELEASE, helm_template
from tests.test_embedded_run import stop_worker_processes
from tests.test_helm_chart import documents
from tests.test_production_install import PROD_PYTHON, WORKER_MANIFEST, Processes, _wait, api

pytestmark = pytest.mark.slow

REDIS_URL = "redis://127.0.0.1:6379/13"
POD_DIR = "/var/lib/hiclaw"  # the emptyDir every pod mounts


def chart_environment(rendered: list[dict], tmp_path: Path, port: int) -> dict[str, str]:
    """The environment a pod gets from the chart's ConfigMap and Secret, moved from the pod to this machine."""
    (config,) = [d for d in rendered if d["kind"] == "ConfigMap"]
    (secret,) = [d for d in rendered if d["kind"] == "Secret"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HICLAW_", "DJANGO_")) and k != "DATABASE_URL"}
    env.update(config["data"])
    env.update({key: base64.b64decode(value).decode() for key, value in secret["data"].items()})
    assert env["HICLAW_DATA_DIR"].startswith(POD_DIR + "/")
    env.update(
        HICLAW_DATA_DIR=env["HICLAW_DATA_DIR"].replace(POD_DIR, str(tmp_path)),
        HICLAW_BACKEND="process",
        HICLAW_CONTROLLER_URL=f"http://127.0.0.1:{port}",
        HICLAW_AGENT_HEARTBEAT_SECONDS="1",
    )
    return env


def commands(rendered: list[dict], tmp_path: Path, port: int) -> dict[str, list[str]]:
    """Each process's command line without its leading `python` (the production virtualenv's runs it)."""
    found = {}
    for document in rendered:
        if document["kind"] in ("Deployment", "Job"):
            (container,) = document["spec"]["template"]["spec"]["containers"]
            command = container["command"]
            assert command[0] == "python" and container["workingDir"] == "/app"
            here = {"0.0.0.0": "127.0.0.1", "8000": str(port)}  # noqa: S104
            found[container["name"]] = [here.get(arg, arg.replace(POD_DIR, str(tmp_path))) for arg in command[1:]]
    return found


def ready_as_the_kubelet_asks(port: int) -> bool:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/readyz", headers={"Host": "localhost"})
    try:
        with urllib.request.urlopen(request, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def test_the_charts_commands_and_environment_run_the_controller(tmp_path):
    assert PROD_PYTHON.exists(), "the production virtualenv is built by `make test` (.venvs/prod)"
    redis_lib.Redis.from_url(REDIS_URL).flushdb()
    rendered = documents(helm_template("local", "--set", f"redis.url={REDIS_URL}"))
    port = free_port()
    env = chart_environment(rendered, tmp_path, port)
    lines = commands(rendered, tmp_path, port)
    assert set(lines) == {"migrate", "web", "worker", "beat", "watch"}

    processes = Processes(env, tmp_path)
    try:
        migrated = processes.run(*lines["migrate"])
        assert migrated.returncode == 0, migrated.stderr
        for name in ("web", "worker", "beat", "watch"):
            processes.start(name, *lines[name])
        _wait(lambda: ready_as_the_kubelet_asks(port), processes, "the web process to pass its readiness probe")

        minted = processes.run("manage.py", "hiclaw_token", "create", "--admin", "ops")
        assert minted.returncode == 0, minted.stderr
        token = minted.stdout.strip().splitlines()[-1]
        base = env["HICLAW_CONTROLLER_URL"]
        api(base, token, "/api/v1/apply", body=WORKER_MANIFEST.encode(), content_type="application/yaml")

        def worker_status() -> dict:
            return api(base, token, "/api/v1/workers/prod-bot")["status"]

        _wait(lambda: worker_status().get("phase") == "Running", processes, "worker/prod-bot to be Running")
        _wait(lambda: worker_status().get("lastHeartbeat"), processes, "a heartbeat through Redis and beat")
        processes.check_alive()
    finally:
        processes.stop_all()
        stop_worker_processes(Path(env["HICLAW_DATA_DIR"]) / "instances")
    web_log = processes.log("web")
    assert "production (Celery on Redis)" in web_log and "password from HICLAW_ADMIN_PASSWORD" in web_log
    assert "watching: watch-instances" in processes.log("watch")
    assert env["HICLAW_ADMIN_PASSWORD"] not in "".join(processes.log(name) for name in processes.running)
    assert RELEASE in env["DJANGO_ALLOWED_HOSTS"]
