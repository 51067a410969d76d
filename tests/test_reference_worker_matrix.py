"""The reference worker speaks Matrix with the credentials the controller wired, on a real Synapse.

A team is reconciled with Matrix configured (process backend, file storage);
its reference workers run as local processes against a live test server and
the session's Synapse. A Human of level 2 talks to them in the team room; the
dashboard's live socket sees the work they report; the controller's notices are
acknowledged in the room and in heartbeats; a deactivated account ends the
Matrix loop once while heartbeats go on; deletion deactivates the account.
"""

from __future__ import annotations

import time
import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client

from controller.agent.notices import SAVE_STATE, SKILLS_UPDATE, acknowledged, notice_content
from controller.backends.base import InstanceState
from controller.clients.matrix import MatrixSession
from controller.models import Heartbeat, Human, Team, Worker
from controller.services.apply import apply_text
from tests.test_worker_embedded import wait_until
from tests.ui.test_consumers import communicator, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def driver(matrix_driver, live_server, settings):
    settings.HICLAW_CONTROLLER_URL = live_server.url
    settings.HICLAW_AGENT_HEARTBEAT_SECONDS = 1
    return matrix_driver


def bring_up_team(driver) -> tuple[str, MatrixSession]:
    """A team (leader and worker ``a``) and a level-2 Human joined to its team room."""
    team = f"m{uuid.uuid4().hex[:6]}"
    apply_text(
        f"apiVersion: hiclaw.io/v1beta1\nkind: Team\nmetadata: {{name: {team}}}\n"
        f"spec: {{leader: {{name: {team}-lead, model: q}}, workers: [{{name: {team}-a, model: q}}], "
        "debug: {enabled: false}}\n"
        "---\napiVersion: hiclaw.io/v1beta1\nkind: Human\nmetadata: {name: " + f"h{team}" + "}\n"
        f"spec: {{displayName: H, email: h@example.com, permissionLevel: 2, accessibleTeams: [{team}]}}\n"
    )
    driver.converge(("Worker", f"{team}-lead"), ("Worker", f"{team}-a"), ("Team", team), ("Human", f"h{team}"))
    matrix = driver.connections.matrix
    person = matrix.login(f"h{team}", Human.objects.get(name=f"h{team}").initial_password())
    matrix.join(person, Team.objects.get(name=team).team_room_id)
    for name in (f"{team}-lead", f"{team}-a"):
        wait_until(lambda n=name: "matrix: following" in latest_note(n), 30, f"{name} following its rooms")
    return team, person


def latest_note(worker: str) -> str:
    heartbeat = Heartbeat.objects.filter(worker__name=worker).order_by("-received_at", "-id").first()
    return heartbeat.note if heartbeat else ""


def say(driver, session: MatrixSession, room_id: str, worker: str, text: str) -> float:
    user_id = Worker.objects.get(name=worker).matrix_user_id
    driver.connections.matrix.send_message(session, room_id, f"{user_id} {text}", mentions=[user_id])
    return time.monotonic()


def answer(driver, session: MatrixSession, room_id: str, worker: str, containing: str, seconds: float = 10) -> dict:
    """The first message of ``worker`` in the room whose body contains ``containing``."""
    user_id = Worker.objects.get(name=worker).matrix_user_id

    def find():
        for event in driver.connections.matrix.messages(session, room_id):
            body = event.get("content", {}).get("body", "")
            if event["type"] == "m.room.message" and event["sender"] == user_id and containing in body:
                return event
        return None

    try:
        return wait_until(find, seconds, f"{worker}'s answer containing {containing!r}")
    except BaseException:
        print(driver.connections.backend.logs(f"hiclaw-worker-{worker}", tail=200))  # the worker's side, on failure
        raise


