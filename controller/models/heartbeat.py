"""Heartbeats an agent (a worker, leader or the Manager) reports about itself, kept as a
bounded history per agent."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class AgentState(models.TextChoices):
    IDLE = "idle"
    BUSY = "busy"


class Heartbeat(models.Model):
    # Exactly one of the two is set: the agent that reported.
    worker = models.ForeignKey(
        "controller.Worker", null=True, blank=True, on_delete=models.CASCADE, related_name="heartbeats"
    )
    manager = models.ForeignKey(
        "controller.Manager", null=True, blank=True, on_delete=models.CASCADE, related_name="heartbeats"
    )
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    state = models.CharField(max_length=8, choices=AgentState.choices)
    active_tasks = models.PositiveIntegerField(default=0)
    runtime_version = models.CharField(max_length=64, blank=True)
    skills_version = models.CharField(max_length=64, blank=True)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [models.Index(fields=["worker", "-received_at"]), models.Index(fields=["manager", "-received_at"])]
        ordering = ["-received_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(worker__isnull=True) ^ models.Q(manager__isnull=True), name="heartbeat_one_agent"
            )
        ]

    def __str__(self) -> str:
        agent = f"worker {self.worker_id}" if self.worker_id else f"manager {self.manager_id}"
        return f"{agent} {self.state} at {self.received_at:%Y-%m-%d %H:%M:%S}"
