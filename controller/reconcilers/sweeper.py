"""The lifecycle sweeper (DESIGN §8): missed heartbeats and idle workers.

Run by Celery beat every minute (one sweep at a time across workers). For
every worker that should be running:

- no heartbeat for twice its interval (the team leader's ``heartbeat.every``,
  else the Manager's ``heartbeatInterval``, else 15m) marks it unhealthy once
  (compare-and-swap, so several sweepers notify once) and tells the team room,
  or the worker's own room, over Matrix; its next heartbeat clears it;
- idle (no active task) for longer than its idle timeout (the leader's
  ``workerIdleTimeout``, else the Manager's, else 720m; ``0`` disables) puts it
  to sleep — only inside the leader's ``activeHours`` when those are set.
  Team leaders are never put to sleep automatically.

Time comes in as ``now`` so tests move the clock instead of sleeping.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings

from controller.clients.matrix import MatrixError
from controller.manifests.schema import ManagerConfig, TeamLeader, duration_seconds
from controller.models import AgentPhase, DesiredState, Manager, MemberRole, Worker
from controller.reconcilers.services import Services
from controller.reconcilers.team_context import team_admin_id
from controller.services import live
from controller.services.lifecycle import set_desired_state

logger = logging.getLogger(__name__)

DEFAULT_HEARTBEAT, DEFAULT_IDLE_TIMEOUT = "15m", "720m"


@dataclass
class SweepReport:
    unhealthy: list[str] = field(default_factory=list)
    slept: list[str] = field(default_factory=list)


def sweep(services: Services, now: datetime) -> SweepReport:
    report = SweepReport()
    manager = Manager.objects.filter(deletion_requested_at__isnull=True).order_by("name").first()
    manager_config = manager.typed_spec.config if manager else None
    workers = Worker.objects.filter(deletion_requested_at__isnull=True, state=DesiredState.RUNNING)
    for worker in workers.select_related("team"):
        leader = worker.team.typed_spec.leader if worker.team_id else None
        if worker.phase == AgentPhase.RUNNING and _missed_heartbeats(worker, leader, manager_config, now):
            report.unhealthy.append(worker.name)
            _notify_unhealthy(services, worker)
            live.worker_changed(worker.name, worker.team.name if worker.team_id else "")
        if worker.role != MemberRole.TEAM_LEADER and _idle_too_long(worker, leader, manager_config, now):
            set_desired_state(worker, DesiredState.SLEEPING)
            report.slept.append(worker.name)
            logger.info("worker/%s: idle since %s, put to sleep", worker.name, worker.idle_since)
    return report


def _missed_heartbeats(
    worker: Worker, leader: TeamLeader | None, manager_config: ManagerConfig | None, now: datetime
) -> bool:
    """True when this sweep marks the worker unhealthy (it was healthy until now)."""
    every = leader.heartbeat.every if leader else manager_config.heartbeat_interval if manager_config else None
    interval = duration_seconds(every or DEFAULT_HEARTBEAT)
    since = worker.last_heartbeat or worker.reconciled_at
    if since is None or worker.heartbeat_missed_since is not None or (now - since).total_seconds() <= 2 * interval:
        return False
    # Compare-and-swap: of several sweepers (or a heartbeat arriving now), one wins.
    return bool(
        Worker.objects.filter(
            pk=worker.pk, heartbeat_missed_since__isnull=True, last_heartbeat=worker.last_heartbeat
        ).update(heartbeat_missed_since=since)
    )


def _idle_too_long(
    worker: Worker, leader: TeamLeader | None, manager_config: ManagerConfig | None, now: datetime
) -> bool:
    if worker.idle_since is None or worker.active_tasks:
        return False
    timeout = duration_seconds(
        (leader.worker_idle_timeout if leader else None)
        or (manager_config.worker_idle_timeout if manager_config else None)
        or DEFAULT_IDLE_TIMEOUT
    )
    if timeout == 0 or (now - worker.idle_since).total_seconds() <= timeout:
        return False
    hours = leader.heartbeat.active_hours if leader else None
    return hours is None or within_hours(now, hours.start, hours.end)


def within_hours(now: datetime, start: str, end: str) -> bool:
    """Whether ``now`` (in the controller's time zone) falls in [start, end); the window may wrap midnight."""
    local = now.astimezone(ZoneInfo(settings.TIME_ZONE)).time()
    begin, finish = time.fromisoformat(start), time.fromisoformat(end)
    return begin <= local < finish if begin <= finish else (local >= begin or local < finish)


def _notify_unhealthy(services: Services, worker: Worker) -> None:
    matrix = services.matrix
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
        matrix.send_message(services.matrix_admin(), room_id, body, mentions=mentions)
    except MatrixError as error:
        logger.warning("worker/%s: unhealthy notice not sent: %s", worker.name, error)
