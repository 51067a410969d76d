"""``hiclaw apply|get|delete|create|update`` against a live controller."""

from __future__ import annotations

import json

import pytest
import yaml

from controller.models import Human, Manager, Team, Worker
from tests.cli.conftest import failed, ok

pytestmark = pytest.mark.django_db(transaction=True)

NEW_WORKERS = """
apiVersion: hiclaw.io/v1beta1
kind: Worker
metadata: {name: ada}
spec: {model: qwen, skills: [git]}
---
apiVersion: hiclaw.io/v1beta1
kind: Worker
metadata: {name: bob}
spec: {model: claude}
"""


def test_apply_file_prints_one_line_per_resource_and_is_idempotent(hiclaw, tmp_path):
    manifest = tmp_path / "workers.yaml"
    manifest.write_text(NEW_WORKERS)
    assert (
        ok(hiclaw("apply", "-f", str(manifest), "--dry-run"))
        == "worker/ada created (dry run)\nworker/bob created (dry run)\n"
    )
    assert not Worker.objects.filter(name="ada").exists()
    assert ok(hiclaw("apply", "-f", str(manifest))) == "worker/ada created\nworker/bob created\n"
    changed = NEW_WORKERS.replace("model: claude", "model: qwen")
    assert ok(hiclaw("apply", "-f", "-", stdin=changed)) == "worker/ada unchanged\nworker/bob configured\n"
    assert Worker.objects.get(name="bob").model == "qwen"


def test_invalid_manifests_list_every_error_and_apply_nothing(hiclaw):
    bad = NEW_WORKERS.replace("model: qwen,", "model: qwen, runtime: vm,").replace("{model: claude}", "{modle: x}")
    process = hiclaw("apply", "-f", "-", stdin=bad)
    assert process.returncode == 1 and process.stdout == ""
    lines = process.stderr.splitlines()
    assert (
        lines[0]
        == "error: document 1 (worker/ada): spec.runtime: must be 'openclaw', 'copaw' or 'hermes' (got 'vm') [enum]"
    )
    assert any(line.startswith("error: document 2 (worker/bob): spec.modle: unknown field 'modle'") for line in lines)
    assert lines[-1] == f"error: {len(lines) - 1} error(s); nothing was applied"
    assert not Worker.objects.filter(name__in=["ada", "bob"]).exists()


def test_missing_file_is_one_line(hiclaw):
    assert (
        failed(hiclaw("apply", "-f", "/nonexistent.yaml"))
        == "error: cannot read /nonexistent.yaml: No such file or directory"
    )


def test_get_workers_table_is_aligned_with_upper_case_headers(hiclaw):
    lines = ok(hiclaw("get", "workers")).splitlines()
    assert lines[0].split() == ["NAME", "TEAM", "ROLE", "PHASE", "MODEL", "STATE", "LAST-HEARTBEAT", "HEALTH", "AGE"]
    assert [line.split()[0] for line in lines[1:]] == ["a-dev", "a-lead", "b-dev", "b-lead", "solo"]
    assert lines[1].split()[:8] == ["a-dev", "team-a", "worker", "Pending", "qwen", "Running", "<none>", "ok"]
    assert lines[5].split()[:3] == ["solo", "<none>", "standalone"]
    # Every column starts at the same offset on every line, at least three spaces after the previous one.
    team_column = lines[0].index("TEAM")
    assert all(line[team_column - 3 : team_column] == "   " and line[team_column] != " " for line in lines)


def test_get_filters_by_team_and_follows_pages(hiclaw):
    assert ok(hiclaw("get", "workers", "--team", "team-a")).splitlines()[1:][0].startswith("a-dev")
    names = [line.split()[0] for line in ok(hiclaw("get", "workers", "--chunk-size", "2")).splitlines()[1:]]
    assert names == ["a-dev", "a-lead", "b-dev", "b-lead", "solo"]
    listed = json.loads(ok(hiclaw("get", "workers", "-o", "json", "--chunk-size", "2")))
    assert listed["total"] == 5 and [w["name"] for w in listed["workers"]] == names


def test_get_one_as_table_and_json(hiclaw):
    lines = ok(hiclaw("get", "team", "team-a")).splitlines()
    assert lines[0].split() == ["NAME", "PHASE", "LEADER", "LEADER-READY", "WORKERS-READY", "AGE"]
    assert lines[1].split()[:5] == ["team-a", "Pending", "a-lead", "no", "0/1"]
    worker = json.loads(ok(hiclaw("get", "worker", "solo", "-o", "json")))
    assert worker["kind"] == "Worker" and worker["spec"]["model"] == "qwen" and "status" in worker


def test_get_yaml_is_a_manifest_without_status(hiclaw):
    document = yaml.safe_load(ok(hiclaw("get", "worker", "solo", "-o", "yaml")))
    assert document == {
        "apiVersion": "hiclaw.io/v1beta1",
        "kind": "Worker",
        "metadata": {"name": "solo", "labels": {"tier": "gold"}},
        "spec": Worker.objects.get(name="solo").spec,
    }


@pytest.mark.parametrize(("kind", "name"), [("worker", "solo"), ("team", "team-a")])
def test_yaml_export_applies_back_unchanged(hiclaw, kind, name):
    exported = ok(hiclaw("get", kind, name, "-o", "yaml"))
    assert ok(hiclaw("apply", "-f", "-", stdin=exported)) == f"{kind}/{name} unchanged\n"


