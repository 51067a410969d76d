"""Heartbeats an agent reports about itself, kept as a bounded history per worker."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class AgentState(models.TextChoices):
    IDLE = "idle"
    BUSY = "busy"


class Heartbeat(models.Model):
    worker = models.ForeignKey("controller.Worker", on_delete=models.CASCADE, related_name="heartbeats")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    state = models.CharField(max_length=8, choices=AgentState.choices)
    active_tasks = models.PositiveIntegerField(default=0)
    runtime_version = models.CharField(max_length=64, blank=True)
    skills_version = models.CharField(max_length=64, blank=True)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [models.Index(fields=["worker", "-received_at"])]
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.worker_id} {self.state} at {self.received_at:%Y-%m-%d %H:%M:%S}"
