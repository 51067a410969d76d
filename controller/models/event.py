"""Events: what happened to a resource's instance that nobody asked for through the API.

Audit records say who changed what; events say what the world did: an instance
crashed (its exit code and how long it ran), was killed for memory, or was
started again by the controller. Kept for ``HICLAW_EVENT_HISTORY_DAYS`` days.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class EventType(models.TextChoices):
    NORMAL = "Normal"
    WARNING = "Warning"


class Event(models.Model):
    at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=16, help_text="the resource's kind: Worker, Manager, DebugWorker")
    name = models.CharField(max_length=63)
    team = models.CharField(max_length=63, blank=True)
    type = models.CharField(max_length=8, choices=EventType.choices, default=EventType.NORMAL)
    reason = models.CharField(max_length=32, help_text="Crashed, OOMKilled, Restarted")
    message = models.CharField(max_length=500, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["kind", "name", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind.lower()}/{self.name} {self.reason}: {self.message}"
