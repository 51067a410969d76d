"""Reconcilers drive the world toward each resource's desired state.

Only reconcilers talk to Docker, Matrix, storage and the gateway; requests
change desired state and queue a reconcile (docs/decisions/0001-desired-state-only-in-requests.md).
``reconcile(kind, name)`` takes the resource's lock, reads the row fresh and
runs the kind's reconciler: Worker, Manager, Team and Human have one. A
DebugWorker has none of its own (a team's default one is created and removed
by the Team reconciler, and no instance runs for any DebugWorker yet), so its
pass only records that it ran and finishes a two-phase deletion.
"""

from __future__ import annotations

import logging

from django.utils import timezone
from django.utils.module_loading import import_string

from controller.connections import Connections, default_connections
from controller.models import KINDS, Resource, Team, Worker
from controller.reconcilers.base import Result
from controller.reconcilers.locks import resource_lock

logger = logging.getLogger(__name__)

# Reconciler per kind, imported when first needed (they pull in the clients).
_RECONCILERS = {
    "Worker": "controller.reconcilers.worker.WorkerReconciler",
    "Manager": "controller.reconcilers.manager.ManagerReconciler",
    "Team": "controller.reconcilers.team.TeamReconciler",
    "Human": "controller.reconcilers.human.HumanReconciler",
}
# Seconds before an event-triggered pass retries when another pass holds the lock.
BUSY_RETRY_SECONDS = 2.0


def reconcile(kind: str, name: str, *, from_resync: bool = False, connections: Connections | None = None) -> Result:
    with resource_lock(f"{kind}/{name}") as held:
        if not held:
            # A periodic resync has nothing to add to a pass in flight; an event
            # (e.g. a new generation) must not be lost, so it comes back later.
            return Result() if from_resync else Result(requeue_after=BUSY_RETRY_SECONDS)
        resource = KINDS[kind].objects.filter(name=name).first()
        if resource is None:
            return Result()
        reconciler = _RECONCILERS.get(kind)
        if reconciler is None:
            return _record_only(resource)
        return import_string(reconciler)(connections or default_connections()).reconcile(resource)


def _record_only(resource: Resource) -> Result:
    if resource.deletion_requested_at is not None:
        if isinstance(resource, Team) and Worker.objects.filter(team=resource).exists():
            return Result(requeue_after=2)  # members go first
        logger.info("%s: deletion finished", resource)
        resource.delete()
        return Result()
    type(resource).objects.filter(pk=resource.pk).update(reconciled_at=timezone.now())
    return Result()
