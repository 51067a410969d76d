"""The periodic, level-triggered resync and the garbage collection of orphan instances.

A pass reads every resource in batches (one query per batch) and the
backend's instance list once, and queues a reconcile only for what is not
converged: a new generation, a failing or deleting resource, or an instance
whose state differs from the desired one, or a DebugWorker whose retention
has run out. Instances labelled as ours whose resource no longer exists are deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

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


# Kinds that run an instance: the backend's label for it, how its instance is named, and the
# column that says whether it should run (an agent's desired state; a DebugWorker runs until it
# expires, so a pass is due once its expiry has come).
INSTANCE_KINDS = {"Worker": "worker", "Manager": "manager", "DebugWorker": "debugworker"}
INSTANCE_NAMES = {"worker": "worker", "manager": "manager", "debugworker": "debug"}
WANT_FIELDS = {"Worker": "state", "Manager": "state", "DebugWorker": "expires_at"}
# A Worker's instance may have a name of its own after a rollout (Worker.instance_name).
NAME_FIELDS = {"Worker": ("instance_name",)}
COMMON_FIELDS = ("name", "generation", "observed_generation", "failures", "deletion_requested_at")


def resync(backend: WorkerBackend, enqueue: Callable[[str, str], object]) -> ResyncReport:
    report = ResyncReport()
    instances = {info.name: info for info in backend.list()}
    seen: dict[str, set[str]] = {instance_kind: set() for instance_kind in INSTANCE_KINDS.values()}
    now = timezone.now()
    for kind, model in KINDS.items():
        instance_kind = INSTANCE_KINDS.get(kind)
        fields = (*COMMON_FIELDS, WANT_FIELDS[kind], *NAME_FIELDS.get(kind, ())) if instance_kind else COMMON_FIELDS
        for row in model.objects.values_list(*fields).iterator(chunk_size=BATCH_SIZE):
            report.checked += 1
            if instance_kind:
                seen[instance_kind].add(row[0])
            if _needs_reconcile(instance_kind, row, instances, now):
                enqueue(kind, row[0])
                report.queued += 1
    report.orphans_deleted = _collect_orphans(backend, instances, seen)
    return report


def _needs_reconcile(instance_kind: str | None, row: tuple, instances: dict, now: datetime) -> bool:
    name, generation, observed, failures, deleting = row[:5]
    if generation != observed or failures or deleting is not None:
        return True
    if instance_kind is None:
        return False
    stored = row[6] if len(row) > 6 else ""
    instance = instances.get(stored or naming.instance_name(INSTANCE_NAMES[instance_kind], name))
    running = instance is not None and instance.state == InstanceState.RUNNING
    if instance_kind == "debugworker":
        expires_at = row[5]
        return not running or (expires_at is not None and expires_at <= now)
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
