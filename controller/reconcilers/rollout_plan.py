"""Which rollout replaces a running worker's instance when its image changes.

The Worker reconciler asks ``rollout_for`` when a running worker's effective
image differs from the image its instance runs. The answer is one Upgrade of
kind ``rollout``:

- the rollout that already covers this worker and image (the same one for
  every member of a team, whichever member's pass comes first);
- else a new one: scope ``team`` when the new image is the team's image (one
  rollout for every running member on an older image, workers by name, the
  leader last), scope ``worker`` otherwise (a standalone worker, or a member
  whose own ``image`` changed). Rollouts still under way for these workers
  towards another image are superseded: they end Aborted, and a target of
  theirs already in progress finishes first (``worker_busy``).

A rollout that ended (Done, Failed or Aborted) is returned too: the caller
keeps the old instance of a worker a failed or aborted rollout left behind
rather than starting the same rollout again and again (docs/rollouts.md).
"""

from __future__ import annotations

from django.db import connection, transaction
from django.utils import timezone

from controller.models import (
    DesiredState,
    MemberRole,
    TargetState,
    Team,
    Upgrade,
    UpgradeState,
    UpgradeTarget,
    Worker,
)

ACTIVE_STATES = (UpgradeState.PENDING, UpgradeState.RUNNING, UpgradeState.PAUSED)
ROLLER = "controller"  # who requested a rollout the controller starts on an image change


def active_target(worker_name: str) -> UpgradeTarget | None:
    """The rollout target that holds this worker's instance now: one in progress (in any
    rollout, even one aborted meanwhile), or one waiting in a rollout still under way."""
    # Every pass of every worker asks, and the answer is nearly always "none": that is
    # asked in plain SQL, since Django takes ten times longer to compile this query than
    # PostgreSQL takes to answer it. The targets found, if any, are then read as models.
    with connection.cursor() as cursor:
        cursor.execute(
            _HOLDING_TARGETS,
            [worker_name, Upgrade.Kind.ROLLOUT, TargetState.RUNNING, TargetState.PENDING, *ACTIVE_STATES],
        )
        ids = [row[0] for row in cursor.fetchall()]
    if not ids:
        return None
    found = list(UpgradeTarget.objects.filter(pk__in=ids).select_related("upgrade"))
    running = [target for target in found if target.state == TargetState.RUNNING]
    return next(iter(running or found), None)


# The targets that may hold a worker (``active_target``): only the models' own table
# names are in the text, every value is a parameter.
_HOLDING_TARGETS = (
    f"SELECT t.id FROM {UpgradeTarget._meta.db_table} t JOIN {Upgrade._meta.db_table} u ON u.id = t.upgrade_id"  # noqa: S608
    " WHERE t.worker = %s AND u.kind = %s"
    f" AND (t.state = %s OR (t.state = %s AND u.state IN ({', '.join(['%s'] * len(ACTIVE_STATES))})))"
)


def worker_busy(worker_name: str, upgrade_id: int) -> bool:
    """Whether another rollout's target for this worker is in progress."""
    running = UpgradeTarget.objects.filter(worker=worker_name, state=TargetState.RUNNING, upgrade__kind="rollout")
    return running.exclude(upgrade_id=upgrade_id).exists()


def rollout_for(worker: Worker, image: str) -> Upgrade:
    """The rollout that moves ``worker`` to ``image``, created when there is none (see above)."""
    with transaction.atomic():
        # One planner at a time per team (or standalone worker): two members' passes
        # must not both create the team's rollout.
        if worker.team_id is not None:
            team = Team.objects.select_for_update().get(pk=worker.team_id)
        else:
            team = None
            Worker.objects.select_for_update().filter(pk=worker.pk).first()
        latest = (
            UpgradeTarget.objects.filter(upgrade__kind=Upgrade.Kind.ROLLOUT, worker=worker.name)
            .select_related("upgrade")
            .order_by("-upgrade__created_at", "-upgrade_id")
            .first()
        )
        if latest is not None and latest.upgrade.image == image:
            return latest.upgrade
        if team is not None and team.image and team.image == image:
            return _create(Upgrade.Scope.TEAM, team.name, team, image, _team_members(team, image))
        return _create(Upgrade.Scope.WORKER, worker.name, team, image, [worker])


def _team_members(team: Team, image: str) -> list[Worker]:
    """Running members on another image that the team image moves to ``image``: workers by
    name, then the leader. Members not running get the image when they next start."""
    members = team.members.filter(deletion_requested_at__isnull=True, state=DesiredState.RUNNING, image=image)
    members = members.exclude(running_image="").exclude(running_image=image)
    ordered = sorted(members, key=lambda m: (m.role == MemberRole.TEAM_LEADER, m.name))
    return ordered


def _create(scope: str, target: str, team: Team | None, image: str, workers: list[Worker]) -> Upgrade:
    max_unavailable = team.typed_spec.upgrade.max_unavailable if team is not None else 1
    upgrade = Upgrade.objects.create(
        kind=Upgrade.Kind.ROLLOUT,
        scope=scope,
        target=target,
        team=team.name if team is not None else "",
        requested_by=ROLLER,
        image=image,
        max_unavailable=max_unavailable,
        message=f"rolling {len(workers)} worker(s) to {image}",
    )
    UpgradeTarget.objects.bulk_create(
        UpgradeTarget(upgrade=upgrade, worker=w.name, position=i, from_image=w.running_image)
        for i, w in enumerate(workers)
    )
    _supersede(upgrade, [w.name for w in workers])
    return upgrade


def _supersede(newer: Upgrade, workers: list[str]) -> None:
    """Rollouts under way for these workers towards another image end Aborted: the newer
    image wins. Their targets in progress finish (the executor keeps stepping them)."""
    older = (
        Upgrade.objects.filter(kind=Upgrade.Kind.ROLLOUT, state__in=ACTIVE_STATES, targets__worker__in=workers)
        .exclude(pk=newer.pk)
        .distinct()
    )
    for upgrade in older:
        upgrade.state = UpgradeState.ABORTED
        upgrade.message = f"superseded by rollout #{newer.pk} to {newer.image}"
        upgrade.finished_at = timezone.now()
        upgrade.save(update_fields=["state", "message", "finished_at", "updated_at"])
