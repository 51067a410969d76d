"""The reference worker's parts without a homeserver: commands, notices, the Matrix loop's
error handling (against a small scripted HTTP server) and its standard-library-only launch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from controller.agent import reference_worker
from controller.agent.commands import Responder, WorkState, addressed_text
from controller.agent.matrix_loop import Credentials, MatrixLoop
from controller.agent.notices import (
    REPLY_KEY,
    SAVE_STATE,
    SKILLS_UPDATE,
    ack_note,
    acknowledged,
    notice_content,
    parse_notice,
)

ME = "@hiclaw-worker-ada:example.org"
TOKEN = "syt_secret_token_value"


def responder(*, leader: bool = False, work_seconds: float = 30) -> Responder:
    state = WorkState(work_seconds)
    return Responder(
        state,
        user_id=ME,
        name="ada",
        runtime_version="reference-0.1.0",
        team_status=(lambda: "team t") if leader else None,
    )


def message(body: str, **extra) -> dict:
    return {
        "type": "m.room.message",
        "sender": "@bob:example.org",
        "content": {"msgtype": "m.text", "body": body, **extra},
    }


@pytest.mark.parametrize(
    ("body", "mentions", "expected"),
    [
        (f"{ME} status", [ME], "status"),
        (f"{ME}: work 2", [], "work 2"),
        ("ada: status", [ME], "status"),
        ("@ada status", [], "status"),
        ("hiclaw-worker-ada, status", [], "status"),
        ("please, ada-two status", [], None),  # another agent's name that starts with this one's
        ("ada-two: status", [], None),
        ("hello everyone", [], None),
        ("say status please", [ME], "say status please"),
        (f"> <{ME}> status\n\nthanks", [ME], None),  # a quoted reply
    ],
)
def test_a_message_is_for_the_agent_only_when_it_mentions_it(body, mentions, expected):
    content = {"body": body, "m.mentions": {"user_ids": mentions}}
    assert addressed_text(content, ME, "ada") == expected


def test_status_work_and_help_answers():
    answer = responder()
    reply = answer("!r", message(f"{ME} status"), False)
    assert reply == {
        "msgtype": "m.text",
        "body": "@bob:example.org: ada: idle, 0 active tasks, runtime reference-0.1.0, skills none",
        "m.mentions": {"user_ids": ["@bob:example.org"]},
        REPLY_KEY: True,
    }
    assert "busy with 2 tasks for 30 s" in answer("!r", message("ada: work 2"), False)["body"]
    assert answer.state.current() == ("busy", 2) and answer.state.wake.is_set()
    assert "busy with 3 tasks for 5 s" in answer("!r", message("ada: work 3 5"), False)["body"]
    for wrong in ("work", "work two", "work 2 0", "work 5000", "status now", "team", "dance"):
        assert answer("!r", message(f"ada: {wrong}"), False)["body"].endswith("ada answers: status, work N [seconds]")
    assert answer.state.current() == ("busy", 3)
    assert responder(leader=True)("!r", message("ada team"), False)["body"].endswith(": team t")
    assert responder(leader=True)("!r", message("ada help"), False)["body"].endswith("work N [seconds], team")


def test_work_ends_by_itself():
    state = WorkState(30)
    state.start_work(2, 0.01)
    threading.Event().wait(0.02)  # let the (tiny) work time pass
    assert state.current() == ("idle", 0) and state.seconds_until_idle() is None


def test_other_agents_answers_and_unaddressed_messages_get_no_reply():
    answer = responder()
    assert answer("!r", message(f"{ME} status", **{REPLY_KEY: True}), False) is None
    assert answer("!r", message("lunch?"), False) is None


def test_notices_round_trip_and_count_only_from_the_controller():
    content = notice_content(SKILLS_UPDATE, "s-1", targets=(ME,), version="2026.12.1")
    assert content["body"].startswith("[hiclaw] skills-update s-1")
    notice = parse_notice(content)
    assert (notice.kind, notice.id, notice.version, notice.addresses(ME)) == (SKILLS_UPDATE, "s-1", "2026.12.1", True)
    assert not notice.addresses("@other:example.org")
    answer = responder()
    event = {"sender": "@admin:example.org", "content": content}
    assert answer("!r", event, False) is None and answer.state.notices.empty()  # not the room's creator
    assert answer("!r", event, True) is None and answer.state.notices.get_nowait() == ("!r", notice)
    other = notice_content(SAVE_STATE, "r1", targets=("@other:example.org",))
    assert answer("!r", {"sender": "@admin:example.org", "content": other}, True) is None
    assert answer.state.notices.empty()


@pytest.mark.parametrize(
    "content",
    [
        {"body": "save-state r1", "io.hiclaw.notice": {"kind": SAVE_STATE, "id": "r1"}},  # no marker
        {"body": "[hiclaw] x", "io.hiclaw.notice": {"kind": "reboot", "id": "r1"}},
        {"body": "[hiclaw] x", "io.hiclaw.notice": {"kind": SAVE_STATE, "id": "a b"}},
        {"body": "[hiclaw] x", "io.hiclaw.notice": {"kind": SAVE_STATE, "id": "r1", "targets": "all"}},
        {"body": "[hiclaw] x", "io.hiclaw.notice": "save-state"},
    ],
)
def test_malformed_notices_are_ignored(content):
    assert parse_notice(content) is None


def test_acknowledgements_are_read_back_from_a_note():
    notes = "; ".join(
        ["matrix: following 3 rooms", ack_note(parse_notice(notice_content(SAVE_STATE, "r1"))), "ack:reboot:x"]
    )
    assert acknowledged(notes) == {(SAVE_STATE, "r1")}
    state = WorkState(1)
    for number in range(8):
        state.acknowledge(parse_notice(notice_content(SAVE_STATE, f"n{number}")))
    assert state.acks() == [f"ack:save-state:n{number}" for number in range(3, 8)]
    with pytest.raises(ValueError, match="kind"):
        notice_content("reboot", "r1")


def test_credentials_come_from_the_config_and_never_show_the_token():
    config = {"matrix": {"homeserver": "http://hs:8008/", "userId": ME, "accessToken": TOKEN, "roomId": "!r"}}
    credentials = Credentials.from_config(config, {})
    assert (credentials.homeserver, credentials.user_id, credentials.room_id) == ("http://hs:8008", ME, "!r")
    assert TOKEN not in repr(credentials)
    assert Credentials.from_config({"matrix": {"homeserver": "", "userId": ME, "accessToken": TOKEN}}, {}) is None
    env = {"HICLAW_MATRIX_URL": "http://hs", "HICLAW_MATRIX_USER_ID": ME}
    assert Credentials.from_config({"matrix": {"accessToken": TOKEN}}, env).homeserver == "http://hs"


class ScriptedHomeserver(BaseHTTPRequestHandler):
    """Answers whoami, then each /sync with the next scripted (status, body)."""

    script: list[tuple[int, dict]] = []
    seen: list[str] = []

    def do_GET(self):
        self.seen.append(self.path + " " + self.headers.get("Authorization", ""))
        if self.path.startswith("/_matrix/client/v3/account/whoami"):
            self.answer(200, {"user_id": ME})
        else:
            self.answer(*(self.script.pop(0) if self.script else (401, {"errcode": "M_UNKNOWN_TOKEN"})))

    def do_POST(self):  # joins
        self.seen.append(f"POST {self.path}")
        self.answer(200, {"room_id": self.path.rsplit("/", 1)[-1]})

    def answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def homeserver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedHomeserver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ScriptedHomeserver.script, ScriptedHomeserver.seen = [], []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_revoked_token_ends_the_loop_once_after_failures_it_retries(homeserver, capsys, monkeypatch):
    monkeypatch.setattr("controller.agent.matrix_loop.random.uniform", lambda a, b: 0.01)  # no real backoff wait
    ScriptedHomeserver.script = [
        (200, {"rooms": []}),  # an answer of the wrong shape
        (502, {}),
        (429, {"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 1}),
        (200, {"next_batch": "s1", "rooms": {"join": {"!a": {}}, "invite": {"!team": {}}}}),
    ]
    loop = MatrixLoop(Credentials(homeserver, ME, TOKEN, "!own"), lambda *a: None, since_ms=0, sync_timeout_ms=10)
    loop.start()
    loop.join(10)
    assert not loop.is_alive() and loop.ended
    assert loop.status.startswith("matrix: stopped: access token rejected, M_UNKNOWN_TOKEN (401)")
    err = capsys.readouterr().err
    assert err.count("ended") == 1 and TOKEN not in err + loop.status
    sync_paths = [seen for seen in ScriptedHomeserver.seen if "/sync" in seen]
    assert len(sync_paths) == 5 and "since=s1" in sync_paths[-1]
    # Invited rooms are joined, and the configured room when the first sync did not show it joined.
    assert [seen for seen in ScriptedHomeserver.seen if seen.startswith("POST")] == [
        "POST /_matrix/client/v3/join/%21team",
        "POST /_matrix/client/v3/join/%21own",
    ]
    assert loop.rooms == {"!a", "!team", "!own"}
    assert all(TOKEN not in seen.split(" ")[0] for seen in ScriptedHomeserver.seen)  # never in a URL


def test_the_script_runs_with_the_standard_library_alone(tmp_path):
    """As the process backend runs it, without site-packages: it starts, follows nothing, stops on SIGTERM."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HICLAW_CONTROLLER_URL": "http://127.0.0.1:9",
        "HICLAW_AGENT_TOKEN": "hct_x",
        "HICLAW_WORKER_NAME": "ada",
        "HICLAW_HEARTBEAT_SECONDS": "0.2",
        "HICLAW_WORKSPACE_DIR": str(tmp_path),
    }
    child = subprocess.Popen(
        [sys.executable, "-I", "-S", reference_worker.__file__],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert "started" in child.stdout.readline()
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=10)
    assert child.returncode == 0 and "stopped" in out, err
    assert "ModuleNotFoundError" not in err


