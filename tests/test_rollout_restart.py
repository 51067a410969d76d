"""A rollout survives the controller being killed mid-way, and resumes without duplicate instances.

The embedded run command (``manage.py hiclaw_run``: web, Celery worker and beat
in one process, SQLite, the process backend) serves a Worker whose reference
worker really reports: it acknowledges the rollout's save-state signal file
and its new instance's heartbeats make it ready, with no stand-in. The test
changes the image, waits until the rollout is under way, kills the whole
controller with SIGKILL (the Celery worker in it dies with its queued looks),
checks that the database still says where the rollout stood (and leaves a
half-written broker message, as a kill mid-write does), starts the
controller again and waits for the rollout to finish: the periodic resync
(every 2 s here) queues it again. Instances are local processes that outlive
the controller by design; the test counts their state directories throughout.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers import free_port
from tests.test_embedded_run import stop_worker_processes, wait_for

pytestmark = pytest.mark.slow

WORKER = "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: phoenix}\nspec: {model: qwen, image: %s}\n"
V1, V2 = "local/agent:v1", "local/agent:v2"


def query(database: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(database, timeout=10) as db:
        return db.execute(sql).fetchall()


def instances(data: Path) -> list[str]:
    return sorted(p.name for p in (data / "instances").glob("hiclaw-worker-phoenix*") if (p / "instance.json").exists())


def wait_for_rows(database: Path, sql: str, done, timeout: float, data: Path, most: list[int]) -> list[tuple]:
    """Poll ``sql`` until ``done(rows)``; meanwhile note the most instances of the worker seen at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        most.append(len(instances(data)))
        try:
            rows = query(database, sql)
        except sqlite3.OperationalError:  # not migrated yet, or locked for a moment
            rows = []
        if done(rows):
            return rows
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {sql!r}: {rows}")


def test_a_rollout_resumes_after_the_controller_is_killed(tmp_path):
    data, port = tmp_path / "data", free_port()
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        HICLAW_DATA_DIR=str(data),
        PORT=str(port),
        HICLAW_BACKEND="process",
        HICLAW_AGENT_HEARTBEAT_SECONDS="1",
        HICLAW_RESYNC_SECONDS="2",
        HICLAW_ROLLOUT_SAVE_TIMEOUT_SECONDS="60",
        HICLAW_ROLLOUT_READY_TIMEOUT_SECONDS="60",
        HICLAW_ROLLOUT_POLL_SECONDS="1",
    )
    database, most = data / "hiclaw.sqlite3", []

    def start() -> subprocess.Popen:
        log = (tmp_path / f"controller-{time.monotonic_ns()}.log").open("w")
        process = subprocess.Popen(
            [str(ROOT / ".venv/bin/python"), "manage.py", "hiclaw_run"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(f"http://127.0.0.1:{port}/readyz", process, 90)
        return process

    def apply(image: str) -> None:
        command = [str(ROOT / ".venv/bin/python"), "manage.py", "hiclaw_apply", "-f", "-"]
        done = subprocess.run(command, input=WORKER % image, cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr

    controller = start()
    try:
        apply(V1)
        ran = "SELECT running_image FROM controller_worker WHERE phase = 'Running' AND last_heartbeat IS NOT NULL"
        wait_for_rows(database, ran, lambda rows: rows == [(V1,)], 90, data, most)
        apply(V2)
        # Under way: the save-state signal acknowledged (by the real reference worker) or later.
        steps = "SELECT step FROM controller_upgradetarget WHERE state = 'running'"
        wait_for_rows(database, steps, lambda rows: rows and rows[0][0] in ("starting", "cutover"), 60, data, most)
        os.killpg(controller.pid, signal.SIGKILL)
        controller.wait(timeout=10)

        # Killed while writing a queued message: kombu leaves the file empty, which stopped
        # the restarted Celery worker for good until the embedded start set such files aside.
        (data / "broker" / "99999999999_killed-mid-write.celery.msg").write_bytes(b"")
        stood = query(database, "SELECT state, step, new_instance FROM controller_upgradetarget")
        assert len(stood) == 1 and stood[0][0] in ("running", "done"), stood
        controller = start()
        done = "SELECT state, message FROM controller_upgrade WHERE kind = 'rollout'"
        rows = wait_for_rows(database, done, lambda rows: rows and rows[0][0] != "Running", 90, data, most)
        assert rows[0][0] == "Done", rows
        row = "SELECT running_image, instance_name, phase FROM controller_worker"
        wait_for_rows(database, row, lambda rows: rows == [(V2, stood[0][2], "Running")], 30, data, most)
        assert instances(data) == [stood[0][2]]  # the old instance gone, the new one only
        assert max(most) == 2  # old and new side by side, never a third (no duplicate after the restart)
        notes = query(database, "SELECT note FROM controller_heartbeat WHERE note LIKE '%ack:save-state:rollout-%'")
        assert notes, "the reference worker acknowledged the save-state signal"
    finally:
        if controller.poll() is None:
            os.killpg(controller.pid, signal.SIGTERM)
            controller.wait(timeout=30)
        stop_worker_processes(data / "instances")
