"""The shapes of the API's resources and of the original CLI's flat bodies, for the OpenAPI document.

Built from the shapes that do the work, so a field is defined once: a resource
answer is the manifest envelope with its kind's spec shape
(``controller.manifests.schema``) plus the flat fields ``representation``
builds; a flat body is the spec shape's fields that ``compat`` picks, each
optional; worker lines are selections of ``WorkerSummary``. drf-spectacular
turns them into components (``schema.PydanticShapes``); none of this runs on a
request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from controller.api import compat
from controller.api.representation import HumanFields, ManagerFields, TeamFields
from controller.manifests import schema as manifest
from controller.models import API_VERSION
from controller.services import debugworkers
from controller.services.summary import API_FIELDS, STATUS_LINE, WorkerSummary

OPEN = ConfigDict(populate_by_name=True)  # answers may grow fields; clients ignore what they do not know


# --- resources: the manifest with status, plus the original CLI's flat fields ------------------
class ResourceMetadata(BaseModel):
    model_config = OPEN

    name: str = Field(description="a DNS-1123 label")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    generation: int
    creation_timestamp: datetime = Field(alias="creationTimestamp")
    deletion_timestamp: datetime | None = Field(
        default=None, alias="deletionTimestamp", description="set once deletion was requested"
    )


def _resource(kind: str, flat: type[BaseModel] | None, **extra: Any) -> type[BaseModel]:
    """A ``kind`` resource as the API answers it."""
    base: dict[str, Any] = {"__base__": flat} if flat else {"__config__": OPEN}
    flat_note = ", with the flat fields the original CLI reads" if flat else ""
    # Fields made at run time (Literal[kind]): typed Any, as pydantic's stub cannot follow them.
    fields: dict[str, Any] = {
        "api_version": (Literal[API_VERSION], Field(alias="apiVersion")),
        "kind": (Literal[kind], ...),
    }
    return create_model(
        kind,
        __doc__=f"A {kind} in manifest shape plus status{flat_note}.",
        **base,
        **fields,
        metadata=(ResourceMetadata, ...),
        spec=(manifest.SPEC_SHAPES[kind], ...),
        status=(
            dict[str, Any],
            Field(description="phase, message, observedGeneration, conditions and the kind's fields"),
        ),
        **extra,
    )


WorkerStatusLine = WorkerSummary.shape(
    "WorkerStatusLine",
    STATUS_LINE,
    phase="the worker's phase, except Ready (the original API's) once its agent has reported since the "
    "running instance started",
)
RESOURCE: dict[str, type[BaseModel]] = {
    "Worker": _resource("Worker", WorkerSummary.shape("WorkerFields", API_FIELDS)),
    "Team": _resource("Team", TeamFields),
    "Human": _resource(
        "Human",
        HumanFields,
        initial_password=(
            str | None,
            Field(default=None, alias="initialPassword", description="in the create answer only, shown once"),
        ),
    ),
    "Manager": _resource("Manager", ManagerFields),
    "DebugWorker": _resource("DebugWorker", None),
}


def _page(kind: str) -> type[BaseModel]:
    # The item type is a model made at run time: typed Any, as pydantic's stub cannot follow it.
    items: dict[str, Any] = {f"{kind.lower()}s": (list[RESOURCE[kind]], ...)}  # type: ignore[valid-type]
    return create_model(
        f"{kind}List",
        **items,
        total=(int, ...),
        next=(str | None, Field(description="the next page, or null")),
    )


PAGE = {kind: _page(kind) for kind in RESOURCE}


# --- the original CLI's flat bodies (POST creates, PUT changes; absent or null = unchanged) -----
def _optional(shape: type[BaseModel], field: str) -> tuple[Any, Any]:
    """``shape``'s field, with its constraints, made optional."""
    info = shape.model_fields[field]
    annotation: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return annotation | None, Field(default=None, alias=info.alias, description=info.description)


def _body(component: str, shape: type[BaseModel], picked: tuple[str, ...], /, **fields: Any) -> type[BaseModel]:
    """A flat body: the fields of ``shape`` that ``compat`` picks (by JSON name), then ``fields``."""
    by_alias = {info.alias or python: python for python, info in shape.model_fields.items()}
    chosen = {by_alias[alias]: _optional(shape, by_alias[alias]) for alias in picked}
    return create_model(component, __config__=OPEN, **{**chosen, **fields})


