"""Worker lifecycle over the API: wake, sleep, ensure-ready, status, idle check, ready reports."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from controller import policy
from controller.api.base import AgentAPIView, lookup, queryset_for
from controller.api.errors import too_many_heartbeats
from controller.api.representation import present
from controller.api.schema import TIMEOUT, EnsureReadySerializer, errors, team_parameter
from controller.api.shapes import RESOURCE, IdleCheck, WorkersStatus, WorkerStatusLine
from controller.models import DesiredState, Worker
from controller.services import heartbeat_rate, heartbeats, operations
from controller.services.agent_timing import current_manager_config, idle_timeout_seconds, leader_spec
from controller.services.heartbeats import WORKER
from controller.services.summary import WorkerSummary

ENSURE_READY_DEFAULT, ENSURE_READY_MAX = 60, 300


class WorkerStateView(AgentAPIView):
    """``POST /workers/{name}/wake`` and ``/sleep``."""

    state: str = DesiredState.RUNNING

    @extend_schema(
        summary="Set the worker's desired state (wake: Running, sleep: Sleeping); the reconcile follows",
        request=None,
        responses={200: RESOURCE["Worker"], **errors(403, 404)},
    )
    def post(self, request, name: str):
        worker = _worker(self.principal, name)
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
        worker = _worker(self.principal, name)
        readiness = operations.ensure_ready(self.principal, worker, timeout)
        if readiness.removed:
            raise policy.NotFound("Worker", name)
        if readiness.ready:
            return Response({"name": name, "ready": True, "phase": readiness.phase})
        note = f"timed out after {timeout} s" + (f": {readiness.message}" if readiness.message else "")
        return Response({"name": name, "ready": False, "phase": readiness.phase, "message": note})


class WorkerStatusView(AgentAPIView):
    """``GET /workers/{name}/status`` (the original CLI's)."""

    @extend_schema(operation_id="workers_status_retrieve", responses={200: WorkerStatusLine, **errors(404)})
    def get(self, request, name: str):
        worker = _worker(self.principal, name)
        return Response(_status_line(worker))


class ReadyReportView(AgentAPIView):
    """``POST /workers/{name}/ready``: the worker says it is up; counts as a heartbeat."""

    @extend_schema(request=None, responses={200: WorkerStatusLine, **errors(403, 404, 429)})
    def post(self, request, name: str):
        worker = _worker(self.principal, name)
        policy.authorize(self.principal, policy.LIFECYCLE, "Worker", name, team=policy.team_of(worker))
        # A ready report is a heartbeat of the worker's, counted against the same rate.
        wait = heartbeat_rate.admit_here(WORKER, worker.name)
        if wait:
            return too_many_heartbeats(wait)
        heartbeats.apply_reports([heartbeats.report_ready(worker.name)])
        return Response(_status_line(queryset_for("Worker").get(name=name)))


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
        manager_config = current_manager_config()  # the sweeper's rule: a Manager being deleted counts for nothing
        lines = []
        for worker in _team_workers(self.principal, request):
            timeout = idle_timeout_seconds(leader_spec(worker), manager_config)
            left = None  # not idle, or never put to sleep (a timeout of 0, as the sweeper reads it)
            if worker.idle_since is not None and timeout:
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


def _worker(principal: policy.Principal, name: str) -> Worker:
    """``lookup`` of a Worker, typed as one."""
    worker = lookup(principal, "Worker", name)
    assert isinstance(worker, Worker)  # KINDS["Worker"] is the Worker model
    return worker


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
