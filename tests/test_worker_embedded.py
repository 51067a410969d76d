"""End to end in embedded mode: a Worker comes to life as a local process.

Process backend, filesystem storage, no Matrix and no gateway (their steps
report Disabled). The reference worker talks to a live test server: it posts
heartbeats and syncs its workspace through the API.
"""

from __future__ import annotations

import pytest

from controller import reconcilers
from controller.backends.base import InstanceState
from controller.connections import default_connections
from controller.models import AgentToken, Heartbeat, Worker
from controller.services.apply import apply_text
from controller.services.lifecycle import request_deletion, set_desired_state
from tests.helpers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

MANIFEST = """
apiVersion: hiclaw.io/v1beta1
kind: Worker
metadata: {name: ada}
spec:
  model: qwen3.5-plus
  soul: "Be precise."
  skills: [git]
"""


@pytest.fixture
def live_controller(live_server, settings):
    settings.HICLAW_CONTROLLER_URL = live_server.url
    settings.HICLAW_AGENT_HEARTBEAT_SECONDS = 1
    return live_server


def conditions(worker: Worker) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in worker.conditions}


def test_worker_runs_sends_heartbeats_sleeps_wakes_and_is_deleted(live_controller):
    apply_text(MANIFEST)
    assert reconcilers.reconcile("Worker", "ada").requeue_after is None

    worker = Worker.objects.get(name="ada")
    assert worker.phase == "Running" and worker.observed_generation == 1
    assert conditions(worker) == {
        "MatrixReady": ("False", "Disabled"),
        "GatewayReady": ("False", "Disabled"),
        "StorageReady": ("True", "Written"),
        "InstanceReady": ("True", "Running"),
    }
    services = default_connections()
    keys = {info.key for info in services.storage.list("agents/ada/")}
    assert {"agents/ada/openclaw.json", "agents/ada/SOUL.md", "agents/ada/IDENTITY.md", "agents/ada/AGENTS.md"} <= keys
    assert services.storage.get("agents/ada/SOUL.md") == b"Be precise."

    # The reference worker reports in and uploads its session log.
    wait_until(lambda: Worker.objects.get(name="ada").last_heartbeat, 30, "a heartbeat")
    assert Heartbeat.objects.filter(worker__name="ada", runtime_version="reference-0.1.0").exists()
    wait_until(lambda: list(services.storage.list("agents/ada/sessions/")), 30, "the session log in storage")
    assert AgentToken.objects.active().filter(subject="ada").count() == 1

    set_desired_state(worker, "Sleeping")
    reconcilers.reconcile("Worker", "ada")
    worker.refresh_from_db()
    assert (worker.phase, worker.container_state) == ("Sleeping", "Stopped")
    assert services.backend.status("hiclaw-worker-ada").state == InstanceState.STOPPED
    assert services.storage.exists("agents/ada/openclaw.json")  # the workspace is kept

    set_desired_state(worker, "Running")
    reconcilers.reconcile("Worker", "ada")
    assert Worker.objects.get(name="ada").phase == "Running"
    assert services.backend.status("hiclaw-worker-ada").running

    request_deletion(worker)
    reconcilers.reconcile("Worker", "ada")
    assert not Worker.objects.filter(name="ada").exists()
    assert services.backend.status("hiclaw-worker-ada").state == InstanceState.MISSING
    assert not AgentToken.objects.active().filter(subject="ada").exists()
    assert services.storage.exists("agents/ada/SOUL.md")  # kept unless HICLAW_DELETE_STORAGE_ON_DELETE


def test_config_change_rewrites_files_without_restarting(live_controller):
    apply_text(MANIFEST)
    reconcilers.reconcile("Worker", "ada")
    backend, storage = default_connections().backend, default_connections().storage
    started = backend.status("hiclaw-worker-ada").started_at

    apply_text(MANIFEST.replace("Be precise.", "Be brief."))
    reconcilers.reconcile("Worker", "ada")
    assert storage.get("agents/ada/SOUL.md") == b"Be brief."
    assert backend.status("hiclaw-worker-ada").started_at == started
    assert Worker.objects.get(name="ada").observed_generation == 2


def test_resources_change_replaces_the_instance(live_controller):
    apply_text(MANIFEST)
    reconcilers.reconcile("Worker", "ada")
    backend = default_connections().backend
    first = backend.status("hiclaw-worker-ada").started_at
    apply_text(MANIFEST + "  resources: {limits: {memory: 1Gi}}\n")
    reconcilers.reconcile("Worker", "ada")
    status = backend.status("hiclaw-worker-ada")
    assert status.running and status.started_at != first
    # The replaced instance got a new token; the old one no longer works.
    assert AgentToken.objects.filter(subject="ada").count() == 2
    assert AgentToken.objects.active().filter(subject="ada").count() == 1
