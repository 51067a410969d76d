"""``hiclaw_run --no-migrate``: how the Helm chart's web pods start.

In production a migration Job migrates once before a new version serves; the
web replicas only check the schema is current and refuse, in one line, to
serve a database that is behind the code.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers import free_port
from tests.test_embedded_run import wait_for

pytestmark = pytest.mark.slow

PYTHON = str(ROOT / ".venv" / "bin" / "python")


def _env(data_dir: Path) -> dict[str, str]:
    """Embedded settings in a data dir of the test's own, whatever the suite's environment holds."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HICLAW_", "DJANGO_")) and key not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(HICLAW_DATA_DIR=str(data_dir), HICLAW_BACKEND="process", PYTHONDONTWRITEBYTECODE="1")
    return env


def _tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_no_migrate_refuses_an_unmigrated_database_and_migrates_nothing(tmp_path):
    data_dir = tmp_path / "data"
    run = subprocess.run(
        [PYTHON, "manage.py", "hiclaw_run", "--no-migrate", "--port", str(free_port())],
        cwd=ROOT,
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "migration(s) not applied" in run.stderr and "manage.py migrate" in run.stderr
    assert "django_migrations" not in _tables(data_dir / "hiclaw.sqlite3")


def test_no_migrate_serves_a_migrated_database(tmp_path):
    env = _env(tmp_path / "data")
    migrated = subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    log = (tmp_path / "web.log").open("w")
    web = subprocess.Popen(
        [PYTHON, "manage.py", "hiclaw_run", "--no-migrate", "--port", str(port)],
        cwd=ROOT,
        env={**env, "HICLAW_ADMIN_PASSWORD": "chart-made-password"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        assert wait_for(f"http://127.0.0.1:{port}/healthz", web, 90).status == 200
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=30)
    output = (tmp_path / "web.log").read_text()
    assert "Admin login: admin (password from HICLAW_ADMIN_PASSWORD)" in output
    assert "chart-made-password" not in output
