"""Crashes and restarts of an instance that should run: counted once, recorded, restarted with backoff.

The controller, not the engine, starts a crashed instance again (Docker containers have
no restart policy; a process has none), so a crash is seen the same way on every backend.
An instance that should run and does not, and that the controller did not stop, crashed:
it is Failed, or Stopped with any exit code (137 when someone outside killed it with
SIGKILL); Stopped without one is an instance still starting (a pod being scheduled).
Each crash is counted once, identified by the start time of the instance that ended
(``crashed_start_at``), so passes that see the same ended instance again add nothing.

A crash adds a Warning event (``Crashed``, or ``OOMKilled``) and moves the resource's
counters; the next start waits 1 s, 2 s, 4 s … (at most 5 minutes) by ``crash_streak``,
the number of crashes in a row of instances that ran less than ``STABLE_RUN``. Until then
a pass raises ``CrashLoopBackOff``: the reconciler shows the resource Failed and asks for
its next pass when the wait is over. The start after the wait adds a ``Restarted`` event,
counted once per crash as well.
"""

from __future__ import annotations

import logging
import math
import signal
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction

from controller.backends.base import InstanceState, InstanceStatus
from controller.models import AgentResource, DebugWorker, Event, EventType
from controller.reconcilers.base import TemporaryError

logger = logging.getLogger(__name__)

Restartable = AgentResource | DebugWorker  # the kinds with RestartCounters
# Their status columns a pass writes.
RESTART_FIELDS = [
    "restart_count",
    "crash_streak",
    "last_exit_code",
    "last_exit_reason",
    "last_exit_at",
    "crashed_start_at",
    "restarted_start_at",
]

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 300.0
STABLE_RUN = timedelta(minutes=10)
# Phases a pass settles in after the controller stopped the instance itself.
STOPPED_BY_CONTROLLER = frozenset({"Sleeping", "Stopped"})


class CrashLoopBackOff(TemporaryError):
    """The instance crashed and its next start waits ``wait`` seconds more."""

    def __init__(self, message: str, wait: float):
        super().__init__("InstanceReady", "CrashLoopBackOff", message)
        self.wait = wait


def crash_backoff(streak: int) -> float:
    """The wait before the start after the ``streak``-th crash in a row: 1 s, 2 s, 4 s … 5 min."""
    return min(BACKOFF_BASE_SECONDS * 2 ** max(streak - 1, 0), BACKOFF_CAP_SECONDS)


def describe_exit(code: int | None, oom_killed: bool = False) -> str:
    """How an instance ended, in words: "exited with code 137 (killed by SIGKILL)"."""
    if oom_killed:
        return f"killed for running out of memory (exit code {code})"
    if code is None:
        return "ended (exit code unknown)"
    if code > 128:
        try:
            return f"exited with code {code} (killed by {signal.Signals(code - 128).name})"
        except ValueError:
            pass  # above 128 but no signal number
    return f"exited with code {code}"


class RestartGuard:
    """What one pass does about an instance of ``resource`` that should run and does not."""

    def __init__(self, resource: Restartable, instance: str, now: datetime, team: Callable[[], str] = str):
        # ``team`` is asked only when an event is recorded: most passes record none.
        self.resource, self.instance, self.now, self.team = resource, instance, now, team

    def before_start(self, status: InstanceStatus) -> None:
        """Called before an existing, not running instance is started: count a new crash,
        raise ``CrashLoopBackOff`` while the crash's wait is not over, and count the restart
        once it is (recorded before the start, so a pass that fails after it cannot lose it)."""
        resource = self.resource
        if self.is_crash(status):
            self.record_crash(status)
        if status.started_at is None or status.started_at != resource.crashed_start_at:
            return  # not a crash (woken from sleep, never started): start it now
        wait = crash_backoff(resource.crash_streak)
        # Never more than the backoff: the engine's clock (the exit time) may run ahead of ours.
        left = min(wait, wait - (self.now - (resource.last_exit_at or self.now)).total_seconds())
        if left > 0:
            resource.container_state = status.state
            raise CrashLoopBackOff(
                f"instance {self.instance} {resource.last_exit_reason}; "
                f"restart {resource.restart_count + 1} in {math.ceil(left)} s",
                left,
            )
        if resource.restarted_start_at != resource.crashed_start_at:
            self.record_restart()

    def is_crash(self, status: InstanceStatus) -> bool:
        if status.running or status.state == InstanceState.MISSING or status.started_at is None:
            return False
        if status.state == InstanceState.STOPPED and status.exit_code is None:
            return False  # not ended: still starting (a pod being scheduled), or never started
        if status.started_at == self.resource.crashed_start_at:
            return False  # counted already
        return self.resource.phase not in STOPPED_BY_CONTROLLER

    def record_crash(self, status: InstanceStatus) -> None:
        resource = self.resource
        ended = status.finished_at or self.now
        started = status.started_at or ended  # is_crash() saw it set
        ran = ended - started
        resource.crash_streak = 1 if ran >= STABLE_RUN else resource.crash_streak + 1
        resource.last_exit_code = status.exit_code
        resource.last_exit_reason = describe_exit(status.exit_code, status.oom_killed)
        resource.last_exit_at = ended
        resource.crashed_start_at = status.started_at
        wait = crash_backoff(resource.crash_streak)
        self.event(
            EventType.WARNING,
            "OOMKilled" if status.oom_killed else "Crashed",
            f"instance {self.instance} {resource.last_exit_reason} after {_duration(ran)}; "
            f"crash {resource.crash_streak} in a row, restart in {wait:g} s",
            exit_code=status.exit_code,
            detail={
                "instance": self.instance,
                "state": str(status.state),
                "startedAt": started.isoformat(),
                "finishedAt": ended.isoformat(),
                "ranSeconds": round(ran.total_seconds(), 3),
                "crashStreak": resource.crash_streak,
                "backoffSeconds": wait,
                "backendMessage": status.message,
            },
        )
        logger.warning("%s/%s: %s", resource.kind.lower(), resource.name, resource.last_exit_reason)

    def record_restart(self) -> None:
        resource = self.resource
        resource.restart_count += 1
        resource.restarted_start_at = resource.crashed_start_at
        self.event(
            EventType.NORMAL,
            "Restarted",
            f"instance {self.instance} started again (restart {resource.restart_count}) "
            f"after it {resource.last_exit_reason}",
            exit_code=resource.last_exit_code,
            detail={"instance": self.instance, "restart": resource.restart_count},
        )

    def after_start(self, status: InstanceStatus) -> None:
        """Called once the pass has the instance's status after any start it made."""
        if status.running and status.started_at and self.now - status.started_at >= STABLE_RUN:
            self.resource.crash_streak = 0  # it has run long enough: the next crash waits 1 s again

    def event(self, kind: str, reason: str, message: str, *, exit_code: int | None, detail: dict) -> None:
        """Record the event with the counters it moved, together: a pass that fails later (a
        database hiccup) leaves both or neither, so its retry never counts the crash twice."""
        with transaction.atomic():
            self.resource.save(update_fields=RESTART_FIELDS)
            self.add_event(kind, reason, message, exit_code=exit_code, detail=detail)

    def add_event(self, kind: str, reason: str, message: str, *, exit_code: int | None, detail: dict) -> None:
        Event.objects.create(
            at=self.now,
            kind=self.resource.kind,
            name=self.resource.name,
            team=self.team(),
            type=kind,
            reason=reason,
            message=message[:500],
            exit_code=exit_code,
            detail=detail,
        )


def _duration(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.0f} min"
