"""``POST /api/v1/heartbeats``: an agent (worker, team leader or the Manager) reports its own state.

This view records reports in embedded mode. With Redis, the same route is
answered by the fast path in controller/ingest.py before Django sees it; both
check reports with ``controller.services.heartbeats.parse_report``, limit each
agent's rate (``controller.services.heartbeat_rate``: here counted in this
process, which is all of embedded mode) and answer alike.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from controller import metrics
from controller.api.authentication import AgentTokenAuthentication
from controller.api.base import NulFreeJSONParser
from controller.api.errors import too_many_heartbeats
from controller.api.schema import HeartbeatAnswerSerializer, errors
from controller.models import AgentState, Identity
from controller.services import heartbeat_rate
from controller.services.heartbeats import (
    MANAGER,
    MAX_ACTIVE_TASKS,
    MAX_NOTE,
    MAX_VERSION,
    WORKER,
    apply_reports,
    parse_report,
    reporter_exists,
)

REFUSED = "heartbeats come from a worker, team leader or the Manager, about itself"


class HeartbeatBody(serializers.Serializer):
    """The report's shape, for the API schema (``parse_report`` checks it)."""

    state = serializers.ChoiceField(choices=AgentState.choices)
    activeTasks = serializers.IntegerField(min_value=0, max_value=MAX_ACTIVE_TASKS, default=0)
    runtimeVersion = serializers.CharField(max_length=MAX_VERSION, default="", allow_blank=True)
    skillsVersion = serializers.CharField(max_length=MAX_VERSION, default="", allow_blank=True)
    note = serializers.CharField(max_length=MAX_NOTE, default="", allow_blank=True)


class HeartbeatView(APIView):
    authentication_classes = [AgentTokenAuthentication]
    parser_classes = [NulFreeJSONParser]

    @extend_schema(
        summary="Report the caller's own state",
        request=HeartbeatBody,
        responses={202: HeartbeatAnswerSerializer, **errors(400, 403, 429)},
    )
    def post(self, request):
        principal = request.user
        if principal.identity not in (Identity.WORKER, Identity.TEAM_LEADER, Identity.MANAGER):
            raise PermissionDenied(REFUSED)
        kind = MANAGER if principal.identity == Identity.MANAGER else WORKER
        if not reporter_exists(kind, principal.name):
            raise PermissionDenied(f"no {kind} named {principal.name!r} for this token")
        report = parse_report(principal.name, request.data, kind=kind)
        wait = heartbeat_rate.admit_here(kind, principal.name)
        if wait:
            return too_many_heartbeats(wait)
        apply_reports([report])
        metrics.heartbeat_received(kind)
        return Response({"worker": principal.name, "accepted": True}, status=status.HTTP_202_ACCEPTED)
