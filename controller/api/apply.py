"""``POST /api/v1/apply``: apply manifests (YAML or JSON), each document authorized."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

from controller import policy
from controller.api.base import AgentAPIView, NulFreeJSONParser, read_bounded
from controller.api.schema import APPLY_JSON_BODY, DRY_RUN, ApplyAnswerSerializer, errors
from controller.manifests import parse, parse_objects
from controller.services import operations


class YAMLTextParser(BaseParser):
    """Keeps a YAML body as text; the manifest parser reports errors with line numbers."""

    media_type = "application/yaml"

    def parse(self, stream, media_type=None, parser_context=None) -> str:  # type: ignore[override]  # DRF takes any data
        data = read_bounded(stream)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError({"body": "must be UTF-8 text"}) from None


class AltYAMLTextParser(YAMLTextParser):
    media_type = "application/x-yaml"


class TextYAMLParser(YAMLTextParser):
    media_type = "text/yaml"


class ApplyView(AgentAPIView):
    parser_classes = [YAMLTextParser, AltYAMLTextParser, TextYAMLParser, NulFreeJSONParser]

    @extend_schema(
        operation_id="apply",
        summary="Apply manifests",
        description="YAML text (one or many documents) or JSON (one manifest or a list); each document is authorized.",
        parameters=[DRY_RUN],
        request={
            **{parser.media_type: OpenApiTypes.STR for parser in (YAMLTextParser, AltYAMLTextParser, TextYAMLParser)},
            "application/json": APPLY_JSON_BODY,
        },
        responses={200: ApplyAnswerSerializer, **errors(400, 403, 404, 422)},
    )
    def post(self, request):
        # Before request.data: the body is parsed only for a caller who may apply something.
        policy.authorize_apply(self.principal)
        dry_run = request.query_params.get("dryRun", "").lower() in ("1", "true", "yes")
        if isinstance(request.data, str):
            documents = parse(request.data)
        elif isinstance(request.data, list | dict):
            documents = parse_objects(request.data if isinstance(request.data, list) else [request.data])
        else:
            raise ValidationError({"body": "give manifests as YAML or JSON"})
        outcomes = operations.apply_as(self.principal, documents, dry_run=dry_run)
        results = [{"kind": o.kind, "name": o.name, "action": o.action} for o in outcomes]
        return Response({"results": results, "dryRun": dry_run})
