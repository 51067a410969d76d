"""The API says each worker's heartbeat health: ok, late or missed (healthy is "not missed")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from controller.models import Worker

pytestmark = pytest.mark.django_db


@pytest.fixture
def reported(world, settings):
    """team-a's members and the standalone worker, each at its own age of silence."""
    settings.HICLAW_AGENT_HEARTBEAT_SECONDS = 30
    now = timezone.now()
    running = {"phase": "Running", "state": "Running"}
    Worker.objects.filter(name="a-lead").update(**running, last_heartbeat=now - timedelta(seconds=10))
    Worker.objects.filter(name="a-dev").update(**running, last_heartbeat=now - timedelta(seconds=60))
    Worker.objects.filter(name="a-qa").update(**running, last_heartbeat=now - timedelta(minutes=5))
    # Marked by the sweeper and asleep since: missed until it reports again.
    Worker.objects.filter(name="solo").update(
        phase="Sleeping", state="Sleeping", last_heartbeat=now - timedelta(hours=2), heartbeat_missed_since=now
    )


def test_status_lines_say_ok_late_and_missed(as_persona, reported):
    lines = as_persona("admin").get("/api/v1/workers/status").json()["workers"]
    said = {line["name"]: (line["health"], line["healthy"]) for line in lines}
    assert said["a-lead"] == ("ok", True)
    assert said["a-dev"] == ("late", True)  # late is still healthy
    assert said["a-qa"] == ("missed", False)  # past three intervals, before the sweeper marks it
    assert said["solo"] == ("missed", False)
    assert said["b-dev"] == ("ok", True)  # not running: not expected to report


def test_a_worker_resource_carries_its_health(as_persona, reported):
    admin = as_persona("admin")
    assert admin.get("/api/v1/workers/a-dev").json()["health"] == "late"
    listed = {w["name"]: w["health"] for w in admin.get("/api/v1/workers", {"team": "team-a"}).json()["workers"]}
    assert listed == {"a-dev": "late", "a-lead": "ok", "a-qa": "missed"}
    assert as_persona("worker-a").get("/api/v1/workers/a-dev/status").json()["health"] == "late"
