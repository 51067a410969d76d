"""The Human: a person with a Matrix account and access to some teams or workers."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models

from controller.models.base import Resource

if TYPE_CHECKING:
    from controller.manifests.schema import HumanSpec


class HumanPhase(models.TextChoices):
    PENDING = "Pending"
    ACTIVE = "Active"
    FAILED = "Failed"


class PermissionLevel(models.IntegerChoices):
    ADMIN = 1, "admin"
    TEAM = 2, "team"
    WORKER = 3, "worker"


def _new_nonce() -> str:
    return secrets.token_hex(16)


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
    # The initial Matrix password is derived from the secret key and this
    # nonce, so it is shown once and never stored (see Human.initial_password).
    password_nonce = models.CharField(max_length=32, default=_new_nonce, editable=False)

    if TYPE_CHECKING:

        @property
        def typed_spec(self) -> HumanSpec: ...

    class Meta(Resource.Meta):
        pass

    def index_spec(self) -> None:
        spec = self.typed_spec
        self.permission_level = spec.permission_level
        self.email = spec.email or ""

    def initial_password(self) -> str:
        """The password the Matrix account is created with: derived, never stored.

        The API and the admin show it once, when the Human is created; the
        person should change it at first login.
        """
        message = f"{settings.HICLAW_RESOURCE_PREFIX}|human-password|{self.name}|{self.password_nonce}".encode()
        return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()[:24]

    def kind_status(self) -> dict[str, Any]:
        return {"matrixUserID": self.matrix_user_id, "rooms": self.rooms, "emailSent": self.email_sent}
