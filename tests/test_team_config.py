"""What a team writes into its members' config, its default DebugWorker, and the Manager (embedded)."""

from __future__ import annotations

import json

import pytest

from controller.models import DebugWorker
from controller.services.apply import apply_text
from tests.helpers import manifest, to_yaml

pytestmark = pytest.mark.django_db


SPAM_DENIED = {"channelPolicy": {"dmDenyExtra": ["@spam:hs.test"]}}


def team(workers: list[str], *, peer_mentions: bool = True, debug: bool = True, member: dict | None = None) -> str:
    """Team ``t`` with members ``t-<w>``, each also given the fields of ``member``."""
    spec = {
        "admin": {"name": "boss", "matrixUserId": "@boss:hs.test"},
        "leader": {"name": "t-lead", "model": "q", "agents": "Our own house rules."},
        "workers": [{"name": f"t-{w}", "model": "q", **(member or {})} for w in workers],
        "peerMentions": peer_mentions,
        "debug": {"enabled": debug},
    }
    return to_yaml(manifest("Team", "t", spec))


def config(driver, worker: str) -> dict:
    return json.loads(driver.connections.storage.get(f"agents/{worker}/openclaw.json"))


def converge(driver, *workers: str) -> None:
    driver.converge(*[("Worker", f"t-{w}") for w in workers], ("Team", "t"))


def test_channel_policy_follows_peer_mentions_and_extras(embedded_driver, settings):
    settings.HICLAW_MATRIX_DOMAIN = "hs.test"
    apply_text(team(["a", "b"], member=SPAM_DENIED))
    converge(embedded_driver, "lead", "a", "b")
    policy = config(embedded_driver, "t-a")["channelPolicy"]
    assert policy["groupAllow"] == ["@hiclaw-worker-t-lead:hs.test", "@boss:hs.test", "@hiclaw-worker-t-b:hs.test"]
    assert policy["dmAllow"] == ["@hiclaw-worker-t-lead:hs.test", "@boss:hs.test"]
    assert policy["dmDeny"] == ["@spam:hs.test"]

    apply_text(team(["a", "b"], peer_mentions=False, member=SPAM_DENIED))
    converge(embedded_driver, "a")
    assert config(embedded_driver, "t-a")["channelPolicy"]["groupAllow"] == [
        "@hiclaw-worker-t-lead:hs.test",
        "@boss:hs.test",
    ]


def test_leader_agents_md_keeps_the_users_text_and_follows_the_members(embedded_driver):
    apply_text(team(["a"]))
    converge(embedded_driver, "lead", "a")
    agents = embedded_driver.connections.storage.get("agents/t-lead/AGENTS.md").decode()
    assert agents.startswith("Our own house rules.")
    assert "## Team t" in agents and "t-a (q)" in agents and "t-b" not in agents

    apply_text(team(["a", "b"]))
    embedded_driver.converge(*list(embedded_driver.queue), ("Worker", "t-b"), ("Worker", "t-lead"))
    agents = embedded_driver.connections.storage.get("agents/t-lead/AGENTS.md").decode()
    assert agents.startswith("Our own house rules.") and "t-b (q)" in agents
    assert agents.count("hiclaw:team-context begin") == 1


def test_default_debugworker_exists_while_debug_is_enabled(embedded_driver):
    apply_text(team(["a"]))
    embedded_driver.converge(("Team", "t"))
    debug = DebugWorker.objects.get(name="t-debug")
    assert debug.spec["target"] == {"type": "team", "name": "t"}
    assert debug.spec["accessControl"] == {"allowedUsers": ["@boss:hs.test"]}
    assert debug.team_name == "t"

    apply_text(team(["a"], debug=False))
    embedded_driver.converge(("Team", "t"), ("DebugWorker", "t-debug"))
    assert not DebugWorker.objects.filter(name="t-debug").exists()


def test_manager_runs_with_its_config(embedded_driver):
    config = {"heartbeatInterval": "5m", "notifyChannel": "team-room"}
    apply_text(to_yaml(manifest("Manager", "boss", {"model": "q", "config": config})))
    embedded_driver.converge(("Manager", "boss"))
    services = embedded_driver.connections
    assert services.backend.status("hiclaw-manager-boss").running
    written = json.loads(services.storage.get("managers/boss/openclaw.json"))
    assert written["manager"] == {"heartbeatInterval": "5m", "workerIdleTimeout": "720m", "notifyChannel": "team-room"}


def test_deleting_a_team_removes_its_members_then_itself_and_its_debugworker(embedded_driver):
    from controller.models import Team, Worker
    from controller.services.lifecycle import request_deletion

    apply_text(team(["a"]))
    converge(embedded_driver, "lead", "a")
    assert DebugWorker.objects.filter(name="t-debug").exists()
    request_deletion(Team.objects.get(name="t"))
    embedded_driver.converge(("Worker", "t-lead"), ("Worker", "t-a"), ("Team", "t"), ("DebugWorker", "t-debug"))
    assert not Team.objects.exists() and not Worker.objects.exists()
    assert not DebugWorker.objects.filter(name="t-debug").exists()
    assert embedded_driver.connections.backend.list() == []
