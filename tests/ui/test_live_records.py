"""Live Managers, Humans and DebugWorker pages: what their sockets push, and to whom.

Every row is re-read through the policy of the login behind the socket: Managers are
shown to admins only, and a team admin sees only the Humans with access to their team,
so another team's Human never reaches them, not even by name.
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from controller.models import DebugWorker, Human, Manager
from controller.services import heartbeats
from controller.services.apply import apply_text
from tests.ui.test_consumers import run, session_cookie
from tests.ui.test_live_lists import connected, next_of

pytestmark = pytest.mark.django_db(transaction=True)

MANAGER = "apiVersion: hiclaw.io/v1beta1\nkind: Manager\nmetadata: {name: default}\nspec: {model: qwen}\n"
HUMAN = (
    "apiVersion: hiclaw.io/v1beta1\nkind: Human\nmetadata: {name: %s}\n"
    "spec: {displayName: Someone, permissionLevel: 3, accessibleTeams: [%s]}\n"
)


def test_a_manager_added_and_removed_reaches_admins_only(world):
    root, alice = session_cookie(world["root"]), session_cookie(world["alice"])

    async def scenario():
        listing, before = await connected("/ws/managers/", root)
        other, nothing = await connected("/ws/managers/", alice)
        assert before["managers"] == [] and nothing["managers"] == []
        await database_sync_to_async(apply_text)(MANAGER)
        row = (await next_of(listing, "manager"))["manager"]
        assert row["name"] == "default" and row["model"] == "qwen" and "heartbeat" in row
        assert await other.receive_nothing(0.6)
        await database_sync_to_async(lambda: Manager.objects.filter(name="default").delete())()
        assert await next_of(listing, "manager.gone") == {"type": "manager.gone", "name": "default"}
        assert await other.receive_nothing(0.6)
        for socket in (listing, other):
            await socket.disconnect()

    run(scenario)


def test_a_managers_page_hears_its_phase_and_not_another_managers(world):
    apply_text(MANAGER)
    apply_text(MANAGER.replace("default", "backup"))
    cookie = session_cookie(world["root"])

    async def scenario():
        page, snapshot = await connected("/ws/managers/default/", cookie)
        assert [row["name"] for row in snapshot["managers"]] == ["default"]
        await database_sync_to_async(lambda: Manager.objects.get(name="backup").save())()
        assert await page.receive_nothing(0.6)
        await database_sync_to_async(_phase(Manager, "default", "Running"))()
        assert (await next_of(page, "manager"))["manager"]["phase"] == "Running"
        await page.disconnect()

    run(scenario)


def test_a_managers_heartbeat_reaches_its_page(world):
    apply_text(MANAGER)
    cookie = session_cookie(world["root"])
    report = heartbeats.parse_report("default", {"state": "idle", "runtimeVersion": "1.2.3"}, kind=heartbeats.MANAGER)

    async def scenario():
        page, snapshot = await connected("/ws/managers/default/", cookie)
        assert snapshot["managers"][0]["lastHeartbeat"] is None
        await database_sync_to_async(heartbeats.apply_reports)([report])
        row = (await next_of(page, "manager"))["manager"]
        assert row["lastHeartbeat"] == report.at.isoformat() and row["version"] == "1.2.3"
        await page.disconnect()

    run(scenario)


def _phase(model, name: str, phase: str):
    def change() -> None:
        row = model.objects.get(name=name)
        row.phase = phase
        row.save(update_fields=["phase"])

    return change


def test_a_team_admin_hears_the_humans_of_their_team_only(world):
    bob, root = session_cookie(world["bob"]), session_cookie(world["root"])

    async def scenario():
        scoped, before = await connected("/ws/humans/", bob)
        everyone, all_rows = await connected("/ws/humans/", root)
        assert before["humans"] == [] and [row["name"] for row in all_rows["humans"]] == ["alice"]
        await database_sync_to_async(apply_text)(HUMAN % ("dana", "team-a"))
        assert (await next_of(everyone, "human"))["human"]["name"] == "dana"
        assert await scoped.receive_nothing(0.6)  # team-a's Human: not even its name
        await database_sync_to_async(apply_text)(HUMAN % ("erin", "team-b"))
        assert (await next_of(scoped, "human"))["human"]["name"] == "erin"
        await database_sync_to_async(lambda: Human.objects.filter(name="dana").delete())()
        assert await next_of(everyone, "human.gone") == {"type": "human.gone", "name": "dana"}
        assert await scoped.receive_nothing(0.6)
        for socket in (scoped, everyone):
            await socket.disconnect()

    run(scenario)


def test_a_login_created_for_a_human_updates_its_login_column(world):
    apply_text(HUMAN % ("dana", "team-a"))
    cookie = session_cookie(world["root"])

    async def scenario():
        listing, before = await connected("/ws/humans/", cookie)
        assert {row["name"]: row["login"] for row in before["humans"]}["dana"] == "—"
        await database_sync_to_async(lambda: get_user_model().objects.create_user("dana", password="x" * 20))()
        assert (await next_of(listing, "human"))["human"]["login"] == "dana (same name)"
        await listing.disconnect()

    run(scenario)


def test_a_debugworkers_page_hears_its_phase_and_closes_for_a_login_without_access(world, debugworker):
    alice, bob = session_cookie(world["alice"]), session_cookie(world["bob"])

    async def scenario():
        page, snapshot = await connected("/ws/debugworkers/a-debug/", alice)
        assert [row["name"] for row in snapshot["debugworkers"]] == ["a-debug"]
        await database_sync_to_async(_phase(DebugWorker, "a-debug", "Failed"))()
        assert (await next_of(page, "debugworker"))["debugworker"]["phase"] == "Failed"
        await page.disconnect()
        refused = await _refused("/ws/debugworkers/a-debug/", bob)
        assert refused == 4403

    run(scenario)


async def _refused(path: str, cookie: bytes) -> int:
    from tests.ui.test_consumers import communicator

    socket = communicator(path, cookie)
    accepted, _ = await socket.connect()
    assert accepted
    closed = await socket.receive_output(3)
    return closed["code"]
