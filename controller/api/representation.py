"""Resources as the API returns them: the manifest with status, plus the flat
top-level fields the original HiClaw CLI reads.

The flat fields are pydantic models so that the OpenAPI document
(``controller.api.shapes``) describes exactly what is built here; a Worker's
are its ``WorkerSummary``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer
from pydantic.alias_generators import to_camel

from controller.manifests import to_manifest
from controller.manifests.schema import TeamAdmin
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


class Flat(BaseModel):
    """Flat fields: camelCase in JSON, filled in from rows that are already valid."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


class TeamFields(Flat):
    name: str
    phase: str
    description: str
    image: str = Field(description="the members' default image; empty means each runtime's default")
    admin: TeamAdmin | None
    leader_name: str
    leader_ready: bool
    ready_workers: int
    total_workers: int
    worker_names: list[str]
    team_room_id: str = Field(alias="teamRoomID")
    message: str

    @field_serializer("admin")
    def _as_in_the_manifest(self, admin: TeamAdmin | None) -> dict[str, Any] | None:
        return admin.manifest() if admin is not None else None


class HumanFields(Flat):
    name: str
    phase: str
    display_name: str
    email: str
    permission_level: Literal[1, 2, 3]
    matrix_user_id: str = Field(alias="matrixUserID")
    rooms: list[str]
    message: str


class ManagerFields(Flat):
    name: str
    phase: str
    model: str
    runtime: str
    image: str
    state: Literal["Running", "Sleeping", "Stopped"]
    matrix_user_id: str = Field(alias="matrixUserID")
    room_id: str = Field(alias="roomID")
    container_state: str
    version: str
    message: str


def _worker(worker: Worker, status: dict) -> dict[str, Any]:
    return WorkerSummary.of(worker).pick(API_FIELDS)


def _team(team: Team, status: dict) -> dict[str, Any]:
    spec = team.typed_spec
    return TeamFields.model_construct(
        name=team.name,
        phase=team.phase,
        description=spec.description or "",
        image=team.image,
        admin=spec.admin,
        leader_name=spec.leader.name,
        leader_ready=status["leaderReady"],
        ready_workers=status["readyWorkers"],
        total_workers=status["totalWorkers"],
        worker_names=[member.name for member in spec.workers],
        team_room_id=team.team_room_id,
        message=team.message,
    ).as_json()


def _human(human: Human, status: dict) -> dict[str, Any]:
    return HumanFields.model_construct(
        name=human.name,
        phase=human.phase,
        display_name=human.typed_spec.display_name,
        email=human.email,
        permission_level=human.permission_level,  # type: ignore[arg-type]  # a PermissionLevel column: 1, 2 or 3
        matrix_user_id=human.matrix_user_id,
        rooms=human.rooms,
        message=human.message,
    ).as_json()


def _manager(manager: Manager, status: dict) -> dict[str, Any]:
    return ManagerFields.model_construct(
        name=manager.name,
        phase=manager.phase,
        model=manager.model,
        runtime=manager.runtime,
        image=manager.image,
        state=manager.state,  # type: ignore[arg-type]  # a DesiredState column: one of the Literal's values
        matrix_user_id=manager.matrix_user_id,
        room_id=manager.room_id,
        container_state=manager.container_state,
        version=manager.version,
        message=manager.message,
    ).as_json()


# Keyed by the model, so each function gets a row of its own kind (which a type cannot say).
_FLAT: dict[type[Resource], Callable[[Any, dict], dict[str, Any]] | None] = {
    Worker: _worker,
    Team: _team,
    Human: _human,
    Manager: _manager,
    DebugWorker: None,
}
