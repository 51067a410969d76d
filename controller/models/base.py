"""What every HiClaw resource has: name, labels, spec, generation, status, conditions.

The shape follows Kubernetes custom resources (``hiclaw.io/v1beta1``): the
spec is the desired state written by people and agents, the status is what
the reconcilers observed. Queryable spec fields are copied into columns by
``index_spec``; the spec JSON stays the source of truth.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, ClassVar, Self

from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from controller.manifests.schema import Shape

API_VERSION = "hiclaw.io/v1beta1"
TEAM_ANNOTATION = "hiclaw.io/team"
ROLE_ANNOTATION = "hiclaw.io/role"

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
dns_label_validator = RegexValidator(
    DNS_LABEL_PATTERN,
    "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit",
)


class ConditionStatus(models.TextChoices):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Resource(models.Model):
    """Abstract base of the five kinds (Worker, Team, Human, Manager, DebugWorker)."""

    kind: ClassVar[str]
    # Declared for the type checker only: every concrete kind has Django's default
    # manager and its own ``phase`` field with the kind's choices.
    objects: ClassVar[models.Manager[Self]]
    phase: str

    name = models.CharField(max_length=63, unique=True, validators=[dns_label_validator])
    labels = models.JSONField(default=dict, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    spec = models.JSONField(default=dict)
    generation = models.PositiveBigIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    # Deletion is two-phase: requests mark the row, the reconciler removes what
    # the resource owns outside the database and only then deletes the row.
    deletion_requested_at = models.DateTimeField(null=True, blank=True)

    message = models.TextField(blank=True)
    observed_generation = models.PositiveBigIntegerField(default=0)
    conditions = models.JSONField(default=list, blank=True)
    reconciled_at = models.DateTimeField(null=True, blank=True)
    # Consecutive failed reconcile passes; drives the backoff, reset on success.
    failures = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.kind.lower()}/{self.name}"

    # -- spec ---------------------------------------------------------------------
    # Each kind's manifest shape, registered by ``controller.manifests.schema`` when it is
    # imported (the app's ``ready()`` does so). The shapes read column lengths off these
    # models, so the models take them from a registry instead of importing the layer above.
    spec_shapes: ClassVar[dict[str, type[Shape]]] = {}

    def index_spec(self) -> None:
        """Copy queryable spec fields into columns. Kinds override this."""

    @property
    def typed_spec(self) -> Shape:
        """The spec as its kind's manifest shape (``controller.manifests.schema``), the one
        definition of its fields. Validated once per spec value: the copy kept beside it
        notices a replaced spec and one edited in place alike."""
        cached = self.__dict__.get("_typed_spec")
        if cached is None or cached[0] != self.spec:
            cached = (copy.deepcopy(self.spec), self.spec_shapes[self.kind].model_validate(self.spec))
            self.__dict__["_typed_spec"] = cached
        return cached[1]

    def set_spec(self, spec: dict[str, Any]) -> bool:
        """Replace the spec; bump ``generation`` when it changed. Returns whether it did."""
        if spec == self.spec:
            return False
        self.spec = spec
        if self.pk is not None:
            self.generation += 1
        self.index_spec()
        return True

    # -- status -------------------------------------------------------------------
    def set_condition(self, type_: str, status: str, reason: str = "", message: str = "") -> bool:
        """Record a condition; its transition time moves only when its status changes."""
        now = timezone.now().isoformat()
        for condition in self.conditions:
            if condition["type"] == type_:
                changed = (condition["status"], condition["reason"], condition["message"]) != (status, reason, message)
                if condition["status"] != status:
                    condition["lastTransitionTime"] = now
                condition.update(status=status, reason=reason, message=message)
                return changed
        self.conditions.append(
            {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": now}
        )
        return True

    def condition(self, type_: str) -> dict[str, Any] | None:
        return next((c for c in self.conditions if c["type"] == type_), None)

    def kind_status(self) -> dict[str, Any]:
        """The kind's own status fields, in manifest (camelCase) form."""
        return {}

    def status_manifest(self) -> dict[str, Any]:
        status = {
            "phase": self.phase,
            "message": self.message,
            "observedGeneration": self.observed_generation,
            "conditions": self.conditions,
        }
        status.update({key: value for key, value in self.kind_status().items() if value not in (None, "", [])})
        return status
