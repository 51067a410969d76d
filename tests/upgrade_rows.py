"""Upgrade rows made and advanced directly, for the tests of what shows them (API, CLI,
admin, dashboard, live updates). Carrying a push or a rollout out is tested with the
services that do it; here only the records matter."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Max
from django.utils import timezone

from controller.models import TargetState, Upgrade, UpgradeState, UpgradeTarget


def _created_after_the_others() -> dict:
    """A creation time after every upgrade's, so "newest first" is the order the test made
    them in even when the clock is coarse or steps back."""
    latest = Upgrade.objects.aggregate(latest=Max("created_at"))["latest"]
    now = timezone.now()
    return {"created_at": max(now, latest + timedelta(milliseconds=1)) if latest else now}


def rollout(team: str, workers: list[str], image: str = "hiclaw/worker-agent:1.5.0", **fields) -> Upgrade:
    """A team rollout over ``workers`` in that order (the leader last, as rollouts take them)."""
    upgrade = Upgrade.objects.create(
        kind=Upgrade.Kind.ROLLOUT,
        scope=Upgrade.Scope.TEAM,
        target=team,
        team=team,
        requested_by="admin root",
        image=image,
        **{**_created_after_the_others(), **fields},
    )
    for position, worker in enumerate(workers):
        UpgradeTarget.objects.create(
            upgrade=upgrade, worker=worker, position=position, from_image="hiclaw/worker-agent:1.4.0"
        )
    return upgrade


def push(scope: str, target: str, team: str, workers: list[str], version: str = "2026.12.1", **fields) -> Upgrade:
    upgrade = Upgrade.objects.create(
        kind=Upgrade.Kind.PUSH,
        scope=scope,
        target=target,
        team=team,
        requested_by="admin root",
        version=version,
        **{**_created_after_the_others(), **fields},
    )
    for position, worker in enumerate(workers):
        UpgradeTarget.objects.create(upgrade=upgrade, worker=worker, position=position)
    return upgrade


def advance(upgrade_id: int, worker: str, state: str, message: str = "") -> None:
    """Move one target on, as the executing service would (saved, so its notice is sent)."""
    target = UpgradeTarget.objects.get(upgrade_id=upgrade_id, worker=worker)
    now = timezone.now()
    target.state, target.message = state, message
    if state == TargetState.RUNNING:
        target.started_at = now
    elif state in (TargetState.DONE, TargetState.FAILED):
        target.finished_at = now
    target.save()
    upgrade = Upgrade.objects.get(pk=upgrade_id)
    if upgrade.state == UpgradeState.PENDING:
        upgrade.state, upgrade.started_at = UpgradeState.RUNNING, now
        upgrade.save()
