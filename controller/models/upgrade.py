"""Upgrades: config/skills pushes and image rollouts, one record each, with per-target progress.

A push copies the current skills catalogue and regenerated config into each
target worker's workspace without a restart; a rollout replaces each target's
instance with one on a new image, a few at a time. Both are carried out as
Celery work that records its progress here, so the API, the CLI, the admin
and the dashboard read one record, and a restarted controller resumes from it.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class UpgradeState(models.TextChoices):
    PENDING = "Pending"
    RUNNING = "Running"
    PAUSED = "Paused"
    DONE = "Done"
    FAILED = "Failed"
    ABORTED = "Aborted"


FINISHED_STATES = (UpgradeState.DONE, UpgradeState.FAILED, UpgradeState.ABORTED)


class Upgrade(models.Model):
    class Kind(models.TextChoices):
        PUSH = "push"
        ROLLOUT = "rollout"

    class Scope(models.TextChoices):
        WORKER = "worker"
        TEAM = "team"
        ALL = "all"

    kind = models.CharField(max_length=8, choices=Kind.choices, db_index=True)
    scope = models.CharField(max_length=8, choices=Scope.choices)
    target = models.CharField(max_length=63, blank=True, help_text="worker or team name; empty for all")
    # The team the targets belong to ("" for standalone workers or every worker): what the
    # policy filters on, so a team admin sees its teams' upgrades only.
    team = models.CharField(max_length=63, blank=True, db_index=True)
    requested_by = models.CharField(max_length=150)
    state = models.CharField(max_length=8, choices=UpgradeState.choices, default=UpgradeState.PENDING, db_index=True)
    message = models.TextField(blank=True)
    image = models.CharField(max_length=500, blank=True, help_text="a rollout's new image")
    version = models.CharField(max_length=64, blank=True, help_text="a push's skills catalogue version")
    max_unavailable = models.PositiveSmallIntegerField(default=1, help_text="a rollout's targets down at once")
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When a rollout's executor last looked at it: the periodic resync queues only a rollout
    # under way that nobody has looked at for a while (its chain of looks was lost).
    looked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        what = f"{self.scope} {self.target}".strip()
        return f"{self.kind} #{self.pk} to {what} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    def progress(self) -> tuple[int, int]:
        """(targets done, all targets)."""
        counts = dict(self.targets.values_list("state").annotate(models.Count("pk")))
        return counts.get(TargetState.DONE, 0), sum(counts.values())


class TargetState(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class RolloutStep(models.TextChoices):
    """Where a running rollout target stands (docs/rollouts.md); "" before it starts."""

    SAVING = "saving"  # save-state asked; waiting for the acknowledgement or the timeout
    STARTING = "starting"  # the new instance is created beside the old; waiting until it is ready
    CUTOVER = "cutover"  # the new instance is ready: the old one and its token go


class UpgradeTarget(models.Model):
    """One worker of an upgrade, in the order it is (or was) taken."""

    upgrade = models.ForeignKey(Upgrade, on_delete=models.CASCADE, related_name="targets")
    worker = models.CharField(max_length=63)
    position = models.PositiveIntegerField(default=0, help_text="rollouts take workers first, the leader last")
    state = models.CharField(max_length=8, choices=TargetState.choices, default=TargetState.PENDING, db_index=True)
    message = models.TextField(blank=True)
    from_image = models.CharField(max_length=500, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A rollout target's progress, saved before each action so a restarted controller
    # resumes at the step it was in (controller/reconcilers/rollout.py).
    step = models.CharField(max_length=8, choices=RolloutStep.choices, blank=True)
    step_started_at = models.DateTimeField(null=True, blank=True)
    old_instance = models.CharField(max_length=128, blank=True)
    new_instance = models.CharField(max_length=128, blank=True)
    new_token_id = models.BigIntegerField(null=True, blank=True, help_text="the new instance's AgentToken")

    class Meta:
        ordering = ["upgrade", "position", "worker"]
        constraints = [models.UniqueConstraint(fields=["upgrade", "worker"], name="one_target_per_worker")]
        # Every pass of every worker asks which target holds it (rollout_plan.active_target);
        # the constraint's index leads with the upgrade, so without this one it is a scan
        # of every rollout's targets ever kept.
        indexes = [models.Index(fields=["worker"], name="upgradetarget_worker")]

    def __str__(self) -> str:
        return f"{self.worker} in upgrade #{self.upgrade_id} ({self.state})"
