"""``POST /upgrades/{id}/pause``, ``/resume`` and ``/abort``: holding an image rollout (docs/rollouts.md)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from controller.api.base import AgentAPIView
from controller.api.schema import errors
from controller.api.upgrades import upgrade_number
from controller.services import rollouts
from controller.services.upgrade_body import UpgradeBody, upgrade_body

ACTIONS = {"pause": rollouts.pause, "resume": rollouts.resume, "abort": rollouts.abort}


class RolloutActionView(AgentAPIView):
    """Pause, resume or abort rollout ``id``; the answer is the upgrade after the change, as
    ``GET /upgrades/{id}`` shows it."""

    action_name = "pause"

    @extend_schema(
        summary="Pause, resume or abort an image rollout",
        request=None,
        parameters=[OpenApiParameter("upgrade_id", int, OpenApiParameter.PATH, description="the rollout's id")],
        responses={200: UpgradeBody, **errors(400, 403, 404, 409)},
    )
    def post(self, request, upgrade_id: str):
        upgrade = ACTIONS[self.action_name](self.principal, upgrade_number(upgrade_id))
        return Response(upgrade_body(upgrade))
