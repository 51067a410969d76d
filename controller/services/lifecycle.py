"""Desired-state changes on existing resources: run state and deletion.

Each change is expressed as a patch of the resource's manifest and goes
through ``apply_documents``, so it is validated, versioned (generation) and
reconciled exactly like an applied manifest. A team member's state lives in
its Team's spec, so changing it patches the Team.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from controller.errors import CONFLICT, DomainError
from controller.manifests.members import with_member_changed
from controller.models import AgentToken, DesiredState, Identity, Manager, Resource, Team, Worker
from controller.reconcile_queue import request_reconcile, request_reconciles
from controller.services import live
from controller.services.apply import Outcome, apply_patch, change_team_spec


class LifecycleRefused(DomainError):
    """409: the change is not allowed for this resource in its present state; the message says why."""

    status = CONFLICT


def set_desired_state(resource: Resource, state: str) -> Outcome:
    """Ask for ``state`` (Running, Sleeping or Stopped) on a Worker or Manager."""
    if state not in DesiredState.values:
        raise LifecycleRefused(f"state must be one of {', '.join(DesiredState.values)}, got {state!r}")
    if "state" not in resource.spec:
        raise LifecycleRefused(f"{resource} has no run state to change")
    if isinstance(resource, Worker) and resource.team is not None:
        return _set_member_state(resource, resource.team, state)
    return apply_patch(resource, {**resource.spec, "state": state})


def _set_member_state(worker: Worker, team: Team, state: str) -> Outcome:
    change_team_spec(team, lambda fresh: with_member_changed(fresh.spec, worker.name, {"state": state}))
    return Outcome(worker.kind, worker.name, "configured" if worker.state != state else "unchanged")


def request_deletion(resource: Resource) -> bool:
    """Mark a resource for deletion; its reconciler cleans up, then removes the row.

    A Team takes its members with it. Returns False when already marked.
    """
    if isinstance(resource, Worker) and resource.team is not None:
        raise LifecycleRefused(
            f"{resource} is a member of team/{resource.team.name}; remove it from that Team's spec.workers instead"
        )
    with transaction.atomic():
        now = timezone.now()
        marked = (
            type(resource)
            .objects.filter(pk=resource.pk, deletion_requested_at__isnull=True)
            .update(deletion_requested_at=now)
        )
        if not marked:
            return False
        request_reconcile(resource)
        # An agent being removed loses its API access now, not when its reconcile finishes.
        if isinstance(resource, Worker | Manager):
            AgentToken.objects.revoke_agent(
                Identity.MANAGER if isinstance(resource, Manager) else Identity.WORKER, resource.name
            )
        if isinstance(resource, Team):
            _mark_members(resource, now)
    return True


def _mark_members(team: Team, now: datetime) -> None:
    """Mark the Team's members for deletion with it: their tokens revoked in one statement,
    their reconciles queued in a few messages and one live notice for all of them."""
    members = list(Worker.objects.filter(team=team, deletion_requested_at__isnull=True))
    with live.coalesced():
        for member in members:
            member.deletion_requested_at = now
            member.save(update_fields=["deletion_requested_at", "updated_at"])  # CRD status and live notice
    names = [member.name for member in members]
    AgentToken.objects.revoke_agents(Identity.WORKER, names)
    request_reconciles(Worker.kind, names)
