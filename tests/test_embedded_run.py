"""End to end: the README's run command serves the controller with no external services."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request

import pytest

from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, deadline: float) -> urllib.request.addinfourl:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the run command exited with {process.returncode}")
        try:
            return urllib.request.urlopen(url, timeout=2)
        except OSError:
            time.sleep(0.2)  # waiting for a real process to start listening
    pytest.fail(f"{url} did not answer in time")


def wait_until_reconciled(database, name: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        with sqlite3.connect(database) as db:
            row = db.execute("SELECT reconciled_at FROM controller_manager WHERE name = ?", (name,)).fetchone()
        if row and row[0]:
            return
        time.sleep(0.2)  # the broker is polled by the server process
    pytest.fail(f"manager/{name} was not reconciled by the embedded worker in time")


@pytest.mark.slow
def test_make_run_serves_login_page_and_processes_reconciles(tmp_path):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        HICLAW_DATA_DIR=str(tmp_path / "data"),
        PORT=str(port),
        HICLAW_ADMIN_USER="boss",
        HICLAW_ADMIN_PASSWORD="a-long-admin-password",
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
        page = wait_for(f"http://127.0.0.1:{port}/accounts/login/", process, time.monotonic() + 90)
        assert page.status == 200
        assert b'name="username"' in page.read()
        ready = urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status == 200

        # The in-process Celery worker picks up reconciles queued by an apply.
        apply = subprocess.run(
            [str(ROOT / ".venv/bin/python"), "manage.py", "hiclaw_apply", "-f", "docs/examples/manager.yaml"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert apply.stdout.strip() == "manager/default created", apply.stderr
        wait_until_reconciled(tmp_path / "data" / "hiclaw.sqlite3", "default", time.monotonic() + 30)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert "Admin login: boss" in output
    assert "embedded (in-process Celery)" in output
    assert (tmp_path / "data" / "hiclaw.sqlite3").exists()
