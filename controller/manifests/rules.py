"""Rules of the spec shapes that look at more than one field.

The shapes in ``schema`` call these from their validators; each rule raises a
``PydanticCustomError`` whose ``field`` context names the offending field, so
the error points at it. Several exist so that manifests written for the
original controller (its CRDs and the design's examples) apply with the same
meaning: an empty ``image``, ``permissions.workerIdleTimeout`` on a leader,
``replicas: 1`` on a Manager.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    from controller.manifests.schema import ManagerSpec, TeamLeader, TeamSpec


def unset_if_empty(value: Any) -> Any:
    """``image: ""`` means no image: a member inherits the Team's, anything else gets the default."""
    return None if value == "" else value


def members_are_distinct_and_within_permissions(team: TeamSpec) -> TeamSpec:
    seen = {team.leader.name: "spec.leader.name"}
    for index, worker in enumerate(team.workers):
        if worker.name in seen:
            raise PydanticCustomError(
                "duplicate_member",
                "member name '{name}' is already used by {other}; every member needs its own name",
                {"field": f"workers[{index}].name", "name": worker.name, "other": seen[worker.name]},
            )
        seen[worker.name] = f"spec.workers[{index}].name"
    permissions = team.leader.permissions
    if permissions and permissions.max_workers is not None and len(team.workers) > permissions.max_workers:
        raise PydanticCustomError(
            "max_workers",
            "the team lists {used} workers but spec.leader.permissions.maxWorkers allows {max} "
            "(used {used}/max {max}); remove workers or raise maxWorkers",
            {"field": "workers", "used": len(team.workers), "max": permissions.max_workers},
        )
    if permissions and permissions.allowed_models:
        for index, worker in enumerate(team.workers):
            if worker.model not in permissions.allowed_models:
                raise PydanticCustomError(
                    "allowed_models",
                    "model '{model}' is not in spec.leader.permissions.allowedModels ({allowed})",
                    {
                        "field": f"workers[{index}].model",
                        "model": worker.model,
                        "allowed": ", ".join(permissions.allowed_models),
                    },
                )
    return team


def one_idle_timeout(leader: TeamLeader) -> TeamLeader:
    """``permissions.workerIdleTimeout`` is another spelling of the leader's ``workerIdleTimeout``.

    Given alone it becomes the leader's idle timeout (what the sweeper and the
    generated team context read); given with a different ``workerIdleTimeout``
    the manifest is ambiguous and refused, naming both.
    """
    spelled = leader.permissions.worker_idle_timeout if leader.permissions else None
    if spelled is None or spelled == leader.worker_idle_timeout:
        return leader
    if "worker_idle_timeout" in leader.model_fields_set:
        raise PydanticCustomError(
            "idle_timeout_conflict",
            "spec.leader.workerIdleTimeout ({own}) and spec.leader.permissions.workerIdleTimeout ({spelled}) "
            "are both set and differ; set one of them",
            {"field": "workerIdleTimeout", "own": leader.worker_idle_timeout, "spelled": spelled},
        )
    leader.worker_idle_timeout = spelled
    return leader


def a_single_manager(manager: ManagerSpec) -> ManagerSpec:
    """The Manager is a singleton: ``replicas`` is accepted (the design's examples say 1) but only as 1."""
    if manager.replicas is not None and manager.replicas != 1:
        raise PydanticCustomError(
            "singleton",
            "the Manager is a singleton: replicas must be 1 (or left out), got {replicas}",
            {"field": "replicas", "replicas": manager.replicas},
        )
    return manager
