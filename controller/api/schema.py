"""The OpenAPI description of the REST API (docs/api.md), for drf-spectacular.

Resources, their specs and the original CLI's flat bodies are described by the
pydantic shapes that validate and build them (``controller.api.shapes``),
turned into OpenAPI 3.0 components by ``PydanticShapes`` below. The serializers
here describe the small answers of single operations for ``/api/v1/schema/``;
none of them runs on a request. Also here: who may call (the authentication
extensions), errors and query parameters, used by the views' ``@extend_schema``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent, build_bearer_security_scheme_object
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, inline_serializer
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, model_json_schema
from pydantic_core import core_schema
from rest_framework import serializers

from controller.models import API_VERSION, KINDS


# --- who is calling ------------------------------------------------------------------------
class AgentTokenScheme(OpenApiAuthenticationExtension):
    target_class = "controller.api.authentication.AgentTokenAuthentication"
    name = "agentToken"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        scheme = build_bearer_security_scheme_object("Authorization", "Bearer", bearer_format="hct_…")
        return {**scheme, "description": "A token from `manage.py hiclaw_token create`, bound to one identity."}


class DashboardSessionScheme(SessionScheme):
    target_class = "controller.api.authentication.DashboardSessionAuthentication"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, Any]:
        note = "A dashboard login, scoped like its role; writes also need the X-CSRFToken header."
        return {**super().get_security_definition(auto_schema), "description": note}


# --- pydantic shapes as OpenAPI 3.0 components ---------------------------------------------------
class OpenApi30JsonSchema(GenerateJsonSchema):
    """pydantic writes JSON Schema 2020-12; the document is OpenAPI 3.0, which says ``nullable``
    rather than a ``null`` type and ``enum`` rather than ``const``. Titles pydantic derives from
    field names add nothing, so fields get none."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        inner = self.generate_inner(schema["schema"])
        return {"allOf": [inner], "nullable": True} if "$ref" in inner else {**inner, "nullable": True}

    def literal_schema(self, schema: core_schema.LiteralSchema) -> JsonSchemaValue:
        result = super().literal_schema(schema)
        if "const" in result:
            result["enum"] = [result.pop("const")]
        return result

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


class PydanticShapes(OpenApiSerializerExtension):
    """A pydantic model in ``@extend_schema`` becomes a component named after its class, the models
    it uses components of their own. Validation mode, in both directions: it describes what is
    accepted, and answers are dumps of the same shapes (a dump's custom serializer would otherwise
    hide the fields). Preferred to drf-spectacular's own pydantic extension, which writes 2020-12."""

    target_class = "pydantic.BaseModel"
    match_subclasses = True
    priority = 1

    def get_name(self, auto_schema: AutoSchema, direction: str) -> str:
        return self.target.__name__

    def get_identity(self, auto_schema: AutoSchema, direction: str) -> str:
        # The name, as for the models it uses (registered from ``$defs`` below): one model met at the
        # top of one operation and inside another is one component.
        return self.target.__name__

    def map_serializer(self, auto_schema: AutoSchema, direction: str) -> dict[str, Any]:
        schema = model_json_schema(
            self.target,
            by_alias=True,
            ref_template="#/components/schemas/{model}",
            schema_generator=OpenApi30JsonSchema,
            mode="validation",
        )
        for name, definition in schema.pop("$defs", {}).items():
            component = ResolvedComponent(name, ResolvedComponent.SCHEMA, object=name, schema=definition)
            auto_schema.registry.register_on_missing(component)
        return schema


# --- errors ----------------------------------------------------------------------------------
class ManifestErrorSerializer(serializers.Serializer):
    document = serializers.IntegerField(help_text="1-based position in the submitted stream")
    resource = serializers.CharField(help_text="e.g. worker/alice, when the document got that far")
    field = serializers.CharField(help_text="e.g. spec.workers[1].model")
    rule = serializers.CharField(help_text="e.g. unknown-field, required, enum, dns_label")
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    error = serializers.CharField(help_text="the same text as message, for the original CLI")
    field = serializers.CharField(required=False, help_text="the field at fault, when there is one")
    errors = ManifestErrorSerializer(  # type: ignore[assignment]  # DRF's metaclass moves fields off the class
        many=True,
        required=False,
        help_text="every error of an invalid manifest",
    )


