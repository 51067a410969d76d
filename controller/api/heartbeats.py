"""``POST /api/v1/heartbeats``: an agent reports its own state."""

from __future__ import annotations

from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from controller.api.authentication import AgentTokenAuthentication
from controller.models import AgentState, Identity, Worker


class HeartbeatSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=AgentState.choices)
    activeTasks = serializers.IntegerField(min_value=0, default=0, source="active_tasks")
    runtimeVersion = serializers.CharField(max_length=64, default="", allow_blank=True, source="runtime_version")
    skillsVersion = serializers.CharField(max_length=64, default="", allow_blank=True, source="skills_version")
    note = serializers.CharField(max_length=500, default="", allow_blank=True)


class HeartbeatView(APIView):
    authentication_classes = [AgentTokenAuthentication]

    def post(self, request):
        principal = request.user
        if principal.identity not in (Identity.WORKER, Identity.TEAM_LEADER):
            raise PermissionDenied("heartbeats come from a worker or team leader, about itself")
        worker = Worker.objects.filter(name=principal.name, deletion_requested_at__isnull=True).first()
        if worker is None:
            raise PermissionDenied(f"no worker named {principal.name!r} for this token")
        data = HeartbeatSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        worker.record_heartbeat(**data.validated_data)
        return Response(
            {"worker": worker.name, "lastHeartbeat": worker.last_heartbeat.isoformat()},
            status=status.HTTP_202_ACCEPTED,
        )
