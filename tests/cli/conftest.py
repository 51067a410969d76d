"""Fixtures for the ``hiclaw`` CLI: the installed console script run as a subprocess
against a live test server, with a token per persona."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from controller.models import AgentToken
from controller.services.apply import apply_text
from tests.api.conftest import PERSONAS

HICLAW = Path(sys.executable).parent / "hiclaw"
# A subprocess is given nothing of the caller's HICLAW_* settings but what a test sets.
BASE_ENV = {key: value for key, value in os.environ.items() if not key.startswith("HICLAW_")}

WORLD = """
apiVersion: hiclaw.io/v1beta1
kind: Team
metadata: {name: team-a}
spec:
  image: hiclaw/worker-agent:1.4.0
  leader:
    name: a-lead
    model: qwen
    soul: |
      Lead team A.
      Review every change.
    permissions: {canScaleWorkers: true, maxWorkers: 3, allowedModels: [qwen, claude]}
  workers:
    - {name: a-dev, model: qwen, skills: [git]}
---
apiVersion: hiclaw.io/v1beta1
kind: Team
metadata: {name: team-b}
spec:
  leader: {name: b-lead, model: qwen}
  workers:
    - {name: b-dev, model: qwen}
---
apiVersion: hiclaw.io/v1beta1
kind: Worker
metadata: {name: solo, labels: {tier: gold}}
spec: {model: qwen, soul: "Be brief."}
"""


@pytest.fixture(scope="session", autouse=True)
def _console_script_installed():
    if not HICLAW.exists():
        pytest.fail(f"{HICLAW} is missing: install the package with `{sys.executable} -m pip install --no-deps -e .`")


@pytest.fixture
def world(transactional_db):
    apply_text(WORLD)


class CLI:
    """Runs the installed ``hiclaw`` script against the live server as one of the ``PERSONAS``."""

    def __init__(self, url: str):
        self.url = url
        self.tokens: dict[str, str] = {}

    def env(self, persona: str = "admin", **overrides: str) -> dict[str, str]:
        if persona not in self.tokens:
            identity, subject, team = PERSONAS[persona]
            self.tokens[persona] = AgentToken.mint(identity, subject, team=team)[1]
        return {**BASE_ENV, "HICLAW_CONTROLLER_URL": self.url, "HICLAW_AGENT_TOKEN": self.tokens[persona], **overrides}

    def __call__(
        self, *args: str, persona: str = "admin", stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(HICLAW), *args],
            input=stdin,
            env=self.env(persona, **(env or {})),
            capture_output=True,
            text=True,
            timeout=60,
        )

    def start(self, *args: str, persona: str = "admin") -> subprocess.Popen:
        """The command running in the background (``--watch``, ``-f``): the caller reads its
        output with ``Lines`` and stops it."""
        return subprocess.Popen(
            [str(HICLAW), *args], env=self.env(persona), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )


@pytest.fixture
def hiclaw(live_server, world) -> CLI:
    return CLI(live_server.url)


def ok(process: subprocess.CompletedProcess) -> str:
    """The stdout of a command that must have succeeded."""
    assert process.returncode == 0, process.stderr
    return process.stdout


def failed(process: subprocess.CompletedProcess) -> str:
    """The single error line of a command that must have failed."""
    assert process.returncode == 1, process.stdout
    lines = process.stderr.splitlines()
    assert len(lines) == 1, process.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


class Lines:
    """The stdout lines of a running command, each awaited at most ``timeout`` seconds, so a
    command that never prints fails its test instead of hanging it."""

    def __init__(self, process: subprocess.Popen):
        self.queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout or ():
            self.queue.put(line)

    def next(self, timeout: float = 15.0) -> str:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line printed within {timeout:g} s") from None
