"""Running a queued DebugJob: mark it running, do the work, record the outcome.

A job runs to completion once: a second delivery of a finished job leaves it.
Celery acknowledges late, so a task is delivered again when the worker that ran
it died; a job still marked Running then is one that worker left half done,
and it runs again from the start (its files are written whole, under the same
names). What a job writes goes under ``debug/<name>/`` in
storage; its row keeps the keys and a short message, never file contents.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from controller.connections import Connections, default_connections
from controller.models import DebugJob

logger = logging.getLogger(__name__)

# What does each kind of job, imported when a job runs (they pull in the Matrix client).
WORK: dict[str, str] = {
    DebugJob.Kind.EXPORT: "controller.services.debug_export.export",
    DebugJob.Kind.REPORT: "controller.services.debug_report.report",
}
# progress(percent) — how a job's work reports how far it is.
Progress = Callable[[int], None]


def run(job_id: str, connections: Connections | None = None) -> DebugJob | None:
    with transaction.atomic():
        job = DebugJob.objects.select_for_update().filter(pk=job_id).select_related("debugworker").first()
        if job is None or job.finished:
            return job
        job.state, job.started_at = DebugJob.State.RUNNING, timezone.now()
        job.save(update_fields=["state", "started_at"])

    def progress(percent: int) -> None:
        DebugJob.objects.filter(pk=job.pk).update(progress=max(0, min(percent, 100)))

    try:
        job.outputs = _work(job.kind)(job, connections or default_connections(), progress)
    except Exception as error:  # recorded on the job: the caller follows the job, not the task
        logger.exception("debug job %s failed", job.pk)
        job.state, job.message = DebugJob.State.FAILED, f"{type(error).__name__}: {error}"[:1000]
    else:
        job.state, job.progress, job.message = DebugJob.State.DONE, 100, f"{len(job.outputs)} file(s) written"
    job.finished_at = timezone.now()
    job.save(update_fields=["state", "progress", "message", "outputs", "finished_at"])
    return job


def _work(kind: str) -> Callable[[DebugJob, Connections, Progress], list[str]]:
    """The function that does a job of ``kind`` and returns the storage keys it wrote."""
    return import_string(WORK[kind])
