"""Session fixtures that start the real services the tests use (docs/testing.md, "The services").

Tests run against real PostgreSQL, Redis, Docker, Synapse and S3 rather than mocks, so what
they prove holds for the systems the controller really talks to.
"""

from __future__ import annotations

import subprocess


def stop_process(process: subprocess.Popen, timeout: float = 10) -> None:
    """Terminate a server started by a fixture; kill it if it does not go in time."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
