"""The Upgrades page's WebSocket (``/ws/upgrades/``): a snapshot of the upgrades the login
may see, then each saved change of an upgrade or a target, never another team's.

Upgrade rows are made and advanced directly (tests/upgrade_rows.py), as the services that
carry pushes and rollouts out would save them; those services are tested on their own."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from controller.models import Upgrade
from controller.services import live
from tests.ui.test_consumers import WAIT, communicator, run, session_cookie
from tests.upgrade_rows import advance, push, rollout

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def upgrades(world):
    return {
        "a": rollout("team-a", ["a-dev", "a-qa", "a-lead"]).pk,
        "b": push("team", "team-b", "team-b", ["b-dev", "b-lead"]).pk,
    }


@pytest.mark.parametrize(("login", "code"), [(None, 4401), ("carol", 4403)])
def test_logins_without_a_team_are_refused(world, login, code):
    cookie = session_cookie(world[login]) if login else None

    async def scenario():
        socket = communicator("/ws/upgrades/", cookie)
        assert (await socket.connect())[0]
        assert await socket.receive_close() == code

    run(scenario)


def test_snapshot_holds_only_the_logins_upgrades(world, upgrades):
    cookie = session_cookie(world["alice"])

    async def scenario():
        socket = communicator("/ws/upgrades/", cookie)
        await socket.connect()
        snapshot = await socket.receive_json_from(WAIT)
        assert snapshot["type"] == "snapshot"
        assert [u["id"] for u in snapshot["upgrades"]] == [upgrades["a"]]
        assert snapshot["upgrades"][0]["progress"] == {"done": 0, "total": 3, "failed": 0}
        await socket.disconnect()

    run(scenario)


def test_a_target_moving_on_reaches_the_page_and_not_another_teams(world, upgrades):
    alice, bob = session_cookie(world["alice"]), session_cookie(world["bob"])

    async def scenario():
        socket, other = communicator("/ws/upgrades/", alice), communicator("/ws/upgrades/", bob)
        for each in (socket, other):
            await each.connect()
            await each.receive_json_from(WAIT)
        await database_sync_to_async(advance)(upgrades["a"], "a-dev", "done")
        update = await socket.receive_json_from(WAIT)
        assert update["type"] == "upgrade" and update["upgrade"]["id"] == upgrades["a"]
        assert update["upgrade"]["state"] == "Running"
        assert update["upgrade"]["progress"] == {"done": 1, "total": 3, "failed": 0}
        assert update["upgrade"]["targets"][0] == {**update["upgrade"]["targets"][0], "state": "done"}
        assert await socket.receive_nothing(0.4)  # the target's and the upgrade's saves: one read
        assert await other.receive_nothing(0.2)
        await database_sync_to_async(advance)(upgrades["b"], "b-dev", "failed", "no space left")
        assert (await other.receive_json_from(WAIT))["upgrade"]["progress"]["failed"] == 1
        assert await socket.receive_nothing(0.4)
        for each in (socket, other):
            await each.disconnect()

    run(scenario)


def test_a_forged_notice_sends_nothing_outside_the_logins_view(world, upgrades):
    cookie = session_cookie(world["alice"])

    async def scenario():
        socket = communicator("/ws/upgrades/", cookie)
        await socket.connect()
        await socket.receive_json_from(WAIT)
        forged = {"type": "upgrade.changed", "upgrade": upgrades["b"], "team": "team-a"}
        await get_channel_layer().group_send(live.UPGRADES_GROUP, forged)
        assert await socket.receive_nothing(0.6)
        await socket.disconnect()

    run(scenario)


def test_a_deleted_upgrade_is_reported_gone_and_team_pages_ignore_upgrade_notices(world, upgrades):
    cookie = session_cookie(world["alice"])

    async def scenario():
        socket, team_page = communicator("/ws/upgrades/", cookie), communicator("/ws/teams/team-a/", cookie)
        for each in (socket, team_page):
            await each.connect()
            await each.receive_json_from(WAIT)
        await database_sync_to_async(lambda: Upgrade.objects.get(pk=upgrades["a"]).delete())()
        assert await socket.receive_json_from(WAIT) == {"type": "upgrade.gone", "id": upgrades["a"]}
        assert await team_page.receive_nothing(0.4)  # the notice reached its group, and is ignored
        for each in (socket, team_page):
            await each.disconnect()

    run(scenario)
