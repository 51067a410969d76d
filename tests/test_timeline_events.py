"""A worker's timeline tells what happened to it: heartbeats missed and recovered, sleeps by the
sweeper, and what each action changed (a diff of the fields, not only who acted)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from controller import policy
from controller.models import AuditRecord, Event, Team, Worker
from controller.reconcilers.sweeper import sweep
from controller.services import events, heartbeats, operations
from controller.services.heartbeats import Report
from tests.test_sweeper import after_start, running_team  # noqa: F401 (a fixture, used by name)

pytestmark = pytest.mark.django_db


def reasons(name: str) -> list[str]:
    """The worker's events other than its phase changes (each pass that moves the phase adds one)."""
    rows = Event.objects.filter(kind="Worker", name=name).exclude(reason__in=events.PHASE_REASONS)
    return list(rows.order_by("at", "id").values_list("reason", flat=True))


def test_missed_then_recovered_heartbeats_are_events_once_each(running_team, settings):  # noqa: F811 (the fixture)
    settings.HICLAW_AGENT_HEARTBEAT_SECONDS = 30
    driver = running_team("tl")
    start = after_start("tl-a")
    Worker.objects.get(name="tl-a").record_heartbeat("busy", active_tasks=1, now=start)
    for seconds in (91, 120, 300):  # three sweeps after the outage: one event
        sweep(driver.connections, start + timedelta(seconds=seconds))
    assert reasons("tl-a") == ["HeartbeatsMissed"]
    missed = Event.objects.get(name="tl-a", reason="HeartbeatsMissed")
    assert missed.type == "Warning" and missed.team == "tl" and "marked unhealthy" in missed.message
    heartbeats.apply_reports([Report("tl-a", "busy", 1, "", "", "", start + timedelta(seconds=301))])
    heartbeats.apply_reports([Report("tl-a", "busy", 1, "", "", "", start + timedelta(seconds=302))])
    assert reasons("tl-a") == ["HeartbeatsMissed", "HeartbeatsRecovered"]
    titles = [entry.title for entry in events.timeline("Worker", "tl-a")]
    assert titles[:2] == ["HeartbeatsRecovered", "HeartbeatsMissed"]


def test_a_sweeper_sleep_is_an_event(running_team):  # noqa: F811 (the fixture)
    driver = running_team("tz", idle="30m")
    start = after_start("tz-a")
    Worker.objects.get(name="tz-a").record_heartbeat("idle", now=start)
    sweep(driver.connections, start + timedelta(minutes=31))
    assert Worker.objects.get(name="tz-a").state == "Sleeping"
    assert "Slept" in reasons("tz-a")
    assert "put to sleep by the sweeper" in Event.objects.get(name="tz-a", reason="Slept").message


def test_an_action_records_what_it_changed(running_team):  # noqa: F811 (the fixture)
    running_team("td")
    alice = policy.Principal(policy.ADMIN, "alice")
    operations.update_worker(alice, Worker.objects.get(name="td-a"), {"model": "claude"})
    operations.set_state(alice, Worker.objects.get(name="td-a"), "Sleeping")
    texts = [entry.text for entry in events.timeline("Worker", "td-a") if entry.source == "audit"]
    assert "by admin alice: state Running → Sleeping" in texts
    assert "by admin alice: model q → claude" in texts


def test_a_team_timeline_names_each_entry_and_leaves_other_teams_out(running_team):  # noqa: F811 (the fixture)
    running_team("tt")
    running_team("other")
    alice = policy.Principal(policy.ADMIN, "alice")
    operations.update_worker(alice, Worker.objects.get(name="tt-a"), {"model": "claude"})
    operations.set_state(alice, Worker.objects.get(name="other-a"), "Sleeping")
    events.record("Worker", "tt-a", "Crashed", "exited with code 1", team="tt", warning=True)
    events.record("Team", "tt", "PhaseChanged", "phase Active → Degraded", team="tt")
    events.record("Worker", "other-a", "Crashed", "another team's", team="other")
    entries = events.team_timeline("tt")
    latest = [(e.about, e.source, e.title) for e in entries[:3]]
    assert latest == [
        ("team/tt", "event", "PhaseChanged"),
        ("worker/tt-a", "event", "Crashed"),
        ("worker/tt-a", "audit", "update"),
    ]
    assert entries[2].text == "by admin alice: model q → claude"
    assert all(e.about.endswith(("/tt", "/tt-a", "/tt-lead")) for e in entries)
    assert "another team's" not in {e.text for e in entries}
    assert events.as_json(entries[1])["about"] == "worker/tt-a" and entries[1].warning
    assert len(events.team_timeline("tt", limit=2)) == 2


def test_a_team_timeline_costs_the_same_queries_for_2_or_20_members():
    team = Team.objects.create(name="qc", spec={"leader": {"name": "qc-lead", "model": "q"}})

    def add(first: int, count: int) -> None:
        for index in range(first, first + count):
            name = f"qc-w{index:02}"
            Worker.objects.create(name=name, team=team, role="worker", spec={"model": "q"}, model="q")
            AuditRecord.objects.create(
                actor="root", identity="admin", action="apply", target_kind="Worker", target_name=name
            )
            events.record("Worker", name, "Crashed", "exited", team="qc", warning=True)

    def count_queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            entries = events.team_timeline("qc", limit=50)
        return len(captured), len(entries)

    add(0, 2)
    with_2 = count_queries()
    add(2, 18)
    with_20 = count_queries()
    assert with_2 == (2, 4) and with_20 == (2, 40)
