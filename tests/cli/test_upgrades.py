"""``hiclaw upgrades``: the list table, one upgrade with its targets, JSON and YAML, and the
policy's scoping. Upgrade rows are made directly (tests/upgrade_rows.py): carrying pushes
and rollouts out is tested with the services that do it."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.cli.conftest import failed, ok
from tests.upgrade_rows import advance, push, rollout


@pytest.fixture
def upgrades(hiclaw):
    team_a = rollout("team-a", ["a-dev", "a-lead"])
    advance(team_a.pk, "a-dev", "done")
    team_b = push("team", "team-b", "team-b", ["b-dev", "b-lead"])
    advance(team_b.pk, "b-dev", "failed", "workspace not writable")
    return {"a": team_a.pk, "b": team_b.pk}


def test_bare_upgrades_lists_a_table_newest_first(hiclaw, upgrades):
    lines = ok(hiclaw("upgrades")).splitlines()
    assert lines[0].split() == ["ID", "KIND", "SCOPE", "TARGET", "STATE", "PROGRESS", "AGE"]
    assert lines[1].split()[:6] == [str(upgrades["b"]), "push", "team", "team-b", "Running", "0/2"]
    assert "(1 failed)" in lines[1]
    assert lines[2].split()[:6] == [str(upgrades["a"]), "rollout", "team", "team-a", "Running", "1/2"]
    # The same table either way; only the AGE column may have ticked between the two calls.
    without_age = [line.rsplit(maxsplit=1)[0] for line in ok(hiclaw("upgrades", "list")).splitlines()]
    assert without_age == [line.rsplit(maxsplit=1)[0] for line in lines]


def test_list_filters_and_prints_json(hiclaw, upgrades):
    answer = json.loads(ok(hiclaw("upgrades", "list", "--kind", "rollout", "-o", "json")))
    assert answer["total"] == 1 and answer["upgrades"][0]["id"] == upgrades["a"]
    assert ok(hiclaw("upgrades", "list", "--team", "team-b")).count("\n") == 2


def test_a_team_leader_sees_only_its_teams_upgrades(hiclaw, upgrades):
    lines = ok(hiclaw("upgrades", persona="leader-a")).splitlines()
    assert [line.split()[0] for line in lines[1:]] == [str(upgrades["a"])]
    assert failed(hiclaw("upgrades", "get", str(upgrades["b"]), persona="leader-a")) == (
        f"error: upgrade/{upgrades['b']} not found"
    )


def test_get_shows_the_details_and_each_target(hiclaw, upgrades):
    text = ok(hiclaw("upgrades", "get", str(upgrades["b"])))
    assert "kind:         push" in text and "progress:     0/2 (1 failed)" in text
    assert "version:      2026.12.1" in text
    table = text.split("\n\n")[1].splitlines()
    assert table[0].split()[:3] == ["#", "WORKER", "STATE"]
    assert table[1].split()[:3] == ["0", "b-dev", "failed"] and table[1].endswith("workspace not writable")
    assert table[2].split()[:3] == ["1", "b-lead", "pending"]


def test_get_as_yaml_and_a_bad_id(hiclaw, upgrades):
    body = yaml.safe_load(ok(hiclaw("upgrades", "get", str(upgrades["a"]), "-o", "yaml")))
    assert body["image"] == "hiclaw/worker-agent:1.5.0" and body["progress"]["done"] == 1
    process = hiclaw("upgrades", "get", "latest")
    assert process.returncode == 2 and "invalid int value" in process.stderr


def test_no_upgrades_says_so_on_stderr(hiclaw):
    process = hiclaw("upgrades")
    assert process.returncode == 0 and process.stdout == ""
    assert process.stderr == "No upgrades found.\n"


def test_state_filter_ignores_case(hiclaw, upgrades):
    for spelling in ("running", "RUNNING"):
        assert len(json.loads(ok(hiclaw("upgrades", "list", "--state", spelling, "-o", "json")))["upgrades"]) == 2
    assert json.loads(ok(hiclaw("upgrades", "list", "--state", "done", "-o", "json")))["upgrades"] == []
