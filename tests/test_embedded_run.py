"""End to end: the README's run command serves the controller with no external services."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers import free_port, wait_until
from tests.test_metrics import parse, value

MANIFESTS = (
    "apiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {name: embedded-bot}\nspec: {model: qwen}\n---\n"
    "apiVersion: hiclaw.io/v1beta1\nkind: Team\nmetadata: {name: crew}\n"
    "spec: {leader: {name: crew-lead, model: qwen}, workers: [{name: crew-dev, model: qwen}],"
    " debug: {enabled: false}}\n"
)


def wait_for(url: str, process: subprocess.Popen, timeout: float) -> urllib.request.addinfourl:
    """The first answer of ``url``, while the run command is still running."""

    def still_running() -> None:
        if process.poll() is not None:
            pytest.fail(f"the run command exited with {process.returncode}")

    def page() -> urllib.request.addinfourl | None:
        try:
            return urllib.request.urlopen(url, timeout=2)
        except OSError:
            return None

    return wait_until(page, timeout, f"{url} to answer", interval=0.2, check=still_running)


def stop_worker_processes(instances: Path) -> None:
    """Workers outlive the controller by design (own sessions); the test stops them itself."""
    for pid_file in instances.glob("*/pid"):
        with contextlib.suppress(ProcessLookupError, ValueError, KeyError):
            os.killpg(json.loads(pid_file.read_text())["pid"], signal.SIGKILL)


def wait_for_row(database, query: str, done, timeout: float) -> tuple:
    """The first row of ``query`` that is ``done``."""
    rows = [None]

    def reached() -> tuple | None:
        with sqlite3.connect(database) as db:
            rows[0] = db.execute(query).fetchone()
        return rows[0] if rows[0] and done(rows[0]) else None

    return wait_until(reached, timeout, query, interval=0.2, details=lambda: f"last row: {rows[0]}")


@pytest.mark.slow
def test_make_run_serves_the_app_and_brings_workers_and_a_team_to_life(tmp_path):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        HICLAW_DATA_DIR=str(tmp_path / "data"),
        PORT=str(port),
        HICLAW_ADMIN_USER="boss",
        HICLAW_ADMIN_PASSWORD="a-long-admin-password",
        HICLAW_BACKEND="process",
        HICLAW_AGENT_HEARTBEAT_SECONDS="1",
    )
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        page = wait_for(f"http://127.0.0.1:{port}/accounts/login/", process, 90)
        assert page.status == 200
        assert b'name="username"' in page.read()
        ready = urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status == 200

        # The in-process Celery worker picks up reconciles queued by an apply in another process.
        apply = subprocess.run(
            [str(ROOT / ".venv/bin/python"), "manage.py", "hiclaw_apply", "-f", "-"],
            input=MANIFESTS,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert apply.stdout.splitlines() == ["worker/embedded-bot created", "team/crew created"], apply.stderr
        # Every worker reaches Running as a local process and reports in; the team is Active.
        database = tmp_path / "data" / "hiclaw.sqlite3"
        wait_for_row(
            database,
            "SELECT COUNT(*) FROM controller_worker WHERE phase = 'Running' AND last_heartbeat IS NOT NULL",
            lambda row: row[0] == 3,
            90,
        )
        wait_for_row(database, "SELECT phase FROM controller_team", lambda row: row[0] == "Active", 30)
        # No metrics token set: a request from loopback reads /metrics (what `make run` users curl).
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            samples = parse(answer.read().decode())
        assert value(samples, "hiclaw_workers", phase="Running") == 3
        assert value(samples, "hiclaw_reconcile_total", kind="Worker", result="ok") >= 3
        assert value(samples, "hiclaw_reconcile_queue_lag_seconds_count", kind="Worker") >= 3  # via the file broker
        assert value(samples, "hiclaw_heartbeats_received_total", kind="worker") >= 3
        # The Celery worker's start published the built-in skills catalogue.
        versions = tmp_path / "data" / "storage" / "system" / "versions.json"
        wait_until(versions.exists, 30, "system/versions.json")
        assert json.loads(versions.read_text())["builtinSkillsVersion"].startswith("c-")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        stop_worker_processes(tmp_path / "data" / "instances")
    assert "Admin login: boss" in output
    assert "embedded (in-process Celery)" in output
    # Stopping the server says what becomes of the local worker processes.
    assert "3 local worker process(es) keep running" in output, output[-3000:]
    assert "No hostname was supplied" not in output
    assert (tmp_path / "data" / "hiclaw.sqlite3").exists()
