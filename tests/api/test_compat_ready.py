"""``GET /workers/{name}/status`` says ``Ready`` as the original controller does.

The original ``hiclaw create worker`` waits for phase ``Ready``: the instance
runs and the agent has reported in (a ready report, or a heartbeat since the
instance started). Until then the status line says ``Running``; the
manifest-shaped status (``get -o yaml``, the worker resource) keeps ``Running``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from controller import reconcilers
from controller.models import Worker
from controller.services.lifecycle import set_desired_state
from tests.api.conftest import persona_client


def running(name: str, started_minutes_ago: float = 1) -> Worker:
    started = timezone.now() - timedelta(minutes=started_minutes_ago)
    Worker.objects.filter(name=name).update(phase="Running", container_state="Running", instance_started_at=started)
    return Worker.objects.get(name=name)


def status_line(persona: str, name: str) -> dict:
    response = persona_client(persona).get(f"/api/v1/workers/{name}/status")
    assert response.status_code == 200, response.json()
    return response.json()


def test_a_running_worker_is_ready_once_it_reports_ready(as_persona):
    running("a-dev")
    line = status_line("leader-a", "a-dev")
    assert (line["phase"], line["ready"]) == ("Running", False)

    assert as_persona("worker-a").post("/api/v1/workers/a-dev/ready").status_code == 200
    line = status_line("leader-a", "a-dev")
    assert (line["phase"], line["ready"]) == ("Ready", True)
    team = {entry["name"]: entry for entry in as_persona("leader-a").get("/api/v1/workers/status").json()["workers"]}
    assert team["a-dev"]["phase"] == "Ready" and team["a-qa"]["phase"] == "Pending"


def test_a_heartbeat_since_the_instance_started_counts_as_ready(as_persona):
    running("a-dev")
    response = as_persona("worker-a").post("/api/v1/heartbeats", {"state": "busy", "activeTasks": 1}, format="json")
    assert response.status_code == 202
    assert status_line("worker-a", "a-dev")["phase"] == "Ready"


def test_a_heartbeat_from_before_the_instance_started_does_not(as_persona):
    worker = running("a-dev", started_minutes_ago=1)
    worker.record_heartbeat("idle", now=timezone.now() - timedelta(minutes=5))
    assert status_line("leader-a", "a-dev")["phase"] == "Running"


def test_a_worker_not_running_is_never_ready(as_persona):
    worker = running("a-dev")
    worker.record_heartbeat("idle")
    Worker.objects.filter(name="a-dev").update(phase="Sleeping", instance_started_at=None)
    assert status_line("leader-a", "a-dev")["phase"] == "Sleeping"


def test_the_manifest_shaped_status_keeps_running(as_persona):
    running("a-dev")
    as_persona("worker-a").post("/api/v1/workers/a-dev/ready")
    resource = as_persona("leader-a").get("/api/v1/workers/a-dev").json()
    assert resource["phase"] == "Running" and resource["status"]["phase"] == "Running"


@pytest.mark.django_db
def test_the_reconciler_records_when_the_instance_started(world, settings):
    """Waking a worker starts a new instance: it is not Ready until it reports again."""
    assert reconcilers.reconcile("Worker", "solo").requeue_after is None
    solo = Worker.objects.get(name="solo")
    assert solo.phase == "Running" and solo.instance_started_at is not None
    assert status_line("solo", "solo")["phase"] == "Running"
    assert persona_client("solo").post("/api/v1/workers/solo/ready").status_code == 200
    assert status_line("solo", "solo")["phase"] == "Ready"

    set_desired_state(solo, "Sleeping")
    reconcilers.reconcile("Worker", "solo")
    assert Worker.objects.get(name="solo").instance_started_at is None
    set_desired_state(Worker.objects.get(name="solo"), "Running")
    reconcilers.reconcile("Worker", "solo")
    woken = Worker.objects.get(name="solo")
    assert woken.instance_started_at > solo.instance_started_at
    assert status_line("solo", "solo")["phase"] == "Running"
