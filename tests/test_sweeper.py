"""The lifecycle sweeper with a clock the tests move (no sleeping): health and idle sleep."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from controller.models import Team, Worker
from controller.reconcilers.sweeper import sweep, within_hours
from controller.services.apply import apply_text
from controller.services.lifecycle import set_desired_state
from controller.services.summary import WorkerSummary
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


def after_start(name: str) -> datetime:
    """A moment a minute after the worker's instance started: its silence counts from there on."""
    return Worker.objects.get(name=name).instance_started_at + timedelta(minutes=1)


def looked_at(driver: Driver, name: str, now: datetime) -> tuple[bool, str, bool]:
    """One sweep at ``now``: whether it marked the worker, and its health and healthy as the API says."""
    report = sweep(driver.connections, now)
    worker = Worker.objects.select_related("team").get(name=name)
    summary = WorkerSummary.of(worker, now)
    return name in report.unhealthy, summary.health, summary.healthy


def test_health_follows_the_agents_interval_not_the_teams_heartbeat_every(running_team, settings):
    settings.HICLAW_AGENT_HEARTBEAT_SECONDS = 30
    driver = running_team("hb", every="30m")  # how often the leader checks: no part in health
    start = after_start("hb-a")
    Worker.objects.get(name="hb-a").record_heartbeat("busy", active_tasks=1, now=start)

    def at_second(seconds: float) -> tuple[bool, str, bool]:
        return looked_at(driver, "hb-a", start + timedelta(seconds=seconds))

    assert at_second(45) == (False, "ok", True)  # 1.5 intervals: still ok
    assert at_second(46) == (False, "late", True)  # late, but nobody is told
    assert at_second(90) == (False, "late", True)
    assert Worker.objects.get(name="hb-a").heartbeat_missed_since is None
    assert at_second(91) == (True, "missed", False)  # past 3 intervals: marked, once
    assert at_second(101) == (False, "missed", False)
    assert at_second(3600) == (False, "missed", False)
    worker = Worker.objects.get(name="hb-a")
    assert worker.heartbeat_missed_since == start
    healthy = next(c for c in worker.status_manifest()["conditions"] if c["type"] == "Healthy")
    assert (healthy["status"], healthy["reason"]) == ("False", "HeartbeatMissed")

    back = start + timedelta(seconds=3601)
    worker.record_heartbeat("busy", active_tasks=1, now=back)
    assert looked_at(driver, "hb-a", back + timedelta(seconds=1)) == (False, "ok", True)
    healthy = next(c for c in Worker.objects.get(name="hb-a").status_manifest()["conditions"] if c["type"] == "Healthy")
    assert healthy["status"] == "True"
    # A second outage is marked (and told) again, once.
    assert looked_at(driver, "hb-a", back + timedelta(seconds=91)) == (True, "missed", False)
    assert looked_at(driver, "hb-a", back + timedelta(seconds=200)) == (False, "missed", False)


def test_a_worker_that_never_reported_counts_from_its_instance_start(running_team, settings):
    settings.HICLAW_AGENT_HEARTBEAT_SECONDS = 30
    driver = running_team("quiet")
    started = Worker.objects.get(name="quiet-a").instance_started_at
    assert Worker.objects.get(name="quiet-a").last_heartbeat is None
    assert looked_at(driver, "quiet-a", started + timedelta(seconds=60)) == (False, "late", True)
    assert looked_at(driver, "quiet-a", started + timedelta(seconds=91)) == (True, "missed", False)
    assert Worker.objects.get(name="quiet-a").heartbeat_missed_since == started


def test_a_sleeping_worker_is_not_judged(running_team, settings):
    settings.HICLAW_AGENT_HEARTBEAT_SECONDS = 30
    driver = running_team("nap")
    start = after_start("nap-a")
    Worker.objects.get(name="nap-a").record_heartbeat("busy", active_tasks=1, now=start)
    set_desired_state(Worker.objects.get(name="nap-a"), "Sleeping")
    assert looked_at(driver, "nap-a", start + timedelta(hours=1)) == (False, "ok", True)


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
def test_an_outage_is_announced_in_the_team_room_once(matrix_driver, synapse, settings):
    settings.HICLAW_AGENT_HEARTBEAT_SECONDS = 30
    driver = matrix_driver
    name = f"m{uuid.uuid4().hex[:6]}"
    apply_text(team(name))
    driver.converge(("Worker", f"{name}-lead"), ("Worker", f"{name}-a"), ("Team", name))
    start = after_start(f"{name}-a")
    Worker.objects.filter(name=f"{name}-lead").update(last_heartbeat=start + timedelta(days=1))  # not in question
    Worker.objects.get(name=f"{name}-a").record_heartbeat("busy", active_tasks=1, now=start)
    room = Team.objects.get(name=name).team_room_id

    def notices() -> int:
        events = driver.connections.matrix.messages(synapse.admin, room)
        bodies = [e["content"].get("body", "") for e in events if e["type"] == "m.room.message"]
        return sum(f"{name}-a missed its heartbeats" in body for body in bodies)

    assert sweep(driver.connections, start + timedelta(seconds=60)).unhealthy == []  # late: nobody is told
    assert notices() == 0
    for seconds in (91, 100, 110, 600):
        sweep(driver.connections, start + timedelta(seconds=seconds))
    assert notices() == 1

    back = start + timedelta(seconds=601)
    Worker.objects.get(name=f"{name}-a").record_heartbeat("busy", active_tasks=1, now=back)
    for seconds in (30, 92, 100):
        sweep(driver.connections, back + timedelta(seconds=seconds))
    assert notices() == 2