def test_exported_list_applies_back_unchanged(hiclaw):
    exported = ok(hiclaw("get", "teams", "-o", "yaml"))
    assert ok(hiclaw("apply", "-f", "-", stdin=exported)) == "team/team-a unchanged\nteam/team-b unchanged\n"


def test_multi_line_text_is_exported_as_a_block(hiclaw):
    assert "soul: |\n      Lead team A.\n      Review every change.\n" in ok(
        hiclaw("get", "team", "team-a", "-o", "yaml")
    )


def test_empty_list_says_so_on_stderr(hiclaw):
    process = hiclaw("get", "humans")
    assert process.returncode == 0 and process.stdout == "" and process.stderr == "No humans found.\n"


def test_apply_worker_creates_then_updates_only_the_given_fields(hiclaw):
    assert (
        ok(hiclaw("apply", "worker", "--name", "eve", "--model", "qwen", "--skills", "git,python"))
        == "worker/eve created\n"
    )
    assert Worker.objects.get(name="eve").spec["skills"] == ["git", "python"]
    assert (
        ok(hiclaw("apply", "worker", "--name", "eve", "--image", "hiclaw/agent:2", "--ephemeral"))
        == "worker/eve configured\n"
    )
    eve = Worker.objects.get(name="eve")
    assert (eve.spec["image"], eve.spec["skills"]) == ("hiclaw/agent:2", ["git", "python"])
    assert eve.spec["labels"] == {"hiclaw.io/ephemeral": "true"}
    assert ok(hiclaw("apply", "worker", "--name", "eve", "--model", "qwen")) == "worker/eve unchanged\n"


def test_apply_worker_into_a_team_and_not_out_of_it(hiclaw):
    assert (
        ok(hiclaw("apply", "worker", "--name", "a-new", "--model", "qwen", "--team", "team-a"))
        == "worker/a-new created\n"
    )
    assert Worker.objects.get(name="a-new").team.name == "team-a"
    line = failed(hiclaw("apply", "worker", "--name", "a-new", "--team", "team-b"))
    assert line.startswith("error: worker/a-new is in team team-a, not team-b")


def test_apply_team_creates_then_changes_the_image(hiclaw):
    created = hiclaw(
        "apply", "team", "--name", "team-c", "--image", "img:1", "--leader-name", "c-lead", "--leader-model", "qwen"
    )
    assert ok(created) == "team/team-c created\n"
    assert ok(hiclaw("apply", "team", "--name", "team-c", "--image", "img:2")) == "team/team-c configured\n"
    assert Team.objects.get(name="team-c").spec["image"] == "img:2"


def test_leader_cannot_apply_a_worker_of_another_team(hiclaw):
    line = failed(hiclaw("apply", "worker", "--name", "b-dev", "--model", "claude", persona="leader-a"))
    # Another team's worker is judged as a name the leader would create: standalone, which it may not.
    assert "team-leader a-lead may only create workers in team team-a" in line


def test_create_and_update_verbs_of_the_original_cli(hiclaw):
    ok(hiclaw("create", "worker", "--name", "w1", "--model", "qwen", "--skills", "git", "--expose", "8080,9090"))
    assert [entry["port"] for entry in Worker.objects.get(name="w1").spec["expose"]] == [8080, 9090]
    assert ok(hiclaw("update", "worker", "--name", "w1", "--mcp-servers", "github")) == "worker/w1 configured\n"
    assert Worker.objects.get(name="w1").spec["mcpServers"] == ["github"]

    ok(
        hiclaw(
            "create", "team", "--name", "t1", "--leader-name", "t1-lead", "--leader-model", "qwen", "--workers", "t1-a"
        )
    )
    assert [m["name"] for m in Team.objects.get(name="t1").spec["workers"]] == ["t1-a"]
    ok(hiclaw("update", "team", "--name", "t1", "--description", "Team one"))
    assert Team.objects.get(name="t1").spec["description"] == "Team one"

    out = ok(
        hiclaw(
            "create",
            "human",
            "--name",
            "carol",
            "--display-name",
            "Carol",
            "--permission-level",
            "2",
            "--accessible-teams",
            "t1",
        )
    )
    assert out.splitlines()[0] == "human/carol created"
    ok(hiclaw("update", "human", "--name", "carol", "--email", "carol@example.org"))
    carol = Human.objects.get(name="carol")
    assert (carol.spec["accessibleTeams"], carol.email) == (["t1"], "carol@example.org")

    ok(hiclaw("create", "manager", "--name", "default", "--model", "claude"))
    ok(hiclaw("update", "manager", "--name", "default", "--runtime", "copaw"))
    assert Manager.objects.get(name="default").spec["runtime"] == "copaw"


def test_create_of_an_existing_worker_is_refused(hiclaw):
    assert failed(hiclaw("create", "worker", "--name", "solo", "--model", "qwen")) == (
        "error: worker/solo already exists; update it with PUT"
    )


def test_delete_requests_deletion(hiclaw):
    assert ok(hiclaw("delete", "worker", "solo")) == "worker/solo deletion requested\n"
    assert Worker.objects.get(name="solo").deletion_requested_at is not None
    assert failed(hiclaw("delete", "human", "nobody")) == "error: human/nobody not found"
