"""The lifecycle sweeper: missed heartbeats and idle workers.

Run by Celery beat every ``HICLAW_SWEEP_SECONDS`` (10 s; one sweep at a time
across workers), so a missed heartbeat is flagged within seconds of its time.
Each sweep loads only the rows it may have to change, whatever the number of
workers:

- a worker that should run, whose instance runs and that has been silent for
  more than 3 heartbeat intervals (``controller.services.heartbeat_health``: the
  interval every agent is told, ``HICLAW_AGENT_HEARTBEAT_SECONDS``) is marked
  unhealthy once (compare-and-swap, so several sweepers notify once) and its team
  room, or its own room, is told over Matrix; its next heartbeat clears the mark.
  The database selects these rows; healthy ones are never loaded. A team's
  ``heartbeat.every`` plays no part: it is how often the team leader's agent
  checks on its team;
- idle (no active task) for longer than its idle timeout (the leader's
  ``workerIdleTimeout``, else the Manager's, else 720m; ``0`` disables) puts it
  to sleep — only inside the leader's ``activeHours`` when those are set.
  Only workers idle for longer than the shortest timeout in use are loaded.
  Team leaders are never put to sleep automatically.

Time comes in as ``now`` so tests move the clock instead of sleeping.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import QuerySet

from controller.clients.matrix import MatrixError
from controller.connections import Connections
from controller.models import DesiredState, MemberRole, Worker
from controller.reconcilers.team_context import team_admin_id
from controller.services import events, heartbeat_health, live
from controller.services.agent_timing import (
    current_manager_config,
    idle_timeout_seconds,
    leader_spec,
    shortest_idle_timeout_seconds,
)
from controller.services.lifecycle import set_desired_state

logger = logging.getLogger(__name__)


@dataclass
class SweepReport:
    unhealthy: list[str] = field(default_factory=list)
    slept: list[str] = field(default_factory=list)


def sweep(connections: Connections, now: datetime) -> SweepReport:
    report = SweepReport()
    for worker in overdue_workers(now):
        if _mark_missed(worker):
            report.unhealthy.append(worker.name)
            last = worker.last_heartbeat.isoformat() if worker.last_heartbeat else "never"
            events.record(
                "Worker",
                worker.name,
                "HeartbeatsMissed",
                f"no heartbeat for 3 intervals (last: {last}); marked unhealthy",
                team=worker.team_name,
                warning=True,
            )
            _notify_unhealthy(connections, worker)
            live.worker_changed(worker.name, worker.team_name)
    manager_config = current_manager_config()
    for worker in idle_candidates(now, manager_config):
        if _idle_too_long(worker, leader_spec(worker), manager_config, now):
            set_desired_state(worker, DesiredState.SLEEPING)
            report.slept.append(worker.name)
            events.record(
                "Worker",
                worker.name,
                "Slept",
                f"idle since {worker.idle_since:%Y-%m-%d %H:%M:%S %Z}; put to sleep by the sweeper",
                team=worker.team_name,
            )
            logger.info("worker/%s: idle since %s, put to sleep", worker.name, worker.idle_since)
    return report


def overdue_workers(now: datetime) -> QuerySet[Worker]:
    """Judged workers silent for more than 3 intervals and not marked yet (the only rows loaded)."""
    overdue = heartbeat_health.overdue(heartbeat_health.missed_before(now))
    rows = Worker.objects.filter(heartbeat_health.judged_rows(), overdue, heartbeat_missed_since__isnull=True)
    return rows.select_related("team")


def idle_candidates(now: datetime, manager_config: dict) -> QuerySet[Worker]:
    """Workers idle for longer than the shortest idle timeout in use (none when every timeout is 0)."""
    shortest = shortest_idle_timeout_seconds(manager_config)
    if shortest is None:
        return Worker.objects.none()
    rows = Worker.objects.filter(
        deletion_requested_at__isnull=True,
        state=DesiredState.RUNNING,
        active_tasks=0,
        idle_since__lt=now - timedelta(seconds=shortest),
    )
    return rows.exclude(role=MemberRole.TEAM_LEADER).select_related("team")


def _mark_missed(worker: Worker) -> bool:
    """True when this sweep marks the worker unhealthy (it was healthy until now).

    Compare-and-swap: of several sweepers (or a heartbeat arriving now), one wins.
    """
    since = heartbeat_health.counted_from(worker)
    return bool(
        Worker.objects.filter(
            pk=worker.pk, heartbeat_missed_since__isnull=True, last_heartbeat=worker.last_heartbeat
        ).update(heartbeat_missed_since=since)
    )


def _idle_too_long(worker: Worker, leader: dict, manager_config: dict, now: datetime) -> bool:
    if worker.idle_since is None or worker.active_tasks:
        return False
    timeout = idle_timeout_seconds(leader, manager_config)
    if timeout == 0 or (now - worker.idle_since).total_seconds() <= timeout:
        return False
    hours = (leader.get("heartbeat") or {}).get("activeHours")
    return hours is None or within_hours(now, hours["start"], hours["end"])


def within_hours(now: datetime, start: str, end: str) -> bool:
    """Whether ``now`` (in the controller's time zone) falls in [start, end); the window may wrap midnight."""
    local = now.astimezone(ZoneInfo(settings.TIME_ZONE)).time()
    begin, finish = time.fromisoformat(start), time.fromisoformat(end)
    return begin <= local < finish if begin <= finish else (local >= begin or local < finish)


def _notify_unhealthy(connections: Connections, worker: Worker) -> None:
    matrix = connections.matrix
    if matrix is None:
        return
    team = worker.team if worker.team_id else None
    room_id = (team.team_room_id if team else "") or worker.room_id
    if not room_id:
        return
    mentions = [team_admin_id(team)] if team and team_admin_id(team) else []
    last = worker.last_heartbeat.isoformat() if worker.last_heartbeat else "never"
    body = f"⚠️ {worker.name} missed its heartbeats (last: {last}); it is marked unhealthy."
    try:
        matrix.send_message(connections.matrix_admin(), room_id, body, mentions=mentions)
    except MatrixError as error:
        logger.warning("worker/%s: unhealthy notice not sent: %s", worker.name, error)
