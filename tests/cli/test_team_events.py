"""A Team's events over the API and the CLI: the team's timeline, its own entries and its
members', each naming the resource it is about, scoped like every other read."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from controller.models import AuditRecord, Event
from tests.cli.conftest import failed, ok
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db(transaction=True)
# The console script imports the installed package; this checkout's code is what is under test.
HERE = {"PYTHONPATH": str(ROOT)}


def _history() -> None:
    now = timezone.now()
    AuditRecord.objects.create(
        at=now - timedelta(minutes=3),
        actor="root",
        identity="admin",
        action="update",
        target_kind="Worker",
        target_name="a-dev",
        detail={"changes": {"model": ["qwen", "claude"]}},
    )
    Event.objects.create(
        at=now - timedelta(minutes=2),
        kind="Worker",
        name="a-dev",
        team="team-a",
        reason="RolledOut",
        message="rollout #4: agent:v1 → agent:v2",
    )
    Event.objects.create(
        at=now - timedelta(minutes=1), kind="Team", name="team-a", team="team-a", reason="PhaseChanged", message="x"
    )
    Event.objects.create(kind="Worker", name="b-dev", team="team-b", reason="Crashed", message="team b's")


def test_events_of_a_team_are_its_and_its_members_each_named(hiclaw):
    _history()
    body = json.loads(ok(hiclaw("events", "team", "team-a", "-o", "json", env=HERE)))
    seen = [(e["object"], e["reason"], e["source"]) for e in body["events"]]
    assert seen == [
        ("team/team-a", "PhaseChanged", "event"),
        ("worker/a-dev", "RolledOut", "event"),
        ("worker/a-dev", "update", "audit"),
    ]
    assert body["events"][2]["message"] == "by admin root: model qwen → claude"
    table = ok(hiclaw("events", "team", "team-a", env=HERE)).splitlines()
    assert [line.split()[:3] for line in table[1:]] == [
        ["team/team-a", "Normal", "PhaseChanged"],
        ["worker/a-dev", "Normal", "RolledOut"],
        ["worker/a-dev", "Normal", "update"],
    ]
    # A leader of team-b never sees team-a's, and team-b's timeline has only its own.
    assert failed(hiclaw("events", "team", "team-a", persona="leader-b", env=HERE)) == "error: team/team-a not found"
    other = json.loads(ok(hiclaw("events", "team", "team-b", "-o", "json", persona="leader-b", env=HERE)))
    assert [(e["object"], e["reason"]) for e in other["events"]] == [("worker/b-dev", "Crashed")]


def test_describe_team_shows_the_team_timeline_with_an_object_column(hiclaw):
    _history()
    lines = ok(hiclaw("describe", "team", "team-a", "--events", "2", env=HERE)).splitlines()
    events = lines[lines.index("Events:") + 1 :]
    assert events[0].split() == ["OBJECT", "TYPE", "REASON", "AGE", "FROM", "MESSAGE"]
    assert [line.split()[:3] for line in events[1:]] == [
        ["team/team-a", "Normal", "PhaseChanged"],
        ["worker/a-dev", "Normal", "RolledOut"],
    ]
    assert "agent:v1 → agent:v2" in events[2]


def test_the_api_answers_a_teams_timeline_with_about(hiclaw):
    _history()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {hiclaw.env('leader-a')['HICLAW_AGENT_TOKEN']}")
    answer = client.get("/api/v1/teams/team-a/events", {"limit": 2})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["kind"], body["name"]) == ("Team", "team-a")
    assert [(e["about"], e["reason"]) for e in body["events"]] == [
        ("team/team-a", "PhaseChanged"),
        ("worker/a-dev", "RolledOut"),
    ]
    worker = client.get("/api/v1/workers/a-dev/events").json()["events"]
    assert worker and all("about" not in e for e in worker)  # a worker's own timeline is unchanged
