"""How often an agent reports and how long a worker may idle: one rule for every reader.

A team member follows its leader's spec (``heartbeat.every``,
``workerIdleTimeout``, ``heartbeat.activeHours``); anything unset falls back to
the current Manager's ``config`` (``heartbeatInterval``, ``workerIdleTimeout``),
then to the defaults. The sweeper acts on these; the API's idle check and the
dashboard show them.
"""

from __future__ import annotations

from typing import Any

from controller.manifests.schema import duration_seconds
from controller.models import Manager, Worker

DEFAULT_HEARTBEAT, DEFAULT_IDLE_TIMEOUT = "15m", "720m"


def current_manager_config() -> dict[str, Any]:
    """The config of the Manager in charge; empty without one (or while it is being deleted)."""
    manager = Manager.current()
    return manager.config if manager else {}


def leader_spec(worker: Worker) -> dict[str, Any]:
    """The leader entry of the worker's team spec; empty for a standalone worker."""
    return worker.team.spec["leader"] if worker.team is not None else {}


def heartbeat_every(leader: dict[str, Any], manager_config: dict[str, Any]) -> str:
    """The heartbeat interval as written (``15m``)."""
    every = (leader.get("heartbeat") or {}).get("every")
    return every or manager_config.get("heartbeatInterval") or DEFAULT_HEARTBEAT


def heartbeat_seconds(leader: dict[str, Any], manager_config: dict[str, Any]) -> int:
    return duration_seconds(heartbeat_every(leader, manager_config))


def idle_timeout_seconds(leader: dict[str, Any], manager_config: dict[str, Any]) -> int:
    """Seconds a worker may idle before it is put to sleep; ``0`` never."""
    timeout = leader.get("workerIdleTimeout") or manager_config.get("workerIdleTimeout")
    return duration_seconds(timeout or DEFAULT_IDLE_TIMEOUT)
