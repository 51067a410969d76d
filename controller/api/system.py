"""``/api/v1/status``, ``/api/v1/version`` and ``/api/v1/config/push``."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from django.conf import settings
from django.db.models import Count
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from controller import policy
from controller.api.base import AgentAPIView
from controller.api.errors import Unprocessable
from controller.api.schema import PushAnswerSerializer, StatusSerializer, VersionSerializer, errors
from controller.connections import default_connections
from controller.models import API_VERSION, KINDS, Upgrade
from controller.services import operations


def controller_version() -> str:
    try:
        return version("hiclaw-controller")
    except PackageNotFoundError:
        return "0.1.0"


class VersionView(AgentAPIView):
    """The controller's version and the manifest apiVersion it speaks."""

    @extend_schema(operation_id="version", responses={200: VersionSerializer, **errors()})
    def get(self, request):
        return Response({"version": controller_version(), "apiVersion": API_VERSION})


class StatusView(AgentAPIView):
    """Counts of what the caller may see, by kind and phase, and whether each service answers."""

    @extend_schema(operation_id="status", responses={200: StatusSerializer, **errors()})
    def get(self, request):
        counts = {}
        for kind, model in KINDS.items():
            visible = policy.visible(self.principal, model.objects.all())
            rows = visible.values("phase").annotate(n=Count("pk"))  # type: ignore[misc]  # the plugin sees no phase on the base
            counts[kind] = {row["phase"]: row["n"] for row in rows}
        services = default_connections()
        body = {"resources": counts, "backend": services.backend.name}
        if self.principal.identity in policy.ALL_POWERFUL:
            body.update(
                storage={"ok": _answers(services.storage.ping)},
                matrix={"enabled": services.matrix is not None, "url": settings.HICLAW_MATRIX_URL},
                gateway={"enabled": services.gateway.enabled, "ok": _answers(services.gateway.ping)},
            )
        return Response(body)


def _answers(ping) -> bool:
    try:
        ping()
    except Exception:
        return False
    return True


PUSH_TYPES = {"worker": (str, "a worker name"), "team": (str, "a team name"), "all": (bool, "true or false")}
# A push records its target in a column of this length; longer names cannot exist anyway.
TARGET_LENGTH = Upgrade._meta.get_field("target").max_length


class PushRequest(serializers.Serializer):
    worker = serializers.CharField(required=False, allow_blank=False, max_length=TARGET_LENGTH)
    team = serializers.CharField(required=False, allow_blank=False, max_length=TARGET_LENGTH)
    all = serializers.BooleanField(required=False, default=False)

    def to_internal_value(self, data):
        # DRF would read 5 as "5" and "yes" as true: a push names its target exactly, or is refused.
        if isinstance(data, dict):
            for field, (kind, what) in PUSH_TYPES.items():
                value = data.get(field)
                if value is not None and (not isinstance(value, kind) or (kind is str and isinstance(value, bool))):
                    raise Unprocessable({field: f"must be {what}, got {value!r}"})
        return super().to_internal_value(data)

    def validate(self, data):
        chosen = [key for key in ("worker", "team") if data.get(key)] + (["all"] if data.get("all") else [])
        if len(chosen) != 1:
            raise serializers.ValidationError("give exactly one of worker, team or all=true")
        return data


class ConfigPushView(AgentAPIView):
    """Start a config/skills push to a worker, a team or every worker (docs/api.md)."""

    @extend_schema(
        operation_id="config_push",
        summary="Push config and skills to a worker, a team or every worker",
        request=PushRequest,
        responses={202: PushAnswerSerializer, **errors(400, 403, 404, 422)},
    )
    def post(self, request):
        data = PushRequest(data=request.data)
        data.is_valid(raise_exception=True)
        push = operations.request_push(
            self.principal,
            worker=data.validated_data.get("worker", ""),
            team=data.validated_data.get("team", ""),
            everything=data.validated_data["all"],
        )
        targets = list(push.targets.values_list("worker", flat=True))
        return Response({"id": push.pk, "state": push.state, "targets": targets}, status=status.HTTP_202_ACCEPTED)
