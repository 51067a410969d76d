"""Noticing at once when an instance of the process backend starts, ends or goes away.

The instances are children of whichever process spawned them (a Celery worker in
production, a thread of ``hiclaw_run`` in embedded mode), so the watcher is usually not
their parent and cannot wait for them. It opens a pidfd for each running instance
(``os.pidfd_open``, Linux 5.3 and later) and polls them all: a pidfd becomes readable the
moment its process exits. Where pidfds are unavailable the same loop compares each
instance's state every ``RESCAN_SECONDS`` instead. Either way the state directory is
rescanned at that interval for instances created, restarted (a new pid file) or deleted.

When a process exits its parent's reaper writes the ``exit`` file a moment later; the
watcher waits up to ``EXIT_FILE_WAIT`` for it, so the reconcile it triggers sees the
exit code.
"""

from __future__ import annotations

import json
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from pathlib import Path

from controller.backends.base import InstanceInfo, InstanceState, WorkerBackend

logger = logging.getLogger(__name__)

RESCAN_SECONDS = 0.25
EXIT_FILE_WAIT = 0.5
HAS_PIDFD = hasattr(os, "pidfd_open")


class ProcessWatch:
    """One watcher's view: the last state reported per instance, and a pidfd per running one."""

    def __init__(self, backend: WorkerBackend, state_dir: Path, on_change: Callable[[InstanceInfo], None]):
        self.backend, self.state_dir, self.on_change = backend, state_dir, on_change
        self.poller = select.poll()
        self.pidfds: dict[int, str] = {}  # pidfd -> instance name
        self.watched: dict[str, tuple[int, int]] = {}  # instance -> (pid, start ticks) with a pidfd open
        self.reported: dict[str, tuple[InstanceState, int | None]] = {}  # instance -> (state, pid)
        self.last: dict[str, InstanceInfo] = {}

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.rescan()
                for fd, _ in self.poller.poll(RESCAN_SECONDS * 1000):
                    self.exited(fd)
        finally:
            for fd in list(self.pidfds):
                self.forget(fd)

    def rescan(self) -> None:
        """Report every instance whose state or process changed since it was last reported."""
        current: dict[str, InstanceInfo] = {}
        for info in self.backend.list():
            current[info.name] = info
            run = _read_run(self.state_dir / info.name)
            key = (info.state, run["pid"] if run else None)
            if self.reported.get(info.name) != key:
                self.reported[info.name] = key
                self.on_change(info)
            if info.state == InstanceState.RUNNING and run and self.watched.get(info.name) != _run_key(run):
                self.open_pidfd(info.name, run)
        for name in set(self.reported) - set(current):  # deleted: its resource may want it back
            del self.reported[name]
            self.on_change(_gone(self.last[name]))
        self.last = current

    def open_pidfd(self, name: str, run: dict) -> None:
        if not HAS_PIDFD:
            return
        try:
            fd = os.pidfd_open(run["pid"])
        except OSError:
            return  # gone already: the next rescan reports it
        self.poller.register(fd, select.POLLIN)
        self.pidfds[fd] = name
        self.watched[name] = _run_key(run)

    def exited(self, fd: int) -> None:
        name = self.forget(fd)
        directory = self.state_dir / name
        run = _read_run(directory)
        deadline = time.monotonic() + EXIT_FILE_WAIT
        while run and not _exit_recorded(directory, run["pid"]) and time.monotonic() < deadline:
            time.sleep(0.02)
        status = self.backend.status(name)
        info = self.last.get(name)
        if info is None:
            return
        info = self.backend.info(name, info.labels, status.state)
        self.reported[name] = (status.state, run["pid"] if run else None)
        self.on_change(info)

    def forget(self, fd: int) -> str:
        name = self.pidfds.pop(fd)
        self.poller.unregister(fd)
        os.close(fd)
        self.watched.pop(name, None)
        return name


def _read_run(directory: Path) -> dict | None:
    try:
        return json.loads((directory / "pid").read_text())
    except (OSError, ValueError):
        return None


def _run_key(run: dict) -> tuple[int, int]:
    return run["pid"], run.get("start_ticks", 0)


def _exit_recorded(directory: Path, pid: int) -> bool:
    run = None
    try:
        run = json.loads((directory / "exit").read_text())
    except (OSError, ValueError):
        return False
    return run.get("pid") == pid


def _gone(info: InstanceInfo) -> InstanceInfo:
    return InstanceInfo(info.name, info.kind, info.resource, info.team, info.labels, InstanceState.MISSING)
