"""A bulk change's one ``resources.changed`` notice (``live.coalesced``, sent by every apply)
reaches each live page, which takes only what its own groups would have carried; a change
too big to name makes the page send a fresh snapshot."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from controller.models import Worker
from controller.services import live
from controller.services.apply import apply_text
from tests.helpers import manifest, to_yaml
from tests.ui.test_consumers import WAIT, communicator, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def bulk_change(*workers: tuple[str, str]) -> None:
    """Workers changed in one go: one notice naming them all, sent as the block ends."""
    with live.coalesced():
        for name, team in workers:
            live.worker_changed(name, team)


def test_a_worker_page_takes_its_own_worker_from_a_bulk_notice(world):
    cookie = session_cookie(world["alice"])

    async def scenario():
        socket = communicator("/ws/workers/a-dev/", cookie)
        await socket.connect()
        await socket.receive_json_from(WAIT)
        await bulk_change(("a-qa", "team-a"), ("a-dev", "team-a"), ("b-dev", "team-b"))
        update = await socket.receive_json_from(WAIT)
        assert update["type"] == "worker" and update["worker"]["name"] == "a-dev"
        assert await socket.receive_nothing(0.6)
        await socket.disconnect()

    async_to_sync(scenario)()


def test_a_team_page_takes_its_team_s_workers_from_a_bulk_notice_and_nothing_else(world):
    cookie = session_cookie(world["alice"])

    async def scenario():
        socket = communicator("/ws/teams/team-a/", cookie)
        await socket.connect()
        await socket.receive_json_from(WAIT)
        await bulk_change(("b-dev", "team-b"))
        assert await socket.receive_nothing(0.6)
        await bulk_change(("a-qa", "team-a"), ("a-dev", "team-a"), ("b-dev", "team-b"))
        messages = [await socket.receive_json_from(WAIT) for _ in range(3)]
        assert sorted(m["worker"]["name"] for m in messages if m["type"] == "worker") == ["a-dev", "a-qa"]
        assert [m["team"]["name"] for m in messages if m["type"] == "team"] == ["team-a"]
        assert await socket.receive_nothing(0.6)
        await socket.disconnect()

    async_to_sync(scenario)()


def test_an_apply_of_new_workers_reaches_the_workers_list_and_a_big_one_is_a_snapshot(world):
    cookie = session_cookie(world["root"])

    @database_sync_to_async
    def apply_workers(names: list[str]) -> None:
        apply_text(to_yaml(*(manifest("Worker", name, {"model": "qwen", "state": "Sleeping"}) for name in names)))

    async def scenario():
        socket = communicator("/ws/workers/", cookie)
        await socket.connect()
        before = await socket.receive_json_from(WAIT)
        await apply_workers(["bulk-1", "bulk-2"])
        rows = [await socket.receive_json_from(WAIT), await socket.receive_json_from(WAIT)]
        assert sorted(m["worker"]["name"] for m in rows) == ["bulk-1", "bulk-2"]
        await apply_workers([f"many-{i}" for i in range(live.COALESCE_LIMIT + 1)])
        snapshot = await socket.receive_json_from(WAIT)
        assert snapshot["type"] == "snapshot" and len(snapshot["workers"]) > len(before["workers"])
        await socket.disconnect()

    async_to_sync(scenario)()
    assert Worker.objects.filter(name__startswith="many-").count() == live.COALESCE_LIMIT + 1
