"""Rules the API shares with the sweeper, the dashboard and the heartbeat service, one
function each: where they had drifted apart, the API now follows the shared rule."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from controller import policy
from controller.connections import default_connections
from controller.models import Heartbeat, Manager, Worker
from controller.reconcilers.sweeper import sweep
from controller.services import live, operations
from controller.services.agent_timing import DEFAULT_IDLE_TIMEOUT, current_manager_config
from controller.services.apply import apply_text
from controller.services.lifecycle import request_deletion

CONFIGURED_MANAGER = (
    "apiVersion: hiclaw.io/v1beta1\nkind: Manager\nmetadata: {name: default}\n"
    "spec: {model: claude, config: {workerIdleTimeout: 5m}}\n"
)


def test_the_idle_check_and_the_sweeper_ignore_a_manager_being_deleted(as_persona):
    apply_text(CONFIGURED_MANAGER)
    request_deletion(Manager.objects.get(name="default"))
    idle_since = timezone.now() - timedelta(minutes=10)
    Worker.objects.get(name="solo").record_heartbeat("idle", now=idle_since)
    Worker.objects.filter(name="solo").update(phase="Running")

    line = as_persona("solo").get("/api/v1/workers/idle-check").json()["workers"][0]
    assert current_manager_config() == {}
    assert line["idleTimeoutSeconds"] == 720 * 60 and DEFAULT_IDLE_TIMEOUT == "720m"
    assert sweep(default_connections(), timezone.now()).slept == []  # 10 minutes idle is not 720


def test_the_idle_check_follows_the_managers_timeout_as_the_sweeper_does(as_persona):
    apply_text(CONFIGURED_MANAGER)
    Worker.objects.get(name="solo").record_heartbeat("idle", now=timezone.now() - timedelta(minutes=10))
    Worker.objects.filter(name="solo").update(phase="Running")

    line = as_persona("solo").get("/api/v1/workers/idle-check").json()["workers"][0]
    assert (line["idleTimeoutSeconds"], line["secondsLeft"]) == (300, 0)
    assert sweep(default_connections(), timezone.now()).slept == ["solo"]


def test_a_timeout_of_0_means_never_in_the_idle_check_as_in_the_sweeper(as_persona):
    apply_text(CONFIGURED_MANAGER.replace("workerIdleTimeout: 5m", 'workerIdleTimeout: "0"'))
    Worker.objects.get(name="solo").record_heartbeat("idle", now=timezone.now() - timedelta(minutes=10))
    Worker.objects.filter(name="solo").update(phase="Running")

    line = as_persona("solo").get("/api/v1/workers/idle-check").json()["workers"][0]
    assert (line["idleTimeoutSeconds"], line["secondsLeft"]) == (0, None)  # not "0 s left": never
    assert sweep(default_connections(), timezone.now()).slept == []


def test_a_ready_report_is_a_heartbeat_of_the_heartbeat_service(
    as_persona, monkeypatch, django_capture_on_commit_callbacks
):
    told = []
    monkeypatch.setattr(live, "worker_changed", lambda name, team="": told.append((name, team)))
    with django_capture_on_commit_callbacks(execute=True):
        assert as_persona("worker-a").post("/api/v1/workers/a-dev/ready").status_code == 200
    assert told == [("a-dev", "team-a")]  # live pages hear of it, as of any heartbeat
    heartbeat = Heartbeat.objects.get(worker__name="a-dev")
    assert (heartbeat.state, heartbeat.note, heartbeat.active_tasks) == ("idle", "ready", 0)
    assert Worker.objects.get(name="a-dev").idle_since is not None


def test_ensure_ready_of_a_worker_removed_while_waiting_is_404(as_persona, monkeypatch):
    def removed_meanwhile(seconds: float) -> None:
        Worker.objects.filter(name="solo").delete()

    monkeypatch.setattr(time, "sleep", removed_meanwhile)
    response = as_persona("admin").post("/api/v1/workers/solo/ensure-ready?timeout=5")
    assert response.status_code == 404 and response.json()["message"] == "worker/solo not found"


@pytest.mark.parametrize(("phase", "ready"), [("Running", True), ("Pending", False)])
def test_the_api_and_the_dashboard_wait_with_the_same_function(as_persona, phase, ready):
    Worker.objects.filter(name="solo").update(phase=phase, message="starting")
    worker = Worker.objects.get(name="solo")
    readiness = operations.ensure_ready(policy.Principal(policy.ADMIN, "root"), worker, 0)
    answer = as_persona("admin").post("/api/v1/workers/solo/ensure-ready?timeout=0").json()
    assert (readiness.ready, answer["ready"], answer["phase"]) == (ready, ready, phase)
