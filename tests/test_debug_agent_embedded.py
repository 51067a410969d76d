"""End to end in embedded mode: a DebugWorker's reference debug agent mirrors a worker's workspace.

Process backend, filesystem storage, no Matrix. The debug agent runs as a
local process against a live test server and reads only through the
read-only workspace API with its debug-worker token; the worker writes
through its own workspace API, as a real one does.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import urllib.parse
import urllib.request

import pytest
from django.conf import settings

from controller import reconcilers
from controller.agent.debug_agent import Mirror
from controller.connections import default_connections
from controller.models import AgentToken, DebugWorker, Identity
from controller.services.apply import apply_text
from tests.helpers import manifest, to_yaml, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

INTERVAL = 2  # seconds between the debug agent's rounds (its heartbeat interval)
# A round itself takes a moment (a listing and a download through the API): the bound for a
# write to reach the mirror is one interval plus that.
ROUND_SLACK = 2


@pytest.fixture
def live_controller(live_server, settings):
    settings.HICLAW_CONTROLLER_URL = live_server.url
    settings.HICLAW_AGENT_HEARTBEAT_SECONDS = INTERVAL
    return live_server


def put_as_worker(url: str, token: str, path: str, content: bytes) -> None:
    request = urllib.request.Request(f"{url}/api/v1/workspace/files/{path}", data=content, method="PUT")
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/octet-stream")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def test_the_debug_agent_mirrors_what_its_target_writes(live_controller):
    apply_text(to_yaml(manifest("Worker", "ada", {"model": "q"}), manifest("Worker", "bob", {"model": "q"})))
    apply_text(to_yaml(manifest("DebugWorker", "look", {"targets": ["ada"]})))
    reconcilers.reconcile("DebugWorker", "look")
    assert DebugWorker.objects.get(name="look").phase == "Running"
    workdir = settings.DATA_DIR / "workspaces" / "debug-look"
    mirror = workdir / "debug" / "workspaces" / "ada"

    # Its own skill arrives beside the mirror.
    skill = workdir / "skills" / "debug-analysis" / "SKILL.md"
    wait_until(skill.is_file, 15, "the debug-analysis skill in the debug agent's workdir")

    _, ada = AgentToken.mint(Identity.WORKER, "ada")
    _, bob = AgentToken.mint(Identity.WORKER, "bob")
    put_as_worker(live_controller.url, ada, "sessions/today.log", b"turn 1\n")
    put_as_worker(live_controller.url, bob, "sessions/today.log", b"not mirrored\n")
    copy = mirror / "sessions" / "today.log"
    # Within one interval of the write (plus the round's own time).
    wait_until(lambda: copy.is_file() and copy.read_bytes() == b"turn 1\n", INTERVAL + ROUND_SLACK, "the mirrored file")

    put_as_worker(live_controller.url, ada, "sessions/today.log", b"turn 1\nturn 2\n")
    wait_until(lambda: copy.read_bytes() == b"turn 1\nturn 2\n", 3 * INTERVAL + 5, "the changed file mirrored")

    # The skill, as downloaded, runs with the standard library alone on the mirror.
    scripts = workdir / "skills" / "debug-analysis" / "scripts"
    log = subprocess.run(
        [sys.executable, "-I", "-S", str(scripts / "debug_log.py"), "--root", str(workdir), "--lines", "1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "## ada" in log and "today.log: turn 2" in log and "turn 1" not in log
    usage = subprocess.run([sys.executable, "-I", "-S", str(scripts / "export_messages.py"), "--help"], check=False)
    assert usage.returncode == 0

    default_connections().storage.delete("agents/ada/sessions/today.log")
    wait_until(lambda: not copy.exists(), 3 * INTERVAL + 5, "the vanished file removed from the mirror")
    assert not (workdir / "debug" / "workspaces" / "bob").exists()
    # Read-only: nothing the debug agent did reached storage outside what the reconciler wrote.
    assert {info.key for info in default_connections().storage.list("agents/ada/")} == set()


class ScriptedListing:
    """Answers a Mirror's two calls (the listing and a file) from a dict, as the read API would."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files

    def get(self, path: str) -> bytes:
        if path.endswith("/files"):
            listing = [
                {"path": p, "size": len(c), "etag": hashlib.sha256(c).hexdigest()} for p, c in self.files.items()
            ]
            return json.dumps({"files": listing}).encode()
        return self.files[urllib.parse.unquote(path.split("/files/", 1)[1])]


def test_the_mirror_stays_inside_its_folder_and_drops_what_vanished(tmp_path):
    root = tmp_path / "work" / "debug" / "workspaces" / "ada"
    (root / "old").mkdir(parents=True)
    (root / "old" / "stale.txt").write_text("gone upstream")
    api = ScriptedListing({"notes/a.md": b"a", "../escape.txt": b"x", "../../../../abs.txt": b"y"})
    mirror = Mirror(api, "/api/v1/workspace/targets/ada/files", root, exact=True)
    mirror.sync()
    assert (root / "notes" / "a.md").read_bytes() == b"a"
    assert not (root / "old" / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.rglob("*.txt")) == []  # nothing written outside its folder

    api.files = {"notes/a.md": b"changed"}
    mirror.sync()
    assert (root / "notes" / "a.md").read_bytes() == b"changed"
