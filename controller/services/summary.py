"""One worker, summarised once: the API's flat fields, its status lines and the dashboard's live rows.

Each of those shows a selection of these fields (``pick``); the OpenAPI document
describes the same selections (``shape``), so a field is named, typed and filled
in one place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.alias_generators import to_camel

from controller.models import Worker
from controller.services import heartbeat_health

READY = "Ready"  # the original API's phase: running, and the agent has reported since it started


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


class WorkerSummary(BaseModel):
    """What the controller says about a worker outside its manifest."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    name: str
    team: str = Field(description="empty for a standalone worker")
    role: str = Field(description="standalone, worker or team_leader")
    phase: str
    state: Literal["Running", "Sleeping", "Stopped"] = Field(description="what the controller aims for")
    ready: bool = Field(description="running, and its agent has reported since the instance started")
    model: str
    runtime: str
    image: str = Field(description="spec.image; empty means the runtime default")
    running_image: str = Field(description="the image of the running instance")
    skills_version: str
    matrix_user_id: str = Field(alias="matrixUserID")
    room_id: str = Field(alias="roomID")
    container_state: str
    last_heartbeat: datetime | None
    idle_since: datetime | None
    active_tasks: int
    health: heartbeat_health.Health = Field(
        description="ok; late: silent for more than 1.5 heartbeat intervals; missed: for more than 3 "
        "(or marked unhealthy and not reported since)"
    )
    healthy: bool = Field(description="false while its heartbeats are missed (health is missed)")
    restarts: int = Field(description="times the controller started its instance again after a crash")
    last_exit_code: int | None = Field(description="exit code of its instance's last crash (137: killed by SIGKILL)")
    last_exit_reason: str = Field(description="how its instance last crashed, in words")
    message: str

    @classmethod
    def of(cls, worker: Worker, now: datetime | None = None) -> WorkerSummary:
        """The worker's summary at ``now`` (default: now); reads its team's name, so
        select_related("team") when listing."""
        health = heartbeat_health.health(worker, now or timezone.now())
        return cls.model_construct(
            name=worker.name,
            team=worker.team_name,
            role=worker.role or "standalone",
            phase=worker.phase,
            state=worker.state,  # type: ignore[arg-type]  # a DesiredState column: one of the Literal's values
            ready=worker.reported_since_start,
            model=worker.model,
            runtime=worker.runtime,
            image=worker.image,
            running_image=worker.running_image,
            skills_version=worker.skills_version,
            matrix_user_id=worker.matrix_user_id,
            room_id=worker.room_id,
            container_state=worker.container_state,
            last_heartbeat=worker.last_heartbeat,
            idle_since=worker.idle_since,
            active_tasks=worker.active_tasks,
            health=health,
            healthy=health != heartbeat_health.MISSED,
            restarts=worker.restart_count,
            last_exit_code=worker.last_exit_code,
            last_exit_reason=worker.last_exit_reason,
            message=worker.message,
        )

    def pick(self, fields: tuple[str, ...]) -> dict[str, Any]:
        """The named fields (Python names) as JSON keys and values, in the order given."""
        aliases = type(self).model_fields
        values = {name: getattr(self, name) for name in fields}
        return {aliases[name].alias or name: _json(value) for name, value in values.items()}

    def status_line(self) -> dict[str, Any]:
        """The original API's status line. Its phase is ``Ready`` once the agent in the running
        instance has reported (the original CLI waits for it); the resource keeps ``Running``."""
        line = self.pick(STATUS_LINE)
        if self.ready:
            line["phase"] = READY
        return line

    @classmethod
    def shape(cls, name: str, fields: tuple[str, ...], **docs: str) -> type[BaseModel]:
        """A model of the named fields, for the OpenAPI document; ``docs`` replaces field descriptions."""
        chosen: dict[str, Any] = {}
        for field in fields:
            info = cls.model_fields[field]
            description = docs.get(field, info.description)
            chosen[field] = (info.annotation, Field(alias=info.alias, description=description))
        return create_model(name, __config__=ConfigDict(populate_by_name=True), **chosen)


def _json(value: Any) -> Any:
    return _iso(value) if isinstance(value, datetime) else value


# The flat fields a resource answer carries for the original CLI (``GET /workers/{name}``).
API_FIELDS = (
    "name",
    "phase",
    "model",
    "runtime",
    "image",
    "team",
    "role",
    "state",
    "matrix_user_id",
    "room_id",
    "container_state",
    "last_heartbeat",
    "idle_since",
    "health",
    "restarts",
    "last_exit_code",
    "last_exit_reason",
    "message",
)
# ``GET /workers/status``, ``/workers/{name}/status`` and the ready report's answer.
STATUS_LINE = (
    "name",
    "team",
    "phase",
    "state",
    "ready",
    "container_state",
    "last_heartbeat",
    "health",
    "healthy",
    "restarts",
    "last_exit_code",
    "last_exit_reason",
    "message",
)
# The dashboard's live rows (before its own display defaults).
DASHBOARD_FIELDS = (
    "name",
    "team",
    "role",
    "phase",
    "state",
    "container_state",
    "last_heartbeat",
    "idle_since",
    "active_tasks",
    "image",
    "running_image",
    "skills_version",
    "model",
    "healthy",
    "message",
)
