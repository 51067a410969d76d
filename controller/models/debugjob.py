"""A debug export or report asked of a DebugWorker: its progress and the files it wrote.

The job runs as Celery work; this row is how the API, the CLI and the
workspace browser follow it (Celery keeps no results here).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from controller.models.debugworker import DebugWorker


class DebugJob(models.Model):
    class Kind(models.TextChoices):
        EXPORT = "export"
        REPORT = "report"

    class State(models.TextChoices):
        QUEUED = "Queued"
        RUNNING = "Running"
        DONE = "Done"
        FAILED = "Failed"

    # Random, so one job's id tells nothing of another's.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    debugworker = models.ForeignKey(DebugWorker, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    hours = models.PositiveIntegerField(help_text="how far back it looks")
    worker = models.CharField(max_length=63, blank=True, help_text="a report about one target only; empty for all")
    requested_by = models.CharField(max_length=150)
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0, help_text="percent done")
    message = models.TextField(blank=True)
    outputs = models.JSONField(default=list, blank=True, help_text="storage keys of the files it wrote")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} of debugworker/{self.debugworker.name} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)
