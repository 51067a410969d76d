"""Live notices for workers and DebugWorkers, sent whenever one is saved or deleted, and
for every recorded Event about one.

Rows are created by apply, the API, the dashboard's actions, the admin and the
reconcilers, and removed by their finalizers; hooking the saves here means a
list page learns of every new or removed row whichever path made it, and a
worker's page of every change to its spec or its events (Change model, an
apply, a crash). Notices name the row only; the consumer re-reads it through
the policy. Connected once by the app's ``ready()``. A queryset ``update()``
sends none: code using one (heartbeats, the sweeper) calls ``live`` itself.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from controller.models import DebugWorker, Event, Team, Worker
from controller.services import live


def _team_of(worker: Worker) -> str:
    """The worker's team name without failing on a row deleted along with its team."""
    if Worker.team.is_cached(worker):
        return worker.team.name if worker.team is not None else ""
    if worker.team_id is None:
        return ""
    return Team.objects.filter(pk=worker.team_id).values_list("name", flat=True).first() or ""


def _worker_saved(sender, instance: Worker, **kwargs) -> None:
    live.worker_changed(instance.name, _team_of(instance))


def _debugworker_saved(sender, instance: DebugWorker, **kwargs) -> None:
    live.debugworker_changed(instance.name, instance.team_name)


def _event_recorded(sender, instance: Event, created: bool = False, **kwargs) -> None:
    if not created:
        return
    if instance.kind == "Worker":
        live.worker_changed(instance.name, instance.team)
    elif instance.kind == "DebugWorker":
        live.debugworker_changed(instance.name, instance.team)


def connect() -> None:
    post_save.connect(_worker_saved, sender=Worker, dispatch_uid="live-worker-saved")
    post_delete.connect(_worker_saved, sender=Worker, dispatch_uid="live-worker-deleted")
    post_save.connect(_debugworker_saved, sender=DebugWorker, dispatch_uid="live-debugworker-saved")
    post_delete.connect(_debugworker_saved, sender=DebugWorker, dispatch_uid="live-debugworker-deleted")
    post_save.connect(_event_recorded, sender=Event, dispatch_uid="live-event-recorded")
