"""The Human: a person with a Matrix account and access to some teams or workers."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from controller.models.base import Resource


class HumanPhase(models.TextChoices):
    PENDING = "Pending"
    ACTIVE = "Active"
    FAILED = "Failed"


class PermissionLevel(models.IntegerChoices):
    ADMIN = 1, "admin"
    TEAM = 2, "team"
    WORKER = 3, "worker"


class Human(Resource):
    kind = "Human"

    permission_level = models.PositiveSmallIntegerField(choices=PermissionLevel.choices, default=PermissionLevel.WORKER)
    email = models.EmailField(blank=True)
    # A Human at level 2 linked to a dashboard login makes that login the
    # team admin of spec.accessibleTeams.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="human"
    )

    phase = models.CharField(max_length=16, choices=HumanPhase.choices, default=HumanPhase.PENDING, db_index=True)
    matrix_user_id = models.CharField(max_length=255, blank=True)
    rooms = models.JSONField(default=list, blank=True)
    email_sent = models.BooleanField(default=False)

    class Meta(Resource.Meta):
        pass

    def index_spec(self) -> None:
        self.permission_level = self.spec.get("permissionLevel", PermissionLevel.WORKER)
        self.email = self.spec.get("email", "")

    def kind_status(self) -> dict[str, Any]:
        return {"matrixUserID": self.matrix_user_id, "rooms": self.rooms, "emailSent": self.email_sent}
