"""How a pass counts a crash, holds the restart for its backoff and records the restart
(controller/reconcilers/crashes.py), on the process backend with passes run in the test."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
from datetime import timedelta

import pytest
from django.utils import timezone

from controller import reconcilers
from controller.backends.base import InstanceState, InstanceStatus
from controller.connections import default_connections
from controller.models import Event, Worker
from controller.reconcilers.crashes import CrashLoopBackOff, RestartGuard, crash_backoff, describe_exit
from controller.services import events
from controller.services.apply import apply_text
from controller.services.events import prune_events, timeline
from tests.helpers import manifest, to_yaml, wait_until

pytestmark = pytest.mark.django_db

INSTANCE = "hiclaw-worker-bo"


@pytest.fixture
def worker() -> Worker:
    apply_text(to_yaml(manifest("Worker", "bo", {"model": "qwen3.5-plus"})))
    assert reconcilers.reconcile("Worker", "bo").requeue_after is None
    return Worker.objects.get(name="bo")


def kill_instance() -> None:
    backend = default_connections().backend
    pid = json.loads((backend.state_dir / INSTANCE / "pid").read_text())["pid"]  # type: ignore[attr-defined]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: backend.status(INSTANCE).exit_code == 137, 10, "the exit recorded")


def later(seconds: float):
    """The default connections with a clock ``seconds`` ahead: a pass after the backoff."""
    return dataclasses.replace(default_connections(), clock=lambda: timezone.now() + timedelta(seconds=seconds))


def test_a_crash_is_counted_once_and_the_restart_waits_its_backoff(worker):
    kill_instance()
    first = reconcilers.reconcile("Worker", "bo")
    second = reconcilers.reconcile("Worker", "bo")
    assert first.failed and 0 < second.requeue_after <= first.requeue_after <= 1
    worker.refresh_from_db()
    assert (worker.phase, worker.container_state) == ("Failed", "Failed")
    ready = next(c for c in worker.conditions if c["type"] == "InstanceReady")
    assert (ready["status"], ready["reason"]) == ("False", "CrashLoopBackOff")
    assert "exited with code 137 (killed by SIGKILL); restart 1 in 1 s" in ready["message"]
    assert [e.reason for e in Event.objects.exclude(reason__in=events.PHASE_REASONS)] == [
        "Crashed"
    ]  # two passes, one crash
    assert (worker.crash_streak, worker.restart_count, worker.last_exit_code) == (1, 0, 137)
    assert not default_connections().backend.status(INSTANCE).running

    assert reconcilers.reconcile("Worker", "bo", connections=later(2)).requeue_after is None
    worker.refresh_from_db()
    assert (worker.phase, worker.restart_count, worker.crash_streak) == ("Running", 1, 1)
    assert list(
        Event.objects.exclude(reason__in=events.PHASE_REASONS).order_by("at").values_list("reason", "type")
    ) == [
        ("Crashed", "Warning"),
        ("Restarted", "Normal"),
    ]
    assert worker.kind_status()["restarts"] == 1 and worker.kind_status()["lastExitCode"] == 137


def test_a_second_crash_in_a_row_waits_twice_as_long(worker):
    kill_instance()
    reconcilers.reconcile("Worker", "bo", connections=later(2))  # counted and restarted at once
    kill_instance()
    result = reconcilers.reconcile("Worker", "bo")
    worker.refresh_from_db()
    assert worker.crash_streak == 2 and 1 < result.requeue_after <= 2
    assert "restart 2 in 2 s" in worker.message


def status(state=InstanceState.FAILED, *, ran: timedelta = timedelta(seconds=3), **fields) -> InstanceStatus:
    now = timezone.now()
    return InstanceStatus(state, started_at=now - ran, finished_at=now, **fields)


@pytest.mark.parametrize(
    ("seen", "crash"),
    [
        (status(exit_code=1), True),
        (status(InstanceState.STOPPED, exit_code=137), True),  # Docker's view of an outside SIGKILL
        (status(InstanceState.STOPPED, exit_code=0), True),  # it should run: any end is a crash
        (status(InstanceState.STOPPED), False),  # no exit code: still starting
        (status(InstanceState.MISSING), False),
        (InstanceStatus(InstanceState.STOPPED, message="created, never started"), False),
    ],
)
def test_what_counts_as_a_crash(db, seen, crash):
    apply_text(to_yaml(manifest("Worker", "bo", {"model": "m"})))
    guard = RestartGuard(Worker.objects.get(name="bo"), INSTANCE, timezone.now())
    assert guard.is_crash(seen) is crash


def test_a_worker_the_controller_put_to_sleep_did_not_crash(db):
    apply_text(to_yaml(manifest("Worker", "bo", {"model": "m"})))
    row = Worker.objects.get(name="bo")
    row.phase = "Sleeping"
    guard = RestartGuard(row, INSTANCE, timezone.now())
    guard.before_start(status(InstanceState.STOPPED, exit_code=143))
    assert not Event.objects.exists() and row.restart_count == 0


def test_a_long_run_resets_the_streak_and_an_oom_kill_says_so(db):
    apply_text(to_yaml(manifest("Worker", "bo", {"model": "m"})))
    row = Worker.objects.get(name="bo")
    row.crash_streak = 6
    with pytest.raises(CrashLoopBackOff) as held:
        RestartGuard(row, INSTANCE, timezone.now()).before_start(
            status(exit_code=137, oom_killed=True, ran=timedelta(minutes=11))
        )
    assert row.crash_streak == 1 and held.value.wait <= 1
    event = Event.objects.get()
    assert (event.reason, event.exit_code, event.type) == ("OOMKilled", 137, "Warning")
    assert row.last_exit_reason == "killed for running out of memory (exit code 137)"


def test_backoff_doubles_to_five_minutes_and_exits_are_described():
    assert [crash_backoff(n) for n in (1, 2, 3, 4, 9, 10, 30)] == [1, 2, 4, 8, 256, 300, 300]
    assert describe_exit(137) == "exited with code 137 (killed by SIGKILL)"
    assert describe_exit(1) == "exited with code 1" and describe_exit(None) == "ended (exit code unknown)"
    assert describe_exit(200) == "exited with code 200"  # above 128, no such signal


def test_events_are_pruned_after_their_retention_and_join_the_audit_timeline(db, settings):
    settings.HICLAW_EVENT_HISTORY_DAYS = 30
    now = timezone.now()
    Event.objects.create(kind="Worker", name="bo", reason="Crashed", at=now - timedelta(days=31))
    Event.objects.create(kind="Worker", name="bo", reason="Restarted", at=now - timedelta(seconds=1))
    assert prune_events(now) == 1
    assert [entry.title for entry in timeline("Worker", "bo")] == ["Restarted"]


def test_a_retried_pass_counts_neither_the_crash_nor_the_restart_twice(db):
    apply_text(to_yaml(manifest("Worker", "bo", {"model": "m"})))
    ended = status(exit_code=137, ran=timedelta(seconds=5))
    later_on = timezone.now() + timedelta(seconds=5)  # past the 1 s backoff
    for _ in range(2):  # the same pass twice, as after a failure once the start was asked for
        row = Worker.objects.get(name="bo")
        RestartGuard(row, INSTANCE, later_on).before_start(ended)
    row = Worker.objects.get(name="bo")
    assert (row.restart_count, row.crash_streak) == (1, 1)
    assert list(
        Event.objects.exclude(reason__in=events.PHASE_REASONS).order_by("at", "id").values_list("reason", flat=True)
    ) == ["Crashed", "Restarted"]
