"""The OpenAPI operations of the five resource kinds, for drf-spectacular.

``/{kind}s`` and ``/{kind}s/{name}`` serve every kind with two view classes
(the kind is an ``as_view`` argument), so ``KindSchema`` picks each kind's
resource and flat-body shapes (``shapes``) and its operation ids. Like
``schema``, nothing here runs on a request.
"""

from __future__ import annotations

from typing import Any, Protocol, cast

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from controller.api import shapes
from controller.api.schema import PAGING, DeletionSerializer, errors, team_parameter

# A DebugWorker is changed by applying its manifest; PUT answers 409 whatever the body.
CHANGE_BODY = {**shapes.CHANGE_BODY, "DebugWorker": OpenApiTypes.OBJECT}
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
        bodies: dict[str, dict[str, Any]] = {"POST": shapes.CREATE_BODY, "PUT": CHANGE_BODY}
        return bodies.get(self.method, {}).get(self._kind)

    def get_response_serializers(self) -> dict[int, Any]:  # type: ignore[override]  # drf-spectacular takes these too
        resource = shapes.RESOURCE[self._kind]
        if self.method == "GET" and not self._detail:
            return {200: shapes.PAGE[self._kind], **errors(400)}
        return {
            ("GET", True): {200: resource, **errors(404)},
            ("POST", False): {201: resource, **errors(400, 403, 404, 409, 422)},
            ("PUT", True): {200: resource, **errors(400, 403, 404, 409, 422)},
            ("DELETE", True): {202: DeletionSerializer, **errors(403, 404)},
        }[(self.method, self._detail)]
