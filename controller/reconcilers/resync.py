"""The periodic, level-triggered resync and the garbage collection of orphan instances.

A pass reads every resource in batches (one query per batch) and the
backend's instance list once, and queues a reconcile only for what is not
converged: a new generation, a failing or deleting resource, or an instance
whose state differs from the desired one. Instances labelled as ours whose
resource no longer exists are deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from controller.backends.base import InstanceState, WorkerBackend
from controller.models import KINDS, DesiredState, Worker
from controller.reconcilers import naming

logger = logging.getLogger(__name__)

BATCH_SIZE = 2000


@dataclass
class ResyncReport:
    checked: int = 0
    queued: int = 0
    orphans_deleted: int = 0


def resync(backend: WorkerBackend, enqueue: Callable[[str, str], None]) -> ResyncReport:
    report = ResyncReport()
    instances = {info.name: info for info in backend.list()}
    for kind, model in KINDS.items():
        rows = model.objects.values_list(
            "name", "generation", "observed_generation", "failures", "deletion_requested_at"
        )
        if model is Worker:
            rows = model.objects.values_list(
                "name", "generation", "observed_generation", "failures", "deletion_requested_at", "state"
            )
        for row in rows.iterator(chunk_size=BATCH_SIZE):
            report.checked += 1
            if _needs_reconcile(kind, row, instances):
                enqueue(kind, row[0])
                report.queued += 1
    report.orphans_deleted = _collect_orphans(backend, instances)
    return report


def _needs_reconcile(kind: str, row: tuple, instances: dict) -> bool:
    name, generation, observed, failures, deleting = row[:5]
    if generation != observed or failures or deleting is not None:
        return True
    if kind != "Worker":
        return False
    instance = instances.get(naming.instance_name("worker", name))
    running = instance is not None and instance.state == InstanceState.RUNNING
    return running != (row[5] == DesiredState.RUNNING)


def _collect_orphans(backend: WorkerBackend, instances: dict) -> int:
    """Delete worker instances labelled as ours whose Worker row is gone."""
    names = {info.resource for info in instances.values() if info.kind == "worker"}
    existing = set(Worker.objects.filter(name__in=names).values_list("name", flat=True))
    deleted = 0
    for info in instances.values():
        if info.kind == "worker" and info.resource not in existing:
            logger.info("garbage-collecting orphan instance %s (no worker/%s)", info.name, info.resource)
            backend.delete(info.name)
            deleted += 1
    return deleted
