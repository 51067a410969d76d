"""Every kind round-trips YAML <-> model, and the documented examples apply."""

from __future__ import annotations

import pytest

from controller.manifests import dump_yaml, parse, to_manifest
from controller.models import KINDS, DebugWorker, Human, Manager, Team, Worker
from tests.conftest import EXAMPLES, example

EXAMPLE_FILES = sorted(path.name for path in EXAMPLES.glob("*.yaml"))


def test_examples_cover_every_kind():
    kinds = {doc.kind for name in EXAMPLE_FILES for doc in parse(example(name))}
    assert kinds == set(KINDS)


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_applies_and_export_applies_back_unchanged(apply, name):
    created = apply(example(name))
    assert {outcome.action for outcome in created} == {"created"}

    for outcome in created:
        resource = KINDS[outcome.kind].objects.get(name=outcome.name)
        exported = dump_yaml([to_manifest(resource)])
        generation = resource.generation
        assert [o.action for o in apply(exported)] == ["unchanged"]
        resource.refresh_from_db()
        assert resource.generation == generation
        # The export carries the same desired state as the stored row.
        assert parse(exported)[0].spec == resource.spec


def test_export_with_status_applies_back_unchanged(apply):
    apply(example("team-alpha.yaml"))
    team = Team.objects.get(name="alpha-team")
    exported = dump_yaml([to_manifest(team, with_status=True)])
    assert "status:" in exported and "generation: 1" in exported
    assert [o.action for o in apply(exported)] == ["unchanged"]


def test_worker_columns_follow_the_spec(apply):
    apply(example("worker-standalone.yaml"))
    worker = Worker.objects.get(name="research-bot")
    assert (worker.model, worker.runtime, worker.image, worker.state) == (
        "qwen3.5-plus",
        "copaw",
        "hiclaw/copaw-worker:1.4.0",
        "Running",
    )
    assert worker.team is None and worker.role == ""
    assert worker.spec["expose"] == [{"port": 8080, "protocol": "http"}, {"port": 9090, "protocol": "grpc"}]
    assert worker.spec["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}
    assert worker.labels == {"app.kubernetes.io/part-of": "research"}


def test_defaults_are_filled_so_reapplying_with_them_is_a_noop(apply):
    apply("apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: w1}\nspec: {model: qwen}\n")
    worker = Worker.objects.get(name="w1")
    assert worker.spec == {"model": "qwen", "runtime": "openclaw", "state": "Running"}
    outcomes = apply(
        "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: w1}\n"
        "spec: {model: qwen, runtime: openclaw, state: Running}\n"
    )
    assert [o.action for o in outcomes] == ["unchanged"]


def test_team_members_become_worker_rows(apply):
    apply(example("team-alpha.yaml"))
    team = Team.objects.get(name="alpha-team")
    members = {w.name: w for w in Worker.objects.filter(team=team)}
    assert set(members) == {"alpha-lead", "alpha-dev", "alpha-qa", "alpha-docs"}
    assert members["alpha-lead"].role == "team_leader"
    assert members["alpha-dev"].annotations == {"hiclaw.io/team": "alpha-team", "hiclaw.io/role": "worker"}
    # The team image is the default; a member's own image wins; runtime is kept.
    assert members["alpha-dev"].image == "hiclaw/worker-agent:1.4.0"
    assert members["alpha-docs"].image == "hiclaw/worker-agent:1.5.0-rc1"
    assert members["alpha-qa"].runtime == "copaw"
    assert members["alpha-lead"].model == "claude-sonnet-4"
    assert team.admin_name == "alice"


def test_team_status_is_derived_from_members(apply):
    apply(example("team-alpha.yaml"))
    Worker.objects.filter(name__in=["alpha-lead", "alpha-dev"]).update(phase="Running")
    status = Team.objects.get(name="alpha-team").status_manifest()
    assert status["leaderReady"] is True
    assert (status["readyWorkers"], status["totalWorkers"]) == (1, 3)
    assert {m["name"]: m["ready"] for m in status["members"]} == {
        "alpha-lead": True,
        "alpha-dev": True,
        "alpha-qa": False,
        "alpha-docs": False,
    }


def test_human_manager_and_debugworker_columns(apply):
    apply(example("human-team-admin.yaml"))
    apply(example("manager.yaml"))
    apply(example("debugworker-team.yaml"))
    human = Human.objects.get(name="alice")
    assert (human.permission_level, human.email) == (2, "alice@example.com")
    manager = Manager.objects.get(name="default")
    assert manager.spec["config"] == {
        "heartbeatInterval": "15m",
        "workerIdleTimeout": "720m",
        "notifyChannel": "admin-dm",
    }
    debug = DebugWorker.objects.get(name="alpha-debug")
    assert (debug.target_type, debug.target_name) == ("team", "alpha-team")


def test_debugworker_access_token_is_stored_but_never_exported(apply):
    apply(example("debugworker-team.yaml"))
    debug = DebugWorker.objects.get(name="alpha-debug")
    assert debug.matrix_access_token == "syt_example_token_do_not_use"
    exported = dump_yaml([to_manifest(debug, with_status=True)])
    assert "syt_example" not in exported and "accessToken" not in exported
    # Re-applying the export keeps the stored token.
    assert [o.action for o in apply(exported)] == ["unchanged"]
    debug.refresh_from_db()
    assert debug.matrix_access_token == "syt_example_token_do_not_use"


def test_a_new_access_token_is_a_spec_change(apply):
    apply(example("debugworker-team.yaml"))
    outcomes = apply(example("debugworker-team.yaml").replace("syt_example_token_do_not_use", "syt_rotated"))
    assert [o.action for o in outcomes] == ["configured"]
    debug = DebugWorker.objects.get(name="alpha-debug")
    assert (debug.generation, debug.matrix_access_token) == (2, "syt_rotated")
