"""``POST /upgrades/{id}/pause``, ``/resume`` and ``/abort``: holding an image rollout (docs/rollouts.md)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from controller.api.base import AgentAPIView
from controller.api.schema import errors
from controller.api.upgrades import upgrade_number
from controller.services import rollouts


class RolloutTargetSerializer(serializers.Serializer):
    worker = serializers.CharField()
    state = serializers.CharField()
    step = serializers.CharField()
    fromImage = serializers.CharField()
    message = serializers.CharField()


class RolloutAnswerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    image = serializers.CharField()
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    targets = RolloutTargetSerializer(many=True)


ACTIONS = {"pause": rollouts.pause, "resume": rollouts.resume, "abort": rollouts.abort}


class RolloutActionView(AgentAPIView):
    """Pause, resume or abort rollout ``id``; the answer is its progress after the change."""

    action_name = "pause"

    @extend_schema(
        summary="Pause, resume or abort an image rollout",
        request=None,
        parameters=[OpenApiParameter("upgrade_id", int, OpenApiParameter.PATH, description="the rollout's id")],
        responses={200: RolloutAnswerSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request, upgrade_id: str):
        upgrade = ACTIONS[self.action_name](self.principal, upgrade_number(upgrade_id))
        return Response({"id": upgrade.pk, **rollouts.progress(upgrade)})
