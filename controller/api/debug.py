"""A DebugWorker's exports and reports over the API: start one, follow it, read what it wrote.

``POST /debugworkers/{name}/export`` and ``/report`` queue a job and answer 202;
``GET /debugworkers/{name}/jobs/{id}`` follows it; ``GET /debugworkers/{name}/files``
lists what exports and reports wrote and ``/files/<path>`` reads one. Agents
(the DebugWorker's own instance with its ``debug-worker`` token, leaders, the
manager) call with a bearer token, people with their dashboard session; the
policy (``authorize_debug_use``) decides, in the services. Anyone it refuses
gets the 404 a missing DebugWorker gets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from controller.api.base import AgentAPIView
from controller.api.errors import Unavailable
from controller.api.schema import errors
from controller.clients.storage import StorageError
from controller.models import DebugJob
from controller.services import debug_files, debug_jobs
from controller.services.debug_targets import output_prefix
from controller.services.debugworkers import InvalidDebugRequest

logger = logging.getLogger(__name__)

HOURS = OpenApiParameter("hours", int, required=True, description=f"how far back to look, 1-{debug_jobs.MAX_HOURS}")
WORKER = OpenApiParameter("worker", str, description="a report about this target worker only (default: every one)")


class DebugJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=DebugJob.Kind.values)
    state = serializers.ChoiceField(choices=DebugJob.State.values)
    progress = serializers.IntegerField(help_text="percent done")
    message = serializers.CharField(help_text="what went wrong, or how many files were written")
    hours = serializers.IntegerField()
    worker = serializers.CharField(help_text="the one worker a report is about; empty for all")
    requestedBy = serializers.CharField()
    outputs = serializers.ListField(
        child=serializers.CharField(), help_text="files written, relative to debug/<name>/ (read with /files/<path>)"
    )
    createdAt = serializers.DateTimeField()
    startedAt = serializers.DateTimeField(allow_null=True)
    finishedAt = serializers.DateTimeField(allow_null=True)


class DebugFileSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="relative to debug/<name>/, e.g. output/debug-report-….md")
    size = serializers.IntegerField()
    etag = serializers.CharField()
    modified = serializers.DateTimeField()


class DebugFilesSerializer(serializers.Serializer):
    files = DebugFileSerializer(many=True)


def job_body(job: DebugJob) -> dict[str, Any]:
    prefix = output_prefix(job.debugworker)
    return {
        "id": str(job.pk),
        "kind": job.kind,
        "state": job.state,
        "progress": job.progress,
        "message": job.message,
        "hours": job.hours,
        "worker": job.worker,
        "requestedBy": job.requested_by,
        "outputs": [key.removeprefix(prefix) for key in job.outputs],
        "createdAt": job.created_at.isoformat(),
        "startedAt": job.started_at.isoformat() if job.started_at else None,
        "finishedAt": job.finished_at.isoformat() if job.finished_at else None,
    }


def _hours(request) -> int:
    value = request.query_params.get("hours")
    if value is None and isinstance(request.data, dict):
        value = request.data.get("hours")
    if value in (None, ""):
        raise InvalidDebugRequest("hours", f"required: how many hours back to look (1-{debug_jobs.MAX_HOURS})")
    try:
        return int(str(value).strip())
    except ValueError:
        raise InvalidDebugRequest("hours", f"must be a whole number of hours, got {str(value)[:40]!r}") from None


@contextmanager
def _storage_errors() -> Iterator[None]:
    """A storage failure is the storage's 503, logged here and shown without its internals."""
    try:
        yield
    except StorageError:
        logger.exception("debug files: storage failed")
        raise Unavailable("the storage is unavailable; try again later") from None


class DebugJobStartView(AgentAPIView):
    """``POST /debugworkers/{name}/export`` and ``/report``."""

    kind: str = DebugJob.Kind.EXPORT

    @extend_schema(
        summary="Queue an export (every joined room's messages) or a report (one worker or every target)",
        parameters=[HOURS, WORKER],
        request=None,
        responses={202: DebugJobSerializer, **errors(400, 404)},
    )
    def post(self, request, name: str):
        debugworker = debug_files.usable(self.principal, name)
        worker = request.query_params.get("worker", "")
        if not worker and isinstance(request.data, dict):
            worker = request.data.get("worker") or ""
        if not isinstance(worker, str):
            raise InvalidDebugRequest("worker", "must be a worker name")
        job = debug_jobs.start(self.principal, debugworker, self.kind, _hours(request), worker)
        return Response(job_body(job), status=202)


class DebugJobView(AgentAPIView):
    """``GET /debugworkers/{name}/jobs/{id}``."""

    @extend_schema(
        summary="One export or report job: state, progress, message, outputs",
        responses={200: DebugJobSerializer, **errors(400, 404)},
    )
    def get(self, request, name: str, job_id: str):
        job = debug_jobs.find(self.principal, debug_files.usable(self.principal, name), job_id)
        return Response(job_body(job))


class DebugFilesView(AgentAPIView):
    """``GET /debugworkers/{name}/files``."""

    @extend_schema(
        operation_id="debugworkers_files_list",
        summary="The exports and reports a DebugWorker's jobs wrote, newest first",
        responses={200: DebugFilesSerializer, **errors(400, 404, 503)},
    )
    def get(self, request, name: str):
        debugworker = debug_files.usable(self.principal, name)
        with _storage_errors():
            found = debug_files.files(self.principal, debugworker)
        files = [
            {"path": item.path, "size": item.size, "etag": item.etag, "modified": item.modified.isoformat()}
            for item in found
        ]
        return Response({"files": files})


class DebugFileView(AgentAPIView):
    """``GET /debugworkers/{name}/files/<path>``: one file, under matrix-export/ or output/."""

    @extend_schema(
        operation_id="debugworkers_files_retrieve",
        summary="The content of one export or report",
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, **errors(400, 404, 503)},
    )
    def get(self, request, name: str, path: str):
        debugworker = debug_files.usable(self.principal, name)
        with _storage_errors():
            content = debug_files.read(self.principal, debugworker, path)
        return HttpResponse(content, content_type="application/octet-stream")
