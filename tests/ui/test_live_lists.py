"""Live list pages and rows that come and go: what the consumer pushes, and to whom.

The Workers and DebugWorkers lists and a team's page hear every change; each
push is re-read through the policy of the login behind the socket, so another
team's admin never receives a row (nor learns a name) of team-a.
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from controller.models import DebugWorker, Event, Worker
from controller.services.apply import apply_text
from tests.ui.test_consumers import WAIT, communicator, heartbeat, run, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

DEBUGWORKER = """
apiVersion: hiclaw.io/v1beta1
kind: DebugWorker
metadata: {name: a-probe}
spec:
  target: {type: team, name: team-a}
"""
NEW_WORKER = """
apiVersion: hiclaw.io/v1beta1
kind: Worker
metadata: {name: lonely}
spec: {model: qwen}
"""


async def connected(path: str, cookie: bytes):
    socket = communicator(path, cookie)
    accepted, _ = await socket.connect()
    assert accepted
    snapshot = await socket.receive_json_from(WAIT)
    assert snapshot["type"] == "snapshot"
    return socket, snapshot


async def next_of(socket, kind: str) -> dict:
    """The next message of ``kind``, skipping others (a team row may come along)."""
    for _ in range(5):
        message = await socket.receive_json_from(WAIT)
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


def test_the_workers_list_gets_heartbeats_of_the_workers_the_login_may_see(world):
    cookie = session_cookie(world["alice"])

    async def scenario():
        socket, snapshot = await connected("/ws/workers/", cookie)
        assert {row["name"] for row in snapshot["workers"]} == {"a-lead", "a-dev", "a-qa", "a-ops"}
        await heartbeat("b-dev")
        assert await socket.receive_nothing(0.6)  # team-b's worker: nothing, not even its name
        await heartbeat("a-dev")
        update = await next_of(socket, "worker")
        assert update["worker"]["name"] == "a-dev" and update["worker"]["skillsVersion"] == "2026.12.0"
        await socket.disconnect()

    run(scenario)


def test_the_workers_list_keeps_to_its_team_filter(world):
    cookie = session_cookie(world["root"])

    async def scenario():
        socket, snapshot = await connected("/ws/workers/?team=-", cookie)
        assert [row["name"] for row in snapshot["workers"]] == ["solo"]
        await heartbeat("a-dev")
        assert await socket.receive_nothing(0.6)
        await heartbeat("solo")
        assert (await next_of(socket, "worker"))["worker"]["name"] == "solo"
        await socket.disconnect()

    run(scenario)


def test_a_worker_created_by_apply_reaches_the_list_and_a_deleted_one_leaves_it(world):
    cookie = session_cookie(world["root"])

    async def scenario():
        socket, _ = await connected("/ws/workers/", cookie)
        await database_sync_to_async(apply_text)(NEW_WORKER)
        assert (await next_of(socket, "worker"))["worker"]["name"] == "lonely"
        await database_sync_to_async(lambda: Worker.objects.filter(name="lonely").delete())()
        assert await next_of(socket, "worker.gone") == {"type": "worker.gone", "name": "lonely"}
        await socket.disconnect()

    run(scenario)


def test_a_new_debugworker_reaches_its_team_and_the_list_of_those_who_may_see_it(world):
    alice, bob = session_cookie(world["alice"]), session_cookie(world["bob"])

    async def scenario():
        team_page, _ = await connected("/ws/teams/team-a/", alice)
        listing, before = await connected("/ws/debugworkers/", alice)
        other_list, _ = await connected("/ws/debugworkers/", bob)
        other_team, _ = await connected("/ws/teams/team-b/", bob)
        assert before["debugworkers"] == []
        await database_sync_to_async(apply_text)(DEBUGWORKER)
        for socket in (team_page, listing):
            row = (await next_of(socket, "debugworker"))["debugworker"]
            assert row["name"] == "a-probe" and row["team"] == "team-a"
        assert await other_list.receive_nothing(0.6)
        assert await other_team.receive_nothing(0.1)
        await database_sync_to_async(lambda: DebugWorker.objects.filter(name="a-probe").delete())()
        assert await next_of(listing, "debugworker.gone") == {"type": "debugworker.gone", "name": "a-probe"}
        assert await other_list.receive_nothing(0.6)
        for socket in (team_page, listing, other_list, other_team):
            await socket.disconnect()

    run(scenario)


def test_a_recorded_crash_event_reaches_the_workers_page(world):
    cookie = session_cookie(world["alice"])

    def crash() -> None:
        Event.objects.create(kind="Worker", name="a-dev", team="team-a", type="Warning", reason="Crashed")

    async def scenario():
        socket, _ = await connected("/ws/workers/a-dev/", cookie)
        await database_sync_to_async(crash)()
        assert (await next_of(socket, "worker"))["worker"]["name"] == "a-dev"
        await socket.disconnect()

    run(scenario)


def test_a_login_with_no_role_may_follow_the_debugworkers_it_may_use(world):
    cookie = session_cookie(world["carol"])

    async def scenario():
        socket, snapshot = await connected("/ws/debugworkers/", cookie)
        assert snapshot["debugworkers"] == [] and snapshot["workers"] == []
        await socket.disconnect()

    run(scenario)


def test_a_live_row_outside_the_lists_name_or_phase_filter_is_not_added(login_client):
    """The row fetch keeps to every filter of the Workers list, not only its team."""
    client = login_client("root")
    assert client.get("/workers/a-dev/row/?q=dev").status_code == 200
    assert client.get("/workers/a-qa/row/?q=dev").status_code == 204
    assert client.get("/workers/a-dev/row/?phase=sleeping").status_code == 204
    page = client.get("/workers/?q=dev&phase=running").content.decode()
    assert 'data-live="/ws/workers/?q=dev&amp;phase=running"' in page
