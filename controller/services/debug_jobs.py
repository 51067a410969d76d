"""Starting and following a DebugWorker's exports and reports.

The API, the CLI (through the API) and the workspace browser start jobs here,
so all three ask the same policy (``policy.authorize_debug_use``) and check
the same bounds. The job itself runs as the Celery task ``RUN_TASK`` and
records its progress on the ``DebugJob`` row.
"""

from __future__ import annotations

import uuid

from django.db import transaction

from controller import policy
from controller.models import DebugJob, DebugWorker
from controller.reconcile_queue import send_after_commit
from controller.services import debug_targets
from controller.services.debugworkers import InvalidDebugRequest
from controller.services.operations import audit

RUN_TASK = "controller.tasks.run_debug_job"
MAX_HOURS = 24 * 30  # how far back an export or report may look


def start(principal: policy.Principal, debugworker: DebugWorker, kind: str, hours: int, worker: str = "") -> DebugJob:
    """Queue an export (every joined room's messages) or a report (one target or all)."""
    policy.authorize_debug_use(principal, debugworker)
    if kind not in DebugJob.Kind.values:
        raise InvalidDebugRequest("kind", f"must be one of {', '.join(DebugJob.Kind.values)}")
    if not 1 <= hours <= MAX_HOURS:
        raise InvalidDebugRequest("hours", f"must be between 1 and {MAX_HOURS}")
    if worker and kind != DebugJob.Kind.REPORT:
        raise InvalidDebugRequest("worker", "only a report is about one worker")
    if worker and worker not in debug_targets.mounted_targets(debugworker):
        raise InvalidDebugRequest("worker", f"{worker!r} is not a target of debugworker/{debugworker.name}")
    with transaction.atomic():
        job = DebugJob.objects.create(
            debugworker=debugworker, kind=kind, hours=hours, worker=worker, requested_by=str(principal)
        )
        audit(principal, f"debug:{kind}", "DebugWorker", debugworker.name, job=str(job.pk))
        send_after_commit(RUN_TASK, str(job.pk))
    return job


def find(principal: policy.Principal, debugworker: DebugWorker, job_id: str) -> DebugJob:
    """One of its jobs, for whoever may use it; any other id is a 404."""
    policy.authorize_debug_use(principal, debugworker)
    pk = _uuid_or_none(job_id)
    job = DebugJob.objects.filter(debugworker=debugworker, pk=pk).first() if pk else None
    if job is None:
        raise policy.NotFound("DebugJob", job_id)
    return job


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None
