"""``hiclaw describe`` and ``hiclaw events`` against a live controller: spec, status, conditions,
the controller's Events and the audit records of actions, scoped like every other read."""

from __future__ import annotations

import json

import pytest

from controller.models import AuditRecord, Event
from tests.cli.conftest import failed, ok

pytestmark = pytest.mark.django_db(transaction=True)


def _crash(name: str = "a-dev", team: str = "team-a") -> None:
    Event.objects.create(
        kind="Worker", name=name, team=team, type="Warning", reason="Crashed", message="ran 3s", exit_code=137
    )
    Event.objects.create(kind="Worker", name=name, team=team, reason="Restarted", message="restart 1 after 1s")


def test_describe_shows_spec_status_conditions_and_events(hiclaw):
    _crash()
    ok(hiclaw("worker", "sleep", "--name", "a-dev", persona="leader-a"))
    text = ok(hiclaw("describe", "worker", "a-dev", persona="leader-a"))
    lines = text.splitlines()
    assert lines[0].split() == ["Name:", "a-dev"]
    assert lines[1].split() == ["Kind:", "Worker"]
    assert "Spec:" in lines and "Conditions:" in lines and "Events:" in lines
    assert "  model: qwen" in lines
    assert "Team:           team-a" in lines and "Desired state:  Sleeping" in lines and "Health:         ok" in lines
    events = lines[lines.index("Events:") + 1 :]
    assert events[0].split() == ["TYPE", "REASON", "AGE", "FROM", "MESSAGE"]
    reasons = [line.split()[1] for line in events[1:]]
    assert reasons[:3] == ["state:Sleeping", "Restarted", "Crashed"]  # newest first
    assert any("Warning" in line and "(exit code 137)" in line for line in events)
    assert any("audit" in line and "by team-leader a-lead" in line for line in events)


def test_describe_accepts_any_spelling_of_the_kind_and_says_none(hiclaw):
    text = ok(hiclaw("describe", "Teams", "team-b"))
    assert text.splitlines()[1].split() == ["Kind:", "Team"]
    assert text.rstrip().endswith("Events:\n  <none>")


def test_describe_and_events_hide_another_teams_resource(hiclaw):
    _crash("b-dev", "team-b")
    assert failed(hiclaw("describe", "worker", "b-dev", persona="leader-a")) == "error: worker/b-dev not found"
    assert failed(hiclaw("events", "worker", "b-dev", persona="leader-a")) == "error: worker/b-dev not found"
    # Every event the leader may see: its own team's only.
    assert "b-dev" not in hiclaw("events", persona="leader-a").stdout


def test_events_lists_one_resource_or_all_visible_newest_first(hiclaw):
    _crash()
    _crash("solo", "")
    table = ok(hiclaw("events", "worker", "a-dev")).splitlines()
    assert table[0].split() == ["OBJECT", "TYPE", "REASON", "AGE", "FROM", "MESSAGE"]
    assert [line.split()[2] for line in table[1:]] == ["Restarted", "Crashed"]
    everything = json.loads(ok(hiclaw("events", "-o", "json")))["events"]
    assert {event["object"] for event in everything} == {"worker/a-dev", "worker/solo"}
    crash = next(event for event in everything if event["reason"] == "Crashed")
    assert crash["exitCode"] == 137 and crash["type"] == "Warning" and crash["source"] == "event"


def test_events_usage_mistakes_exit_2_with_one_line(hiclaw):
    for args, expected in (
        (("events", "worker"), "name: `hiclaw events worker` needs the resource's name"),
        (("events", "wrker", "a-dev"), "unknown kind 'wrker'; did you mean 'worker'?"),
        (("events", "worker", "a-dev", "--limit", "0"), "limit: must be a whole number from 1 to 200"),
        (("descibe", "worker", "a-dev"), "did you mean 'describe'?"),
    ):
        process = hiclaw(*args)
        assert process.returncode in (1, 2), process.stderr
        assert expected in process.stderr.splitlines()[-1], process.stderr
        assert "Traceback" not in process.stderr
    assert hiclaw("events", "worker").returncode == 2
    assert hiclaw("descibe", "worker", "a-dev").returncode == 2


def test_the_events_endpoint_is_scoped_and_bounded(hiclaw):
    AuditRecord.objects.create(actor="root", identity="admin", action="apply", target_kind="Worker", target_name="solo")
    body = json.loads(ok(hiclaw("events", "worker", "solo", "-o", "json")))
    assert [(e["reason"], e["source"], e["message"]) for e in body["events"]] == [("apply", "audit", "by admin root")]
    assert failed(hiclaw("events", "worker", "solo", persona="leader-a")) == "error: worker/solo not found"


def test_a_reader_that_goes_away_gets_no_traceback(hiclaw):
    process = hiclaw.start("describe", "team", "team-a")
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # as `| head -0` would: the first write finds the pipe closed
    assert process.wait(timeout=60) == 141
    assert process.stderr.read() == ""
