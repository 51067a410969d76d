"""The one rule for heartbeat health, in Python and as the sweeper's SQL filter, and what a
sweep costs: it loads only the rows it changes, however many healthy workers there are."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from controller.connections import default_connections
from controller.models import Worker
from controller.reconcilers.sweeper import overdue_workers, sweep
from controller.services import heartbeat_health
from controller.services.agent_timing import shortest_idle_timeout_seconds
from controller.services.apply import apply_text
from tests.conftest import ROOT
from tests.test_sweeper import team

pytestmark = pytest.mark.django_db

INTERVAL = 30
SHOW_SWEEP = (
    "from django.conf import settings; entry = settings.CELERY_BEAT_SCHEDULE['sweep-lifecycle']; "
    "print(entry['schedule'], entry['options']['expires'])"
)


def sweep_settings(seconds: str) -> subprocess.CompletedProcess:
    """The beat schedule as a fresh process reads it with ``HICLAW_SWEEP_SECONDS=seconds``."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "hiclaw_site.settings", "HICLAW_SWEEP_SECONDS": seconds}
    command = [sys.executable, "-c", SHOW_SWEEP]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(autouse=True)
def interval(settings):
    settings.HICLAW_AGENT_HEARTBEAT_SECONDS = INTERVAL


def add(prefix: str, count: int, **fields) -> None:
    """``count`` running workers named ``prefix0``…, straight into the table (no reconcile)."""
    rows = {"spec": {"model": "q"}, "phase": "Running", "state": "Running", **fields}
    Worker.objects.bulk_create([Worker(name=f"{prefix}{n}", **rows) for n in range(count)])


@pytest.mark.parametrize(
    ("seconds", "health"),
    [(0, "ok"), (45, "ok"), (45.5, "late"), (90, "late"), (90.5, "missed"), (86400, "missed")],
)
def test_the_thresholds_are_one_and_a_half_and_three_intervals(seconds, health):
    assert heartbeat_health.of_age(seconds, INTERVAL) == health


def test_only_a_worker_that_should_run_and_runs_is_judged():
    now = timezone.now()
    silent = now - timedelta(hours=1)
    assert heartbeat_health.health(Worker(phase="Running", state="Running", last_heartbeat=silent), now) == "missed"
    for phase, state in (("Sleeping", "Sleeping"), ("Pending", "Running"), ("Running", "Sleeping")):
        assert heartbeat_health.health(Worker(phase=phase, state=state, last_heartbeat=silent), now) == "ok"
    being_deleted = Worker(phase="Running", state="Running", last_heartbeat=silent, deletion_requested_at=now)
    assert heartbeat_health.health(being_deleted, now) == "ok"
    # A mark stays until the worker reports, whatever its phase.
    marked = Worker(phase="Sleeping", state="Sleeping", heartbeat_missed_since=silent)
    assert heartbeat_health.health(marked, now) == "missed"


def test_a_restarted_instance_counts_from_its_start_not_from_the_old_report():
    now = timezone.now()
    restarted = Worker(
        phase="Running",
        state="Running",
        last_heartbeat=now - timedelta(hours=1),
        instance_started_at=now - timedelta(seconds=10),
    )
    assert heartbeat_health.counted_from(restarted) == restarted.instance_started_at
    assert heartbeat_health.health(restarted, now) == "ok"
    never = Worker(phase="Running", state="Running", reconciled_at=now - timedelta(seconds=60))
    assert heartbeat_health.health(never, now) == "late"


