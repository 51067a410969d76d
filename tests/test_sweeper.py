"""The lifecycle sweeper with a clock the tests move (no sleeping): health and idle sleep."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from controller.models import Team, Worker
from controller.reconcilers.sweeper import sweep, within_hours
from controller.services.apply import apply_text
from controller.services.lifecycle import set_desired_state
from tests.helpers import manifest, to_yaml
from tests.services.world import Driver

pytestmark = pytest.mark.django_db


def team(name: str, *, hours: str = "", idle: str = "60m", every: str = "10m") -> str:
    """Team ``name`` with one worker; ``hours`` ("09:00-18:00") are the leader's active hours."""
    heartbeat: dict = {"every": every}
    if hours:
        start, end = hours.split("-")
        heartbeat["activeHours"] = {"start": start, "end": end}
    leader = {"name": f"{name}-lead", "model": "q", "workerIdleTimeout": idle, "heartbeat": heartbeat}
    spec = {"leader": leader, "workers": [{"name": f"{name}-a", "model": "q"}], "debug": {"enabled": False}}
    return to_yaml(manifest("Team", name, spec))


def at(hour: int, minute: int = 0) -> datetime:
    """A moment on the test day, in UTC (the controller's time zone here)."""
    return datetime(2026, 11, 27, hour, minute, tzinfo=UTC)


@pytest.fixture
def running_team(embedded_driver):
    def start(name: str, **options) -> Driver:
        apply_text(team(name, **options))
        embedded_driver.converge(("Worker", f"{name}-lead"), ("Worker", f"{name}-a"), ("Team", name))
        assert Worker.objects.get(name=f"{name}-a").phase == "Running"
        return embedded_driver

    return start


def test_missed_heartbeats_mark_unhealthy_once_and_a_heartbeat_clears_it(running_team):
    driver = running_team("hb")
    worker = Worker.objects.get(name="hb-a")
    start = at(10)
    worker.record_heartbeat("busy", active_tasks=1, now=start)
    assert sweep(driver.connections, start + timedelta(minutes=19)).unhealthy == []  # within 2 x 10m
    assert sweep(driver.connections, start + timedelta(minutes=21)).unhealthy == ["hb-a"]
    assert sweep(driver.connections, start + timedelta(minutes=40)).unhealthy == []  # only once
    worker.refresh_from_db()
    healthy = next(c for c in worker.status_manifest()["conditions"] if c["type"] == "Healthy")
    assert (healthy["status"], healthy["reason"]) == ("False", "HeartbeatMissed")

    worker.record_heartbeat("busy", active_tasks=1, now=start + timedelta(minutes=41))
    worker.refresh_from_db()
    assert worker.healthy
    healthy = next(c for c in worker.status_manifest()["conditions"] if c["type"] == "Healthy")
    assert healthy["status"] == "True"


def test_idle_past_timeout_inside_active_hours_sleeps_and_stops_the_instance(running_team):
    driver = running_team("idle", hours="09:00-18:00", idle="60m")
    worker = Worker.objects.get(name="idle-a")
    worker.record_heartbeat("idle", now=at(10))
    assert sweep(driver.connections, at(10, 59)).slept == []
    assert sweep(driver.connections, at(11, 1)).slept == ["idle-a"]
    driver.converge(("Worker", "idle-a"))
    worker.refresh_from_db()
    assert (worker.state, worker.phase) == ("Sleeping", "Sleeping")
    assert driver.connections.backend.status("hiclaw-worker-idle-a").state == "Stopped"
    assert driver.connections.storage.exists("agents/idle-a/openclaw.json")  # the workspace is kept
    assert Worker.objects.get(name="idle-lead").state == "Running"  # leaders are not put to sleep


def test_idle_outside_active_hours_is_left_running(running_team):
    driver = running_team("night", hours="09:00-18:00", idle="60m")
    Worker.objects.get(name="night-a").record_heartbeat("idle", now=at(19))
    assert sweep(driver.connections, at(22)).slept == []
    assert Worker.objects.get(name="night-a").state == "Running"


def test_a_heartbeat_with_active_tasks_clears_idle_since(running_team):
    driver = running_team("busy", idle="60m")
    worker = Worker.objects.get(name="busy-a")
    worker.record_heartbeat("idle", now=at(10))
    assert Worker.objects.get(name="busy-a").idle_since == at(10)
    worker.record_heartbeat("busy", active_tasks=2, now=at(10, 30))
    assert Worker.objects.get(name="busy-a").idle_since is None
    assert sweep(driver.connections, at(12)).slept == []


def test_wake_reverses_sleep(running_team):
    driver = running_team("wake", idle="60m")
    Worker.objects.get(name="wake-a").record_heartbeat("idle", now=at(10))
    sweep(driver.connections, at(12))
    driver.converge(("Worker", "wake-a"))
    set_desired_state(Worker.objects.get(name="wake-a"), "Running")
    driver.converge(("Worker", "wake-a"))
    assert driver.connections.backend.status("hiclaw-worker-wake-a").running


@pytest.mark.parametrize(
    ("hour", "start", "end", "inside"),
    [
        (10, "09:00", "18:00", True),
        (18, "09:00", "18:00", False),
        (23, "22:00", "06:00", True),
        (7, "22:00", "06:00", False),
    ],
)
def test_active_hours_windows(hour, start, end, inside):
    assert within_hours(at(hour), start, end) is inside


@pytest.mark.slow
def test_unhealthy_worker_is_announced_in_the_team_room(matrix_driver, synapse):
    driver = matrix_driver
    name = f"m{uuid.uuid4().hex[:6]}"
    apply_text(team(name))
    driver.converge(("Worker", f"{name}-lead"), ("Worker", f"{name}-a"), ("Team", name))
    Worker.objects.get(name=f"{name}-a").record_heartbeat("busy", active_tasks=1, now=at(10))
    assert sweep(driver.connections, at(11)).unhealthy == [f"{name}-a"]
    room = Team.objects.get(name=name).team_room_id
    bodies = [
        e["content"].get("body", "")
        for e in driver.connections.matrix.messages(synapse.admin, room)
        if e["type"] == "m.room.message"
    ]
    assert any(f"{name}-a missed its heartbeats" in body for body in bodies)
