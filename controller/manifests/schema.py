"""The shapes of ``hiclaw.io/v1beta1`` manifests, validated with pydantic.

Each kind's spec is a strict model: unknown fields, wrong types and values
outside an enum are errors, and defaults are filled in (as a Kubernetes API
server does), so a re-apply of the same manifest compares equal. Field names
are camelCase in YAML and snake_case in Python.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from django.db import models
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from controller.manifests import rules
from controller.models import Human, Team, Worker
from controller.models.base import DNS_LABEL_PATTERN, Resource


def column_length(model: type[models.Model], column: str) -> int:
    """The length of the column a spec field is indexed into: the field's own limit, so that
    a too-long value is a manifest error naming it rather than a database error."""
    field = model._meta.get_field(column)
    if not isinstance(field, models.Field) or field.max_length is None:
        raise TypeError(f"{model.__name__}.{column} is not a column with a maximum length")
    return field.max_length


MODEL_LENGTH = column_length(Worker, "model")  # Manager shares the column (AgentResource)
IMAGE_LENGTH = column_length(Worker, "image")

_DNS_LABEL = re.compile(DNS_LABEL_PATTERN)
_DURATION = re.compile(r"^(0|[1-9][0-9]*(s|m|h|d))$")
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MATRIX_USER = re.compile(r"^@[^:\s]+:[^\s]+$")
# A container image reference: [registry[:port]/]path[:tag][@sha256:digest], path in lowercase.
_IMAGE_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_PATTERN = (
    rf"^(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?/)?{_IMAGE_COMPONENT}(?:/{_IMAGE_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
IMAGE_RULE = (
    "must be an image reference such as 'hiclaw/worker-agent:1.4.0' or 'registry:5000/team/agent:v2' "
    "(lowercase path, optional tag and digest)"
)
_IMAGE = re.compile(IMAGE_PATTERN)


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise PydanticCustomError(
            "dns_label",
            "must be a DNS-1123 label (lowercase letters, digits and '-', at most 63, "
            "starting and ending with a letter or digit), got '{value}'",
            {"value": value},
        )
    return value


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(value: str) -> int:
    """Seconds in a validated duration such as ``30m`` (``0`` is zero)."""
    return 0 if value == "0" else int(value[:-1]) * _DURATION_UNITS[value[-1]]


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise PydanticCustomError(
            "duration", "must be a duration such as 30m, 12h or 3d (or 0), got '{value}'", {"value": value}
        )
    return value


def _clock(value: str | int) -> str:
    if isinstance(value, int):
        # YAML 1.1 reads an unquoted 18:00 as the base-60 number 1080.
        raise PydanticCustomError("clock", 'must be a quoted time of day such as "18:00" (YAML read a number)')
    if not _CLOCK.match(value):
        raise PydanticCustomError("clock", "must be a time of day HH:MM (00:00-23:59), got '{value}'", {"value": value})
    return value


def _quantity(value: str | int | float) -> str:
    text = str(value)
    if not _QUANTITY.match(text):
        raise PydanticCustomError(
            "quantity", "must be a resource quantity such as 500m, 2, 512Mi or 1Gi, got '{value}'", {"value": text}
        )
    return text


def _non_empty(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("non_empty", "must not be empty")
    return value


def _image(value: str) -> str:
    if len(value) > IMAGE_LENGTH or not _IMAGE.match(value):
        raise PydanticCustomError("image", IMAGE_RULE + ", got '{value}'", {"value": value})
    return value


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise PydanticCustomError("email", "must be an e-mail address, got '{value}'", {"value": value})
    return value


def _matrix_user_id(value: str) -> str:
    if not _MATRIX_USER.match(value):
        raise PydanticCustomError(
            "matrix_user_id", "must be a Matrix user ID such as @alice:example.org, got '{value}'", {"value": value}
        )
    return value


def _label_map(value: dict[str, str]) -> dict[str, str]:
    for key, item in value.items():
        if not _LABEL_KEY.match(key):
            raise PydanticCustomError("label_key", "label key '{key}' is not a valid label name", {"key": key})
        if not _LABEL_VALUE.match(item):
            raise PydanticCustomError(
                "label_value", "label '{key}' has an invalid value '{value}'", {"key": key, "value": item}
            )
    return value


def _not_a_boolean(value: Any) -> Any:
    # A Literal of numbers matches True as 1 even in strict mode (True == 1 in Python).
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a whole number, not true or false")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Duration = Annotated[str, AfterValidator(_duration)]
Clock = Annotated[str | int, AfterValidator(_clock)]
Quantity = Annotated[str | int | float, AfterValidator(_quantity)]
Text = Annotated[str, AfterValidator(_non_empty)]
Email = Annotated[str, Field(max_length=column_length(Human, "email")), AfterValidator(_email)]
ModelName = Annotated[str, Field(max_length=MODEL_LENGTH), AfterValidator(_non_empty)]
Image = Annotated[str, AfterValidator(_image)]
OptionalImage = Annotated[Image | None, BeforeValidator(rules.unset_if_empty)]
MatrixUserID = Annotated[str, AfterValidator(_matrix_user_id)]
LabelMap = Annotated[dict[str, str], AfterValidator(_label_map)]
Runtime = Literal["openclaw", "copaw", "hermes"]
State = Literal["Running", "Sleeping", "Stopped"]


class Shape(BaseModel):
    """Base of every manifest part: camelCase keys, no unknown keys, no coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, alias_generator=to_camel, populate_by_name=True)

    def manifest(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


# --- parts shared by several kinds ---------------------------------------------------
class ExposePort(Shape):
    port: int = Field(ge=1, le=65535)
    protocol: Literal["http", "grpc"] = "http"


class ChannelPolicy(Shape):
    group_allow_extra: list[str] | None = None
    group_deny_extra: list[str] | None = None
    dm_allow_extra: list[str] | None = None
    dm_deny_extra: list[str] | None = None


class ResourceAmounts(Shape):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class Resources(Shape):
    requests: ResourceAmounts | None = None
    limits: ResourceAmounts | None = None


class AccessEntry(Shape):
    """A cloud-credential scope of the original CRDs: recorded and passed to the agent's config."""

    service: Text
    scope: str | dict[str, str | list[str]] | None = None


class AccessControl(Shape):
    allowed_users: list[str] | None = None


class AgentText(Shape):
    """The files that shape an agent's behaviour."""

    identity: str | None = None
    soul: str | None = None
    agents: str | None = None
    package: str | None = None


# --- Worker ----------------------------------------------------------------------------
class WorkerSpec(AgentText):
    model: ModelName
    runtime: Runtime = "openclaw"
    image: OptionalImage = None
    skills: list[str] | None = None
    mcp_servers: list[str] | None = None
    expose: list[ExposePort] | None = None
    channel_policy: ChannelPolicy | None = None
    state: State = "Running"
    labels: LabelMap | None = None
    resources: Resources | None = None
    access_entries: list[AccessEntry] | None = None


# --- Team ------------------------------------------------------------------------------
class TeamAdmin(Shape):
    name: Annotated[str, Field(max_length=column_length(Team, "admin_name")), AfterValidator(_non_empty)]
    matrix_user_id: MatrixUserID | None = Field(default=None, alias="matrixUserId")


class ActiveHours(Shape):
    start: Clock
    end: Clock


class Heartbeat(Shape):
    enabled: bool = True
    every: Duration = "30m"
    active_hours: ActiveHours | None = None


class Permissions(Shape):
    can_scale_workers: bool | None = None
    max_workers: int | None = Field(default=None, ge=0)
    can_switch_model: bool | None = None
    allowed_models: list[str] | None = None
    max_concurrent_tasks: int | None = Field(default=None, ge=1)
    worker_idle_timeout: Duration | None = None  # the leader's workerIdleTimeout, spelled here


class TeamLeader(AgentText):
    name: DnsLabel
    model: ModelName
    runtime: Runtime = "openclaw"
    image: OptionalImage = None
    state: State = "Running"
    heartbeat: Heartbeat = Field(default_factory=Heartbeat)
    worker_idle_timeout: Duration = "720m"
    permissions: Permissions | None = None
    labels: LabelMap | None = None
    channel_policy: ChannelPolicy | None = None
    access_entries: list[AccessEntry] | None = None
    _one_idle_timeout = model_validator(mode="after")(rules.one_idle_timeout)


class TeamWorker(WorkerSpec):
    name: DnsLabel

    @model_serializer(mode="wrap")
    def _name_first(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        return {"name": data.pop("name"), **data}


class TeamDebug(Shape):
    enabled: bool = True
    access_control: AccessControl | None = None
    # The default DebugWorker's retention; unset, it gets the DebugWorker's own default (72h)
    # and is renewed by the Team reconciler each time it expires.
    retention: Duration | None = None


class TeamUpgrade(Shape):
    max_unavailable: int = Field(default=1, ge=1)


class TeamSpec(Shape):
    description: str | None = None
    admin: TeamAdmin | None = None
    image: OptionalImage = None
    leader: TeamLeader
    workers: list[TeamWorker] = Field(default_factory=list)
    peer_mentions: bool = True
    channel_policy: ChannelPolicy | None = None
    debug: TeamDebug = Field(default_factory=TeamDebug)
    upgrade: TeamUpgrade = Field(default_factory=TeamUpgrade)

    _members_are_distinct_and_within_permissions = model_validator(mode="after")(
        rules.members_are_distinct_and_within_permissions
    )


# --- Human -----------------------------------------------------------------------------
class HumanSpec(Shape):
    display_name: Text
    email: Email | None = None
    permission_level: Annotated[Literal[1, 2, 3], BeforeValidator(_not_a_boolean)] = 3
    accessible_teams: list[DnsLabel] | None = None
    accessible_workers: list[DnsLabel] | None = None
    note: str | None = None


# --- Manager ---------------------------------------------------------------------------
class ManagerConfig(Shape):
    heartbeat_interval: Duration = "15m"
    worker_idle_timeout: Duration = "720m"
    notify_channel: Text = "admin-dm"


class ManagerSpec(AgentText):
    model: ModelName
    runtime: Runtime = "openclaw"
    image: OptionalImage = None
    skills: list[str] | None = None
    mcp_servers: list[str] | None = None
    state: State = "Running"
    config: ManagerConfig = Field(default_factory=ManagerConfig)
    labels: LabelMap | None = None
    access_entries: list[AccessEntry] | None = None
    replicas: int | None = None
    _a_single_manager = model_validator(mode="after")(rules.a_single_manager)


# --- DebugWorker -----------------------------------------------------------------------
class DebugTarget(Shape):
    type: Literal["team", "worker"]
    name: DnsLabel


class MatrixCredential(Shape):
    user_id: MatrixUserID = Field(alias="userID")
    # A secret: accepted on apply, stored apart from the spec, never exported.
    access_token: str | None = None


class DebugWorkerSpec(Shape):
    target: DebugTarget | None = None
    targets: list[DnsLabel] | None = None
    matrix_credential: MatrixCredential | None = None
    hiclaw_version: str | None = None
    retention: Duration = "72h"
    access_control: AccessControl | None = None

    @model_validator(mode="after")
    def _one_way_of_targeting(self) -> DebugWorkerSpec:
        if (self.target is None) == (not self.targets):
            raise PydanticCustomError(
                "debug_target",
                "give either spec.target (type and name) or spec.targets (worker names), not both or neither",
                {"field": "target"},
            )
        return self


# --- the envelope ------------------------------------------------------------------------
class Metadata(Shape):
    name: DnsLabel
    labels: LabelMap | None = None
    annotations: dict[str, str] | None = None
    # Read-only fields that exports carry; accepted so an export applies back.
    namespace: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    uid: str | None = None
    resource_version: str | None = None


SPEC_SHAPES: dict[str, type[Shape]] = {
    "Worker": WorkerSpec,
    "Team": TeamSpec,
    "Human": HumanSpec,
    "Manager": ManagerSpec,
    "DebugWorker": DebugWorkerSpec,
}
Resource.spec_shapes.update(SPEC_SHAPES)  # what Resource.typed_spec validates with
