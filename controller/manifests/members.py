"""How a Team's spec becomes the specs of the Worker rows it owns."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from controller.manifests.schema import WorkerSpec

# Leader fields that are also Worker spec fields; heartbeat, idle timeout and
# permissions are team policy and stay on the Team.
_LEADER_WORKER_FIELDS = (
    "model",
    "runtime",
    "image",
    "identity",
    "soul",
    "agents",
    "package",
    "state",
    "labels",
    "channelPolicy",
    "accessEntries",
)


@dataclass(frozen=True)
class MemberSpec:
    name: str
    role: str  # "team_leader" | "worker"
    spec: dict[str, Any]
    field: str  # where the member is defined in the team spec, for error messages


def member_specs(team_spec: dict[str, Any]) -> list[MemberSpec]:
    """The leader first, then the workers, each with a normalised Worker spec.

    Members inherit the team's ``image`` and ``channelPolicy`` unless they set
    their own.
    """
    team_defaults: dict[str, Any] = {key: team_spec[key] for key in ("image", "channelPolicy") if key in team_spec}
    leader = team_spec["leader"]
    leader_spec = {**team_defaults, **{key: leader[key] for key in _LEADER_WORKER_FIELDS if key in leader}}
    members = [MemberSpec(leader["name"], "team_leader", _normalise(leader_spec), "spec.leader.name")]
    for index, worker in enumerate(team_spec.get("workers", [])):
        own = {key: value for key, value in worker.items() if key != "name"}
        members.append(
            MemberSpec(worker["name"], "worker", _normalise({**team_defaults, **own}), f"spec.workers[{index}].name")
        )
    return members


def with_member_changed(team_spec: dict[str, Any], name: str, changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``team_spec`` with ``changes`` made to the member ``name``, its leader or one of
    its workers: a member's own spec lives in its Team's, so every edit of one goes there."""
    spec = copy.deepcopy(team_spec)
    entries = [spec["leader"], *spec.get("workers", [])]
    for entry in entries:
        if entry["name"] == name:
            entry.update(changes)
    return spec


def _normalise(spec: dict[str, Any]) -> dict[str, Any]:
    return WorkerSpec.model_validate(spec).manifest()