ERROR_MEANINGS = {
    400: "The request is malformed; `field` names what to fix.",
    401: "No token, or a bad, expired or revoked one.",
    403: "The policy refused; the message names the rule.",
    404: "No such resource, or the caller may not see it.",
    409: "The change conflicts with the resource's state.",
    411: "A body sent without a length reached a route that needs one; send Content-Length.",
    422: "An invalid manifest or a team quota, with the numbers.",
    429: "Too many requests from this caller; `Retry-After` says in how many seconds to try again.",
    503: "A service the controller depends on (storage) failed; retry later.",
}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """Error answers for ``@extend_schema(responses=...)``; 401 applies to every authenticated call."""
    return {code: OpenApiResponse(ErrorSerializer, ERROR_MEANINGS[code]) for code in sorted({401, *statuses})}


# --- manifests, as applied ---------------------------------------------------------------------
class ManifestMetadataSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="a DNS-1123 label")
    labels = serializers.DictField(child=serializers.CharField(), required=False)
    annotations = serializers.DictField(child=serializers.CharField(), required=False)


class ManifestSerializer(serializers.Serializer):
    apiVersion = serializers.ChoiceField(choices=[API_VERSION])
    kind = serializers.ChoiceField(choices=list(KINDS))
    metadata = ManifestMetadataSerializer()
    spec = serializers.DictField(help_text="the kind's spec (docs/architecture.md, Manifests; docs/examples)")


# --- answers of single operations ----------------------------------------------------------------
class ApplyResultSerializer(serializers.Serializer):
    kind = serializers.CharField()
    name = serializers.CharField()
    action = serializers.CharField(help_text="created, configured or unchanged")


class ApplyAnswerSerializer(serializers.Serializer):
    results = ApplyResultSerializer(many=True)
    dryRun = serializers.BooleanField()


APPLY_JSON_BODY = PolymorphicProxySerializer(
    component_name="ManifestOrList",
    serializers=[ManifestSerializer, ManifestSerializer(many=True)],
    resource_type_field_name=None,
    many=False,
)


class DeletionSerializer(serializers.Serializer):
    name = serializers.CharField()
    deletionRequested = serializers.BooleanField()


class EnsureReadySerializer(serializers.Serializer):
    name = serializers.CharField()
    ready = serializers.BooleanField()
    phase = serializers.CharField()
    message = serializers.CharField(required=False, help_text="why it is not ready, when it timed out")


class HeartbeatAnswerSerializer(serializers.Serializer):
    worker = serializers.CharField(help_text="the reporting agent's name (a worker, team leader or the Manager)")
    accepted = serializers.BooleanField()


class PushAnswerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    targets = serializers.ListField(child=serializers.CharField())


class ServiceHealthSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(required=False)
    ok = serializers.BooleanField(required=False)
    url = serializers.CharField(required=False)


class StatusSerializer(serializers.Serializer):
    resources = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()), help_text="kind → phase → count"
    )
    backend = serializers.CharField()
    storage = ServiceHealthSerializer(required=False, help_text="admin and manager only")
    matrix = ServiceHealthSerializer(required=False, help_text="admin and manager only")
    gateway = ServiceHealthSerializer(required=False, help_text="admin and manager only")


class VersionSerializer(serializers.Serializer):
    version = serializers.CharField()
    apiVersion = serializers.CharField()


class WorkspaceFileSerializer(serializers.Serializer):
    path = serializers.CharField()
    size = serializers.IntegerField()
    etag = serializers.CharField()


class WorkspaceWrittenSerializer(serializers.Serializer):
    path = serializers.CharField()
    size = serializers.IntegerField()


WORKSPACE_LIST = inline_serializer("WorkspaceFiles", {"files": WorkspaceFileSerializer(many=True)})


# --- query parameters ----------------------------------------------------------------------------
def team_parameter(subject: str) -> OpenApiParameter:
    return OpenApiParameter("team", str, description=f"only {subject} of this team")


DRY_RUN = OpenApiParameter("dryRun", bool, description="validate and report, change nothing")
TIMEOUT = OpenApiParameter("timeout", int, description="seconds to wait, 0-300 (default 60)")
PAGING = [
    OpenApiParameter("limit", int, description="page size, 1-500 (default 100)"),
    OpenApiParameter("offset", int, description="rows to skip (default 0)"),
    OpenApiParameter("phase", str, description="only resources in this phase"),
]