def test_the_sql_filter_selects_exactly_the_rows_the_rule_calls_missed():
    """Every combination of report, instance start and reconcile: none, long ago, recent, or
    exactly on the threshold."""
    now = timezone.now()
    threshold = heartbeat_health.missed_before(now)
    moments: list[datetime | None] = [None, now - timedelta(hours=1), threshold, now - timedelta(seconds=5)]
    for n, (reported, started, reconciled) in enumerate(itertools.product(moments, repeat=3)):
        add(f"c{n}-", 1, last_heartbeat=reported, instance_started_at=started, reconciled_at=reconciled)
    add("marked-", 1, last_heartbeat=now - timedelta(hours=1), heartbeat_missed_since=now - timedelta(hours=1))
    add("asleep-", 1, last_heartbeat=now - timedelta(hours=1), state="Sleeping", phase="Sleeping")

    selected = {worker.name for worker in overdue_workers(now)}
    by_rule = {
        worker.name
        for worker in Worker.objects.all()
        if worker.heartbeat_missed_since is None and heartbeat_health.health(worker, now) == "missed"
    }
    assert selected == by_rule
    assert 0 < len(selected) < 64  # the combinations cover both answers


def rows_loaded_by_a_sweep(healthy: int) -> tuple[int, set[str], list[str]]:
    """Queries and Worker rows one sweep takes among ``healthy`` reporting workers (half busy,
    half idle for less than the idle timeout) and one silent worker."""
    Worker.objects.all().delete()
    now = timezone.now()
    add("busy-", healthy // 2, last_heartbeat=now - timedelta(seconds=10), active_tasks=2)
    add(
        "idle-", healthy - healthy // 2, last_heartbeat=now - timedelta(seconds=40), idle_since=now - timedelta(hours=1)
    )
    add("silent-", 1, last_heartbeat=now - timedelta(minutes=5))
    loaded: set[str] = set()

    def seen(sender, instance, **kwargs) -> None:
        loaded.add(instance.name)

    post_init.connect(seen, sender=Worker)
    try:
        with CaptureQueriesContext(connection) as queries:
            report = sweep(default_connections(), now)  # no Matrix here: nobody is told
    finally:
        post_init.disconnect(seen, sender=Worker)
    return len(queries), loaded, report.unhealthy


def test_a_sweep_loads_only_the_rows_it_marks_however_many_workers_are_healthy():
    few_queries, few_loaded, few_marked = rows_loaded_by_a_sweep(4)
    many_queries, many_loaded, many_marked = rows_loaded_by_a_sweep(400)
    assert few_marked == many_marked == ["silent-0"]
    assert few_loaded == many_loaded == {"silent-0"}
    assert few_queries == many_queries


def test_the_idle_filter_uses_the_shortest_timeout_and_each_worker_its_own():
    assert shortest_idle_timeout_seconds({}) == 720 * 60  # the default
    apply_text(team("short", idle="60m"))
    apply_text(team("never", idle="0"))
    assert shortest_idle_timeout_seconds({}) == 3600
    assert shortest_idle_timeout_seconds({"workerIdleTimeout": "30m"}) == 1800
    assert shortest_idle_timeout_seconds({"workerIdleTimeout": "0"}) == 3600

    now = timezone.now()
    Worker.objects.update(idle_since=now - timedelta(minutes=90))
    assert sweep(default_connections(), now).slept == ["short-a"]  # never-a's timeout is 0; leaders never
    Worker.objects.update(idle_since=now - timedelta(minutes=30))
    assert sweep(default_connections(), now).slept == []


def test_with_every_timeout_zero_no_idle_row_is_loaded():
    apply_text(team("never", idle="0"))
    assert shortest_idle_timeout_seconds({"workerIdleTimeout": "0"}) is None


def test_the_sweep_runs_every_hiclaw_sweep_seconds_and_refuses_less_than_one(settings):
    sweep_entry = settings.CELERY_BEAT_SCHEDULE["sweep-lifecycle"]
    assert sweep_entry["schedule"] == settings.HICLAW_SWEEP_SECONDS == 10
    shown = sweep_settings("3")
    assert shown.stdout.split() == ["3", "3"], shown.stderr
    refused = sweep_settings("0")
    assert refused.returncode != 0
    assert "HICLAW_SWEEP_SECONDS must be at least 1, got 0" in refused.stderr
