"""The DebugWorker: an instance that mirrors other agents' workspaces for analysis."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

from controller.models.base import TEAM_ANNOTATION, Resource
from controller.models.fields import EncryptedTextField
from controller.models.restarts import RestartCounters

if TYPE_CHECKING:
    from controller.manifests.schema import DebugWorkerSpec


class DebugWorkerPhase(models.TextChoices):
    PENDING = "Pending"
    RUNNING = "Running"
    FAILED = "Failed"
    EXPIRED = "Expired"


class DebugWorker(RestartCounters, Resource):
    kind = "DebugWorker"

    target_type = models.CharField(max_length=16, blank=True, help_text="spec.target.type (team or worker)")
    target_name = models.CharField(max_length=63, blank=True, help_text="spec.target.name")
    team_name = models.CharField(
        max_length=63, blank=True, db_index=True, help_text="the team it debugs (its target, or hiclaw.io/team)"
    )
    # The Matrix access token used to export room messages. It must be usable,
    # so it cannot be hashed; it lives outside the spec so that no export, API
    # answer or admin page ever shows it.
    matrix_access_token = EncryptedTextField(blank=True, editable=False)

    phase = models.CharField(
        max_length=16, choices=DebugWorkerPhase.choices, default=DebugWorkerPhase.PENDING, db_index=True
    )
    matrix_user_id = models.CharField(max_length=255, blank=True)
    room_id = models.CharField(max_length=255, blank=True)
    container_state = models.CharField(max_length=32, blank=True)
    mounted_workspaces = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # What the last pass wrote and started, so a converged pass changes nothing.
    config_digest = models.CharField(max_length=64, blank=True, editable=False)
    instance_digest = models.CharField(max_length=64, blank=True, editable=False)

    if TYPE_CHECKING:

        @property
        def typed_spec(self) -> DebugWorkerSpec: ...

    class Meta(Resource.Meta):
        pass

    def index_spec(self) -> None:
        target = self.typed_spec.target
        self.target_type = target.type if target else ""
        self.target_name = target.name if target else ""
        team_target = self.target_name if self.target_type == "team" else ""
        self.team_name = team_target or self.annotations.get(TEAM_ANNOTATION, "")

    def kind_status(self) -> dict[str, Any]:
        return {
            "matrixUserID": self.matrix_user_id,
            "roomID": self.room_id,
            "containerState": self.container_state,
            "mountedWorkspaces": self.mounted_workspaces,
            "expiresAt": self.expires_at.isoformat() if self.expires_at else None,
        }
