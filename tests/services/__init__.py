"""Session fixtures that start the real services the tests use (docs/testing.md, "The services").

Tests run against real PostgreSQL, Redis, Docker, Synapse and S3 rather than mocks, so what
they prove holds for the systems the controller really talks to.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterable


def stop_process_groups(processes: Iterable[subprocess.Popen], timeout: float = 20) -> None:
    """SIGTERM the process group of each (started with ``start_new_session``) at once, then
    wait for each; a group still there after ``timeout`` gets SIGKILL."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def stop_process(process: subprocess.Popen, timeout: float = 10) -> None:
    """Terminate a server started by a fixture; kill it if it does not go in time."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
