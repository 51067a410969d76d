"""Celery tasks: thin wrappers that call reconcilers, plus the periodic resync.

Nothing below imports this module: reconciles are queued by task name through
``controller.reconcile_queue``.
"""

from __future__ import annotations

import functools
import logging
import os

from celery import current_app, shared_task
from celery.signals import worker_process_shutdown, worker_ready, worker_shutdown
from django.conf import settings
from django.utils import timezone

from controller import metrics, reconcilers
from controller.connections import default_connections
from controller.models import KINDS, Manager
from controller.reconcile_queue import DUE_HEADER, enqueue, enqueue_many, enqueue_rollout
from controller.reconcilers import BUSY_RETRY_SECONDS, pushes, rollout
from controller.reconcilers.base import Result
from controller.reconcilers.locks import resource_lock
from controller.reconcilers.resync import resync
from controller.reconcilers.sweeper import sweep
from controller.services import crd_status, debug_runs
from controller.services.events import prune_events as prune_event_history
from controller.services.heartbeats import FLUSH_BATCH, flush_buffer, prune_history

logger = logging.getLogger(__name__)


# The kind label of a rollout step's queue lag (reconciles use their resource's kind).
ROLLOUT_KIND = "Rollout"


@shared_task(bind=True)
def reconcile_resource(self, kind: str, name: str, from_resync: bool = False) -> None:
    result = _observed_pass(kind, name, from_resync, _due_at(self.request))
    if result.requeue_after is not None:
        enqueue(kind, name, countdown=result.requeue_after)


@shared_task(bind=True)
def reconcile_many(self, kind: str, names: list[str]) -> None:
    """The pass of ``reconcile_resource`` for each of ``names`` (a bulk apply's chunk), one
    after another, each under its own resource lock. Names that ask for another pass (busy:
    another pass holds the lock; a failure's backoff) are queued again together, one message
    per countdown; a name whose pass raised goes back on its own, as a ``reconcile_resource``,
    so one bad resource neither stops the rest of the chunk nor is silently dropped."""
    due_at = _due_at(self.request)
    again: dict[float, list[str]] = {}
    with Manager.remembered():  # one lookup for the chunk (a second or so), not one per pass
        for name in names:
            try:
                result = _observed_pass(kind, str(name), False, due_at)
            except Exception:
                logger.exception("reconcile of %s/%s raised; queued again on its own", kind, name)
                enqueue(kind, str(name), countdown=BUSY_RETRY_SECONDS)
                continue
            if result.requeue_after is not None:
                again.setdefault(result.requeue_after, []).append(str(name))
    for countdown, later in again.items():
        enqueue_many(kind, later, countdown=countdown)


def _observed_pass(kind: str, name: str, from_resync: bool, due_at: object) -> Result:
    """One reconcile pass, with its queue lag and outcome recorded in the metrics."""
    label = kind if kind in KINDS else "unknown"  # a label value from a fixed set, whatever the message says
    metrics.observe_queue_lag(label, due_at)
    with metrics.reconcile_observed(label) as observed:
        result = reconcilers.reconcile(kind, name, from_resync=from_resync)
        if result.failed:
            observed.result = metrics.ERROR
        elif result.requeue_after is not None:
            observed.result = metrics.REQUEUE
    return result


def _due_at(request) -> object:
    """When the running task was due (``reconcile_queue.DUE_HEADER``); None when its message
    has no such header. Custom headers are in ``request.headers`` both on a worker and eagerly."""
    return (getattr(request, "headers", None) or {}).get(DUE_HEADER)


@shared_task
def sweep_lifecycle() -> None:
    """Missed heartbeats and idle workers; one sweep at a time across all Celery workers."""
    with resource_lock("sweeper") as held:
        if not held:
            return
        report = sweep(default_connections(), timezone.now())
    if report.unhealthy or report.slept:
        logger.info("sweep: unhealthy %s, put to sleep %s", report.unhealthy, report.slept)


@shared_task
def flush_heartbeats() -> None:
    """Apply the heartbeats the API's fast path buffered in Redis (production mode)."""
    with resource_lock("heartbeat-flush") as held:
        if held:
            while flush_buffer(_redis()) == FLUSH_BATCH:
                pass  # a full batch: more are waiting


@shared_task
def prune_heartbeats() -> None:
    deleted = prune_history()
    if deleted:
        logger.info("pruned %d heartbeats from the history", deleted)


@shared_task
def prune_events() -> None:
    deleted = prune_event_history()
    if deleted:
        logger.info("pruned %d instance events", deleted)


@functools.cache
def _redis():
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)


@shared_task
def resync_all() -> None:
    """Level-triggered safety net: reconcile whatever is not converged, collect orphans."""
    report = resync(default_connections().backend, lambda kind, name: enqueue(kind, name, from_resync=True))
    for upgrade_id in rollout.unfinished():  # a rollout whose queued look was lost resumes
        enqueue_rollout(upgrade_id)
    logger.info(
        "resync: %d checked, %d queued, %d orphans deleted", report.checked, report.queued, report.orphans_deleted
    )


@shared_task(bind=True)
def advance_rollout(self, upgrade_id: int) -> None:
    """One look at a rollout (controller/reconcilers/rollout.py); queued again while it waits.
    The lock keeps two Celery workers from stepping the same rollout at once."""
    metrics.observe_queue_lag(ROLLOUT_KIND, _due_at(self.request))
    with resource_lock(f"Upgrade/{upgrade_id}") as held:
        if not held:
            return  # the holder queues the next look
        wait = rollout.advance(upgrade_id, default_connections())
    if wait is not None:
        enqueue_rollout(upgrade_id, countdown=wait)


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def write_crd_status(kind: str, name: str) -> None:
    """Show a mirrored resource's changed status on its hiclaw.io object (the CRD front door);
    retried with backoff while the API server does not answer."""
    crd_status.write_status(kind, name)


@shared_task
def run_debug_job(job_id: str) -> None:
    debug_runs.run(job_id)


@shared_task
def run_push(upgrade_id: int) -> None:
    """Carry out a config/skills push (``operations.request_push`` queues it after commit)."""
    pushes.run(upgrade_id, default_connections())


@shared_task
def publish_skills() -> None:
    """Publish the built-in skills catalogue under its version (writes nothing when it is there)."""
    logger.info("skills catalogue %s published", pushes.publish(default_connections()))


@worker_process_shutdown.connect
def _at_pool_process_exit(pid: int | None = None, **_) -> None:
    # A prefork pool child that exits takes its passes in progress with it (docs/metrics.md).
    metrics.process_exited(pid or os.getpid())


@worker_shutdown.connect
def _at_worker_exit(**_) -> None:
    # The same for the worker's main process, which runs the passes itself with a thread pool.
    metrics.process_exited(os.getpid())


@worker_ready.connect
def _at_worker_start(**_) -> None:
    # Once per Celery worker start (the embedded one included), not in Django's ready(),
    # which also runs in every management command and test: a new release's catalogue is
    # published before anyone pushes it (an unchanged one writes nothing), and pushes left
    # unfinished (their message lost, or a controller stopped before queuing them) go on;
    # one already being carried out elsewhere holds its lock, and the second run leaves it.
    current_app.signature("controller.tasks.publish_skills").apply_async()
    for upgrade_id in pushes.unfinished():
        current_app.signature("controller.tasks.run_push", args=(upgrade_id,)).apply_async()
