"""The OpenAPI shapes of the five resource kinds, for drf-spectacular.

``/{kind}s`` and ``/{kind}s/{name}`` serve every kind with two view classes
(the kind is an ``as_view`` argument), so ``KindSchema`` picks each kind's
resource and flat-body shapes and its operation ids. Like ``schema``, nothing
here runs on a request.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers

from controller.api.schema import (
    PAGING,
    DeletionSerializer,
    DesiredStateField,
    ManifestMetadataSerializer,
    errors,
    team_parameter,
)
from controller.models import KINDS


# --- resources: the manifest with status, plus the original CLI's flat fields ------------------
class ResourceMetadataSerializer(ManifestMetadataSerializer):
    generation = serializers.IntegerField()
    creationTimestamp = serializers.DateTimeField()
    deletionTimestamp = serializers.DateTimeField(required=False, help_text="set once deletion was requested")


class ResourceSerializer(serializers.Serializer):
    """A resource in manifest shape plus status."""

    apiVersion = serializers.CharField()
    kind = serializers.ChoiceField(choices=list(KINDS))
    metadata = ResourceMetadataSerializer()
    spec = serializers.DictField()
    status = serializers.DictField(help_text="phase, message, observedGeneration, conditions and the kind's fields")


class DebugWorkerSerializer(ResourceSerializer):
    pass


class WorkerSerializer(ResourceSerializer):
    """A Worker, with the flat fields the original CLI reads."""

    name = serializers.CharField()
    phase = serializers.CharField()
    model = serializers.CharField()
    runtime = serializers.CharField()
    image = serializers.CharField()
    team = serializers.CharField(help_text="empty for a standalone worker")
    role = serializers.CharField(help_text="standalone, worker or team_leader")
    state = DesiredStateField()
    matrixUserID = serializers.CharField()
    roomID = serializers.CharField()
    containerState = serializers.CharField()
    lastHeartbeat = serializers.DateTimeField(allow_null=True)
    idleSince = serializers.DateTimeField(allow_null=True)
    message = serializers.CharField()


class TeamSerializer(ResourceSerializer):
    name = serializers.CharField()
    phase = serializers.CharField()
    description = serializers.CharField()
    image = serializers.CharField()
    admin = serializers.DictField(allow_null=True)
    leaderName = serializers.CharField()
    leaderReady = serializers.BooleanField()
    readyWorkers = serializers.IntegerField()
    totalWorkers = serializers.IntegerField()
    workerNames = serializers.ListField(child=serializers.CharField())
    teamRoomID = serializers.CharField()
    message = serializers.CharField()


class HumanSerializer(ResourceSerializer):
    name = serializers.CharField()
    phase = serializers.CharField()
    displayName = serializers.CharField()
    email = serializers.CharField()
    permissionLevel = serializers.IntegerField()
    matrixUserID = serializers.CharField()
    rooms = serializers.ListField(child=serializers.CharField())
    message = serializers.CharField()
    initialPassword = serializers.CharField(required=False, help_text="in the create answer only, shown once")


class ManagerSerializer(ResourceSerializer):
    name = serializers.CharField()
    phase = serializers.CharField()
    model = serializers.CharField()
    runtime = serializers.CharField()
    image = serializers.CharField()
    state = DesiredStateField()
    matrixUserID = serializers.CharField()
    roomID = serializers.CharField()
    containerState = serializers.CharField()
    version = serializers.CharField()
    message = serializers.CharField()


# --- the original CLI's flat bodies (POST creates, PUT changes; absent = unchanged) --------------
class WorkerChangeSerializer(serializers.Serializer):
    model = serializers.CharField(required=False)
    runtime = serializers.CharField(required=False)
    image = serializers.CharField(required=False)
    identity = serializers.CharField(required=False)
    soul = serializers.CharField(required=False)
    agents = serializers.CharField(required=False)
    package = serializers.CharField(required=False)
    skills = serializers.ListField(child=serializers.CharField(), required=False, help_text="or one comma list")
    mcpServers = serializers.ListField(child=serializers.JSONField(), required=False, help_text="names or {name}")
    expose = serializers.ListField(child=serializers.JSONField(), required=False, help_text="ports, numbers or text")
    channelPolicy = serializers.DictField(required=False)
    state = DesiredStateField(required=False)
    labels = serializers.DictField(child=serializers.CharField(), required=False)
    resources = serializers.DictField(required=False)


class WorkerCreateSerializer(WorkerChangeSerializer):
    name = serializers.CharField()
    team = serializers.CharField(required=False, help_text="makes the worker a member of this team")


class TeamChangeSerializer(serializers.Serializer):
    description = serializers.CharField(required=False)
    image = serializers.CharField(required=False)
    admin = serializers.DictField(required=False, help_text="{name, matrixUserId}")
    leader = serializers.DictField(required=False, help_text="the leader's spec, merged into the current one")
    leaderName = serializers.CharField(required=False)
    leaderModel = serializers.CharField(required=False)
    workers = serializers.ListField(child=serializers.JSONField(), required=False, help_text="names or worker bodies")
    peerMentions = serializers.BooleanField(required=False)
    channelPolicy = serializers.DictField(required=False)
    debug = serializers.DictField(required=False)
    upgrade = serializers.DictField(required=False)


class TeamCreateSerializer(TeamChangeSerializer):
    name = serializers.CharField()


class HumanChangeSerializer(serializers.Serializer):
    displayName = serializers.CharField(required=False)
    email = serializers.CharField(required=False)
    permissionLevel = serializers.ChoiceField(choices=[1, 2, 3], required=False)
    accessibleTeams = serializers.ListField(child=serializers.CharField(), required=False)
    accessibleWorkers = serializers.ListField(child=serializers.CharField(), required=False)
    note = serializers.CharField(required=False)


class HumanCreateSerializer(HumanChangeSerializer):
    name = serializers.CharField()


class ManagerChangeSerializer(serializers.Serializer):
    model = serializers.CharField(required=False)
    runtime = serializers.CharField(required=False)
    image = serializers.CharField(required=False)
    soul = serializers.CharField(required=False)
    agents = serializers.CharField(required=False)
    package = serializers.CharField(required=False)
    skills = serializers.ListField(child=serializers.CharField(), required=False)
    mcpServers = serializers.ListField(child=serializers.JSONField(), required=False)
    state = DesiredStateField(required=False)
    config = serializers.DictField(required=False)


class ManagerCreateSerializer(ManagerChangeSerializer):
    name = serializers.CharField()


class DebugWorkerCreateSerializer(serializers.Serializer):
    name = serializers.CharField()
    team = serializers.CharField(required=False, help_text="a leader's own team by default")
    target = serializers.DictField(required=False, help_text="{type: team|worker, name}")
    targets = serializers.ListField(child=serializers.CharField(), required=False)
    allowedUsers = serializers.ListField(child=serializers.CharField(), required=False)
    matrixCredential = serializers.DictField(required=False, help_text="{userID, accessToken}")
    retention = serializers.CharField(required=False)
    hiclawVersion = serializers.CharField(required=False)


# --- the resource kinds ----------------------------------------------------------------------------
RESOURCE = {
    "Worker": WorkerSerializer,
    "Team": TeamSerializer,
    "Human": HumanSerializer,
    "Manager": ManagerSerializer,
    "DebugWorker": DebugWorkerSerializer,
}
CREATE_BODY: dict[str, Any] = {
    "Worker": WorkerCreateSerializer,
    "Team": TeamCreateSerializer,
    "Human": HumanCreateSerializer,
    "Manager": ManagerCreateSerializer,
    "DebugWorker": DebugWorkerCreateSerializer,
}
CHANGE_BODY: dict[str, Any] = {
    "Worker": WorkerChangeSerializer,
    "Team": TeamChangeSerializer,
    "Human": HumanChangeSerializer,
    "Manager": ManagerChangeSerializer,
    # A DebugWorker is changed by applying its manifest; PUT answers 409 whatever the body.
    "DebugWorker": OpenApiTypes.OBJECT,
}
TEAM_FILTERED = ("Worker", "Team", "DebugWorker")  # the kinds with a ``team`` list filter
DESCRIPTION = {
    ("GET", False): "The {plural} the caller may see, by name, a page at a time.",
    ("POST", False): "Create a {kind} from the original CLI's flat body.",
    ("GET", True): "One {kind}, if the caller may see it.",
    ("PUT", True): "Change a {kind} from the original CLI's flat body; absent fields stay as they are.",
    ("DELETE", True): "Request the {kind}'s deletion (a team member is removed from its Team's spec.workers).",
}


class _KindView(Protocol):
    kind: str


class KindSchema(AutoSchema):
    """Shapes of ``/{kind}s`` and ``/{kind}s/{name}``, picked by the view's ``kind``."""

    @property
    def _kind(self) -> str:
        # Only the resource views, each made with its ``kind``, use this schema.
        return cast(_KindView, self.view).kind

    @property
    def _detail(self) -> bool:
        return self.path.endswith("{name}")

    @property
    def _plural(self) -> str:
        return f"{self._kind.lower()}s"

    def get_operation_id(self) -> str:
        action = {"GET": "retrieve" if self._detail else "list", "POST": "create", "PUT": "update"}
        return f"{self._plural}_{action.get(self.method, 'destroy')}"

    def get_tags(self) -> list[str]:
        return [self._plural]

    def get_description(self) -> str:  # type: ignore[override]  # drf-spectacular's signature, not DRF's
        return DESCRIPTION[self.method, self._detail].format(kind=self._kind, plural=self._plural)

    def get_override_parameters(self) -> list[OpenApiParameter | serializers.Serializer | type[serializers.Serializer]]:
        if self._detail or self.method != "GET":
            return []
        return [*PAGING, *([team_parameter(self._plural)] if self._kind in TEAM_FILTERED else [])]

    def get_request_serializer(self) -> Any:
        return {"POST": CREATE_BODY, "PUT": CHANGE_BODY}.get(self.method, {}).get(self._kind)

    def get_response_serializers(self) -> dict[int, Any]:  # type: ignore[override]  # drf-spectacular takes these too
        kind, resource = self._kind, RESOURCE[self._kind]
        if self.method == "GET" and not self._detail:
            page = {self._plural: resource(many=True), "total": serializers.IntegerField()}
            page["next"] = serializers.URLField(allow_null=True, help_text="the next page, or null")
            return {200: inline_serializer(f"{kind}List", page), **errors(400)}
        return {
            ("GET", True): {200: resource, **errors(404)},
            ("POST", False): {201: resource, **errors(400, 403, 404, 409, 422)},
            ("PUT", True): {200: resource, **errors(400, 403, 404, 409, 422)},
            ("DELETE", True): {202: DeletionSerializer, **errors(403, 404)},
        }[(self.method, self._detail)]
