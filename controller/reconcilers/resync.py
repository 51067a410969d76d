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

from controller import naming
from controller.backends.base import InstanceState, WorkerBackend
from controller.models import KINDS, DesiredState

logger = logging.getLogger(__name__)

BATCH_SIZE = 2000


@dataclass
class ResyncReport:
    checked: int = 0
    queued: int = 0
    orphans_deleted: int = 0


# Kinds that run an instance, by the instance kind the backend labels them with.
INSTANCE_KINDS = {"Worker": "worker", "Manager": "manager"}
COMMON_FIELDS = ("name", "generation", "observed_generation", "failures", "deletion_requested_at")


def resync(backend: WorkerBackend, enqueue: Callable[[str, str], object]) -> ResyncReport:
    report = ResyncReport()
    instances = {info.name: info for info in backend.list()}
    seen: dict[str, set[str]] = {instance_kind: set() for instance_kind in INSTANCE_KINDS.values()}
    for kind, model in KINDS.items():
        instance_kind = INSTANCE_KINDS.get(kind)
        fields = (*COMMON_FIELDS, "state") if instance_kind else COMMON_FIELDS
        for row in model.objects.values_list(*fields).iterator(chunk_size=BATCH_SIZE):
            report.checked += 1
            if instance_kind:
                seen[instance_kind].add(row[0])
            if _needs_reconcile(instance_kind, row, instances):
                enqueue(kind, row[0])
                report.queued += 1
    report.orphans_deleted = _collect_orphans(backend, instances, seen)
    return report


def _needs_reconcile(instance_kind: str | None, row: tuple, instances: dict) -> bool:
    name, generation, observed, failures, deleting = row[:5]
    if generation != observed or failures or deleting is not None:
        return True
    if instance_kind is None:
        return False
    instance = instances.get(naming.instance_name(instance_kind, name))
    running = instance is not None and instance.state == InstanceState.RUNNING
    return running != (row[5] == DesiredState.RUNNING)


def _collect_orphans(backend: WorkerBackend, instances: dict, seen: dict[str, set[str]]) -> int:
    """Delete instances labelled as ours whose resource is gone.

    ``seen`` holds the names the pass has just read, so a converged pass asks
    the database nothing more. The few candidates are looked up again right
    before their deletion: a resource re-created since the pass read its
    table keeps its instance.
    """
    models = {instance_kind: KINDS[kind] for kind, instance_kind in INSTANCE_KINDS.items()}
    deleted = 0
    for info in instances.values():
        model = models.get(info.kind)
        if model is None or info.resource in seen[info.kind]:
            continue
        if model.objects.filter(name=info.resource).exists():
            continue
        logger.info("garbage-collecting orphan instance %s (no %s/%s)", info.name, info.kind, info.resource)
        backend.delete(info.name)
        deleted += 1
    return deleted
