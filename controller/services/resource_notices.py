"""Live notices for workers, DebugWorkers, Managers and Humans, sent whenever one is saved
or deleted, for every recorded Event about one, and for every dashboard login saved or
deleted (the Humans page shows which login each Human has).

Rows are created by apply, the API, the dashboard's actions, the admin and the
reconcilers, and removed by their finalizers; hooking the saves here means a
list page learns of every new or removed row whichever path made it, and a
worker's page of every change to its spec or its events (Change model, an
apply, a crash). Notices name the row only; the consumer re-reads it through
the policy. Connected once by the app's ``ready()``. A queryset ``update()``
sends none: code using one (heartbeats, the sweeper) calls ``live`` itself.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.db.models.signals import post_delete, post_save

from controller.models import DebugWorker, Event, Human, Manager, Team, Worker
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


def _manager_saved(sender, instance: Manager, **kwargs) -> None:
    live.record_changed("manager", instance.name)


def _human_saved(sender, instance: Human, **kwargs) -> None:
    live.record_changed("human", instance.name)


def _login_saved(sender, instance, **kwargs) -> None:
    """A login linked to a Human, or named like one, is that Human's "Dashboard login"."""
    linked = Q(name=instance.get_username()) | Q(user_id=instance.pk)
    for name in Human.objects.filter(linked).values_list("name", flat=True):
        live.record_changed("human", name)


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
    for model, saved, kind in ((Manager, _manager_saved, "manager"), (Human, _human_saved, "human")):
        post_save.connect(saved, sender=model, dispatch_uid=f"live-{kind}-saved")
        post_delete.connect(saved, sender=model, dispatch_uid=f"live-{kind}-deleted")
    user = get_user_model()
    post_save.connect(_login_saved, sender=user, dispatch_uid="live-login-saved")
    post_delete.connect(_login_saved, sender=user, dispatch_uid="live-login-deleted")
    post_save.connect(_event_recorded, sender=Event, dispatch_uid="live-event-recorded")
