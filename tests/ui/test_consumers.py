"""The live status consumer, driven with a WebSocket communicator through the real ASGI
stack (origin check, session authentication, URL routing)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.test import Client
from django.utils import timezone

from controller.models import Worker
from controller.services import live
from hiclaw_site.asgi import application
from tests.ui.websocket import WebsocketCommunicator

pytestmark = pytest.mark.django_db(transaction=True)
WAIT = 3  # seconds a notice may take (the consumer coalesces them for 0.2 s)


def session_cookie(user) -> bytes:
    """Made before the scenario's event loop runs: logging in is database work."""
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def communicator(path: str, cookie: bytes | None = None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    if cookie is not None:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, path, headers=headers)


def run(scenario):
    async_to_sync(scenario)()


@database_sync_to_async
def heartbeat(name: str) -> None:
    worker = Worker.objects.select_related("team").get(name=name)
    worker.record_heartbeat("idle", skills_version="2026.12.0")
    live.worker_changed(worker.name, worker.team.name if worker.team_id else "")


@pytest.mark.parametrize(
    ("login", "path"),
    [
        (None, "/ws/overview/"),
        (None, "/ws/teams/team-a/"),
        ("bob", "/ws/teams/team-a/"),
        ("bob", "/ws/workers/a-dev/"),
        ("alice", "/ws/teams/team-b/"),
        ("alice", "/ws/teams/no-such-team/"),
        ("carol", "/ws/overview/"),
        ("carol", "/ws/teams/team-a/"),
    ],
)
def test_subscriptions_the_policy_does_not_allow_are_refused(world, login, path):
    cookie = session_cookie(world[login]) if login else None

    async def scenario():
        socket = communicator(path, cookie)
        connected, _ = await socket.connect()
        assert connected  # then closed with a code, which the page reads as "no access"
        assert await socket.receive_close() == (4401 if login is None else 4403)

    run(scenario)


def test_team_admin_gets_a_snapshot_of_their_team_on_connect(world):
    cookie = session_cookie(world["alice"])

    async def scenario():
        socket = communicator("/ws/teams/team-a/", cookie)
        connected, _ = await socket.connect()
        assert connected
        snapshot = await socket.receive_json_from(WAIT)
        assert snapshot["type"] == "snapshot"
        assert [team["name"] for team in snapshot["teams"]] == ["team-a"]
        assert snapshot["teams"][0]["workers"] == "3/3" and snapshot["teams"][0]["health"] == "bad"
        rows = {row["name"]: row for row in snapshot["workers"]}
        assert set(rows) == {"a-lead", "a-dev", "a-qa", "a-ops"}
        assert rows["a-ops"]["healthy"] is False and rows["a-qa"]["idleSince"]
        await socket.disconnect()

    run(scenario)


def test_a_heartbeat_reaches_the_team_page_as_a_fresh_row(world):
    cookie = session_cookie(world["alice"])

    async def scenario():
        socket = communicator("/ws/teams/team-a/", cookie)
        await socket.connect()
        before = {row["name"]: row for row in (await socket.receive_json_from(WAIT))["workers"]}
        await heartbeat("a-dev")
        updates = [await socket.receive_json_from(WAIT), await socket.receive_json_from(WAIT)]
        worker = next(u["worker"] for u in updates if u["type"] == "worker")
        team = next(u["team"] for u in updates if u["type"] == "team")
        assert worker["name"] == "a-dev" and worker["skillsVersion"] == "2026.12.0"
        assert worker["lastHeartbeat"] > before["a-dev"]["lastHeartbeat"]
        assert team["name"] == "team-a"
        await socket.disconnect()

    run(scenario)


def test_notices_are_coalesced_into_one_read(world):
    cookie = session_cookie(world["alice"])

    async def scenario():
        socket = communicator("/ws/workers/a-dev/", cookie)
        await socket.connect()
        await socket.receive_json_from(WAIT)
        for _ in range(5):
            await heartbeat("a-dev")
        update = await socket.receive_json_from(WAIT)
        assert update["type"] == "worker" and update["worker"]["name"] == "a-dev"
        assert await socket.receive_nothing(0.5)
        await socket.disconnect()

    run(scenario)


def test_the_overview_forwards_only_teams_the_login_may_see(world):
    cookie = session_cookie(world["alice"])

    async def scenario():
        socket = communicator("/ws/overview/", cookie)
        await socket.connect()
        snapshot = await socket.receive_json_from(WAIT)
        assert [team["name"] for team in snapshot["teams"]] == ["team-a"] and snapshot["workers"] == []
        await heartbeat("b-dev")
        assert await socket.receive_nothing(0.6)
        await heartbeat("a-qa")
        update = await socket.receive_json_from(WAIT)
        assert update == {"type": "team", "team": update["team"]} and update["team"]["name"] == "team-a"
        await socket.disconnect()

    run(scenario)


def test_a_notice_is_never_trusted_beyond_the_names_it_carries(world):
    """A forged notice naming team-b's worker under team-a's group sends nothing of team-b."""

    cookie = session_cookie(world["alice"])

    async def scenario():
        socket = communicator("/ws/teams/team-a/", cookie)
        await socket.connect()
        await socket.receive_json_from(WAIT)
        forged = {"type": "worker.changed", "worker": "b-dev", "team": "team-b"}
        await get_channel_layer().group_send(live.team_group("team-a"), forged)
        assert await socket.receive_nothing(0.6)
        await socket.disconnect()

    run(scenario)


def test_a_removed_worker_is_reported_gone_to_the_page_that_showed_it(world):
    cookie = session_cookie(world["alice"])

    @database_sync_to_async
    def remove() -> None:
        Worker.objects.filter(name="a-qa").update(deletion_requested_at=timezone.now(), team=None)
        live.worker_changed("a-qa", "team-a")

    async def scenario():
        socket = communicator("/ws/teams/team-a/", cookie)
        await socket.connect()
        await socket.receive_json_from(WAIT)
        await remove()
        messages = [await socket.receive_json_from(WAIT), await socket.receive_json_from(WAIT)]
        assert {"type": "worker.gone", "name": "a-qa"} in messages
        await socket.disconnect()

    run(scenario)


def test_a_page_may_ask_for_a_fresh_snapshot(world):
    cookie = session_cookie(world["alice"])

    async def scenario():
        socket = communicator("/ws/workers/a-dev/", cookie)
        await socket.connect()
        await socket.receive_json_from(WAIT)
        await socket.send_json_to({"type": "snapshot"})
        again = await socket.receive_json_from(WAIT)
        assert again["type"] == "snapshot" and [w["name"] for w in again["workers"]] == ["a-dev"]
        await socket.disconnect()

    run(scenario)
