"""Celery tasks: thin wrappers that call reconcilers, plus the periodic resync."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from controller import reconcilers
from controller.models import KINDS, Resource


def request_reconcile(resource: Resource) -> None:
    """Queue a reconcile of ``resource`` once the current transaction commits."""
    kind, name = resource.kind, resource.name
    transaction.on_commit(lambda: reconcile_resource.delay(kind, name))


@shared_task
def reconcile_resource(kind: str, name: str) -> None:
    result = reconcilers.reconcile(kind, name)
    if result.requeue_after is not None:
        reconcile_resource.apply_async((kind, name), countdown=result.requeue_after)


@shared_task
def resync_all() -> None:
    """Level-triggered safety net: queue a reconcile of every resource."""
    for kind, model in KINDS.items():
        for name in model.objects.values_list("name", flat=True).iterator():
            reconcile_resource.delay(kind, name)
