"""A DebugWorker end to end on real services: Docker engine, Synapse, S3 (moto).

A team leader asks for a DebugWorker through the REST API, as its agent
would; after the reconciles its container runs with the debug image, its
token and the leader's Matrix credential, and its debug room holds exactly
the users it is for. When its retention runs out (a fake clock) the container
goes and its Matrix account is deactivated. Between the two, the team talks in
its room and the leader's agent exports the conversation and asks for a report. Assertions read the world
through each service's own API.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from controller.clients.matrix_http import MatrixSession
from controller.models import AgentToken, DebugWorker, Identity, Team, Worker
from controller.reconcilers import reconcile
from controller.services import debug_runs
from controller.services.apply import apply_text
from tests.helpers import manifest, to_yaml
from tests.test_worker_e2e import MUTATING, Recorder

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def stored_credential(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT matrix_access_token FROM controller_debugworker WHERE name = %s", [name])
        return cursor.fetchone()[0]


def run_job(client: APIClient, services, name: str, kind: str, query: str) -> list[str]:
    """Start an export or report over the API, run it as the Celery worker would, and return
    the text of what it wrote (read from the storage the job wrote to)."""
    started = client.post(f"/api/v1/debugworkers/{name}/{kind}?{query}")
    assert started.status_code == 202, started.content
    job = debug_runs.run(started.json()["id"], services)
    assert job is not None and job.state == "Done", job and job.message
    answer = client.get(f"/api/v1/debugworkers/{name}/jobs/{job.pk}").json()
    assert answer["state"] == "Done" and answer["outputs"]
    return [services.storage.get(f"debug/{name}/{path}").decode() for path in answer["outputs"]]


def exported_and_reported(client, services, team: str, name: str, members: list[str], secrets: list[str]) -> None:
    matrix = services.matrix
    room = Team.objects.get(name=team).team_room_id
    said = {}
    for member in members:
        worker = Worker.objects.get(name=member)
        said[member] = f"status from {member}: {uuid.uuid4().hex[:8]}"
        matrix.send_message(MatrixSession(worker.matrix_user_id, worker.matrix_access_token), room, said[member])
    secrets = [*secrets, *(Worker.objects.get(name=member).matrix_access_token for member in members)]

    exports = run_job(client, services, name, "export", "hours=1")
    team_room = next(json.loads(text) for text in exports if json.loads(text)["roomId"] == room)
    bodies = [event.get("body") for event in team_room["events"]]
    assert all(line in bodies for line in said.values()), bodies

    (report,) = run_job(client, services, name, "report", "hours=1")
    for member in members:
        assert f"## worker/{member}" in report
    assert said[members[1]] in report
    for text in [*exports, report]:
        for secret in secrets:
            assert secret not in text


def test_a_leaders_debugworker_on_docker_and_synapse(real_driver, synapse, docker_service, settings):
    settings.HICLAW_DEBUG_WORKER_IMAGE = docker_service.image
    services, matrix, admin = real_driver.connections, real_driver.connections.matrix, synapse.admin
    team, tag = f"d{uuid.uuid4().hex[:6]}", uuid.uuid4().hex[:6]
    boss = matrix.register(f"boss-{tag}", "boss-password-123").user_id
    spec = {
        "admin": {"name": "boss", "matrixUserId": boss},
        "leader": {"name": f"{team}-lead", "model": "qwen"},
        "workers": [{"name": f"{team}-a", "model": "qwen"}, {"name": f"{team}-b", "model": "qwen"}],
        "debug": {"enabled": False},
    }
    apply_text(
        to_yaml(
            manifest("Team", team, spec),
            manifest("Human", f"carol-{tag}", {"displayName": "Carol", "permissionLevel": 3}),
        )
    )
    members = [f"{team}-lead", f"{team}-a", f"{team}-b"]
    real_driver.converge(*[("Worker", name) for name in members], ("Team", team), ("Human", f"carol-{tag}"))
    leader = Worker.objects.get(name=f"{team}-lead")
    carol = matrix.user_id(f"carol-{tag}")

    # The leader's agent asks for one: its team and its Matrix credential are filled in.
    _, clear = AgentToken.mint(Identity.TEAM_LEADER, leader.name, team=team)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {clear}")
    name = f"{team}-look"
    body = {"name": name, "allowedUsers": [boss, f"carol-{tag}", f"nobody-{tag}"], "hiclawVersion": "1.4.2"}
    created = client.post("/api/v1/debugworkers", body, format="json")
    assert created.status_code == 201, created.content
    real_driver.converge(("DebugWorker", name))

    row = DebugWorker.objects.get(name=name)
    assert row.phase == "Running", row.message
    assert [m["worker"] for m in row.mounted_workspaces] == members
    assert row.expires_at == row.created_at + timedelta(hours=72)  # the one default retention
    # The leader's credential, kept encrypted and out of every answer.
    assert row.matrix_access_token == leader.matrix_access_token
    assert row.spec["matrixCredential"] == {"userID": leader.matrix_user_id}
    assert leader.matrix_access_token not in stored_credential(name)
    for answer in (created, client.get(f"/api/v1/debugworkers/{name}"), client.get("/api/v1/debugworkers")):
        assert leader.matrix_access_token.encode() not in answer.content

    # The container, as the Docker engine sees it.
    container = docker_service.client.containers.get(f"hiclaw-debug-{name}")
    assert container.status == "running"
    assert docker_service.image in container.image.tags  # other tests may tag the same image
    assert (container.labels["hiclaw.io/kind"], container.labels["hiclaw.io/name"]) == ("debugworker", name)
    env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
    token = AgentToken.authenticate(env["HICLAW_AGENT_TOKEN"])
    assert token is not None and (token.identity, token.subject) == (Identity.DEBUG_WORKER, name)
    assert env["HICLAW_VERSION"] == "1.4.2" and env["HICLAW_DEBUG_TARGETS"] == ",".join(members)
    assert env["HICLAW_MATRIX_USER_ID"] == leader.matrix_user_id
    assert env["HICLAW_MATRIX_ACCESS_TOKEN"] == leader.matrix_access_token
    assert env["HICLAW_MATRIX_URL"] == synapse.base_url

    # The debug room, as the homeserver sees it: its audience and its own account (and the
    # controller's account that made it); the entry with no account is named, not invited.
    room = {user: state for user, state in matrix.room_members(admin, row.room_id).items() if state != "leave"}
    assert room == {admin.user_id: "join", row.matrix_user_id: "join", boss: "invite", carol: "invite"}
    ready = next(c for c in row.conditions if c["type"] == "MatrixReady")
    assert ready["status"] == "True" and f"nobody-{tag}" in ready["message"]
    assert services.storage.exists(f"debug/{name}/skills/debug-analysis/SKILL.md")

    # A second pass changes nothing outside the database.
    recorded = dataclasses.replace(
        services,
        backend=Recorder(services.backend, MUTATING["backend"]),
        storage=Recorder(services.storage, MUTATING["storage"]),
        matrix=Recorder(services.matrix, MUTATING["matrix"]),
    )
    reconcile("DebugWorker", name, connections=recorded)
    assert (recorded.backend.calls, recorded.storage.calls, recorded.matrix.calls) == ([], [], [])
    assert DebugWorker.objects.get(name=name).phase == "Running"

    # Someone it is not for, invited by hand, is removed by the next pass.
    eve = matrix.register(f"eve-{tag}", "eve-password-123").user_id
    matrix.invite(admin, row.room_id, eve)
    reconcile("DebugWorker", name, connections=services)
    assert matrix.room_members(admin, row.room_id)[eve] == "leave"

    # The team talks in its room; the leader's agent exports it and asks for a report.
    exported_and_reported(client, services, team, name, members, secrets=[env["HICLAW_AGENT_TOKEN"], clear])

    # Retention runs out: container gone, account deactivated, room emptied, token dead.
    moved = timezone.now() + timedelta(hours=72, minutes=1)
    services.clock = lambda: moved
    real_driver.converge(("DebugWorker", name))
    assert not DebugWorker.objects.filter(name=name).exists()
    assert not docker_service.client.containers.list(all=True, filters={"name": f"hiclaw-debug-{name}"})
    assert matrix.user_info(admin, row.matrix_user_id)["deactivated"]
    left = matrix.room_members(admin, row.room_id)
    assert {left[boss], left[carol], left[row.matrix_user_id]} == {"leave"}
    assert AgentToken.authenticate(env["HICLAW_AGENT_TOKEN"]) is None