def test_new_credentials_in_the_config_start_a_new_loop(homeserver, tmp_path):
    env = {"HICLAW_CONTROLLER_URL": "http://127.0.0.1:9", "HICLAW_AGENT_TOKEN": "hct_x"}
    worker = reference_worker.ReferenceWorker({**env, "HICLAW_WORKSPACE_DIR": str(tmp_path)})
    worker.ensure_matrix()
    assert worker.matrix is None  # no config, no homeserver: no Matrix

    def configure(token: str) -> None:
        block = {"homeserver": homeserver, "userId": ME, "accessToken": token, "roomId": ""}
        (tmp_path / "openclaw.json").write_text(json.dumps({"matrix": block}))

    configure(TOKEN)
    worker.ensure_matrix()
    first = worker.matrix
    worker.ensure_matrix()
    assert worker.matrix is first and first.credentials.access_token == TOKEN
    configure("syt_rotated")
    worker.ensure_matrix()
    assert worker.matrix is not first and worker.matrix.credentials.access_token == "syt_rotated"
    assert first.stopped.is_set()
    for loop in (first, worker.matrix):
        loop.stop()
        loop.join(10)


def test_a_rollouts_save_state_signal_is_acted_on_once_and_acknowledged(tmp_path):
    env = {"HICLAW_CONTROLLER_URL": "http://127.0.0.1:9", "HICLAW_AGENT_TOKEN": "t", "HICLAW_WORKER_NAME": "ada"}
    worker = reference_worker.ReferenceWorker({**env, "HICLAW_WORKSPACE_DIR": str(tmp_path)})
    worker.check_save_signal()  # no signal: nothing
    assert worker.work.acks() == [] and not (tmp_path / "memory").exists()
    (tmp_path / ".save-state-signal").write_text(json.dumps({"kind": SAVE_STATE, "id": "rollout-3-7"}))
    worker.check_save_signal()
    worker.check_save_signal()
    assert worker.work.acks() == ["ack:save-state:rollout-3-7"]
    assert json.loads((tmp_path / "memory" / "state.json").read_text())["notice"] == "rollout-3-7"
    (tmp_path / ".save-state-signal").write_text("not json")
    worker.check_save_signal()
    assert worker.work.acks() == ["ack:save-state:rollout-3-7"]
