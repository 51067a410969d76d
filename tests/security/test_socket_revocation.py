"""An open dashboard socket keeps only the access its login still has.

The consumer checked the policy once, at connect: a team admin whose access was
withdrawn kept receiving rows and snapshots. Now every push and every request
re-derives the login's principal from its session (so a logout, a deactivated
account or a changed role counts) and closes with 4403 (4401 when the login is
gone). Refusals are sent as close codes after accepting, as browsers only see
the code of a socket that was accepted.
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session

from controller.models import Human, Team
from controller.services import live
from tests.ui.conftest import asgi_server, dashboard, off_the_browser_thread, world  # noqa: F401 (fixtures)
from tests.ui.test_consumers import WAIT, communicator, heartbeat, run, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def withdraw_bob_from_team_b() -> None:
    Team.objects.filter(name="team-b").update(admin_name="")
    live.team_changed("team-b")


@database_sync_to_async
def withdraw_alice_from_team_a() -> None:
    human = Human.objects.get(name="alice")
    human.spec = {**human.spec, "accessibleTeams": []}
    human.save(update_fields=["spec"])
    live.team_changed("team-a")


@database_sync_to_async
def deactivate(name: str) -> None:
    get_user_model().objects.filter(username=name).update(is_active=False)


@database_sync_to_async
def log_out_everywhere() -> None:
    Session.objects.all().delete()


async def open_with_snapshot(path: str, cookie: bytes):
    socket = communicator(path, cookie)
    connected, _ = await socket.connect()
    assert connected
    assert (await socket.receive_json_from(WAIT))["type"] == "snapshot"
    return socket


def test_a_withdrawn_team_admin_gets_no_further_rows_and_is_closed_4403(world):  # noqa: F811
    cookie = session_cookie(world["bob"])

    async def scenario():
        socket = await open_with_snapshot("/ws/teams/team-b/", cookie)
        await withdraw_bob_from_team_b()
        await heartbeat("b-dev")
        assert await socket.receive_close(WAIT) == 4403

    run(scenario)


def test_a_withdrawn_team_admin_asking_for_a_snapshot_is_closed_4403(world):  # noqa: F811
    cookie = session_cookie(world["bob"])

    async def scenario():
        socket = await open_with_snapshot("/ws/workers/b-dev/", cookie)
        await database_sync_to_async(Team.objects.filter(name="team-b").update)(admin_name="")
        await socket.send_json_to({"type": "snapshot"})
        assert await socket.receive_close(WAIT) == 4403

    run(scenario)


def test_a_human_whose_team_access_is_withdrawn_loses_the_overview(world):  # noqa: F811
    cookie = session_cookie(world["alice"])

    async def scenario():
        socket = await open_with_snapshot("/ws/overview/", cookie)
        await withdraw_alice_from_team_a()
        assert await socket.receive_close(WAIT) == 4403

    run(scenario)


def test_a_deactivated_login_is_closed_4401(world):  # noqa: F811
    cookie = session_cookie(world["alice"])

    async def scenario():
        socket = await open_with_snapshot("/ws/teams/team-a/", cookie)
        await deactivate("alice")
        await heartbeat("a-dev")
        assert await socket.receive_close(WAIT) == 4401

    run(scenario)


def test_a_logged_out_session_is_closed_4401(world):  # noqa: F811
    cookie = session_cookie(world["root"])

    async def scenario():
        socket = await open_with_snapshot("/ws/teams/team-a/", cookie)
        await log_out_everywhere()
        await socket.send_json_to({"type": "snapshot"})
        assert await socket.receive_close(WAIT) == 4401

    run(scenario)


def test_access_that_remains_keeps_the_socket_live(world):  # noqa: F811
    cookie = session_cookie(world["alice"])

    async def scenario():
        socket = await open_with_snapshot("/ws/teams/team-a/", cookie)
        await withdraw_bob_from_team_b()  # someone else's access
        await heartbeat("a-dev")
        kinds = {(await socket.receive_json_from(WAIT))["type"] for _ in range(2)}
        assert kinds == {"worker", "team"}
        await socket.disconnect()

    run(scenario)


@pytest.mark.parametrize(("login", "code"), [(None, 4401), ("carol", 4403), ("bob", 4403)])
def test_a_refusal_at_connect_is_accepted_then_closed_so_the_browser_sees_the_code(world, login, code):  # noqa: F811
    cookie = session_cookie(world[login]) if login else None

    async def scenario():
        socket = communicator("/ws/teams/team-a/", cookie)
        connected, _ = await socket.connect()
        assert connected, "a socket refused before accepting reaches the browser as 1006, not as a code"
        assert await socket.receive_close(WAIT) == code

    run(scenario)


def _withdraw_bob_now() -> None:
    Team.objects.filter(name="team-b").update(admin_name="")
    live.team_changed("team-b")


@pytest.mark.slow
def test_the_browser_shows_no_access_and_stops_reconnecting(dashboard):  # noqa: F811
    from playwright.sync_api import expect

    page = dashboard.page("bob")
    opened = []
    page.on("websocket", lambda socket: opened.append(socket))
    page.goto(dashboard.url + "/teams/team-b/")
    status = page.locator("[data-live-status]")
    expect(status).to_have_text("live")
    off_the_browser_thread(_withdraw_bob_now)
    expect(status).to_have_text("not live: no access")
    page.wait_for_timeout(2500)  # longer than the first reconnect delay: none may happen
    expect(status).to_have_text("not live: no access")
    assert len(opened) == 1
