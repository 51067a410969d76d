"""``/api/v1/upgrades``: config/skills pushes and image rollouts, newest first, and one by id.

Read-only here: pushes are started by ``POST /api/v1/config/push``, rollouts by
changing an image. Rows go through ``policy.visible`` like every list, so an
upgrade outside the caller's teams is the same 404 as a missing one.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from controller import policy
from controller.api.base import AgentAPIView
from controller.api.resources import paged
from controller.api.schema import PAGING, errors, team_parameter
from controller.models import Upgrade, UpgradeState
from controller.services.upgrade_body import UpgradeBody, UpgradeList, upgrade_body, with_targets

MAX_ID = 2**63 - 1
# The query filters other than the team, with the values each accepts.
CHOICE_FILTERS = {"kind": Upgrade.Kind.values, "state": UpgradeState.values}
FILTERS = [
    OpenApiParameter("kind", str, enum=Upgrade.Kind.values, description="only pushes or only rollouts"),
    OpenApiParameter("state", str, enum=UpgradeState.values, description="only upgrades in this state"),
    team_parameter("upgrades"),
]


def visible_upgrades(principal: policy.Principal):
    return with_targets(policy.visible(principal, Upgrade.objects.all()))


class UpgradeListView(AgentAPIView):
    """The caller's upgrades, newest first, a page at a time."""

    @extend_schema(
        operation_id="upgrades_list",
        summary="List pushes and rollouts, newest first",
        parameters=[*PAGING[:2], *FILTERS],
        responses={200: UpgradeList, **errors(400)},
    )
    def get(self, request):
        rows = visible_upgrades(self.principal).order_by("-created_at", "-pk")
        for field, allowed in CHOICE_FILTERS.items():
            value = request.query_params.get(field)
            if value is None:
                continue
            if value not in allowed:
                raise ValidationError({field: f"must be one of {', '.join(allowed)}, got {value!r}"})
            rows = rows.filter(**{field: value})
        if request.query_params.get("team"):
            rows = rows.filter(team=request.query_params["team"])
        return Response(paged(request, rows, upgrade_body, "upgrades"))


class UpgradeDetailView(AgentAPIView):
    """One upgrade with every target's state."""

    @extend_schema(
        operation_id="upgrades_retrieve",
        summary="One push or rollout with its targets",
        parameters=[OpenApiParameter("upgrade_id", int, OpenApiParameter.PATH, description="the upgrade's id")],
        responses={200: UpgradeBody, **errors(400, 404)},
    )
    def get(self, request, upgrade_id: str):
        number = upgrade_number(upgrade_id)
        found = visible_upgrades(self.principal).filter(pk=number).first()
        if not found:
            raise policy.NotFound("Upgrade", upgrade_id)
        return Response(upgrade_body(found))


def upgrade_number(upgrade_id: str) -> int:
    """The id in an upgrade's URL: a whole number (else a 400 naming ``id``, answered as JSON
    rather than the router's HTML page), and one past the largest key is a 404 (the database
    would refuse the lookup)."""
    if not upgrade_id.isascii() or not upgrade_id.isdigit():
        raise ValidationError({"id": f"must be a whole number, got {upgrade_id!r}"})
    if int(upgrade_id) > MAX_ID:
        raise policy.NotFound("Upgrade", upgrade_id)
    return int(upgrade_id)
