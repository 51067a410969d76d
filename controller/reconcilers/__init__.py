"""Reconcilers drive the world toward each resource's desired state.

This first version has nothing outside the database to converge yet: it
records the pass and completes two-phase deletions. The Worker reconciler
(backends, Matrix, storage, gateway) replaces it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.utils import timezone

from controller.models import KINDS, Team, Worker

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """What a reconcile pass asks for next: nothing, or another pass later."""

    requeue_after: float | None = None


def reconcile(kind: str, name: str) -> Result:
    model = KINDS[kind]
    resource = model.objects.filter(name=name).first()
    if resource is None:
        return Result()
    if resource.deletion_requested_at is not None:
        if isinstance(resource, Team) and Worker.objects.filter(team=resource).exists():
            return Result(requeue_after=2)  # members go first
        logger.info("%s/%s: deletion finished", kind.lower(), name)
        resource.delete()
        return Result()
    model.objects.filter(pk=resource.pk).update(reconciled_at=timezone.now())
    return Result()
