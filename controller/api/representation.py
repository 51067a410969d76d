"""Resources as the API returns them: the manifest with status, plus the flat
top-level fields the original HiClaw CLI reads."""

from __future__ import annotations

from typing import Any

from controller.manifests import to_manifest
from controller.models import DebugWorker, Human, Manager, Resource, Team, Worker
from controller.services.summary import API_FIELDS, WorkerSummary


def present(resource: Resource) -> dict[str, Any]:
    body = to_manifest(resource, with_status=True)
    if resource.deletion_requested_at is not None:
        body["metadata"]["deletionTimestamp"] = resource.deletion_requested_at.isoformat()
    flat = _FLAT.get(type(resource))
    if flat is not None:
        body.update(flat(resource, body["status"]))
    return body


def _worker(worker: Worker, status: dict) -> dict[str, Any]:
    return WorkerSummary.of(worker).pick(API_FIELDS)


def _team(team: Team, status: dict) -> dict[str, Any]:
    return {
        "name": team.name,
        "phase": team.phase,
        "description": team.spec.get("description", ""),
        "image": team.image,
        "admin": team.spec.get("admin"),
        "leaderName": team.spec["leader"]["name"],
        "leaderReady": status["leaderReady"],
        "readyWorkers": status["readyWorkers"],
        "totalWorkers": status["totalWorkers"],
        "workerNames": [member["name"] for member in team.spec.get("workers", [])],
        "teamRoomID": team.team_room_id,
        "message": team.message,
    }


def _human(human: Human, status: dict) -> dict[str, Any]:
    return {
        "name": human.name,
        "phase": human.phase,
        "displayName": human.spec.get("displayName", ""),
        "email": human.email,
        "permissionLevel": human.permission_level,
        "matrixUserID": human.matrix_user_id,
        "rooms": human.rooms,
        "message": human.message,
    }


def _manager(manager: Manager, status: dict) -> dict[str, Any]:
    return {
        "name": manager.name,
        "phase": manager.phase,
        "model": manager.model,
        "runtime": manager.runtime,
        "image": manager.image,
        "state": manager.state,
        "matrixUserID": manager.matrix_user_id,
        "roomID": manager.room_id,
        "containerState": manager.container_state,
        "version": manager.version,
        "message": manager.message,
    }


_FLAT = {Worker: _worker, Team: _team, Human: _human, Manager: _manager, DebugWorker: None}
