"""Pausing, resuming and aborting an image rollout, authorized and audited.

A rollout starts by itself when a running worker's image changes (the Worker
reconciler and controller/reconcilers/rollout.py carry it out); what a
caller can do is hold it: ``pause`` (targets in progress finish, no new one
starts), ``resume`` (a paused rollout goes on) and ``abort`` (the rollout
ends Aborted: targets not started keep their old image, a target in progress
finishes its replacement or, if its new instance never becomes ready, keeps
its old instance). See docs/rollouts.md.

Who may: whoever may update the rollout's workers (an admin, the manager, the
team's leader or admin for a team's rollout). A rollout the caller may not
see is 404, like a missing one; a worker may see rollouts of itself (403).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from controller import policy
from controller.errors import CONFLICT, DomainError
from controller.models import Upgrade, UpgradeState
from controller.policy import Principal
from controller.reconcile_queue import enqueue_rollout
from controller.services.operations import audit


class RolloutStateConflict(DomainError):
    """409: the rollout is not in a state the action applies to."""

    status = CONFLICT
    field = "state"


def _rollout(principal: Principal, upgrade_id: int) -> Upgrade:
    rows = Upgrade.objects.filter(pk=upgrade_id, kind=Upgrade.Kind.ROLLOUT)
    if not policy.visible(principal, rows).exists():
        raise policy.NotFound("Upgrade", str(upgrade_id), "id")
    # Locked apart from the visibility query: PostgreSQL locks no row of a DISTINCT query.
    upgrade = rows.select_for_update().get()
    if principal.identity == policy.WORKER:
        raise policy.Denied(
            f"worker {principal.name} may see its rollouts but not hold them; its leader or an admin can"
        )
    what = upgrade.target if upgrade.scope == Upgrade.Scope.WORKER else f"(team {upgrade.team})"
    policy.authorize(principal, policy.UPDATE, "Worker", what, team=upgrade.team)
    return upgrade


def _change(principal: Principal, upgrade_id: int, action: str, allowed: tuple[str, ...], to: str) -> Upgrade:
    with transaction.atomic():
        upgrade = _rollout(principal, upgrade_id)
        if upgrade.state not in allowed:
            raise RolloutStateConflict(
                f"rollout #{upgrade.pk} is {upgrade.state}; {action} applies to {' or '.join(allowed)} rollouts"
            )
        upgrade.state = to
        fields = ["state", "updated_at"]
        if to == UpgradeState.ABORTED:
            upgrade.finished_at = timezone.now()
            upgrade.message = f"aborted by {principal}"
            fields += ["finished_at", "message"]
        upgrade.save(update_fields=fields)
        audit(principal, f"rollout-{action}", "Upgrade", str(upgrade.pk), image=upgrade.image)
        # The next look finishes what is in progress, or (resumed) starts the next targets.
        enqueue_rollout(upgrade.pk)
    return upgrade


def pause(principal: Principal, upgrade_id: int) -> Upgrade:
    return _change(principal, upgrade_id, "pause", (UpgradeState.PENDING, UpgradeState.RUNNING), UpgradeState.PAUSED)


def resume(principal: Principal, upgrade_id: int) -> Upgrade:
    return _change(principal, upgrade_id, "resume", (UpgradeState.PAUSED,), UpgradeState.RUNNING)


def abort(principal: Principal, upgrade_id: int) -> Upgrade:
    active = (UpgradeState.PENDING, UpgradeState.RUNNING, UpgradeState.PAUSED)
    return _change(principal, upgrade_id, "abort", active, UpgradeState.ABORTED)