def test_a_person_talks_to_a_worker_and_the_dashboard_sees_its_work(driver, caplog):
    team, person = bring_up_team(driver)
    worker, room = f"{team}-a", Team.objects.get(name=team).team_room_id
    worker_id = Worker.objects.get(name=worker).matrix_user_id

    sent = say(driver, person, room, worker, "status")
    reply = answer(driver, person, room, worker, "active tasks", seconds=2)
    assert time.monotonic() - sent < 2
    content = reply["content"]
    assert reply["sender"] == worker_id and content["msgtype"] == "m.text"
    assert content["m.mentions"] == {"user_ids": [person.user_id]}
    assert f"{worker}: idle, 0 active tasks, runtime reference-0.1.0" in content["body"]
    say(driver, person, room, worker, "what is up")
    assert "answers: status, work N" in answer(driver, person, room, worker, "answers:")["content"]["body"]

    # `work 2`: the team admin's dashboard socket sees the worker busy with 2 tasks, then idle.
    login = get_user_model().objects.create_user(f"h{team}")
    Human.objects.filter(name=f"h{team}").update(user=login)
    cookie = session_cookie(login)
    api = Client()
    api.force_login(login)

    async def scenario():
        socket = communicator(f"/ws/workers/{worker}/", cookie)
        assert (await socket.connect())[0]
        assert (await socket.receive_json_from(5))["type"] == "snapshot"
        await sync_to_async(say)(driver, person, room, worker, "work 2")
        rows = []
        while not rows or rows[-1]["activeTasks"] != 2:
            rows.append((await socket.receive_json_from(5))["worker"])
        assert rows[-1]["idleSince"] is None
        busy = await database_sync_to_async(Worker.objects.get)(name=worker)
        assert (busy.active_tasks, busy.idle_since) == (2, None)
        lines = (await sync_to_async(api.get)(f"/api/v1/workers/idle-check?team={team}")).json()["workers"]
        assert [(line["activeTasks"], line["idleSince"]) for line in lines if line["name"] == worker] == [(2, None)]
        while rows[-1]["activeTasks"] != 0:
            rows.append((await socket.receive_json_from(10))["worker"])
        assert rows[-1]["idleSince"] is not None
        await socket.disconnect()

    async_to_sync(scenario)()
    states = list(Heartbeat.objects.filter(worker__name=worker).values_list("state", "active_tasks"))
    assert ("busy", 2) in states and states[-1] == ("idle", 0)

    # Deleting the worker deactivates its account and ends its process; no log holds its token.
    row = Worker.objects.get(name=worker)
    token = row.matrix_access_token
    log = driver.connections.backend.logs(f"hiclaw-worker-{worker}", tail=10_000)
    assert "following Matrix as" in log and token not in log
    apply_text(
        f"apiVersion: hiclaw.io/v1beta1\nkind: Team\nmetadata: {{name: {team}}}\n"
        f"spec: {{leader: {{name: {team}-lead, model: q}}, workers: [], debug: {{enabled: false}}}}\n"
    )
    driver.converge(("Worker", worker), ("Team", team))
    assert not Worker.objects.filter(name=worker).exists()
    assert driver.connections.matrix.user_info(driver.connections.admin_session, worker_id)["deactivated"]
    assert driver.connections.backend.status(f"hiclaw-worker-{worker}").state == InstanceState.MISSING
    assert token not in caplog.text


def test_leader_answers_team_and_notices_are_acknowledged(driver):
    team, person = bring_up_team(driver)
    matrix, admin = driver.connections.matrix, driver.connections.admin_session
    leader, worker = Worker.objects.get(name=f"{team}-lead"), Worker.objects.get(name=f"{team}-a")
    room = Team.objects.get(name=team).team_room_id

    say(driver, person, room, leader.name, "team")
    body = answer(driver, person, room, leader.name, f"team {team}:")["content"]["body"]
    assert f"{team}-a Ready, idle" in body and f"{team}-lead Ready" in body
    say(driver, person, room, worker.name, "team")  # not a leader: help, which does not offer it
    assert ", team" not in answer(driver, person, room, worker.name, "answers:")["content"]["body"]

    # A notice from someone other than the controller (the room's creator) is not acted on.
    forged = notice_content(SAVE_STATE, "forged1")
    matrix._http.call("PUT", f"/_matrix/client/v3/rooms/{room}/send/m.room.message/f1", session=person, body=forged)
    # The controller's notices: answered in the room and acknowledged in the heartbeats.
    for notice in (notice_content(SAVE_STATE, "r1"), notice_content(SKILLS_UPDATE, "s1", version="2026.12.1")):
        path = f"/_matrix/client/v3/rooms/{room}/send/m.room.message/{uuid.uuid4().hex}"
        matrix._http.call("PUT", path, session=admin, body=notice)
    answer(driver, person, room, worker.name, "state saved for save-state r1")
    answer(driver, person, room, worker.name, "skills at 2026.12.1 for skills-update s1")
    acks = acknowledged(latest_note(worker.name))
    assert {("save-state", "r1"), ("skills-update", "s1")} <= acks and ("save-state", "forged1") not in acks
    assert Worker.objects.get(name=worker.name).skills_version == "2026.12.1"
    saved = driver.connections.storage.get(f"agents/{worker.name}/memory/state.json")
    assert b'"notice": "r1"' in saved

    # A deactivated account ends the Matrix loop once; heartbeats go on reporting it.
    matrix.deactivate(admin, worker.matrix_user_id)
    wait_until(lambda: "matrix: stopped" in latest_note(worker.name), 60, "the note reporting the loop's end")
    count = Heartbeat.objects.filter(worker__name=worker.name).count()
    wait_until(lambda: Heartbeat.objects.filter(worker__name=worker.name).count() > count + 1, 10, "more heartbeats")
    assert "matrix: stopped" in latest_note(worker.name)
    log = driver.connections.backend.logs(f"hiclaw-worker-{worker.name}", tail=10_000)
    assert log.count("matrix loop of") == 1 and "M_UNKNOWN_TOKEN" in log
    assert worker.matrix_access_token not in log
