"""The reference worker: a stand-in for a real OpenClaw / CoPaw runtime.

It is NOT an AI agent. It does what the controller expects of one, so the
controller can be run and tested end to end without a model: it reads its
identity from the environment, posts heartbeats, keeps its local workspace in
sync with ``agents/<name>/`` in storage (through the controller's workspace
API, so it never holds storage credentials), writes one ``sessions/`` log line
per turn and picks up ``.skill-update-signal``.

Standard library only, runnable as a script, so it also serves as a container
entrypoint wherever Python exists.

Environment: HICLAW_CONTROLLER_URL, HICLAW_AGENT_TOKEN, HICLAW_WORKER_NAME,
HICLAW_HEARTBEAT_SECONDS (default 30), HICLAW_WORKSPACE_DIR (default: cwd).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

RUNTIME_VERSION = "reference-0.1.0"
SIGNAL_FILE = ".skill-update-signal"
UPLOADED_DIRS = ("sessions/", "memory/")
TIMEOUT = 10


class ReferenceWorker:
    def __init__(self, env: dict[str, str]):
        self.url = env["HICLAW_CONTROLLER_URL"].rstrip("/")
        self.token = env["HICLAW_AGENT_TOKEN"]
        self.name = env.get("HICLAW_WORKER_NAME", "worker")
        self.interval = float(env.get("HICLAW_HEARTBEAT_SECONDS", "30"))
        self.workspace = Path(env.get("HICLAW_WORKSPACE_DIR") or os.getcwd())
        self.skills_version = ""
        self.remote_etags: dict[str, str] = {}
        self.uploaded: dict[str, float] = {}
        self.turn = 0
        self.running = True

    # --- HTTP ---------------------------------------------------------------------
    def call(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json") -> bytes:
        # The URL is the controller's, from the environment the controller set.
        request = urllib.request.Request(self.url + path, data=body, method=method)  # noqa: S310
        request.add_header("Authorization", f"Bearer {self.token}")
        if body is not None:
            request.add_header("Content-Type", content_type)
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            return response.read()

    # --- one turn -----------------------------------------------------------------
    def step(self) -> None:
        self.turn += 1
        self.sync_down()
        self.check_skill_signal()
        self.log_turn()
        self.sync_up()
        self.heartbeat()

    def sync_down(self) -> None:
        listing = json.loads(self.call("GET", "/api/v1/workspace/files"))
        for entry in listing["files"]:
            path, etag = entry["path"], entry["etag"]
            if self.remote_etags.get(path) == etag or path.startswith(UPLOADED_DIRS):
                continue
            content = self.call("GET", "/api/v1/workspace/files/" + urllib.parse.quote(path))
            target = self.workspace / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            self.remote_etags[path] = etag

    def check_skill_signal(self) -> None:
        signal_file = self.workspace / SIGNAL_FILE
        if not signal_file.exists():
            return
        try:
            version = json.loads(signal_file.read_text()).get("version", "")
        except ValueError:
            version = signal_file.read_text().strip()
        if version and version != self.skills_version:
            self.skills_version = version
            print(f"skills updated to {version}", flush=True)

    def log_turn(self) -> None:
        now = datetime.now(UTC)
        log = self.workspace / "sessions" / f"{now:%Y-%m-%d}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as handle:
            handle.write(f"{now.isoformat()} turn {self.turn}: idle, no task\n")

    def sync_up(self) -> None:
        for directory in UPLOADED_DIRS:
            for path in sorted((self.workspace / directory).rglob("*")):
                if not path.is_file():
                    continue
                relative = path.relative_to(self.workspace).as_posix()
                mtime = path.stat().st_mtime
                if self.uploaded.get(relative) == mtime:
                    continue
                quoted = urllib.parse.quote(relative)
                self.call("PUT", "/api/v1/workspace/files/" + quoted, path.read_bytes(), "application/octet-stream")
                self.uploaded[relative] = mtime

    def heartbeat(self) -> None:
        body = {
            "state": "idle",
            "activeTasks": 0,
            "runtimeVersion": RUNTIME_VERSION,
            "skillsVersion": self.skills_version,
        }
        self.call("POST", "/api/v1/heartbeats", json.dumps(body).encode())

    # --- main loop ------------------------------------------------------------------
    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "running", False))
        print(f"reference worker {self.name} ({RUNTIME_VERSION}) started, workspace {self.workspace}", flush=True)
        while self.running:
            try:
                self.step()
            except (urllib.error.URLError, OSError, ValueError) as exc:
                # The controller may be restarting: keep going, report on the next turn.
                print(f"turn {self.turn} failed: {exc}", file=sys.stderr, flush=True)
            deadline = time.monotonic() + self.interval
            while self.running and time.monotonic() < deadline:
                time.sleep(min(0.2, self.interval))
        print(f"reference worker {self.name} stopped", flush=True)


if __name__ == "__main__":
    ReferenceWorker(dict(os.environ)).run()