def _text(description: str) -> Any:
    return (str | None, Field(default=None, description=description))


NAME = (str, Field(description="the resource name, a DNS-1123 label"))
# Looser than the manifest: compat.py turns these into the spec's form.
SKILLS = (list[str] | str | None, Field(default=None, description="names, or one comma-separated list"))
MCP_SERVERS = (
    list[str | dict[str, Any]] | None,
    Field(default=None, alias="mcpServers", description='names, or objects with a "name"'),
)
EXPOSE = (
    list[manifest.ExposePort | int | str] | None,
    Field(default=None, description="ports: objects, numbers or digits"),
)
LOOSE = {"skills": SKILLS, "mcp_servers": MCP_SERVERS, "expose": EXPOSE}

WorkerChange = _body("WorkerChange", manifest.WorkerSpec, compat.WORKER_FIELDS, **LOOSE)
WorkerCreate = _body(
    "WorkerCreate",
    manifest.WorkerSpec,
    compat.WORKER_FIELDS,
    **LOOSE,
    name=NAME,
    team=_text("makes the worker a member of this team"),
)
TeamMemberBody = _body("TeamMemberBody", manifest.WorkerSpec, compat.WORKER_FIELDS, **LOOSE, name=NAME)
LEADER_FIELDS = tuple(info.alias or python for python, info in manifest.TeamLeader.model_fields.items())
LeaderChange = _body("LeaderChange", manifest.TeamLeader, LEADER_FIELDS)
TEAM_BODY_FIELDS = dict(
    leader=(LeaderChange | None, Field(default=None, description="the leader's spec, merged into the current one")),
    leader_name=(str | None, Field(default=None, alias="leaderName")),
    leader_model=(str | None, Field(default=None, alias="leaderModel")),
    workers=(
        list[str | TeamMemberBody] | None,  # type: ignore[valid-type]  # a model made at run time
        Field(default=None, description="names (with the leader's model) or worker bodies; replaces the list"),
    ),
)
TeamChange = _body("TeamChange", manifest.TeamSpec, compat.TEAM_FIELDS, **TEAM_BODY_FIELDS)
TeamCreate = _body("TeamCreate", manifest.TeamSpec, compat.TEAM_FIELDS, **TEAM_BODY_FIELDS, name=NAME)
HumanChange = _body("HumanChange", manifest.HumanSpec, compat.HUMAN_FIELDS)
HumanCreate = _body("HumanCreate", manifest.HumanSpec, compat.HUMAN_FIELDS, name=NAME)
ManagerChange = _body("ManagerChange", manifest.ManagerSpec, compat.MANAGER_FIELDS, mcp_servers=MCP_SERVERS)
ManagerCreate = _body("ManagerCreate", manifest.ManagerSpec, compat.MANAGER_FIELDS, mcp_servers=MCP_SERVERS, name=NAME)
DebugWorkerCreate = _body(
    "DebugWorkerCreate",
    manifest.DebugWorkerSpec,
    debugworkers.SPEC_FIELDS,
    name=NAME,
    team=_text("a leader's own team by default"),
    allowed_users=(list[str] | None, Field(default=None, alias="allowedUsers")),
)
CREATE_BODY = {
    "Worker": WorkerCreate,
    "Team": TeamCreate,
    "Human": HumanCreate,
    "Manager": ManagerCreate,
    "DebugWorker": DebugWorkerCreate,
}
CHANGE_BODY = {"Worker": WorkerChange, "Team": TeamChange, "Human": HumanChange, "Manager": ManagerChange}


# --- worker lines ------------------------------------------------------------------------------
class WorkersStatus(BaseModel):
    workers: list[WorkerStatusLine]  # type: ignore[valid-type]


class IdleLine(BaseModel):
    model_config = OPEN

    name: str
    state: Literal["Running", "Sleeping", "Stopped"]
    active_tasks: int = Field(alias="activeTasks")
    idle_since: datetime | None = Field(alias="idleSince")
    idle_timeout_seconds: int = Field(alias="idleTimeoutSeconds")
    seconds_left: int | None = Field(
        alias="secondsLeft", description="before the worker is put to sleep; null when not idle or never put to sleep"
    )


class IdleCheck(BaseModel):
    workers: list[IdleLine]
