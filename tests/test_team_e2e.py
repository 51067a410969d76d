"""Teams end to end: members as containers, the room topology, status, membership changes.

On real services (Docker, Synapse, S3 on moto; the gateway is the in-test
stand-in of the Higress console, as no console can be had here) and again in
embedded mode (process backend, filesystem storage, no Matrix).
"""

from __future__ import annotations

import uuid

import pytest

from controller.manifests import ManifestInvalid
from controller.models import Team, Worker
from controller.services.apply import apply_text
from tests.helpers import manifest, to_yaml

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

MANAGER = to_yaml(manifest("Manager", "default", {"model": "claude-opus-4"}))


def team_manifest(team: str, workers: list[str], *, image: str = "", admin: str = "") -> str:
    """Team ``team`` of at most 3 workers ``<team>-<w>``; ``admin`` is the team admin's Matrix ID."""
    spec: dict = {}
    if admin:
        spec["admin"] = {"name": "boss", "matrixUserId": admin}
    if image:
        spec["image"] = image
    spec["leader"] = {"name": f"{team}-lead", "model": "qwen", "permissions": {"maxWorkers": 3}}
    spec["workers"] = [{"name": f"{team}-{w}", "model": "qwen"} for w in workers]
    spec["debug"] = {"enabled": False}
    return to_yaml(manifest("Team", team, spec))


def bring_up(driver, team: str) -> None:
    names = Worker.objects.filter(team__name=team).values_list("name", flat=True)
    driver.converge(*[("Worker", name) for name in names], ("Team", team))


def test_team_on_docker_and_synapse(real_driver, synapse, docker_service):
    services, matrix, admin = real_driver.connections, real_driver.connections.matrix, synapse.admin
    team = f"t{uuid.uuid4().hex[:6]}"
    boss = matrix.register(f"boss-{team}", "boss-password-123").user_id
    apply_text(MANAGER)
    real_driver.converge(("Manager", "default"))
    apply_text(team_manifest(team, ["a", "b", "c"], admin=boss))
    bring_up(real_driver, team)

    containers = docker_service.client.containers.list(filters={"label": f"hiclaw.io/team={team}"})
    assert sorted(c.labels["hiclaw.io/name"] for c in containers) == [f"{team}-{w}" for w in ("a", "b", "c", "lead")]
    assert all(c.status == "running" for c in containers)

    row = Team.objects.get(name=team)
    status = row.status_manifest()
    assert (row.phase, status["readyWorkers"], status["totalWorkers"], status["leaderReady"]) == ("Active", 3, 3, True)

    def ids(*workers: str) -> set[str]:
        return {matrix.user_id(f"hiclaw-worker-{team}-{w}") for w in workers}

    def members(room_id: str) -> set[str]:
        return {u for u, m in matrix.room_members(admin, room_id).items() if m in ("join", "invite")}

    manager_id = matrix.user_id("hiclaw-manager-default")
    # Team room: leader, team admin and workers — never the Manager.
    assert members(row.team_room_id) == {admin.user_id, boss} | ids("lead", "a", "b", "c")
    # Leader room: manager, global admin, leader.
    leader = Worker.objects.get(name=f"{team}-lead")
    assert row.leader_room_id == leader.room_id
    assert members(leader.room_id) == {admin.user_id, manager_id} | ids("lead")
    # One room per worker: leader, team admin, worker.
    for w in ("a", "b", "c"):
        assert members(Worker.objects.get(name=f"{team}-{w}").room_id) == {admin.user_id, boss} | ids("lead", w)
    # Leader DM: team admin and leader.
    assert members(row.leader_dm_room_id) == {admin.user_id, boss} | ids("lead")
    # The leader's generated team context lists the members.
    agents_md = services.storage.get(f"agents/{team}-lead/AGENTS.md").decode()
    assert f"## Team {team}" in agents_md and f"{team}-c (qwen)" in agents_md

    # Remove a worker: its container goes and it leaves the team room.
    removed_room = Worker.objects.get(name=f"{team}-c").room_id
    apply_text(team_manifest(team, ["a", "b"], admin=boss))
    real_driver.converge(("Worker", f"{team}-c"), ("Team", team), ("Worker", f"{team}-lead"))
    assert not Worker.objects.filter(name=f"{team}-c").exists()
    assert not docker_service.client.containers.list(all=True, filters={"name": f"hiclaw-worker-{team}-c"})
    assert members(row.team_room_id) == {admin.user_id, boss} | ids("lead", "a", "b")
    assert ids("c") & members(removed_room) == set()  # deactivated accounts leave their rooms
    assert f"{team}-c (qwen)" not in services.storage.get(f"agents/{team}-lead/AGENTS.md").decode()

    # Beyond maxWorkers: refused with the quota message, nothing created.
    with pytest.raises(ManifestInvalid, match="used 4/max 3"):
        apply_text(team_manifest(team, ["a", "b", "c", "d"], admin=boss))
    assert not Worker.objects.filter(name__in=[f"{team}-c", f"{team}-d"]).exists()

    # A new team image becomes every member's desired image.
    apply_text(team_manifest(team, ["a", "b"], admin=boss, image="hiclaw/worker-agent:2.0"))
    assert set(Worker.objects.filter(team__name=team).values_list("image", flat=True)) == {"hiclaw/worker-agent:2.0"}


def test_team_in_embedded_mode(embedded_driver):
    apply_text(team_manifest("emb", ["a", "b", "c"]))
    bring_up(embedded_driver, "emb")
    backend = embedded_driver.connections.backend
    running = sorted(i.resource for i in backend.list() if i.team == "emb" and i.state == "Running")
    assert running == ["emb-a", "emb-b", "emb-c", "emb-lead"]
    row = Team.objects.get(name="emb")
    status = row.status_manifest()
    assert (row.phase, status["readyWorkers"], status["totalWorkers"]) == ("Active", 3, 3)

    apply_text(team_manifest("emb", ["a", "b"]))
    embedded_driver.converge(("Worker", "emb-c"), ("Team", "emb"))
    assert sorted(i.resource for i in backend.list() if i.team == "emb") == ["emb-a", "emb-b", "emb-lead"]
    assert Team.objects.get(name="emb").status_manifest()["totalWorkers"] == 2
