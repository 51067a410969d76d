"""Fields shared by the kinds that run an agent instance (Worker, Manager)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.db import models
from django.utils import timezone

from controller.models.base import Resource
from controller.models.fields import EncryptedTextField
from controller.models.heartbeat import Heartbeat
from controller.models.restarts import RestartCounters

if TYPE_CHECKING:
    from controller.manifests.schema import ManagerSpec, WorkerSpec


class Runtime(models.TextChoices):
    OPENCLAW = "openclaw"
    COPAW = "copaw"
    HERMES = "hermes"


class DesiredState(models.TextChoices):
    RUNNING = "Running"
    SLEEPING = "Sleeping"
    STOPPED = "Stopped"


class AgentPhase(models.TextChoices):
    PENDING = "Pending"
    RUNNING = "Running"
    SLEEPING = "Sleeping"
    UPDATING = "Updating"
    STOPPED = "Stopped"
    FAILED = "Failed"


class AgentResource(RestartCounters, Resource):
    """A resource that the controller runs as a container, pod or process."""

    model = models.CharField(max_length=200, blank=True)
    runtime = models.CharField(max_length=16, choices=Runtime.choices, default=Runtime.OPENCLAW)
    image = models.CharField(max_length=500, blank=True, help_text="spec.image; empty means the runtime default")
    state = models.CharField(max_length=16, choices=DesiredState.choices, default=DesiredState.RUNNING)

    phase = models.CharField(max_length=16, choices=AgentPhase.choices, default=AgentPhase.PENDING, db_index=True)
    container_state = models.CharField(max_length=32, blank=True)
    matrix_user_id = models.CharField(max_length=255, blank=True)
    room_id = models.CharField(max_length=255, blank=True)
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    # When the running instance last started (the backend's word); a heartbeat since then
    # means the agent in this instance has come up (the original API's phase Ready).
    instance_started_at = models.DateTimeField(null=True, blank=True)
    # What the reconciler needs again on later passes; never shown.
    matrix_access_token = EncryptedTextField(blank=True, editable=False)
    config_digest = models.CharField(max_length=64, blank=True, editable=False)
    instance_digest = models.CharField(max_length=64, blank=True, editable=False)
    # Per step, the digest of what it last made the world from and when (a pass whose
    # inputs are unchanged skips the step's calls: controller/reconcilers/step_digests.py).
    # Nullable, so rows inserted by an older version during an upgrade's roll are accepted.
    step_digests = models.JSONField(null=True, blank=True, default=dict, editable=False)

    # The columns a heartbeat changes (saved by whoever applies reports).
    heartbeat_fields: ClassVar[list[str]]
    if TYPE_CHECKING:

        @property
        def typed_spec(self) -> WorkerSpec | ManagerSpec: ...

    class Meta(Resource.Meta):
        abstract = True

    def apply_heartbeat(
        self,
        state: str,
        *,
        active_tasks: int = 0,
        runtime_version: str = "",
        skills_version: str = "",
        note: str = "",
        now=None,
    ) -> Heartbeat:
        """Take a report into this row (in memory) and return its unsaved history entry.

        Callers save ``heartbeat_fields``: one row, or many in one query.
        """
        now = now or timezone.now()
        self.last_heartbeat = now
        self.take_report(state, active_tasks, runtime_version, skills_version, now)
        return Heartbeat(
            **{self.kind.lower(): self},
            received_at=now,
            state=state,
            active_tasks=active_tasks,
            runtime_version=runtime_version,
            skills_version=skills_version,
            note=note,
        )

    def take_report(self, state: str, active_tasks: int, runtime_version: str, skills_version: str, now) -> None:
        """What a report changes on the kind's own columns."""

    def record_heartbeat(self, state: str, **report) -> Heartbeat:
        """Apply one report and save it with its history entry (one agent at a time, for tests
        and tools; requests go through ``controller.services.heartbeats``)."""
        heartbeat = self.apply_heartbeat(state, **report)
        self.save(update_fields=self.heartbeat_fields)
        heartbeat.save()
        return heartbeat

    @property
    def reported_since_start(self) -> bool:
        """The instance runs and its agent has reported (a ready report or heartbeat) since it started."""
        if self.phase != AgentPhase.RUNNING or self.last_heartbeat is None:
            return False
        return self.instance_started_at is None or self.last_heartbeat >= self.instance_started_at

    def index_spec(self) -> None:
        spec = self.typed_spec
        self.model = spec.model
        self.runtime = spec.runtime
        self.image = spec.image or ""
        self.state = spec.state

    def kind_status(self) -> dict[str, Any]:
        return {
            "matrixUserID": self.matrix_user_id,
            "roomID": self.room_id,
            "containerState": self.container_state,
            "lastHeartbeat": self.last_heartbeat.isoformat() if self.last_heartbeat else None,
            "restarts": self.restart_count,
            "lastExitCode": self.last_exit_code,
            "lastExitReason": self.last_exit_reason,
        }
