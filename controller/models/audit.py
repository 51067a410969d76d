"""Audit records: every accepted mutating call, who made it and on what."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class AuditRecord(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=150, help_text="who: token subject or dashboard login")
    identity = models.CharField(max_length=16, help_text="admin, manager, team-leader, team-admin, worker")
    team = models.CharField(max_length=63, blank=True, help_text="the actor's team, for team-scoped identities")
    action = models.CharField(max_length=32)
    target_kind = models.CharField(max_length=16)
    target_name = models.CharField(max_length=63)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["target_kind", "target_name", "-at"])]

    def __str__(self) -> str:
        target = f"{self.target_kind.lower()}/{self.target_name}"
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.identity} {self.actor}: {self.action} {target}"
