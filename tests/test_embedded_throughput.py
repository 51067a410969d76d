"""The embedded mode keeps up with a large apply: its in-process Celery worker takes tasks
from the filesystem broker several at a time (prefetch) on 4 threads, where one task per
thread and the broker's 0.1 s polling held it to about 18 reconciles a second.

bench/settle.py gives the precise figure (docs/benchmarks.md); the bound here leaves room
for a loaded machine and still fails at the old rate (500 Workers would take ~28 s).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.helpers import free_port
from tests.test_embedded_run import wait_for, wait_for_row

WORKERS = 500
SETTLE_BOUND_SECONDS = 20.0
MANIFEST = (
    "---\napiVersion: hiclaw.io/v1beta1\nkind: Worker\nmetadata: {{name: {name}}}\n"
    "spec: {{model: qwen, state: Sleeping}}\n"
)


@pytest.mark.slow
def test_hiclaw_run_settles_hundreds_of_sleeping_workers_soon_after_their_apply(tmp_path):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(HICLAW_DATA_DIR=str(tmp_path / "data"), HICLAW_BACKEND="process", HICLAW_LOG_LEVEL="INFO")
    log = tmp_path / "hiclaw_run.log"  # a file: a pipe nobody reads while it runs would fill and block it
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "hiclaw_run", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/readyz", process, 90)
        text = "".join(MANIFEST.format(name=f"bulk-{number:04d}") for number in range(WORKERS))
        applied = subprocess.run(
            [sys.executable, "manage.py", "hiclaw_apply", "-f", "-"],
            input=text,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert applied.returncode == 0, applied.stderr
        started = time.monotonic()
        wait_for_row(
            tmp_path / "data" / "hiclaw.sqlite3",
            "SELECT COUNT(*) FROM controller_worker WHERE phase = 'Sleeping' AND observed_generation = generation",
            lambda row: row[0] == WORKERS,
            120,
        )
        took = time.monotonic() - started
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert "embedded Celery worker (4 threads) and beat started" in log.read_text(), log.read_text()[-3000:]
    assert took <= SETTLE_BOUND_SECONDS, f"{WORKERS} sleeping Workers settled {took:.1f} s after their apply"
