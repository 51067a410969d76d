"""One worker summary behind the API's flat fields, its status lines and the dashboard's live rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from controller.api.representation import present
from controller.models import AgentPhase, Worker
from controller.services.apply import apply_text
from controller.services.summary import READY, WorkerSummary
from debugui.queries import worker_row

TEAM = """
apiVersion: hiclaw.io/v1beta1
kind: Team
metadata: {name: team-a}
spec:
  leader: {name: a-lead, model: qwen}
  workers: [{name: a-dev, model: qwen, image: "reg:5000/agent:v2"}]
"""


@pytest.fixture
def member(db) -> Worker:
    apply_text(TEAM)
    started = timezone.now() - timedelta(minutes=5)
    Worker.objects.filter(name="a-dev").update(
        phase=AgentPhase.RUNNING,
        container_state="running",
        instance_started_at=started,
        last_heartbeat=started + timedelta(minutes=1),
        idle_since=started + timedelta(minutes=2),
        active_tasks=0,
        message="all good",
    )
    return Worker.objects.select_related("team").get(name="a-dev")


def test_the_api_the_status_line_and_the_dashboard_say_the_same_of_a_worker(member):
    api, line, row = present(member), WorkerSummary.of(member).status_line(), worker_row(member)
    for key in ("name", "team", "state", "containerState", "lastHeartbeat", "message"):
        assert api[key] == line[key] == row[key], key
    for key in ("role", "idleSince", "model", "image"):
        assert api[key] == row[key], key
    assert api["team"] == "team-a" and api["role"] == "worker"
    assert api["lastHeartbeat"] == member.last_heartbeat.isoformat()


def test_the_status_line_says_ready_once_the_agent_reported_and_the_resource_keeps_running(member):
    line = WorkerSummary.of(member).status_line()
    assert (line["phase"], line["ready"], present(member)["phase"]) == (READY, True, "Running")


def test_the_dashboard_spells_out_blanks_where_the_api_leaves_them_empty(db):
    apply_text("apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: solo}\nspec: {model: qwen}\n")
    solo = Worker.objects.get(name="solo")
    api, row = present(solo), worker_row(solo)
    assert (api["team"], api["role"], api["image"], api["containerState"]) == ("", "standalone", "", "")
    assert (row["image"], row["containerState"], row["skillsVersion"]) == ("runtime default", "—", "—")
    assert row["health"] == "warn" and row["activeTasks"] == 0
    assert WorkerSummary.of(solo).status_line()["phase"] == "Pending"
