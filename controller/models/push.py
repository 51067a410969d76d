"""Config/skills push requests; the push itself is carried out by the upgrades service."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class ConfigPush(models.Model):
    class Scope(models.TextChoices):
        WORKER = "worker"
        TEAM = "team"
        ALL = "all"

    class State(models.TextChoices):
        REQUESTED = "Requested"
        RUNNING = "Running"
        DONE = "Done"
        FAILED = "Failed"

    requested_at = models.DateTimeField(default=timezone.now)
    requested_by = models.CharField(max_length=150)
    scope = models.CharField(max_length=8, choices=Scope.choices)
    target = models.CharField(max_length=63, blank=True, help_text="worker or team name; empty for all")
    targets = models.JSONField(default=list, help_text="the worker names the push covers")
    state = models.CharField(max_length=16, choices=State.choices, default=State.REQUESTED)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"push #{self.pk} to {self.scope} {self.target}".strip()
