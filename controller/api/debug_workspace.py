"""``/api/v1/workspace/targets`` and ``/api/v1/workspace/debug``: a DebugWorker's instance reads.

A DebugWorker's instance holds a ``debug-worker`` token and no storage
credentials. Through these views, and only these, it reads — never writes —
the workspaces of the workers its DebugWorker mounts (``status.mountedWorkspaces``,
as its last reconcile recorded them) and its own files under ``debug/<name>/``
(the ``debug-analysis`` skill, its exports and reports). Every key goes
through ``controller.services.debug_targets``: a target it does not mount is
404 naming ``target``, a path that would leave the workspace 400 naming
``path``. Only GET is routed (anything else is 405), and any other identity
is refused (403); the agents' own ``/workspace/files`` refuses a debug-worker
token in turn, since it has no workspace to write.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from controller.api.authentication import AgentTokenAuthentication
from controller.api.schema import WORKSPACE_LIST, errors
from controller.api.workspace import file_response, list_response
from controller.clients.storage import InvalidKey, normalize_key
from controller.models import DebugWorker, Identity
from controller.services import debug_targets
from controller.services.redaction import redact_file

TARGETS = inline_serializer(
    "MountedWorkspaces",
    {
        "targets": inline_serializer(
            "MountedWorkspace",
            {"worker": serializers.CharField(), "storagePath": serializers.CharField()},
            many=True,
        )
    },
)
BINARY = {(200, "application/octet-stream"): OpenApiTypes.BINARY}


def _debugworker(request) -> DebugWorker:
    """The DebugWorker whose instance is calling; anyone else is refused."""
    principal = request.user
    if principal.identity != Identity.DEBUG_WORKER:
        raise PermissionDenied("only a DebugWorker's instance reads here (a debug-worker token)")
    debugworker = DebugWorker.objects.filter(name=principal.name, deletion_requested_at__isnull=True).first()
    if debugworker is None:
        raise PermissionDenied(f"debugworker/{principal.name} is gone")
    return debugworker


def _target_prefix(request, target: str) -> tuple[DebugWorker, str]:
    debugworker = _debugworker(request)
    try:
        return debugworker, debug_targets.workspace_prefix(debugworker, target)
    except debug_targets.NotReadable as refused:
        raise NotFound({refused.field: refused.message}) from None


def _own_key(debugworker: DebugWorker, path: str) -> str:
    try:
        return debug_targets.output_prefix(debugworker) + normalize_key(path)
    except InvalidKey as error:
        raise ValidationError({"path": str(error)}) from None


class DebugTargetsView(APIView):
    authentication_classes = [AgentTokenAuthentication]

    @extend_schema(operation_id="workspace_targets_list", responses={200: TARGETS, **errors(403)})
    def get(self, request):
        return Response({"targets": _debugworker(request).mounted_workspaces})


class DebugTargetListView(APIView):
    authentication_classes = [AgentTokenAuthentication]

    @extend_schema(operation_id="workspace_target_files_list", responses={200: WORKSPACE_LIST, **errors(403, 404, 503)})
    def get(self, request, target: str):
        _, prefix = _target_prefix(request, target)
        return list_response(prefix)


class DebugTargetFileView(APIView):
    authentication_classes = [AgentTokenAuthentication]

    @extend_schema(operation_id="workspace_target_file_read", responses={**BINARY, **errors(400, 403, 404, 503)})
    def get(self, request, target: str, path: str):
        debugworker, _ = _target_prefix(request, target)
        try:
            key = debug_targets.workspace_key(debugworker, target, path)
        except debug_targets.NotReadable as refused:
            raise ValidationError({refused.field: refused.message}) from None
        # An agent's config in its workspace holds its credentials: never handed on.
        return file_response(key, path, shown=redact_file)


class DebugOwnListView(APIView):
    authentication_classes = [AgentTokenAuthentication]

    @extend_schema(operation_id="workspace_debug_files_list", responses={200: WORKSPACE_LIST, **errors(403, 503)})
    def get(self, request):
        return list_response(debug_targets.output_prefix(_debugworker(request)))


class DebugOwnFileView(APIView):
    authentication_classes = [AgentTokenAuthentication]

    @extend_schema(operation_id="workspace_debug_file_read", responses={**BINARY, **errors(400, 403, 404, 503)})
    def get(self, request, path: str):
        return file_response(_own_key(_debugworker(request), path), path)
