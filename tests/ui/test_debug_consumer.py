"""The workspace browser's WebSocket (/ws/debug/<name>/) and its watcher, through the real
ASGI stack (origin check, session authentication, routing) and real storage: the test's
filesystem storage, and moto's S3 for the watcher."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.db import database_sync_to_async

from controller.clients.storage import get_storage, storage_from_url
from controller.services import workspace_watch
from tests.helpers import free_port
from tests.ui.debug_browser import NAME, allow
from tests.ui.test_consumers import communicator, run, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)
PATH = f"/ws/debug/{NAME}/"
WAIT = 2  # seconds a change may take to reach the socket (the watcher lists every 0.25 s)
OUTAGE_WAIT = 10  # the same, when the watcher's last pass failed (see the outage test)


async def snapshot_for(cookie: bytes):
    socket = communicator(PATH, cookie)
    connected, _ = await socket.connect()
    assert connected
    snapshot = await socket.receive_json_from(WAIT)
    assert snapshot["type"] == "snapshot"
    return socket, snapshot


def files_of(snapshot: dict) -> dict[tuple[str, str], list[str]]:
    return {(s["area"], s["target"]): [f["path"] for f in s["files"]] for s in snapshot["sources"]}


async def next_event(socket, kind: str, path: str, wait: float = WAIT) -> dict:
    """The next event about ``path`` (events about other files may come first)."""
    return (await events_until(socket, kind, path, wait))[-1]


async def events_until(socket, kind: str, path: str, wait: float = WAIT) -> list[dict]:
    """Every event received up to and including the next ``kind`` event about ``path``."""
    received = []
    while True:
        received.append(await socket.receive_json_from(wait))
        if received[-1]["type"] == kind and received[-1]["path"] == path:
            return received


@pytest.mark.parametrize(("login", "code"), [(None, 4401), ("alice", 4404), ("bob", 4404)])
def test_logins_that_may_not_use_it_are_closed_at_connect(world, debugworker, login, code):
    cookie = session_cookie(world[login]) if login else None

    async def scenario():
        socket = communicator(PATH, cookie)
        assert (await socket.connect())[0]
        assert await socket.receive_close() == code
        assert workspace_watch.watching() == []  # a refused socket starts no watcher

    run(scenario)


def test_a_missing_debugworker_is_closed_like_a_forbidden_one(world, debugworker):
    cookie = session_cookie(world["carol"])

    async def scenario():
        socket = communicator("/ws/debug/no-such-debug/", cookie)
        assert (await socket.connect())[0]
        assert await socket.receive_close() == 4404

    run(scenario)


def test_snapshot_lists_the_mounted_workspaces_and_its_own_outputs_only(world, debugworker):
    cookie = session_cookie(world["carol"])

    async def scenario():
        socket, snapshot = await snapshot_for(cookie)
        files = files_of(snapshot)
        assert files == {
            ("workspace", "a-dev"): ["blob.bin", "notes.md", "state.json"],
            ("workspace", "a-qa"): ["log.txt"],
            ("output", "matrix-export"): [],
            ("output", "output"): ["report.md"],
        }
        await socket.disconnect()

    run(scenario)


def test_changes_reach_every_viewer_from_one_watcher(world, debugworker):
    cookie = session_cookie(world["carol"])
    storage = get_storage()

    async def scenario():
        first, _ = await snapshot_for(cookie)
        second, _ = await snapshot_for(cookie)
        assert workspace_watch.watching() == [NAME]
        await asyncio.to_thread(storage.put, "agents/a-qa/new.txt", b"new")
        for socket in (first, second):
            event = await next_event(socket, "created", "new.txt")
            assert (event["area"], event["target"], event["size"]) == ("workspace", "a-qa", 3)
        await asyncio.to_thread(storage.put, "agents/a-qa/new.txt", b"changed")
        assert (await next_event(first, "modified", "new.txt"))["size"] == 7
        await asyncio.to_thread(storage.delete, "agents/a-qa/new.txt")
        await next_event(first, "deleted", "new.txt")
        # A worker this DebugWorker does not mount is not watched.
        await asyncio.to_thread(storage.put, "agents/a-ops/unseen.txt", b"x")
        await asyncio.to_thread(storage.put, "agents/a-qa/after.txt", b"x")
        received = await events_until(first, "created", "after.txt")
        assert [e for e in received if e["target"] == "a-ops"] == [], received
        await first.disconnect()
        assert workspace_watch.watching() == [NAME]
        await second.disconnect()
        assert workspace_watch.watching() == []  # the last viewer stops it

    run(scenario)


def test_open_answers_the_view_and_refuses_paths_outside(world, debugworker):
    cookie = session_cookie(world["carol"])

    async def scenario():
        socket, _ = await snapshot_for(cookie)
        await socket.send_json_to({"type": "open", "area": "workspace", "target": "a-dev", "path": "notes.md"})
        answer = await socket.receive_json_from(WAIT)
        assert answer["type"] == "file" and "<h1>Notes</h1>" in answer["html"]
        assert "<script>" not in answer["html"] and "javascript:" not in answer["html"].replace("](javascript:", "")
        await socket.send_json_to({"type": "open", "area": "workspace", "target": "a-ops", "path": "secret.txt"})
        refused = await socket.receive_json_from(WAIT)
        assert "refused" in refused["html"] and "not mounted" not in refused["html"]
        await socket.send_json_to({"type": "open", "area": "workspace", "target": "a-dev", "path": ["x"]})
        assert (await socket.receive_json_from(WAIT))["type"] == "error"
        await socket.disconnect()

    run(scenario)


def test_access_withdrawn_while_open_closes_the_socket(world, debugworker):
    cookie = session_cookie(world["carol"])

    async def scenario():
        socket, _ = await snapshot_for(cookie)
        await database_sync_to_async(allow)(NAME, ["someone-else"])
        assert await socket.receive_close(WAIT) == 4404
        assert workspace_watch.watching() == []

    run(scenario)


def test_the_watcher_sees_changes_on_s3(world, debugworker, moto_server, settings):
    settings.HICLAW_STORAGE_URL = moto_server.storage_url(f"debug-{uuid.uuid4().hex[:12]}")
    storage = get_storage()
    storage.put("agents/a-dev/on-s3.md", b"# on S3")
    cookie = session_cookie(world["carol"])

    async def scenario():
        socket, snapshot = await snapshot_for(cookie)
        assert files_of(snapshot)[("workspace", "a-dev")] == ["on-s3.md"]
        await asyncio.to_thread(storage.put, "agents/a-dev/on-s3.md", b"# changed on S3")
        event = await next_event(socket, "modified", "on-s3.md")
        assert event["size"] == len(b"# changed on S3") and event["etag"]
        await asyncio.to_thread(storage.put, "agents/a-qa/second.txt", b"2")
        assert (await next_event(socket, "created", "second.txt"))["target"] == "a-qa"
        await socket.disconnect()

    run(scenario)


def test_the_watcher_outlives_a_storage_outage(world, debugworker, settings, caplog):
    """A pass that fails (storage unreachable) is logged and the next one tries again: viewers
    keep their socket, and what changed meanwhile reaches them once storage answers."""
    cookie = session_cookie(world["carol"])
    working = settings.HICLAW_STORAGE_URL
    unreachable = f"s3://key:secret@127.0.0.1:{free_port()}/gone?secure=false"

    async def scenario():
        socket, _ = await snapshot_for(cookie)
        settings.HICLAW_STORAGE_URL = unreachable
        await asyncio.sleep(1)  # a few passes fail
        await asyncio.to_thread(storage_from_url(working).put, "agents/a-qa/during.txt", b"x")
        settings.HICLAW_STORAGE_URL = working
        # A failed pass is followed by a pause as long as it took (the S3 client's retries
        # against a closed port), so the first pass after the outage may come seconds later.
        event = await next_event(socket, "created", "during.txt", wait=OUTAGE_WAIT)
        assert event["target"] == "a-qa"
        await socket.disconnect()

    run(scenario)
    assert f"workspace watch of debugworker/{NAME} failed" in caplog.text  # the outage was seen
