"""The reference worker: a stand-in for a real OpenClaw / CoPaw runtime.

It is NOT an AI agent. It does what the controller expects of one, so the
controller can be run and tested end to end without a model: it reads its
identity from the environment, posts heartbeats, keeps its local workspace in
sync with ``agents/<name>/`` in storage (through the controller's workspace
API, so it never holds storage credentials), writes one ``sessions/`` log line
per turn and picks up ``.skill-update-signal``.

When its config (``<runtime>.json`` in the workspace, written by the
controller) names a homeserver, it also speaks Matrix with exactly the
credentials there (controller/agent/matrix_loop.py): it answers mentions
(controller/agent/commands.py) and acknowledges the controller's notices
(controller/agent/notices.py). Its heartbeats' ``note`` carries the Matrix
status and the acknowledgements.

Standard library only, runnable as a script, so it also serves as a container
entrypoint wherever Python exists (with this package beside it).

Environment: HICLAW_CONTROLLER_URL, HICLAW_AGENT_TOKEN, HICLAW_WORKER_NAME,
HICLAW_HEARTBEAT_SECONDS (default 30), HICLAW_WORKSPACE_DIR (default: cwd),
HICLAW_RUNTIME (names the config file), HICLAW_TEAM; HICLAW_MATRIX_URL,
HICLAW_MATRIX_USER_ID and HICLAW_MATRIX_ROOM_ID complete the config's
``matrix`` block.
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

if not __package__:  # run as a script (the process backend): make this package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from controller.agent.commands import Responder, WorkState, reply
from controller.agent.matrix_loop import Credentials, MatrixLoop
from controller.agent.notices import SAVE_STATE, Notice

RUNTIME_VERSION = "reference-0.1.0"
SIGNAL_FILE = ".skill-update-signal"
SAVE_SIGNAL_FILE = ".save-state-signal"  # written by a rollout (docs/rollouts.md)
UPLOADED_DIRS = ("sessions/", "memory/")
TIMEOUT = 10
WORK_HEARTBEATS = 3  # ``work N`` lasts this many heartbeats (at least 2 s) unless told otherwise
MAX_NOTE = 500  # the heartbeat API's limit


class ReferenceWorker:
    def __init__(self, env: dict[str, str]):
        self.url = env["HICLAW_CONTROLLER_URL"].rstrip("/")
        self.token = env["HICLAW_AGENT_TOKEN"]
        self.name = env.get("HICLAW_WORKER_NAME", "worker")
        self.interval = float(env.get("HICLAW_HEARTBEAT_SECONDS", "30"))
        self.workspace = Path(env.get("HICLAW_WORKSPACE_DIR") or os.getcwd())
        self.env = env
        self.team = env.get("HICLAW_TEAM", "")
        self.config_file = f"{env.get('HICLAW_RUNTIME') or 'openclaw'}.json"
        self.work = WorkState(max(2.0, WORK_HEARTBEATS * self.interval))
        self.matrix: MatrixLoop | None = None
        self.started_ms = int(time.time() * 1000)
        self.remote_etags: dict[str, str] = {}
        self.uploaded: dict[str, float] = {}
        self.saved_for: set[str] = set()  # save-state ids acted on (signal file or notice)
        self.answers: list[tuple[str, str]] = []  # (room, text) of notices acted on, not yet answered
        self.turn = 0
        self.running = True
        # Until then (time.monotonic()) no heartbeat is posted: the controller answered 429.
        self.heartbeats_paused_until = 0.0

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
        self.check_save_signal()
        self.ensure_matrix()
        self.act_on_notices()
        self.log_turn()
        self.sync_up()
        reported = self.heartbeat()
        # Answered after the heartbeat: whoever reads the answer finds the acknowledgement reported.
        while reported and self.answers and self.matrix is not None:
            room_id, text = self.answers.pop(0)
            self.matrix.send(room_id, reply(text, ""))

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
        if version and version != self.work.skills_version:
            self.work.skills_version = version
            print(f"skills updated to {version}", flush=True)

    def check_save_signal(self) -> None:
        """A rollout's ``.save-state-signal``: the same request as its Matrix notice, for an
        agent without Matrix; acted on (and acknowledged in the heartbeat) once per id."""
        try:
            data = json.loads((self.workspace / SAVE_SIGNAL_FILE).read_text())
            notice = Notice(SAVE_STATE, str(data["id"]))
        except (OSError, ValueError, KeyError, TypeError):
            return
        if notice.id not in self.saved_for:
            self.saved_for.add(notice.id)
            self.act_on(notice)
            self.work.acknowledge(notice)

    # --- Matrix -------------------------------------------------------------------
    def ensure_matrix(self) -> None:
        """Follow Matrix with the credentials of the config; new credentials start a new loop."""
        try:
            config = json.loads((self.workspace / self.config_file).read_text())
        except (OSError, ValueError):
            config = {}
        credentials = Credentials.from_config(config if isinstance(config, dict) else {}, self.env)
        if credentials is None or (self.matrix is not None and self.matrix.credentials == credentials):
            return
        if self.matrix is not None:
            self.matrix.stop()
        leader = self.env.get("HICLAW_AGENT_IDENTITY") == "team-leader" and self.team
        responder = Responder(
            self.work,
            user_id=credentials.user_id,
            name=self.name,
            runtime_version=RUNTIME_VERSION,
            team_status=self.team_status if leader else None,
        )
        self.matrix = MatrixLoop(credentials, responder, since_ms=self.started_ms)
        self.matrix.start()
        print(f"following Matrix as {credentials.user_id} on {credentials.homeserver}", flush=True)

    def act_on_notices(self) -> None:
        """Act on the controller's notices; their answers wait until a heartbeat has reported them."""
        while not self.work.notices.empty():
            room_id, notice = self.work.notices.get_nowait()
            self.answers.append((room_id, self.act_on(notice)))
            self.work.acknowledge(notice)

    def act_on(self, notice: Notice) -> str:
        if notice.kind == SAVE_STATE:
            state, tasks = self.work.current()
            saved = {"turn": self.turn, "state": state, "activeTasks": tasks, "notice": notice.id}
            target = self.workspace / "memory" / "state.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(saved, indent=2) + "\n")  # uploaded by this turn's sync_up
            return f"{self.name}: state saved for {notice.kind} {notice.id}"
        if notice.version:  # skills-update: this turn's sync_down fetched the new skills
            self.work.skills_version = notice.version
        return f"{self.name}: skills at {self.work.skills_version or 'none'} for {notice.kind} {notice.id}"

    def team_status(self) -> str:
        """The team's members as the API reports them to their leader."""
        query = "?team=" + urllib.parse.quote(self.team)
        try:
            lines = json.loads(self.call("GET", "/api/v1/workers/status" + query))["workers"]
            idle = json.loads(self.call("GET", "/api/v1/workers/idle-check" + query))["workers"]
        except (urllib.error.URLError, OSError, ValueError, KeyError) as error:
            return f"team {self.team}: the controller did not answer ({type(error).__name__})"
        tasks = {w["name"]: w for w in idle}
        parts = []
        for line in lines:
            activity = tasks.get(line["name"], {})
            busy = activity.get("idleSince") is None and line.get("lastHeartbeat")
            doing = f"busy with {activity.get('activeTasks', 0)} tasks" if busy else "idle"
            parts.append(f"{line['name']} {line['phase']}, {doing}" + ("" if line.get("healthy") else ", unhealthy"))
        return f"team {self.team}: " + ("; ".join(parts) or "no members")

    def log_turn(self) -> None:
        now = datetime.now(UTC)
        log = self.workspace / "sessions" / f"{now:%Y-%m-%d}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        state, tasks = self.work.current()
        with log.open("a") as handle:
            handle.write(f"{now.isoformat()} turn {self.turn}: {state}, {tasks} tasks\n")

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

    def heartbeat(self) -> bool:
        """Report the work state; False when no report went out (the controller asked for a pause)."""
        if time.monotonic() < self.heartbeats_paused_until:
            return False
        state, tasks = self.work.current()
        notes = ([self.matrix.status] if self.matrix is not None else []) + self.work.acks()
        body = {
            "state": state,
            "activeTasks": tasks,
            "runtimeVersion": RUNTIME_VERSION,
            "skillsVersion": self.work.skills_version,
            "note": "; ".join(notes)[-MAX_NOTE:],
        }
        try:
            self.call("POST", "/api/v1/heartbeats", json.dumps(body).encode())
        except urllib.error.HTTPError as error:
            if error.code != 429:
                raise
            # Too many heartbeats: post none until the controller's Retry-After has passed.
            pause = retry_after(error.headers.get("Retry-After"), default=self.interval)
            self.heartbeats_paused_until = time.monotonic() + pause
            print(f"heartbeats paused for {pause:g} s: the controller answered 429", file=sys.stderr, flush=True)
            return False
        return True

    # --- main loop ------------------------------------------------------------------
    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "running", False))
        print(f"reference worker {self.name} ({RUNTIME_VERSION}) started, workspace {self.workspace}", flush=True)
        while self.running:
            self.work.wake.clear()  # a command arriving during the turn makes the next one start at once
            try:
                self.step()
            except (urllib.error.URLError, OSError, ValueError) as exc:
                # The controller may be restarting: keep going, report on the next turn.
                print(f"turn {self.turn} failed: {exc}", file=sys.stderr, flush=True)
            self.wait()
        if self.matrix is not None:
            self.matrix.stop()
        print(f"reference worker {self.name} stopped", flush=True)

    def wait(self) -> None:
        """Until the next turn: the heartbeat period, or sooner when work ends or a command asks."""
        until_idle = self.work.seconds_until_idle()
        deadline = time.monotonic() + (self.interval if until_idle is None else min(self.interval, until_idle + 0.05))
        # In slices: the SIGTERM handler only clears ``running`` (taking a lock in a handler could deadlock).
        while self.running and time.monotonic() < deadline:
            if self.work.wake.wait(min(0.2, max(0.0, deadline - time.monotonic()))):
                return


def retry_after(value: str | None, default: float) -> float:
    """Seconds a ``Retry-After`` header asks to wait (the controller sends whole seconds);
    ``default`` when it is missing or not a number, at most an hour."""
    try:
        seconds = float(value or "")
    except ValueError:
        return default
    return min(max(seconds, 0.0), 3600.0) if seconds == seconds else default  # NaN is no number


if __name__ == "__main__":
    ReferenceWorker(dict(os.environ)).run()
