"""Reconcilers drive the world toward each resource's desired state.

Only reconcilers talk to Docker, Matrix, storage and the gateway; requests
change desired state and queue a reconcile (docs/decisions/0001-desired-state-only-in-requests.md).
``reconcile(kind, name)`` takes the resource's lock, reads the row fresh and
runs the kind's reconciler: every kind has one (Worker, Manager, Team, Human
and DebugWorker).
"""

from __future__ import annotations

import logging

from django.utils.module_loading import import_string

from controller.connections import Connections, default_connections
from controller.models import KINDS, Manager
from controller.reconcilers.base import Result
from controller.reconcilers.locks import resource_lock
from controller.services import live

logger = logging.getLogger(__name__)

# Reconciler per kind, imported when first needed (they pull in the clients).
_RECONCILERS = {
    "Worker": "controller.reconcilers.worker.WorkerReconciler",
    "Manager": "controller.reconcilers.manager.ManagerReconciler",
    "Team": "controller.reconcilers.team.TeamReconciler",
    "Human": "controller.reconcilers.human.HumanReconciler",
    "DebugWorker": "controller.reconcilers.debugworker.DebugWorkerReconciler",
}
# Seconds before an event-triggered pass retries when another pass holds the lock. Short,
# because the event may be news the pass in flight read too early (an instance that died
# just after it looked): a crash must show within a second even then.
BUSY_RETRY_SECONDS = 0.5


def reconcile(kind: str, name: str, *, from_resync: bool = False, connections: Connections | None = None) -> Result:
    # A pass saves its row after each step that made progress: live pages hear of it once;
    # the Manager it asks for in several steps is looked up once.
    with live.held_back(), Manager.remembered(), resource_lock(f"{kind}/{name}") as held:
        if not held:
            # A periodic resync has nothing to add to a pass in flight; an event
            # (e.g. a new generation) must not be lost, so it comes back later.
            return Result() if from_resync else Result(requeue_after=BUSY_RETRY_SECONDS)
        resource = KINDS[kind].objects.filter(name=name).first()
        if resource is None:
            return Result()
        reconciler = import_string(_RECONCILERS[kind])
        return reconciler(connections or default_connections()).reconcile(resource)
