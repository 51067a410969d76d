"""How often a team leader checks on its team and how long a worker may idle: one rule for every reader.

A team member follows its leader's spec (``heartbeat.every``,
``workerIdleTimeout``, ``heartbeat.activeHours``); anything unset falls back to
the current Manager's ``config`` (``heartbeatInterval``, ``workerIdleTimeout``),
then to the defaults. The sweeper puts idle workers to sleep by these; the API's
idle check and the dashboard show them. ``heartbeat.every`` is the leader agent's
own rhythm of checks, not how often agents report: health is judged by the
interval every agent reports at (``controller.services.heartbeat_health``).
"""

from __future__ import annotations

from typing import Any

from controller.manifests.schema import duration_seconds
from controller.models import Manager, Team, Worker

DEFAULT_HEARTBEAT, DEFAULT_IDLE_TIMEOUT = "15m", "720m"


def current_manager_config() -> dict[str, Any]:
    """The config of the Manager in charge; empty without one (or while it is being deleted)."""
    manager = Manager.current()
    return manager.config if manager else {}


def leader_spec(worker: Worker) -> dict[str, Any]:
    """The leader entry of the worker's team spec; empty for a standalone worker."""
    return worker.team.spec["leader"] if worker.team is not None else {}


def heartbeat_every(leader: dict[str, Any], manager_config: dict[str, Any]) -> str:
    """How often the leader's agent checks on its team, as written (``15m``)."""
    every = (leader.get("heartbeat") or {}).get("every")
    return every or manager_config.get("heartbeatInterval") or DEFAULT_HEARTBEAT


def idle_timeout_seconds(leader: dict[str, Any], manager_config: dict[str, Any]) -> int:
    """Seconds a worker may idle before it is put to sleep; ``0`` never."""
    timeout = leader.get("workerIdleTimeout") or manager_config.get("workerIdleTimeout")
    return duration_seconds(timeout or DEFAULT_IDLE_TIMEOUT)


def shortest_idle_timeout_seconds(manager_config: dict[str, Any]) -> int | None:
    """The shortest idle timeout any worker has now; None when every one is ``0`` (never).

    Reads one value per team, so the sweeper can leave every worker idle for less than
    this in the database instead of loading it.
    """
    written = Team.objects.values_list("spec__leader__workerIdleTimeout", flat=True)
    timeouts = {duration_seconds(value) for value in written if value}
    timeouts.add(idle_timeout_seconds({}, manager_config))  # standalone workers, and teams that set none
    positive = [timeout for timeout in timeouts if timeout > 0]
    return min(positive) if positive else None
