"""Crafted paths in the workspace browser never read outside what a DebugWorker mounts.

The page (its ``?area&target&path`` view), the file fragment and the WebSocket's
``open`` request all resolve a file through ``workspace_browser.key_of``; each
crafted request here is refused (or names no file) on all three, and none of
them shows a byte of what lies outside: another worker's workspace, another
DebugWorker's report, the host's files, or what a symbolic link in a
filesystem workspace points at.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

import pytest
from django.conf import settings

from tests.ui.conftest import login_client, world  # noqa: F401 (fixtures)
from tests.ui.debug_browser import NAME, debugworker  # noqa: F401 (fixture)
from tests.ui.test_consumers import communicator, run, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

# Raw query strings (as a browser could send them): (area, target, path), still URL-encoded.
CRAFTED = [
    ("workspace", "a-dev", ".."),
    ("workspace", "a-dev", "../a-ops/secret.txt"),
    ("workspace", "a-dev", "%2e%2e/a-ops/secret.txt"),
    ("workspace", "a-dev", "..%2Fa-ops%2Fsecret.txt"),
    ("workspace", "a-dev", "%2Fetc%2Fpasswd"),
    ("workspace", "a-dev", "/etc/passwd"),
    ("workspace", "a-dev", "..%5Ca-ops%5Csecret.txt"),
    ("workspace", "a-dev", "notes.md%00"),
    ("workspace", "a-ops", "secret.txt"),
    ("workspace", "a-dev%2F..%2Fa-ops", "secret.txt"),
    ("workspace", "a-dev/../a-ops", "secret.txt"),
    ("workspace", NAME, "output/report.md"),
    ("workspace", "a-dev", "../../debug/other-debug/output/report.md"),
    ("workspace", "..%2Fdebug%2Fother-debug", "output/report.md"),
    ("output", "output", "../../other-debug/output/report.md"),
    ("output", "..%2F..%2Fdebug%2Fother-debug%2Foutput", "report.md"),
    ("output", "a-dev", "notes.md"),
    ("elsewhere", "a-dev", "notes.md"),
    ("workspace", "a-dev", "link.txt"),
    ("workspace", "a-dev", "linkdir/secret.txt"),
    ("workspace", "a-dev", "passwd-link"),
]
# What lies outside; no answer may contain any of it.
OUTSIDE = ["a-ops is not mounted", "another DebugWorker", "root:x:0:0"]


@pytest.fixture
def links(debugworker):  # noqa: F811
    """Links an agent could make in its own workspace, pointing out of it."""
    root = Path(settings.HICLAW_STORAGE_URL.removeprefix("file://"))
    workspace = root / "agents" / "a-dev"
    os.symlink(root / "agents" / "a-ops" / "secret.txt", workspace / "link.txt")
    os.symlink(root / "agents" / "a-ops", workspace / "linkdir")
    os.symlink("/etc/passwd", workspace / "passwd-link")
    return debugworker


def query(area: str, target: str, path: str) -> str:
    return f"area={area}&target={target}&path={path}"


def assert_nothing_outside(text: str) -> None:
    for secret in OUTSIDE:
        assert secret not in text


@pytest.mark.parametrize(("area", "target", "path"), CRAFTED)
def test_the_fragment_refuses(login_client, links, area, target, path):  # noqa: F811
    answer = login_client("carol").get(f"/debug/{NAME}/workspaces/file/?{query(area, target, path)}")
    assert answer.status_code in (400, 404)
    assert_nothing_outside(answer.content.decode())


@pytest.mark.parametrize(("area", "target", "path"), CRAFTED)
def test_the_page_refuses(login_client, links, area, target, path):  # noqa: F811
    answer = login_client("carol").get(f"/debug/{NAME}/workspaces/?{query(area, target, path)}")
    assert answer.status_code == 200
    html = answer.content.decode()
    assert "refused" in html or "no such file" in html
    assert_nothing_outside(html)


def test_links_are_not_listed(login_client, links):  # noqa: F811
    html = login_client("carol").get(f"/debug/{NAME}/workspaces/").content.decode()
    assert "notes.md" in html
    for link in ("link.txt", "linkdir", "passwd-link"):
        assert link not in html


def test_a_good_path_is_shown(login_client, links):  # noqa: F811
    answer = login_client("carol").get(f"/debug/{NAME}/workspaces/file/?{query('workspace', 'a-qa', 'log.txt')}")
    assert answer.status_code == 200 and "hello from a-qa" in answer.content.decode()
    answer = login_client("carol").get(f"/debug/{NAME}/workspaces/file/?{query('output', 'output', 'report.md')}")
    assert answer.status_code == 200 and "<h1>Report</h1>" in answer.content.decode()


def test_the_websocket_refuses(world, links):  # noqa: F811
    cookie = session_cookie(world["carol"])

    async def scenario():
        socket = communicator(f"/ws/debug/{NAME}/", cookie)
        assert (await socket.connect())[0]
        assert (await socket.receive_json_from())["type"] == "snapshot"
        for area, target, path in CRAFTED:
            request = {"type": "open", "area": unquote(area), "target": unquote(target), "path": unquote(path)}
            await socket.send_json_to(request)
            answer = await socket.receive_json_from()
            assert answer["type"] == "file", request
            assert "refused" in answer["html"] or "no such file" in answer["html"], request
            assert_nothing_outside(answer["html"])
        await socket.disconnect()

    run(scenario)


def test_others_get_the_404_of_a_missing_debugworker(login_client, debugworker):  # noqa: F811
    for login in ("alice", "bob"):
        for url in ("workspaces/", "workspaces/file/?target=a-dev&path=notes.md", f"jobs/{'0' * 32}/"):
            assert login_client(login).get(f"/debug/{NAME}/{url}").status_code == 404
        assert login_client(login).post(f"/debug/{NAME}/jobs/", {"kind": "report", "hours": 1}).status_code == 404
