"""Worker lifecycle over the API: wake, sleep, ensure-ready, status, idle check, ready reports."""

from __future__ import annotations

import time

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from controller import policy
from controller.api.base import AgentAPIView, lookup, queryset_for
from controller.api.representation import present
from controller.api.schema import TIMEOUT, EnsureReadySerializer, errors, team_parameter
from controller.api.shapes import RESOURCE, IdleCheck, WorkersStatus, WorkerStatusLine
from controller.manifests.schema import duration_seconds
from controller.models import AgentPhase, AgentState, DesiredState, Manager, Worker
from controller.services import operations
from controller.services.summary import WorkerSummary

ENSURE_READY_DEFAULT, ENSURE_READY_MAX = 60, 300
DEFAULT_IDLE_TIMEOUT = "720m"


class WorkerStateView(AgentAPIView):
    """``POST /workers/{name}/wake`` and ``/sleep``."""

    state: str = DesiredState.RUNNING

    @extend_schema(
        summary="Set the worker's desired state (wake: Running, sleep: Sleeping); the reconcile follows",
        request=None,
        responses={200: RESOURCE["Worker"], **errors(403, 404)},
    )
    def post(self, request, name: str):
        worker = lookup(self.principal, "Worker", name)
        operations.set_state(self.principal, worker, self.state)
        return Response(present(queryset_for("Worker").get(name=name)))


class EnsureReadyView(AgentAPIView):
    """Wake the worker if needed and wait until it runs, or say it did not in time."""

    @extend_schema(
        summary="Wake the worker if needed and wait until it runs",
        parameters=[TIMEOUT],
        request=None,
        responses={200: EnsureReadySerializer, **errors(400, 403, 404)},
    )
    def post(self, request, name: str):
        timeout = _timeout(request)
        worker = lookup(self.principal, "Worker", name)
        if worker.state != DesiredState.RUNNING:
            operations.set_state(self.principal, worker, DesiredState.RUNNING)
        else:
            policy.authorize(self.principal, policy.LIFECYCLE, "Worker", name, team=policy.team_of(worker))
        deadline = time.monotonic() + timeout
        while True:
            phase, message = Worker.objects.filter(name=name).values_list("phase", "message").get()
            if phase == AgentPhase.RUNNING:
                return Response({"name": name, "ready": True, "phase": phase})
            if time.monotonic() >= deadline:
                note = f"timed out after {timeout} s" + (f": {message}" if message else "")
                return Response({"name": name, "ready": False, "phase": phase, "message": note})
            time.sleep(0.25)  # the reconcile runs in a Celery worker; poll its result


class WorkerStatusView(AgentAPIView):
    """``GET /workers/{name}/status`` (the original CLI's)."""

    @extend_schema(operation_id="workers_status_retrieve", responses={200: WorkerStatusLine, **errors(404)})
    def get(self, request, name: str):
        worker = lookup(self.principal, "Worker", name)
        return Response(_status_line(worker))


class ReadyReportView(AgentAPIView):
    """``POST /workers/{name}/ready``: the worker says it is up; counts as a heartbeat."""

    @extend_schema(request=None, responses={200: WorkerStatusLine, **errors(403, 404)})
    def post(self, request, name: str):
        worker = lookup(self.principal, "Worker", name)
        policy.authorize(self.principal, policy.LIFECYCLE, "Worker", name, team=policy.team_of(worker))
        worker.record_heartbeat(AgentState.IDLE, note="ready")
        return Response(_status_line(worker))


class TeamStatusView(AgentAPIView):
    """``GET /workers/status?team=T``: one line per visible worker."""

    @extend_schema(
        operation_id="workers_status_list",
        parameters=[team_parameter("workers")],
        responses={200: WorkersStatus, **errors()},
    )
    def get(self, request):
        return Response({"workers": [_status_line(worker) for worker in _team_workers(self.principal, request)]})


class IdleCheckView(AgentAPIView):
    """``GET /workers/idle-check?team=T``: idle since when, and time left before sleep."""

    @extend_schema(
        operation_id="workers_idle_check",
        parameters=[team_parameter("workers")],
        responses={200: IdleCheck, **errors()},
    )
    def get(self, request):
        now = timezone.now()
        manager = Manager.objects.order_by("name").first()
        fallback = manager.typed_spec.config.worker_idle_timeout if manager else DEFAULT_IDLE_TIMEOUT
        lines = []
        for worker in _team_workers(self.principal, request):
            timeout = duration_seconds(
                worker.team.typed_spec.leader.worker_idle_timeout if worker.team_id else fallback
            )
            left = None
            if worker.idle_since is not None:
                left = max(0, int(timeout - (now - worker.idle_since).total_seconds()))
            lines.append(
                {
                    "name": worker.name,
                    "state": worker.state,
                    "activeTasks": worker.active_tasks,
                    "idleSince": worker.idle_since.isoformat() if worker.idle_since else None,
                    "idleTimeoutSeconds": timeout,
                    "secondsLeft": left,
                }
            )
        return Response({"workers": lines})


def _team_workers(principal: policy.Principal, request):
    rows = policy.visible(principal, queryset_for("Worker")).order_by("name")
    team = request.query_params.get("team")
    return rows.filter(team__name=team) if team else rows


def _status_line(worker: Worker) -> dict:
    return WorkerSummary.of(worker).status_line()


def _timeout(request) -> int:
    raw = request.query_params.get("timeout", request.data.get("timeout") if isinstance(request.data, dict) else None)
    if raw is None:
        return ENSURE_READY_DEFAULT
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationError({"timeout": f"must be whole seconds, got {raw!r}"}) from None
    if not 0 <= value <= ENSURE_READY_MAX:
        raise ValidationError({"timeout": f"must be between 0 and {ENSURE_READY_MAX} seconds"})
    return value
