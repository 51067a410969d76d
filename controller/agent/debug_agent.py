"""The reference debug agent: what a DebugWorker's instance runs (a stand-in for a real one).

It is NOT an AI agent. It keeps the debug instance's working directory a
read-only mirror of what the DebugWorker reaches, so an analyst (or a real
agent using the ``debug-analysis`` skill) finds everything on disk:

- ``debug/workspaces/<target>/`` — each mirrored worker's workspace, exactly:
  files that changed (by etag) are downloaded, files that vanished are deleted,
  and a target the DebugWorker no longer mirrors is removed;
- the DebugWorker's own files (``debug/<name>/`` in storage: the
  ``debug-analysis`` skill, exports, reports) at the top of the directory.

Everything goes through the controller's read-only workspace API with the
instance's ``debug-worker`` token; it never writes to the API and posts no
heartbeats (a DebugWorker's health is its instance's state).

Standard library only, runnable as a script, so it also serves as a container
entrypoint wherever Python exists (with this package beside it).

Environment: HICLAW_CONTROLLER_URL, HICLAW_AGENT_TOKEN, HICLAW_DEBUG_WORKER_NAME,
HICLAW_HEARTBEAT_SECONDS (the mirror interval, default 30), HICLAW_WORKSPACE_DIR
(default: cwd).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

TIMEOUT = 10
MIRROR_DIR = Path("debug") / "workspaces"
TARGETS = "/api/v1/workspace/targets"
OWN_FILES = "/api/v1/workspace/debug/files"


class Mirror:
    """One remote listing kept in step with one local directory."""

    def __init__(self, agent: DebugAgent, files_url: str, root: Path, *, exact: bool):
        self.agent, self.files_url, self.root = agent, files_url, root
        self.exact = exact  # the directory is the mirror's alone: anything not listed goes
        self.etags: dict[str, str] = {}

    def sync(self) -> None:
        listing = json.loads(self.agent.get(self.files_url))["files"]
        remote = {entry["path"]: entry["etag"] for entry in listing}
        for path, etag in remote.items():
            local = self.local(path)
            if local is None or (self.etags.get(path) == etag and local.is_file()):
                continue
            content = self.agent.get(f"{self.files_url}/{urllib.parse.quote(path)}")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(content)
            self.etags[path] = etag
        self.remove_vanished(remote)

    def remove_vanished(self, remote: dict[str, str]) -> None:
        if self.exact and self.root.is_dir():
            gone = [p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()]
        else:
            gone = list(self.etags)
        for path in gone:
            if path not in remote:
                local = self.local(path)
                if local is not None:
                    local.unlink(missing_ok=True)
                self.etags.pop(path, None)

    def local(self, path: str) -> Path | None:
        """Where ``path`` goes, or None for a path that would leave the directory."""
        local = (self.root / path).resolve()
        root = self.root.resolve()
        return local if local != root and root in local.parents else None


class DebugAgent:
    def __init__(self, env: dict[str, str]):
        self.url = env["HICLAW_CONTROLLER_URL"].rstrip("/")
        self.token = env["HICLAW_AGENT_TOKEN"]
        self.name = env.get("HICLAW_DEBUG_WORKER_NAME", "debug")
        self.interval = float(env.get("HICLAW_HEARTBEAT_SECONDS", "30"))
        self.workdir = Path(env.get("HICLAW_WORKSPACE_DIR") or os.getcwd())
        self.own = Mirror(self, OWN_FILES, self.workdir, exact=False)
        self.targets: dict[str, Mirror] = {}
        self.running = True

    def get(self, path: str) -> bytes:
        # The URL is the controller's, from the environment the controller set.
        request = urllib.request.Request(self.url + path, method="GET")  # noqa: S310
        request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            return response.read()

    def step(self) -> None:
        names = [entry["worker"] for entry in json.loads(self.get(TARGETS))["targets"]]
        for name in names:
            if name not in self.targets:
                files_url = f"{TARGETS}/{urllib.parse.quote(name, safe='')}/files"
                self.targets[name] = Mirror(self, files_url, self.workdir / MIRROR_DIR / name, exact=True)
            self.targets[name].sync()
        mirrored = self.workdir / MIRROR_DIR
        for stale in [name for name in self.targets if name not in names]:
            del self.targets[stale]
        if mirrored.is_dir():
            for directory in mirrored.iterdir():
                if directory.name not in names:
                    shutil.rmtree(directory, ignore_errors=True)
        self.own.sync()

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "running", False))
        print(f"debug agent {self.name} started, mirroring into {self.workdir / MIRROR_DIR}", flush=True)
        while self.running:
            try:
                self.step()
            except (urllib.error.URLError, OSError, ValueError, KeyError) as error:
                # The controller may be restarting: keep going, try again next round.
                print(f"mirror failed: {error}", file=sys.stderr, flush=True)
            deadline = time.monotonic() + self.interval
            # In slices, so SIGTERM ends the loop promptly.
            while self.running and time.monotonic() < deadline:
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        print(f"debug agent {self.name} stopped", flush=True)


if __name__ == "__main__":
    DebugAgent(dict(os.environ)).run()
